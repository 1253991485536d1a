//! The eleven Gymnasium v5 MuJoCo tasks: observation, reward, termination and reset distribution of
//! each, term by term as Gymnasium 1.4.0 computes them.
//!
//! Where numpy's type promotion makes Gymnasium compute in float32 (the control costs: a
//! float32 action squared and summed, times a Python float), the same is done here in `f32`,
//! summed in numpy's pairwise order; everything else is float64.

use rand::RngExt;
use rand_distr::StandardNormal;

use super::{Data, MujocoTask};
use crate::error::{EnvError, Result};
use crate::native::EnvRng;
use crate::registry::Kwargs;
use mujoco_rs::wrappers::{MjModel, mj_model::MjtObjBase};

/// numpy's pairwise summation (`np.sum` of a contiguous 1-D array): eight interleaved partial
/// sums for blocks up to 128, halving above, a plain loop below 8.
fn pairwise_sum<T: Copy + Default + std::ops::Add<Output = T>>(a: &[T]) -> T {
    let n = a.len();
    if n < 8 {
        a.iter().fold(T::default(), |acc, &x| acc + x)
    } else if n <= 128 {
        let mut r = [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]];
        let mut i = 8;
        while i < n - n % 8 {
            for (j, rj) in r.iter_mut().enumerate() {
                *rj = *rj + a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[i..] {
            res = res + x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// `weight * np.sum(np.square(action))` with a float32 action: computed in float32.
fn control_cost(weight: f64, action: &[f32]) -> f32 {
    let mut squares = [0f32; 32];
    let sum = if action.len() <= squares.len() {
        for (s, &a) in squares.iter_mut().zip(action) {
            *s = a * a;
        }
        pairwise_sum(&squares[..action.len()])
    } else {
        pairwise_sum(&action.iter().map(|a| a * a).collect::<Vec<_>>())
    };
    weight as f32 * sum
}

/// numpy's `np.sum` of the float64 values `values` (pairwise), without allocating for up to
/// 256 of them (a step's costs: Humanoid's 84 contact-force components, its 17 controls).
fn pairwise_sum_of(values: impl ExactSizeIterator<Item = f64>) -> f64 {
    let mut buffer = [0f64; 256];
    if values.len() <= buffer.len() {
        let n = values.len();
        for (b, v) in buffer.iter_mut().zip(values) {
            *b = v;
        }
        pairwise_sum(&buffer[..n])
    } else {
        pairwise_sum(&values.collect::<Vec<_>>())
    }
}

/// `low + (high - low) * U[0, 1)`, numpy's `uniform`.
fn uniform(rng: &mut EnvRng, low: f64, high: f64) -> f64 {
    low + (high - low) * rng.random::<f64>()
}

fn add_uniform(rng: &mut EnvRng, values: &mut [f64], scale: f64) {
    for v in values {
        *v += uniform(rng, -scale, scale);
    }
}

fn add_normal(rng: &mut EnvRng, values: &mut [f64], scale: f64) {
    for v in values {
        let z: f64 = rng.sample(StandardNormal);
        *v += scale * z;
    }
}

fn write_obs(obs: &mut [f32], parts: &[&[f64]]) {
    let mut i = 0;
    for part in parts {
        for &v in *part {
            obs[i] = v as f32;
            i += 1;
        }
    }
}

fn clipped_into(obs: &mut [f32], values: &[f64], lo: f64, hi: f64) {
    for (o, &v) in obs.iter_mut().zip(values) {
        *o = v.clamp(lo, hi) as f32;
    }
}

/// Checks that the model has at least `nq` positions, `nv` velocities and `nu` actuators.
fn require(model: &MjModel, id: &str, nq: usize, nv: usize, nu: usize) -> Result<()> {
    let m = model.ffi();
    if (m.nq as usize) < nq || (m.nv as usize) < nv || (m.nu as usize) < nu {
        return Err(EnvError::Config {
            what: "xml_file",
            message: format!(
                "{id} needs a model with at least {nq} positions, {nv} velocities and {nu} actuators; \
                 this one has nq = {}, nv = {}, nu = {}",
                m.nq, m.nv, m.nu
            ),
        });
    }
    Ok(())
}

fn body_id(model: &MjModel, id: &str, name: &str) -> Result<usize> {
    model
        .name_to_id(MjtObjBase::mjOBJ_BODY, name)
        .ok_or_else(|| EnvError::Config {
            what: "xml_file",
            message: format!("{id} reads body `{name}`, which the model does not have"),
        })
}

fn range_ok(lo: f64, hi: f64, x: f64) -> bool {
    lo < x && x < hi
}

/// Keyword arguments every task accepts.
pub(super) const COMMON_KWARGS: [(&str, &str); 2] = [
    (
        "xml_file",
        "str: MJCF model, a file name in Gymnasium's assets folder or a path (./…, /…, ~/…)",
    ),
    ("frame_skip", "int: MuJoCo steps per env step"),
];

/// Hopper-v5 and Walker2d-v5: planar walkers rewarded for forward velocity while healthy.
#[derive(Debug, Clone)]
pub(super) struct Walker {
    id: &'static str,
    forward_reward_weight: f64,
    ctrl_cost_weight: f64,
    healthy_reward: f64,
    terminate_when_unhealthy: bool,
    /// Hopper only: every state element after the first two must lie in this open range.
    healthy_state_range: Option<(f64, f64)>,
    healthy_z_range: (f64, f64),
    healthy_angle_range: (f64, f64),
    reset_noise_scale: f64,
    exclude_x: bool,
    frame_skip: usize,
}

impl Walker {
    pub(super) const HOPPER_KWARGS: &'static [(&'static str, &'static str)] = &[
        ("xml_file", COMMON_KWARGS[0].1),
        ("frame_skip", COMMON_KWARGS[1].1),
        ("forward_reward_weight", "float (default 1)"),
        ("ctrl_cost_weight", "float (default 0.001)"),
        ("healthy_reward", "float (default 1)"),
        ("terminate_when_unhealthy", "bool (default true)"),
        (
            "healthy_state_range",
            "[low, high] for every state element but x and z (default [-100, 100])",
        ),
        ("healthy_z_range", "[low, high] (default [0.7, \"inf\"])"),
        ("healthy_angle_range", "[low, high] (default [-0.2, 0.2])"),
        ("reset_noise_scale", "float (default 0.005)"),
        (
            "exclude_current_positions_from_observation",
            "bool (default true)",
        ),
    ];
    pub(super) const WALKER_KWARGS: &'static [(&'static str, &'static str)] = &[
        ("xml_file", COMMON_KWARGS[0].1),
        ("frame_skip", COMMON_KWARGS[1].1),
        ("forward_reward_weight", "float (default 1)"),
        ("ctrl_cost_weight", "float (default 0.001)"),
        ("healthy_reward", "float (default 1)"),
        ("terminate_when_unhealthy", "bool (default true)"),
        ("healthy_z_range", "[low, high] (default [0.8, 2])"),
        ("healthy_angle_range", "[low, high] (default [-1, 1])"),
        ("reset_noise_scale", "float (default 0.005)"),
        (
            "exclude_current_positions_from_observation",
            "bool (default true)",
        ),
    ];

    pub(super) fn hopper(kw: &Kwargs) -> Result<Self> {
        Ok(Self {
            id: "Hopper-v5",
            forward_reward_weight: kw.float("forward_reward_weight", 1.0)?,
            ctrl_cost_weight: kw.float("ctrl_cost_weight", 1e-3)?,
            healthy_reward: kw.float("healthy_reward", 1.0)?,
            terminate_when_unhealthy: kw.bool("terminate_when_unhealthy", true)?,
            healthy_state_range: Some(kw.range("healthy_state_range", (-100.0, 100.0))?),
            healthy_z_range: kw.range("healthy_z_range", (0.7, f64::INFINITY))?,
            healthy_angle_range: kw.range("healthy_angle_range", (-0.2, 0.2))?,
            reset_noise_scale: kw.float("reset_noise_scale", 5e-3)?,
            exclude_x: kw.bool("exclude_current_positions_from_observation", true)?,
            frame_skip: kw.positive("frame_skip", 4)?,
        })
    }

    pub(super) fn walker2d(kw: &Kwargs) -> Result<Self> {
        Ok(Self {
            id: "Walker2d-v5",
            forward_reward_weight: kw.float("forward_reward_weight", 1.0)?,
            ctrl_cost_weight: kw.float("ctrl_cost_weight", 1e-3)?,
            healthy_reward: kw.float("healthy_reward", 1.0)?,
            terminate_when_unhealthy: kw.bool("terminate_when_unhealthy", true)?,
            healthy_state_range: None,
            healthy_z_range: kw.range("healthy_z_range", (0.8, 2.0))?,
            healthy_angle_range: kw.range("healthy_angle_range", (-1.0, 1.0))?,
            reset_noise_scale: kw.float("reset_noise_scale", 5e-3)?,
            exclude_x: kw.bool("exclude_current_positions_from_observation", true)?,
            frame_skip: kw.positive("frame_skip", 4)?,
        })
    }

    fn is_healthy(&self, qpos: &[f64], qvel: &[f64]) -> bool {
        let (z, angle) = (qpos[1], qpos[2]);
        let state_ok = self
            .healthy_state_range
            .is_none_or(|(lo, hi)| qpos[2..].iter().chain(qvel).all(|&s| range_ok(lo, hi, s)));
        state_ok
            && range_ok(self.healthy_z_range.0, self.healthy_z_range.1, z)
            && range_ok(
                self.healthy_angle_range.0,
                self.healthy_angle_range.1,
                angle,
            )
    }
}

impl MujocoTask for Walker {
    fn id(&self) -> &str {
        self.id
    }
    fn frame_skip(&self) -> usize {
        self.frame_skip
    }
    fn bind(&mut self, model: &MjModel) -> Result<usize> {
        require(model, self.id, 3, 1, 1)?;
        let m = model.ffi();
        Ok(m.nq as usize + m.nv as usize - usize::from(self.exclude_x))
    }
    fn reset(&self, rng: &mut EnvRng, qpos: &mut [f64], qvel: &mut [f64]) {
        add_uniform(rng, qpos, self.reset_noise_scale);
        add_uniform(rng, qvel, self.reset_noise_scale);
    }
    fn observe(&self, data: &Data, obs: &mut [f32]) {
        let qpos = &data.qpos()[usize::from(self.exclude_x)..];
        write_obs(obs, &[qpos]);
        clipped_into(&mut obs[qpos.len()..], data.qvel(), -10.0, 10.0);
    }
    fn position(&self, data: &Data) -> [f64; 2] {
        [data.qpos()[0], 0.0]
    }
    fn outcome(&self, data: &Data, before: [f64; 2], action: &[f32], dt: f64) -> (f64, bool) {
        let (qpos, qvel) = (data.qpos(), data.qvel());
        let x_velocity = (qpos[0] - before[0]) / dt;
        let healthy = self.is_healthy(qpos, qvel);
        let rewards = self.forward_reward_weight * x_velocity
            + if healthy { self.healthy_reward } else { 0.0 };
        let reward = rewards - f64::from(control_cost(self.ctrl_cost_weight, action));
        (reward, !healthy && self.terminate_when_unhealthy)
    }
}

/// HalfCheetah-v5 and Swimmer-v5: never terminate; rewarded for forward velocity.
#[derive(Debug, Clone)]
pub(super) struct Runner {
    id: &'static str,
    forward_reward_weight: f64,
    ctrl_cost_weight: f64,
    reset_noise_scale: f64,
    /// Positions left out of the observation when `exclude_current_positions_from_observation`
    /// (x for HalfCheetah, x and y for Swimmer).
    skipped: usize,
    exclude: bool,
    /// HalfCheetah draws velocities from a normal distribution, Swimmer from a uniform one.
    normal_qvel: bool,
    frame_skip: usize,
}

impl Runner {
    pub(super) const KWARGS: &'static [(&'static str, &'static str)] = &[
        ("xml_file", COMMON_KWARGS[0].1),
        ("frame_skip", COMMON_KWARGS[1].1),
        ("forward_reward_weight", "float (default 1)"),
        (
            "ctrl_cost_weight",
            "float (default 0.1 HalfCheetah, 0.0001 Swimmer)",
        ),
        ("reset_noise_scale", "float (default 0.1)"),
        (
            "exclude_current_positions_from_observation",
            "bool (default true)",
        ),
    ];

    pub(super) fn half_cheetah(kw: &Kwargs) -> Result<Self> {
        Ok(Self {
            id: "HalfCheetah-v5",
            forward_reward_weight: kw.float("forward_reward_weight", 1.0)?,
            ctrl_cost_weight: kw.float("ctrl_cost_weight", 0.1)?,
            reset_noise_scale: kw.float("reset_noise_scale", 0.1)?,
            skipped: 1,
            exclude: kw.bool("exclude_current_positions_from_observation", true)?,
            normal_qvel: true,
            frame_skip: kw.positive("frame_skip", 5)?,
        })
    }

    pub(super) fn swimmer(kw: &Kwargs) -> Result<Self> {
        Ok(Self {
            id: "Swimmer-v5",
            forward_reward_weight: kw.float("forward_reward_weight", 1.0)?,
            ctrl_cost_weight: kw.float("ctrl_cost_weight", 1e-4)?,
            reset_noise_scale: kw.float("reset_noise_scale", 0.1)?,
            skipped: 2,
            exclude: kw.bool("exclude_current_positions_from_observation", true)?,
            normal_qvel: false,
            frame_skip: kw.positive("frame_skip", 4)?,
        })
    }

    fn skip(&self) -> usize {
        if self.exclude { self.skipped } else { 0 }
    }
}

impl MujocoTask for Runner {
    fn id(&self) -> &str {
        self.id
    }
    fn frame_skip(&self) -> usize {
        self.frame_skip
    }
    fn bind(&mut self, model: &MjModel) -> Result<usize> {
        require(model, self.id, self.skipped, 1, 1)?;
        let m = model.ffi();
        Ok(m.nq as usize + m.nv as usize - self.skip())
    }
    fn reset(&self, rng: &mut EnvRng, qpos: &mut [f64], qvel: &mut [f64]) {
        add_uniform(rng, qpos, self.reset_noise_scale);
        if self.normal_qvel {
            add_normal(rng, qvel, self.reset_noise_scale);
        } else {
            add_uniform(rng, qvel, self.reset_noise_scale);
        }
    }
    fn observe(&self, data: &Data, obs: &mut [f32]) {
        write_obs(obs, &[&data.qpos()[self.skip()..], data.qvel()]);
    }
    fn position(&self, data: &Data) -> [f64; 2] {
        [data.qpos()[0], 0.0]
    }
    fn outcome(&self, data: &Data, before: [f64; 2], action: &[f32], dt: f64) -> (f64, bool) {
        let x_velocity = (data.qpos()[0] - before[0]) / dt;
        let forward = self.forward_reward_weight * x_velocity;
        (
            forward - f64::from(control_cost(self.ctrl_cost_weight, action)),
            false,
        )
    }
}

/// Ant-v5: a quadruped rewarded for x velocity of its main body, with control and contact
/// costs; contact forces in the observation.
#[derive(Debug, Clone)]
pub(super) struct Ant {
    forward_reward_weight: f64,
    ctrl_cost_weight: f64,
    contact_cost_weight: f64,
    healthy_reward: f64,
    main_body: MainBody,
    main_body_id: usize,
    terminate_when_unhealthy: bool,
    healthy_z_range: (f64, f64),
    contact_force_range: (f64, f64),
    reset_noise_scale: f64,
    exclude_xy: bool,
    include_cfrc_ext: bool,
    frame_skip: usize,
}

/// Ant's `main_body`: a body index or name.
#[derive(Debug, Clone)]
enum MainBody {
    Index(usize),
    Name(String),
}

impl Ant {
    pub(super) const KWARGS: &'static [(&'static str, &'static str)] = &[
        ("xml_file", COMMON_KWARGS[0].1),
        ("frame_skip", COMMON_KWARGS[1].1),
        ("forward_reward_weight", "float (default 1)"),
        ("ctrl_cost_weight", "float (default 0.5)"),
        ("contact_cost_weight", "float (default 0.0005)"),
        ("healthy_reward", "float (default 1)"),
        (
            "main_body",
            "int or str: body whose x-y velocity is rewarded (default 1)",
        ),
        ("terminate_when_unhealthy", "bool (default true)"),
        ("healthy_z_range", "[low, high] (default [0.2, 1])"),
        ("contact_force_range", "[low, high] (default [-1, 1])"),
        ("reset_noise_scale", "float (default 0.1)"),
        (
            "exclude_current_positions_from_observation",
            "bool (default true)",
        ),
        ("include_cfrc_ext_in_observation", "bool (default true)"),
    ];

    pub(super) fn new(kw: &Kwargs) -> Result<Self> {
        let main_body = match kw.get("main_body") {
            None => MainBody::Index(1),
            Some(v) => match (v.as_u64(), v.as_str()) {
                (Some(i), _) => MainBody::Index(i as usize),
                (None, Some(name)) => MainBody::Name(name.to_string()),
                _ => return Err(kw.error("main_body", "a body index or name", v)),
            },
        };
        Ok(Self {
            forward_reward_weight: kw.float("forward_reward_weight", 1.0)?,
            ctrl_cost_weight: kw.float("ctrl_cost_weight", 0.5)?,
            contact_cost_weight: kw.float("contact_cost_weight", 5e-4)?,
            healthy_reward: kw.float("healthy_reward", 1.0)?,
            main_body,
            main_body_id: 1,
            terminate_when_unhealthy: kw.bool("terminate_when_unhealthy", true)?,
            healthy_z_range: kw.range("healthy_z_range", (0.2, 1.0))?,
            contact_force_range: kw.range("contact_force_range", (-1.0, 1.0))?,
            reset_noise_scale: kw.float("reset_noise_scale", 0.1)?,
            exclude_xy: kw.bool("exclude_current_positions_from_observation", true)?,
            include_cfrc_ext: kw.bool("include_cfrc_ext_in_observation", true)?,
            frame_skip: kw.positive("frame_skip", 5)?,
        })
    }

    fn skip(&self) -> usize {
        if self.exclude_xy { 2 } else { 0 }
    }

    fn clip_force(&self, f: f64) -> f64 {
        f.clamp(self.contact_force_range.0, self.contact_force_range.1)
    }
}

impl MujocoTask for Ant {
    fn id(&self) -> &str {
        "Ant-v5"
    }
    fn frame_skip(&self) -> usize {
        self.frame_skip
    }
    fn needs_contact_forces(&self) -> bool {
        true
    }
    fn bind(&mut self, model: &MjModel) -> Result<usize> {
        require(model, "Ant-v5", 3, 1, 1)?;
        let m = model.ffi();
        let nbody = m.nbody as usize;
        self.main_body_id = match &self.main_body {
            MainBody::Index(i) if *i < nbody => *i,
            MainBody::Index(i) => {
                return Err(EnvError::Config {
                    what: "main_body",
                    message: format!("body {i} does not exist; the model has {nbody} bodies"),
                });
            }
            MainBody::Name(name) => body_id(model, "Ant-v5", name)?,
        };
        let cfrc = if self.include_cfrc_ext {
            6 * (nbody - 1)
        } else {
            0
        };
        Ok(m.nq as usize + m.nv as usize - self.skip() + cfrc)
    }
    fn reset(&self, rng: &mut EnvRng, qpos: &mut [f64], qvel: &mut [f64]) {
        add_uniform(rng, qpos, self.reset_noise_scale);
        add_normal(rng, qvel, self.reset_noise_scale);
    }
    fn observe(&self, data: &Data, obs: &mut [f32]) {
        let qpos = &data.qpos()[self.skip()..];
        let qvel = data.qvel();
        write_obs(obs, &[qpos, qvel]);
        if self.include_cfrc_ext {
            let rest = &mut obs[qpos.len() + qvel.len()..];
            for (o, &f) in rest.iter_mut().zip(data.cfrc_ext()[1..].iter().flatten()) {
                *o = self.clip_force(f) as f32;
            }
        }
    }
    fn position(&self, data: &Data) -> [f64; 2] {
        let p = data.xpos()[self.main_body_id];
        [p[0], p[1]]
    }
    fn outcome(&self, data: &Data, before: [f64; 2], action: &[f32], dt: f64) -> (f64, bool) {
        let (qpos, qvel) = (data.qpos(), data.qvel());
        let after = self.position(data);
        let x_velocity = (after[0] - before[0]) / dt;
        let healthy = qpos.iter().chain(qvel).all(|v| v.is_finite())
            && self.healthy_z_range.0 <= qpos[2]
            && qpos[2] <= self.healthy_z_range.1;
        let rewards = x_velocity * self.forward_reward_weight
            + if healthy { self.healthy_reward } else { 0.0 };
        let contact_sum = pairwise_sum_of(data.cfrc_ext().as_flattened().iter().map(|&f| {
            let c = self.clip_force(f);
            c * c
        }));
        let contact_cost = self.contact_cost_weight * contact_sum;
        let costs = f64::from(control_cost(self.ctrl_cost_weight, action)) + contact_cost;
        (rewards - costs, !healthy && self.terminate_when_unhealthy)
    }
}

/// Humanoid-v5 and HumanoidStandup-v5: a 3-D humanoid rewarded for running forward while its
/// torso stays high, or for lifting its torso from lying on the ground. Both observe the
/// joints and, unless switched off, the bodies' inertia, velocity, actuator forces and
/// contact forces (world body left out).
#[derive(Debug, Clone)]
pub(super) struct Humanoid {
    id: &'static str,
    /// HumanoidStandup-v5: reward `z / timestep + 1`, never terminates.
    standup: bool,
    forward_reward_weight: f64,
    ctrl_cost_weight: f64,
    /// Humanoid's `contact_cost_weight`, HumanoidStandup's `impact_cost_weight`.
    contact_cost_weight: f64,
    contact_cost_range: (f64, f64),
    healthy_reward: f64,
    terminate_when_unhealthy: bool,
    healthy_z_range: (f64, f64),
    reset_noise_scale: f64,
    exclude_xy: bool,
    include_cinert: bool,
    include_cvel: bool,
    include_qfrc_actuator: bool,
    include_cfrc_ext: bool,
    frame_skip: usize,
    /// Bound to the model: body masses, their sum (numpy's order) and the MuJoCo time step.
    body_mass: Vec<f64>,
    total_mass: f64,
    timestep: f64,
}

/// The observation switches both humanoids accept.
const HUMANOID_OBS_KWARGS: [(&str, &str); 5] = [
    (
        "exclude_current_positions_from_observation",
        "bool (default true)",
    ),
    ("include_cinert_in_observation", "bool (default true)"),
    ("include_cvel_in_observation", "bool (default true)"),
    (
        "include_qfrc_actuator_in_observation",
        "bool (default true)",
    ),
    ("include_cfrc_ext_in_observation", "bool (default true)"),
];

impl Humanoid {
    pub(super) const KWARGS: &'static [(&'static str, &'static str)] = &[
        ("xml_file", COMMON_KWARGS[0].1),
        ("frame_skip", COMMON_KWARGS[1].1),
        ("forward_reward_weight", "float (default 1.25)"),
        ("ctrl_cost_weight", "float (default 0.1)"),
        ("contact_cost_weight", "float (default 5e-7)"),
        ("contact_cost_range", "[low, high] (default [\"-inf\", 10])"),
        ("healthy_reward", "float (default 5)"),
        ("terminate_when_unhealthy", "bool (default true)"),
        ("healthy_z_range", "[low, high] (default [1, 2])"),
        ("reset_noise_scale", "float (default 0.01)"),
        HUMANOID_OBS_KWARGS[0],
        HUMANOID_OBS_KWARGS[1],
        HUMANOID_OBS_KWARGS[2],
        HUMANOID_OBS_KWARGS[3],
        HUMANOID_OBS_KWARGS[4],
    ];
    pub(super) const STANDUP_KWARGS: &'static [(&'static str, &'static str)] = &[
        ("xml_file", COMMON_KWARGS[0].1),
        ("frame_skip", COMMON_KWARGS[1].1),
        (
            "uph_cost_weight",
            "float (default 1; Gymnasium 1.4.0 ignores it, so only 1 is accepted)",
        ),
        ("ctrl_cost_weight", "float (default 0.1)"),
        ("impact_cost_weight", "float (default 5e-7)"),
        ("impact_cost_range", "[low, high] (default [\"-inf\", 10])"),
        ("reset_noise_scale", "float (default 0.01)"),
        HUMANOID_OBS_KWARGS[0],
        HUMANOID_OBS_KWARGS[1],
        HUMANOID_OBS_KWARGS[2],
        HUMANOID_OBS_KWARGS[3],
        HUMANOID_OBS_KWARGS[4],
    ];

    fn with_observation(kw: &Kwargs, mut task: Self) -> Result<Self> {
        task.exclude_xy = kw.bool("exclude_current_positions_from_observation", true)?;
        task.include_cinert = kw.bool("include_cinert_in_observation", true)?;
        task.include_cvel = kw.bool("include_cvel_in_observation", true)?;
        task.include_qfrc_actuator = kw.bool("include_qfrc_actuator_in_observation", true)?;
        task.include_cfrc_ext = kw.bool("include_cfrc_ext_in_observation", true)?;
        task.frame_skip = kw.positive("frame_skip", 5)?;
        task.reset_noise_scale = kw.float("reset_noise_scale", 1e-2)?;
        task.ctrl_cost_weight = kw.float("ctrl_cost_weight", 0.1)?;
        Ok(task)
    }

    fn unbound(id: &'static str, standup: bool) -> Self {
        Self {
            id,
            standup,
            forward_reward_weight: 0.0,
            ctrl_cost_weight: 0.0,
            contact_cost_weight: 0.0,
            contact_cost_range: (f64::NEG_INFINITY, 10.0),
            healthy_reward: 0.0,
            terminate_when_unhealthy: false,
            healthy_z_range: (f64::NEG_INFINITY, f64::INFINITY),
            reset_noise_scale: 0.0,
            exclude_xy: true,
            include_cinert: true,
            include_cvel: true,
            include_qfrc_actuator: true,
            include_cfrc_ext: true,
            frame_skip: 5,
            body_mass: Vec::new(),
            total_mass: 1.0,
            timestep: 1.0,
        }
    }

    pub(super) fn walk(kw: &Kwargs) -> Result<Self> {
        let mut task = Self::with_observation(kw, Self::unbound("Humanoid-v5", false))?;
        task.forward_reward_weight = kw.float("forward_reward_weight", 1.25)?;
        task.contact_cost_weight = kw.float("contact_cost_weight", 5e-7)?;
        task.contact_cost_range = kw.range("contact_cost_range", (f64::NEG_INFINITY, 10.0))?;
        task.healthy_reward = kw.float("healthy_reward", 5.0)?;
        task.terminate_when_unhealthy = kw.bool("terminate_when_unhealthy", true)?;
        task.healthy_z_range = kw.range("healthy_z_range", (1.0, 2.0))?;
        Ok(task)
    }

    pub(super) fn standup(kw: &Kwargs) -> Result<Self> {
        let mut task = Self::with_observation(kw, Self::unbound("HumanoidStandup-v5", true))?;
        // Gymnasium stores `uph_cost_weight` and never reads it: accepting another value
        // would silently train on a reward the user did not ask for.
        let uph = kw.float("uph_cost_weight", 1.0)?;
        if uph != 1.0 {
            return Err(EnvError::Config {
                what: "uph_cost_weight",
                message: format!(
                    "HumanoidStandup-v5: uph_cost_weight = {uph} would have no effect: Gymnasium \
                     1.4.0 accepts it but its reward never uses it; leave it at 1, or scale the \
                     reward with a wrapper"
                ),
            });
        }
        task.contact_cost_weight = kw.float("impact_cost_weight", 5e-7)?;
        task.contact_cost_range = kw.range("impact_cost_range", (f64::NEG_INFINITY, 10.0))?;
        Ok(task)
    }

    fn skip(&self) -> usize {
        if self.exclude_xy { 2 } else { 0 }
    }

    /// `mass_center`: the mass-weighted mean of the bodies' centres of mass, x and y.
    fn mass_center(&self, data: &Data) -> [f64; 2] {
        let mut num = [0.0; 2];
        for (&m, p) in self.body_mass.iter().zip(data.xipos()) {
            num[0] += m * p[0];
            num[1] += m * p[1];
        }
        [num[0] / self.total_mass, num[1] / self.total_mass]
    }

    /// `weight * np.sum(np.square(cfrc_ext))` over every body, world included, clipped.
    fn contact_cost(&self, data: &Data) -> f64 {
        let sum = pairwise_sum_of(data.cfrc_ext().as_flattened().iter().map(|f| f * f));
        let (lo, hi) = self.contact_cost_range;
        (self.contact_cost_weight * sum).clamp(lo, hi)
    }
}

impl MujocoTask for Humanoid {
    fn id(&self) -> &str {
        self.id
    }
    fn frame_skip(&self) -> usize {
        self.frame_skip
    }
    fn needs_contact_forces(&self) -> bool {
        true
    }
    fn bind(&mut self, model: &MjModel) -> Result<usize> {
        require(model, self.id, 7, 6, 1)?;
        let m = model.ffi();
        let (nq, nv, bodies) = (m.nq as usize, m.nv as usize, m.nbody as usize - 1);
        self.body_mass = model.body_mass().to_vec();
        self.total_mass = pairwise_sum(&self.body_mass);
        self.timestep = m.opt.timestep;
        Ok(nq + nv - self.skip()
            + usize::from(self.include_cinert) * 10 * bodies
            + usize::from(self.include_cvel) * 6 * bodies
            + usize::from(self.include_qfrc_actuator) * (nv - 6)
            + usize::from(self.include_cfrc_ext) * 6 * bodies)
    }
    fn reset(&self, rng: &mut EnvRng, qpos: &mut [f64], qvel: &mut [f64]) {
        add_uniform(rng, qpos, self.reset_noise_scale);
        add_uniform(rng, qvel, self.reset_noise_scale);
    }
    fn observe(&self, data: &Data, obs: &mut [f32]) {
        let mut out = obs.iter_mut();
        let mut put = |v: f64| *out.next().expect("observation size") = v as f32;
        data.qpos()[self.skip()..].iter().for_each(|&v| put(v));
        data.qvel().iter().for_each(|&v| put(v));
        if self.include_cinert {
            data.cinert()[1..].iter().flatten().for_each(|&v| put(v));
        }
        if self.include_cvel {
            data.cvel()[1..].iter().flatten().for_each(|&v| put(v));
        }
        if self.include_qfrc_actuator {
            data.qfrc_actuator()[6..].iter().for_each(|&v| put(v));
        }
        if self.include_cfrc_ext {
            data.cfrc_ext()[1..].iter().flatten().for_each(|&v| put(v));
        }
    }
    fn position(&self, data: &Data) -> [f64; 2] {
        if self.standup {
            [0.0; 2]
        } else {
            self.mass_center(data)
        }
    }
    fn outcome(&self, data: &Data, before: [f64; 2], action: &[f32], dt: f64) -> (f64, bool) {
        let z = data.qpos()[2];
        // `np.sum(np.square(data.ctrl))`: the action as float64.
        let ctrl_sum = pairwise_sum_of(action.iter().map(|&a| f64::from(a) * f64::from(a)));
        let ctrl_cost = self.ctrl_cost_weight * ctrl_sum;
        let contact_cost = self.contact_cost(data);
        if self.standup {
            let uph = z / self.timestep;
            return (uph - ctrl_cost - contact_cost + 1.0, false);
        }
        let after = self.mass_center(data);
        let x_velocity = (after[0] - before[0]) / dt;
        let healthy = self.healthy_z_range.0 < z && z < self.healthy_z_range.1;
        let rewards = self.forward_reward_weight * x_velocity
            + if healthy { self.healthy_reward } else { 0.0 };
        (
            rewards - (ctrl_cost + contact_cost),
            !healthy && self.terminate_when_unhealthy,
        )
    }
}

/// InvertedPendulum-v5: reward 1 per step while the pole stays within 0.2 rad.
#[derive(Debug, Clone)]
pub(super) struct InvertedPendulum {
    reset_noise_scale: f64,
    frame_skip: usize,
}

impl InvertedPendulum {
    pub(super) const KWARGS: &'static [(&'static str, &'static str)] = &[
        ("xml_file", COMMON_KWARGS[0].1),
        ("frame_skip", COMMON_KWARGS[1].1),
        ("reset_noise_scale", "float (default 0.01)"),
    ];

    pub(super) fn new(kw: &Kwargs) -> Result<Self> {
        Ok(Self {
            reset_noise_scale: kw.float("reset_noise_scale", 0.01)?,
            frame_skip: kw.positive("frame_skip", 2)?,
        })
    }
}

impl MujocoTask for InvertedPendulum {
    fn id(&self) -> &str {
        "InvertedPendulum-v5"
    }
    fn frame_skip(&self) -> usize {
        self.frame_skip
    }
    fn bind(&mut self, model: &MjModel) -> Result<usize> {
        require(model, "InvertedPendulum-v5", 2, 2, 1)?;
        let m = model.ffi();
        Ok(m.nq as usize + m.nv as usize)
    }
    fn reset(&self, rng: &mut EnvRng, qpos: &mut [f64], qvel: &mut [f64]) {
        add_uniform(rng, qpos, self.reset_noise_scale);
        add_uniform(rng, qvel, self.reset_noise_scale);
    }
    fn observe(&self, data: &Data, obs: &mut [f32]) {
        write_obs(obs, &[data.qpos(), data.qvel()]);
    }
    fn position(&self, _data: &Data) -> [f64; 2] {
        [0.0; 2]
    }
    fn outcome(&self, data: &Data, _before: [f64; 2], _action: &[f32], _dt: f64) -> (f64, bool) {
        let (qpos, qvel) = (data.qpos(), data.qvel());
        let terminated = !qpos.iter().chain(qvel).all(|v| v.is_finite()) || qpos[1].abs() > 0.2;
        (if terminated { 0.0 } else { 1.0 }, terminated)
    }
}

/// InvertedDoublePendulum-v5: keep the tip high (site 0's height above 1) and still.
#[derive(Debug, Clone)]
pub(super) struct InvertedDoublePendulum {
    healthy_reward: f64,
    reset_noise_scale: f64,
    frame_skip: usize,
}

impl InvertedDoublePendulum {
    pub(super) const KWARGS: &'static [(&'static str, &'static str)] = &[
        ("xml_file", COMMON_KWARGS[0].1),
        ("frame_skip", COMMON_KWARGS[1].1),
        ("healthy_reward", "float (default 10)"),
        ("reset_noise_scale", "float (default 0.1)"),
    ];

    pub(super) fn new(kw: &Kwargs) -> Result<Self> {
        Ok(Self {
            healthy_reward: kw.float("healthy_reward", 10.0)?,
            reset_noise_scale: kw.float("reset_noise_scale", 0.1)?,
            frame_skip: kw.positive("frame_skip", 5)?,
        })
    }
}

impl MujocoTask for InvertedDoublePendulum {
    fn id(&self) -> &str {
        "InvertedDoublePendulum-v5"
    }
    fn frame_skip(&self) -> usize {
        self.frame_skip
    }
    fn bind(&mut self, model: &MjModel) -> Result<usize> {
        require(model, "InvertedDoublePendulum-v5", 3, 3, 1)?;
        if model.ffi().nsite < 1 {
            return Err(EnvError::Config {
                what: "xml_file",
                message:
                    "InvertedDoublePendulum-v5 reads the tip's site (site 0); the model has no site"
                        .into(),
            });
        }
        let m = model.ffi();
        // x, sin and cos of the hinges, velocities, one constraint force
        Ok(1 + 2 * (m.nq as usize - 1) + m.nv as usize + 1)
    }
    fn reset(&self, rng: &mut EnvRng, qpos: &mut [f64], qvel: &mut [f64]) {
        add_uniform(rng, qpos, self.reset_noise_scale);
        // `standard_normal(nv) * scale`: the same product as `scale * z`.
        add_normal(rng, qvel, self.reset_noise_scale);
    }
    fn observe(&self, data: &Data, obs: &mut [f32]) {
        let qpos = data.qpos();
        let hinges = &qpos[1..];
        let mut i = 0;
        let mut put = |v: f64| {
            obs[i] = v as f32;
            i += 1;
        };
        put(qpos[0]);
        hinges.iter().for_each(|q| put(q.sin()));
        hinges.iter().for_each(|q| put(q.cos()));
        data.qvel().iter().for_each(|v| put(v.clamp(-10.0, 10.0)));
        put(data.qfrc_constraint()[0].clamp(-10.0, 10.0));
    }
    fn position(&self, _data: &Data) -> [f64; 2] {
        [0.0; 2]
    }
    fn outcome(&self, data: &Data, _before: [f64; 2], _action: &[f32], _dt: f64) -> (f64, bool) {
        let [x, _, y] = data.site_xpos()[0];
        let terminated = y <= 1.0;
        let qvel = data.qvel();
        let (v1, v2) = (qvel[1], qvel[2]);
        let dist_penalty = 0.01 * (x * x) + (y - 2.0) * (y - 2.0);
        let vel_penalty = 0.001 * (v1 * v1) + 0.005 * (v2 * v2);
        let alive_bonus = if terminated { 0.0 } else { self.healthy_reward };
        (alive_bonus - dist_penalty - vel_penalty, terminated)
    }
}

/// Reacher-v5: move a two-joint arm's fingertip to a random target.
#[derive(Debug, Clone)]
pub(super) struct Reacher {
    reward_dist_weight: f64,
    reward_control_weight: f64,
    fingertip: usize,
    target: usize,
    frame_skip: usize,
}

impl Reacher {
    pub(super) const KWARGS: &'static [(&'static str, &'static str)] = &[
        ("xml_file", COMMON_KWARGS[0].1),
        ("frame_skip", COMMON_KWARGS[1].1),
        ("reward_dist_weight", "float (default 1)"),
        ("reward_control_weight", "float (default 1)"),
    ];

    pub(super) fn new(kw: &Kwargs) -> Result<Self> {
        Ok(Self {
            reward_dist_weight: kw.float("reward_dist_weight", 1.0)?,
            reward_control_weight: kw.float("reward_control_weight", 1.0)?,
            fingertip: 0,
            target: 0,
            frame_skip: kw.positive("frame_skip", 2)?,
        })
    }

    fn fingertip_to_target(&self, data: &Data) -> [f64; 3] {
        let xpos = data.xpos();
        let (f, t) = (xpos[self.fingertip], xpos[self.target]);
        [f[0] - t[0], f[1] - t[1], f[2] - t[2]]
    }
}

impl MujocoTask for Reacher {
    fn id(&self) -> &str {
        "Reacher-v5"
    }
    fn frame_skip(&self) -> usize {
        self.frame_skip
    }
    fn bind(&mut self, model: &MjModel) -> Result<usize> {
        require(model, "Reacher-v5", 4, 2, 1)?;
        self.fingertip = body_id(model, "Reacher-v5", "fingertip")?;
        self.target = body_id(model, "Reacher-v5", "target")?;
        let m = model.ffi();
        Ok(4 + (m.nq as usize - 2) + 2 + 2)
    }
    fn reset(&self, rng: &mut EnvRng, qpos: &mut [f64], qvel: &mut [f64]) {
        for q in qpos.iter_mut() {
            *q += uniform(rng, -0.1, 0.1);
        }
        let goal = loop {
            let g = [uniform(rng, -0.2, 0.2), uniform(rng, -0.2, 0.2)];
            if (g[0] * g[0] + g[1] * g[1]).sqrt() < 0.2 {
                break g;
            }
        };
        let n = qpos.len();
        qpos[n - 2..].copy_from_slice(&goal);
        add_uniform(rng, qvel, 0.005);
        let n = qvel.len();
        qvel[n - 2..].fill(0.0);
    }
    fn observe(&self, data: &Data, obs: &mut [f32]) {
        let qpos = data.qpos();
        let d = self.fingertip_to_target(data);
        write_obs(
            obs,
            &[
                &[qpos[0].cos(), qpos[1].cos(), qpos[0].sin(), qpos[1].sin()],
                &qpos[2..],
                &data.qvel()[..2],
                &d[..2],
            ],
        );
    }
    fn position(&self, _data: &Data) -> [f64; 2] {
        [0.0; 2]
    }
    fn outcome(&self, data: &Data, _before: [f64; 2], action: &[f32], _dt: f64) -> (f64, bool) {
        let d = self.fingertip_to_target(data);
        let norm = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
        let reward_dist = -norm * self.reward_dist_weight;
        // `-np.square(action).sum() * weight`: float32 throughout.
        let reward_ctrl = -control_cost(1.0, action) * self.reward_control_weight as f32;
        (reward_dist + f64::from(reward_ctrl), false)
    }
}

/// Pusher-v5: a seven-joint arm pushes a cylinder (object) to a fixed goal on a table.
#[derive(Debug, Clone)]
pub(super) struct Pusher {
    reward_near_weight: f64,
    reward_dist_weight: f64,
    reward_control_weight: f64,
    tips_arm: usize,
    object: usize,
    goal: usize,
    frame_skip: usize,
}

impl Pusher {
    pub(super) const KWARGS: &'static [(&'static str, &'static str)] = &[
        ("xml_file", COMMON_KWARGS[0].1),
        ("frame_skip", COMMON_KWARGS[1].1),
        ("reward_near_weight", "float (default 0.5)"),
        ("reward_dist_weight", "float (default 1)"),
        ("reward_control_weight", "float (default 0.1)"),
    ];

    pub(super) fn new(kw: &Kwargs) -> Result<Self> {
        Ok(Self {
            reward_near_weight: kw.float("reward_near_weight", 0.5)?,
            reward_dist_weight: kw.float("reward_dist_weight", 1.0)?,
            reward_control_weight: kw.float("reward_control_weight", 0.1)?,
            tips_arm: 0,
            object: 0,
            goal: 0,
            frame_skip: kw.positive("frame_skip", 5)?,
        })
    }
}

/// `np.linalg.norm(a - b)` of two 3-vectors.
fn distance(a: [f64; 3], b: [f64; 3]) -> f64 {
    let d = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
    (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
}

impl MujocoTask for Pusher {
    fn id(&self) -> &str {
        "Pusher-v5"
    }
    fn frame_skip(&self) -> usize {
        self.frame_skip
    }
    fn bind(&mut self, model: &MjModel) -> Result<usize> {
        // Seven arm joints, then the object's and the goal's x-y slides.
        require(model, "Pusher-v5", 11, 11, 1)?;
        self.tips_arm = body_id(model, "Pusher-v5", "tips_arm")?;
        self.object = body_id(model, "Pusher-v5", "object")?;
        self.goal = body_id(model, "Pusher-v5", "goal")?;
        Ok(7 + 7 + 3 * 3)
    }
    fn reset(&self, rng: &mut EnvRng, qpos: &mut [f64], qvel: &mut [f64]) {
        // The object starts anywhere in [-0.3, 0) × [-0.2, 0.2) farther than 0.17 from the
        // goal, which is always at the origin.
        let object = loop {
            let c = [uniform(rng, -0.3, 0.0), uniform(rng, -0.2, 0.2)];
            if (c[0] * c[0] + c[1] * c[1]).sqrt() > 0.17 {
                break c;
            }
        };
        let n = qpos.len();
        qpos[n - 4..n - 2].copy_from_slice(&object);
        qpos[n - 2..].fill(0.0);
        add_uniform(rng, qvel, 0.005);
        let n = qvel.len();
        qvel[n - 4..].fill(0.0);
    }
    fn observe(&self, data: &Data, obs: &mut [f32]) {
        let xpos = data.xpos();
        write_obs(
            obs,
            &[
                &data.qpos()[..7],
                &data.qvel()[..7],
                &xpos[self.tips_arm],
                &xpos[self.object],
                &xpos[self.goal],
            ],
        );
    }
    fn position(&self, _data: &Data) -> [f64; 2] {
        [0.0; 2]
    }
    fn outcome(&self, data: &Data, _before: [f64; 2], action: &[f32], _dt: f64) -> (f64, bool) {
        let xpos = data.xpos();
        let object = xpos[self.object];
        let reward_near = -distance(object, xpos[self.tips_arm]) * self.reward_near_weight;
        let reward_dist = -distance(object, xpos[self.goal]) * self.reward_dist_weight;
        // `-np.square(action).sum() * weight`: float32 throughout.
        let reward_ctrl = -control_cost(1.0, action) * self.reward_control_weight as f32;
        (reward_dist + f64::from(reward_ctrl) + reward_near, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_sum_follows_numpy_order() {
        // Below 8 a plain loop; at 8 the eight partial sums are combined pairwise.
        let a = [1e8f32, 1.0, -1e8, 1.0, 0.5, 0.25, 3.0, 1e-3];
        let plain = a.iter().fold(0f32, |s, &x| s + x);
        let pairwise = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
        assert_ne!(plain, pairwise);
        assert_eq!(pairwise_sum(&a), pairwise);
        assert_eq!(
            pairwise_sum(&a[..7]),
            a[..7].iter().fold(0f32, |s, &x| s + x)
        );
        let long: Vec<f64> = (0..300).map(|i| f64::from(i).sin()).collect();
        let exact: f64 = long.iter().sum();
        assert!((pairwise_sum(&long) - exact).abs() < 1e-12);
    }

    #[test]
    fn control_cost_is_float32() {
        let a = [0.3f32, -0.7, 0.9];
        let expected = 0.001f32 * ((0.3f32 * 0.3 + 0.7 * 0.7) + 0.9 * 0.9);
        assert_eq!(control_cost(0.001, &a), expected);
    }
}
