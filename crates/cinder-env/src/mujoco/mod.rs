//! Native MuJoCo tasks (feature `mujoco`): Gymnasium's v5 locomotion and control suite stepped
//! by MuJoCo from Rust, a batch of envs at a time across cores.
//!
//! [`MujocoVecEnv`] holds one MuJoCo model, shared, and one `MjData` per env; a vector step
//! runs every env's `frame_skip` calls of `mj_step` in parallel with rayon (each env owns its
//! data and random stream, so results do not depend on the number of threads). What an env
//! observes and is rewarded for is a [`MujocoTask`]; Gymnasium's eleven MuJoCo v5 tasks
//! (`Hopper-v5`, `HalfCheetah-v5`, `Walker2d-v5`, `Ant-v5`, `Humanoid-v5`,
//! `HumanoidStandup-v5`, `Swimmer-v5`, `InvertedPendulum-v5`, `InvertedDoublePendulum-v5`,
//! `Reacher-v5`, `Pusher-v5`) are in the registry
//! ([`make`](crate::make)) and identical to Gymnasium 1.4.0's: same MJCF model (loaded from
//! the installed Gymnasium package), frame skip, observation, reward terms, termination,
//! reset noise and keyword arguments. Implement [`MujocoTask`] for a task of your own.
//!
//! # Unstable simulations
//! When MuJoCo finds a NaN, infinite or huge position, velocity or acceleration during a step,
//! it warns and resets that env's simulation. cinder ends the episode there: the env is
//! listed in [`StepBatch::unstable`], reported `truncated` with reward 0 (the step's reward is
//! meaningless), its final observation is that of the state MuJoCo reset to, and a new
//! episode starts; [`MujocoVecEnv::unstable_episodes`] counts such episodes. Never a panic or
//! a NaN observation.
//!
//! # Where MuJoCo and the models come from
//! The library is the `libmujoco.so.3.17.0` of the PyPI wheel `mujoco==3.17.0`, linked
//! through mujoco-rs; `bash scripts/setup_python.sh` installs it into the venv and makes the
//! links the build needs. The model files are Gymnasium's: `xml_file` takes a file name in
//! its assets folder or a path; the folder is `$CINDER_MUJOCO_ASSETS` if set, else that of the
//! venv the crate was built against.

mod render;
mod tasks;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mujoco_rs::wrappers::MjModel;
use mujoco_rs::wrappers::mj_data::{MjData, MjtWarning};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

pub use mujoco_rs;

use crate::error::{EnvError, Result, at_least_one};
use crate::native::{EnvRng, entropy_seed, env_rng};
use crate::registry::{Kwargs, check_kwargs};
use crate::render::{Frame, RenderOptions};
use crate::space::{Actions, BoxSpace, DType, Space};
use crate::vec_env::{EnvState, StepBatch, VecEnv, check_buffer, check_index};

/// The simulation state of one env: a model shared by the batch and this env's data.
pub type Data = MjData<Arc<MjModel>>;

/// What a MuJoCo env observes, is rewarded for and starts from; the simulation itself
/// (loading, `frame_skip` × `mj_step`, auto-reset, batching) is [`MujocoVecEnv`]'s.
pub trait MujocoTask: Send + Sync + std::fmt::Debug {
    /// Gymnasium id (used in messages and saved states).
    fn id(&self) -> &str;

    /// MuJoCo steps per env step.
    fn frame_skip(&self) -> usize;

    /// Called once with the loaded model: resolves names and checks that the model has what
    /// the task reads. Returns the observation size.
    ///
    /// # Errors
    /// If the model does not fit the task (message naming what is missing).
    fn bind(&mut self, model: &MjModel) -> Result<usize>;

    /// Whether the task reads contact forces (`cfrc_ext`), which MuJoCo computes only on
    /// request (`mj_rnePostConstraint`, called after every step when this is true).
    fn needs_contact_forces(&self) -> bool {
        false
    }

    /// Adds the reset noise: `qpos` and `qvel` hold the model's initial state on entry.
    fn reset(&self, rng: &mut EnvRng, qpos: &mut [f64], qvel: &mut [f64]);

    /// Writes the observation of `data` to `obs` (`[obs_dim]`).
    fn observe(&self, data: &Data, obs: &mut [f32]);

    /// What the reward needs from before the step (e.g. the x-y position of the torso).
    fn position(&self, data: &Data) -> [f64; 2];

    /// Reward and termination of a step, from the data after it, what
    /// [`position`](MujocoTask::position) returned before it, the action and the env's time
    /// step `dt` (timestep × frame skip).
    fn outcome(&self, data: &Data, before: [f64; 2], action: &[f32], dt: f64) -> (f64, bool);
}

/// A native MuJoCo id: constructor of its task, accepted keyword arguments, default model,
/// Gymnasium's episode limit and reward threshold, and the spaces with default arguments.
pub(crate) struct MujocoSpec {
    pub id: &'static str,
    pub xml: &'static str,
    pub max_episode_steps: usize,
    pub reward_threshold: Option<f64>,
    pub kwargs: &'static [(&'static str, &'static str)],
    pub obs_dim: usize,
    pub action_dim: usize,
    pub action_bound: f64,
    make: fn(&Kwargs) -> Result<Box<dyn MujocoTask>>,
}

fn boxed<T: MujocoTask + 'static>(task: Result<T>) -> Result<Box<dyn MujocoTask>> {
    Ok(Box::new(task?))
}

/// The native MuJoCo ids, in the order `cinder envs` lists them.
pub(crate) const SPECS: [MujocoSpec; 11] = [
    MujocoSpec {
        id: "Hopper-v5",
        xml: "hopper.xml",
        max_episode_steps: 1000,
        reward_threshold: Some(3800.0),
        kwargs: tasks::Walker::HOPPER_KWARGS,
        obs_dim: 11,
        action_dim: 3,
        action_bound: 1.0,
        make: |kw| boxed(tasks::Walker::hopper(kw)),
    },
    MujocoSpec {
        id: "HalfCheetah-v5",
        xml: "half_cheetah.xml",
        max_episode_steps: 1000,
        reward_threshold: Some(4800.0),
        kwargs: tasks::Runner::KWARGS,
        obs_dim: 17,
        action_dim: 6,
        action_bound: 1.0,
        make: |kw| boxed(tasks::Runner::half_cheetah(kw)),
    },
    MujocoSpec {
        id: "Walker2d-v5",
        xml: "walker2d_v5.xml",
        max_episode_steps: 1000,
        reward_threshold: None,
        kwargs: tasks::Walker::WALKER_KWARGS,
        obs_dim: 17,
        action_dim: 6,
        action_bound: 1.0,
        make: |kw| boxed(tasks::Walker::walker2d(kw)),
    },
    MujocoSpec {
        id: "Ant-v5",
        xml: "ant.xml",
        max_episode_steps: 1000,
        reward_threshold: Some(6000.0),
        kwargs: tasks::Ant::KWARGS,
        obs_dim: 105,
        action_dim: 8,
        action_bound: 1.0,
        make: |kw| boxed(tasks::Ant::new(kw)),
    },
    MujocoSpec {
        id: "Humanoid-v5",
        xml: "humanoid.xml",
        max_episode_steps: 1000,
        reward_threshold: None,
        kwargs: tasks::Humanoid::KWARGS,
        obs_dim: 348,
        action_dim: 17,
        action_bound: 0.4,
        make: |kw| boxed(tasks::Humanoid::walk(kw)),
    },
    MujocoSpec {
        id: "HumanoidStandup-v5",
        xml: "humanoidstandup.xml",
        max_episode_steps: 1000,
        reward_threshold: None,
        kwargs: tasks::Humanoid::STANDUP_KWARGS,
        obs_dim: 348,
        action_dim: 17,
        action_bound: 0.4,
        make: |kw| boxed(tasks::Humanoid::standup(kw)),
    },
    MujocoSpec {
        id: "Swimmer-v5",
        xml: "swimmer.xml",
        max_episode_steps: 1000,
        reward_threshold: Some(360.0),
        kwargs: tasks::Runner::KWARGS,
        obs_dim: 8,
        action_dim: 2,
        action_bound: 1.0,
        make: |kw| boxed(tasks::Runner::swimmer(kw)),
    },
    MujocoSpec {
        id: "InvertedPendulum-v5",
        xml: "inverted_pendulum.xml",
        max_episode_steps: 1000,
        reward_threshold: Some(950.0),
        kwargs: tasks::InvertedPendulum::KWARGS,
        obs_dim: 4,
        action_dim: 1,
        action_bound: 3.0,
        make: |kw| boxed(tasks::InvertedPendulum::new(kw)),
    },
    MujocoSpec {
        id: "InvertedDoublePendulum-v5",
        xml: "inverted_double_pendulum.xml",
        max_episode_steps: 1000,
        reward_threshold: Some(9100.0),
        kwargs: tasks::InvertedDoublePendulum::KWARGS,
        obs_dim: 9,
        action_dim: 1,
        action_bound: 1.0,
        make: |kw| boxed(tasks::InvertedDoublePendulum::new(kw)),
    },
    MujocoSpec {
        id: "Reacher-v5",
        xml: "reacher.xml",
        max_episode_steps: 50,
        reward_threshold: Some(-3.75),
        kwargs: tasks::Reacher::KWARGS,
        obs_dim: 10,
        action_dim: 2,
        action_bound: 1.0,
        make: |kw| boxed(tasks::Reacher::new(kw)),
    },
    MujocoSpec {
        id: "Pusher-v5",
        xml: "pusher_v5.xml",
        max_episode_steps: 100,
        reward_threshold: Some(0.0),
        kwargs: tasks::Pusher::KWARGS,
        obs_dim: 23,
        action_dim: 7,
        action_bound: 2.0,
        make: |kw| boxed(tasks::Pusher::new(kw)),
    },
];

impl MujocoSpec {
    pub(crate) fn observation_space(&self) -> Space {
        unbounded(self.obs_dim)
    }

    pub(crate) fn action_space(&self) -> Space {
        Space::Box(
            // Gymnasium's bounds are the model's float32 control range (0.4 is not 0.4f32).
            BoxSpace::uniform(
                f64::from(-self.action_bound as f32),
                f64::from(self.action_bound as f32),
                self.action_dim,
                DType::F32,
            )
            .expect("valid bounds"),
        )
    }
}

fn unbounded(dim: usize) -> Space {
    Space::Box(
        BoxSpace::uniform(f64::NEG_INFINITY, f64::INFINITY, dim, DType::F64).expect("valid bounds"),
    )
}

/// The folder holding Gymnasium's MuJoCo model files: `$CINDER_MUJOCO_ASSETS`, else the one of
/// the venv this crate was built against (`.venv` of `scripts/setup_python.sh`).
///
/// # Errors
/// If neither exists, saying how to provide one.
pub fn assets_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CINDER_MUJOCO_ASSETS") {
        let dir = PathBuf::from(dir);
        if dir.is_dir() {
            return Ok(dir);
        }
        return Err(EnvError::Config {
            what: "CINDER_MUJOCO_ASSETS",
            message: format!(
                "{} is not a folder; point it at gymnasium/envs/mujoco/assets of an installed gymnasium==1.4.0",
                dir.display()
            ),
        });
    }
    if let Some(dir) = option_env!("CINDER_BUILD_MUJOCO_ASSETS").map(PathBuf::from)
        && dir.is_dir()
    {
        return Ok(dir);
    }
    Err(EnvError::Config {
        what: "MuJoCo model files",
        message: "Gymnasium's MuJoCo assets were not found: run `bash scripts/setup_python.sh` \
                  and rebuild, set CINDER_MUJOCO_ASSETS to gymnasium/envs/mujoco/assets of an \
                  installed gymnasium==1.4.0, or pass xml_file=/path/to/model.xml"
            .into(),
    })
}

/// Gymnasium's `expand_model_path`: paths starting with `.`, `/` or `~` are used as given,
/// other names are looked up in the assets folder.
fn model_path(xml: &str) -> Result<PathBuf> {
    let path = if xml.starts_with('.') || xml.starts_with('/') {
        PathBuf::from(xml)
    } else if let Some(rest) = xml.strip_prefix('~') {
        let home = std::env::var_os("HOME").unwrap_or_default();
        PathBuf::from(home).join(rest.trim_start_matches('/'))
    } else {
        assets_dir()?.join(xml)
    };
    if !path.is_file() {
        return Err(EnvError::Config {
            what: "xml_file",
            message: format!("model file {} does not exist", path.display()),
        });
    }
    Ok(path)
}

fn load_model(path: &Path) -> Result<MjModel> {
    MjModel::from_xml(path).map_err(|e| EnvError::Config {
        what: "xml_file",
        message: format!("MuJoCo cannot load {}: {e}", path.display()),
    })
}

/// Makes the task of a registered id from keyword arguments (already checked against the
/// accepted names) and its batch of `n` envs.
pub(crate) fn make_registered(
    spec: &MujocoSpec,
    kw: &Kwargs,
    n: usize,
    seed: Option<u64>,
) -> Result<MujocoVecEnv> {
    let task = (spec.make)(kw)?;
    let xml = kw.string("xml_file", spec.xml)?;
    let env = MujocoVecEnv::from_path(task, &model_path(&xml)?, n)?;
    Ok(env.with_seed(seed))
}

/// One env of the batch: its simulation, random stream, what the task's
/// [`position`](MujocoTask::position) read when the last step or reset ended — Gymnasium reads
/// it at the start of the next step, from fields `mj_step` computed before its last
/// integration, so it is kept rather than recomputed (a resumed env continues exactly) —, and
/// the action and results of the current step.
struct Slot {
    data: Data,
    rng: EnvRng,
    before: [f64; 2],
    /// Reset state being drawn (kept to avoid an allocation per episode).
    qpos: Vec<f64>,
    qvel: Vec<f64>,
    action: Vec<f32>,
    obs: Vec<f32>,
    fin: Vec<f32>,
    reward: f32,
    terminated: bool,
    truncated: bool,
    failed: bool,
    /// The last step ended the episode, or `reset_env` restarted it: a render draws
    /// `ended`, the simulation as the episode ended, not the new episode.
    show_ended: bool,
    /// Kept only once the env has been rendered (`Work::keep_ended`).
    ended: Option<Box<Data>>,
}

/// What a step of one env needs besides its slot.
struct Work {
    task: Arc<dyn MujocoTask>,
    init_qpos: Vec<f64>,
    init_qvel: Vec<f64>,
    dt: f64,
    contact_forces: bool,
    /// Keep a copy of each ended episode's simulation for `render` (set by the first
    /// render, so training pays nothing).
    keep_ended: AtomicBool,
}

impl Work {
    fn reset(&self, slot: &mut Slot) {
        slot.qpos.copy_from_slice(&self.init_qpos);
        slot.qvel.copy_from_slice(&self.init_qvel);
        self.task
            .reset(&mut slot.rng, &mut slot.qpos, &mut slot.qvel);
        let data = &mut slot.data;
        data.reset();
        data.qpos_mut().copy_from_slice(&slot.qpos);
        data.qvel_mut().copy_from_slice(&slot.qvel);
        data.forward();
        slot.before = self.task.position(&slot.data);
    }

    /// Keeps the simulation of an episode that ends now, if renders need it.
    fn keep(&self, slot: &mut Slot) {
        if self.keep_ended.load(Ordering::Relaxed) {
            slot.ended = Some(Box::new(slot.data.clone()));
        }
    }

    /// One env step of `slot` with `slot.action`; results into the slot.
    fn step(&self, slot: &mut Slot) {
        let task = &*self.task;
        let before = slot.before;
        for (c, &a) in slot.data.ctrl_mut().iter_mut().zip(&slot.action) {
            *c = f64::from(a);
        }
        for _ in 0..task.frame_skip() {
            slot.data.step();
        }
        if self.contact_forces {
            slot.data.rne_post_constraint();
        }
        slot.failed = unstable(&slot.data);
        if slot.failed {
            slot.reward = 0.0;
            slot.terminated = false;
            slot.truncated = true;
        } else {
            let (r, t) = task.outcome(&slot.data, before, &slot.action, self.dt);
            slot.reward = r as f32;
            slot.terminated = t;
            slot.truncated = false;
        }
        slot.show_ended = slot.terminated || slot.truncated;
        if slot.show_ended {
            task.observe(&slot.data, &mut slot.fin);
            self.keep(slot);
            self.reset(slot);
        } else {
            slot.before = task.position(&slot.data);
        }
        task.observe(&slot.data, &mut slot.obs);
    }
}

/// The envs and the hand-over state of a parallel vector step, shared with helper jobs.
///
/// A vector step numbers its envs 0..n; the calling thread and the helpers claim them in
/// order (`next`) and count the finished ones (`finished`). Helpers are rayon jobs that, once
/// out of envs, spin for a short while for the next step (`epoch`) before they return: a
/// vector step that follows soon after the last one — the common case in a rollout — then
/// costs no thread wake-up, which on a virtual machine's idle core takes longer than stepping
/// a few envs. Which thread steps an env never changes its result.
struct Shared {
    slots: Vec<Mutex<Slot>>,
    work: Work,
    next: AtomicUsize,
    finished: AtomicUsize,
    epoch: AtomicU64,
    helpers: AtomicUsize,
    stop: AtomicBool,
}

/// How long a helper waits for the next vector step before it returns to the pool.
const HELPER_SPIN: std::time::Duration = std::time::Duration::from_micros(200);

fn lock(slot: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Steps envs until none is left in this vector step.
    fn claim(&self) {
        let n = self.slots.len();
        loop {
            let i = self.next.fetch_add(1, Ordering::AcqRel);
            if i >= n {
                return;
            }
            self.work.step(&mut lock(&self.slots[i]));
            self.finished.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn helper(self: Arc<Self>) {
        let mut seen = self.epoch.load(Ordering::Acquire);
        loop {
            self.claim();
            let start = std::time::Instant::now();
            loop {
                let epoch = self.epoch.load(Ordering::Acquire);
                if epoch != seen {
                    seen = epoch;
                    break;
                }
                if self.stop.load(Ordering::Relaxed) || start.elapsed() > HELPER_SPIN {
                    self.helpers.fetch_sub(1, Ordering::AcqRel);
                    return;
                }
                for _ in 0..32 {
                    std::hint::spin_loop();
                }
                std::thread::yield_now();
            }
        }
    }
}

/// A batch of N MuJoCo envs of one task, stepped in parallel; no time limit (use
/// [`make`](crate::make) for Gymnasium's, or wrap it in [`TimeLimit`](crate::wrappers::TimeLimit)).
///
/// ```no_run
/// use cinder_env::mujoco::MujocoVecEnv;
/// use cinder_env::{StepBatch, VecEnv, space::ActionBuffer};
/// let mut env = MujocoVecEnv::gymnasium("Hopper-v5", 16, &Default::default())?;
/// let mut obs = vec![0.0; 16 * 11];
/// env.reset(Some(0), &mut obs)?;
/// let mut out = StepBatch::for_env(&env);
/// env.step(ActionBuffer::Continuous(vec![0.1; 16 * 3]).as_actions(), &mut out)?;
/// # Ok::<(), cinder_env::EnvError>(())
/// ```
pub struct MujocoVecEnv {
    shared: Arc<Shared>,
    model: Arc<MjModel>,
    observation_space: Space,
    action_space: Space,
    obs_dim: usize,
    action_dim: usize,
    unstable_episodes: u64,
    threads: usize,
    pool: Option<rayon::ThreadPool>,
    default_seed: Option<u64>,
    ready: bool,
    renderer: Option<render::RenderThread>,
}

impl std::fmt::Debug for MujocoVecEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MujocoVecEnv")
            .field("task", &self.shared.work.task)
            .field("num_envs", &self.shared.slots.len())
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

impl Drop for MujocoVecEnv {
    fn drop(&mut self) {
        // Helpers still spinning return at once.
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

/// The MuJoCo warnings after which MuJoCo has reset the simulation.
const INSTABILITY: [MjtWarning; 3] = [
    MjtWarning::mjWARN_BADQPOS,
    MjtWarning::mjWARN_BADQVEL,
    MjtWarning::mjWARN_BADQACC,
];

fn unstable(data: &Data) -> bool {
    let warnings = data.warning();
    INSTABILITY.iter().any(|&w| warnings[w as usize].number > 0)
}

/// Read access to one env's simulation ([`MujocoVecEnv::data`]).
pub struct SimRef<'a>(MutexGuard<'a, Slot>);

impl std::ops::Deref for SimRef<'_> {
    type Target = Data;
    fn deref(&self) -> &Data {
        &self.0.data
    }
}

impl MujocoVecEnv {
    /// Registered id `id` with Gymnasium's keyword arguments `kwargs` (as in
    /// `gymnasium.make(id, **kwargs)`), without time limit.
    ///
    /// # Errors
    /// Unknown id or keyword argument, a bad value, model files not found, `num_envs` 0.
    pub fn gymnasium(
        id: &str,
        num_envs: usize,
        kwargs: &BTreeMap<String, serde_json::Value>,
    ) -> Result<Self> {
        let spec = SPECS
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| EnvError::UnknownEnv {
                id: id.to_string(),
                suggestions: crate::registry::suggestions(
                    id,
                    &SPECS.iter().map(|s| s.id).collect::<Vec<_>>(),
                ),
                hint: None,
            })?;
        check_kwargs(id, spec.kwargs, kwargs)?;
        make_registered(spec, &Kwargs { id, map: kwargs }, num_envs, None)
    }

    /// `num_envs` envs of `task` simulating the MJCF model at `path`.
    ///
    /// # Errors
    /// If the model cannot be loaded or does not fit the task, or `num_envs` is 0.
    pub fn from_path(task: Box<dyn MujocoTask>, path: &Path, num_envs: usize) -> Result<Self> {
        Self::new(task, load_model(path)?, num_envs)
    }

    /// `num_envs` envs of `task` simulating `model`.
    ///
    /// # Errors
    /// If the model does not fit the task, has no actuator, or `num_envs` is 0.
    pub fn new(mut task: Box<dyn MujocoTask>, model: MjModel, num_envs: usize) -> Result<Self> {
        at_least_one("num_envs", num_envs)?;
        at_least_one("frame_skip", task.frame_skip())?;
        let obs_dim = task.bind(&model)?;
        let m = model.ffi();
        let nu = m.nu as usize;
        if nu == 0 {
            return Err(EnvError::Config {
                what: "model",
                message: format!("{}: the model has no actuator to act with", task.id()),
            });
        }
        let dt = m.opt.timestep * task.frame_skip() as f64;
        // Gymnasium's action space: the actuators' control ranges, as float32.
        let (mut low, mut high) = (Vec::with_capacity(nu), Vec::with_capacity(nu));
        for r in model.actuator_ctrlrange() {
            low.push(f64::from(r[0] as f32));
            high.push(f64::from(r[1] as f32));
        }
        let action_space = Space::Box(BoxSpace::new(low, high, DType::F32)?);
        let model = Arc::new(model);
        let template = Data::new(model.clone());
        let (init_qpos, init_qvel) = (template.qpos().to_vec(), template.qvel().to_vec());
        let slots = (0..num_envs)
            .map(|_| {
                Ok(Mutex::new(Slot {
                    data: Data::try_new(model.clone()).map_err(|e| {
                        EnvError::Env(format!("MuJoCo cannot allocate the data of an env: {e}"))
                    })?,
                    rng: EnvRng::seed_from_u64(0),
                    before: [0.0; 2],
                    qpos: init_qpos.clone(),
                    qvel: init_qvel.clone(),
                    action: vec![0.0; nu],
                    obs: vec![0.0; obs_dim],
                    fin: vec![0.0; obs_dim],
                    reward: 0.0,
                    terminated: false,
                    truncated: false,
                    failed: false,
                    show_ended: false,
                    ended: None,
                }))
            })
            .collect::<Result<Vec<_>>>()?;
        let contact_forces = task.needs_contact_forces();
        Ok(Self {
            shared: Arc::new(Shared {
                slots,
                work: Work {
                    task: Arc::from(task),
                    init_qpos,
                    init_qvel,
                    dt,
                    contact_forces,
                    keep_ended: AtomicBool::new(false),
                },
                next: AtomicUsize::new(0),
                finished: AtomicUsize::new(0),
                epoch: AtomicU64::new(0),
                helpers: AtomicUsize::new(0),
                stop: AtomicBool::new(false),
            }),
            model,
            observation_space: unbounded(obs_dim),
            action_space,
            obs_dim,
            action_dim: nu,
            unstable_episodes: 0,
            threads: 0,
            pool: None,
            default_seed: None,
            ready: false,
            renderer: None,
        })
    }

    /// The seed the first `reset(None)` uses (otherwise it draws one from the OS).
    pub fn with_seed(mut self, seed: Option<u64>) -> Self {
        self.default_seed = seed;
        self
    }

    /// Worker threads: 0 (the default) uses rayon's current pool — all cores, or what
    /// `rayon::ThreadPoolBuilder::build_global` set —, 1 steps in the calling thread, k ≥ 2 a
    /// pool of its own (the calling thread and k − 1 helpers). Results are the same for every
    /// choice.
    ///
    /// # Errors
    /// If the pool cannot be started.
    pub fn with_threads(mut self, threads: usize) -> Result<Self> {
        self.pool = if threads >= 2 {
            Some(crate::env::thread_pool(threads - 1, threads)?)
        } else {
            None
        };
        self.threads = threads;
        Ok(self)
    }

    /// The task.
    pub fn task(&self) -> &dyn MujocoTask {
        &*self.shared.work.task
    }

    /// The model shared by the batch.
    pub fn model(&self) -> &Arc<MjModel> {
        &self.model
    }

    /// The env's time step: the model's timestep × frame skip.
    pub fn dt(&self) -> f64 {
        self.shared.work.dt
    }

    /// Episodes ended because the simulation became unstable (see the module docs), since
    /// the env was made.
    pub fn unstable_episodes(&self) -> u64 {
        self.unstable_episodes
    }

    /// The simulation of env `index` (read-only).
    ///
    /// # Errors
    /// [`EnvError::EnvIndex`].
    pub fn data(&self, index: usize) -> Result<SimRef<'_>> {
        check_index(index, self.shared.slots.len())?;
        Ok(SimRef(lock(&self.shared.slots[index])))
    }

    /// Puts env `index` in the state (qpos, qvel) as Gymnasium's `set_state` does — reset the
    /// simulation, set positions and velocities, `mj_forward` — and writes its observation to
    /// `obs`. Replays a state taken from Gymnasium, or starts from a chosen one.
    ///
    /// # Errors
    /// Index, lengths of `qpos` (nq), `qvel` (nv) and `obs`, non-finite values, or no reset yet.
    pub fn set_state(
        &mut self,
        index: usize,
        qpos: &[f64],
        qvel: &[f64],
        obs: &mut [f32],
    ) -> Result<()> {
        let work = &self.shared.work;
        check_index(index, self.shared.slots.len())?;
        check_buffer("qpos", qpos.len(), work.init_qpos.len())?;
        check_buffer("qvel", qvel.len(), work.init_qvel.len())?;
        check_buffer("observation", obs.len(), self.obs_dim)?;
        if !self.ready {
            return Err(EnvError::NotReset);
        }
        if !qpos.iter().chain(qvel).all(|v| v.is_finite()) {
            return Err(EnvError::State("qpos and qvel must be finite".into()));
        }
        let mut slot = lock(&self.shared.slots[index]);
        let data = &mut slot.data;
        data.reset();
        data.qpos_mut().copy_from_slice(qpos);
        data.qvel_mut().copy_from_slice(qvel);
        data.forward();
        slot.before = work.task.position(&slot.data);
        work.task.observe(&slot.data, obs);
        Ok(())
    }

    /// Threads a vector step uses (the caller included).
    fn step_threads(&self) -> usize {
        match &self.pool {
            Some(pool) => pool.current_num_threads() + 1,
            None if self.threads == 1 => 1,
            None => rayon::current_num_threads(),
        }
    }
}

impl VecEnv for MujocoVecEnv {
    fn num_envs(&self) -> usize {
        self.shared.slots.len()
    }

    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<()> {
        let d = self.obs_dim;
        let shared = &*self.shared;
        check_buffer("reset observations", obs.len(), shared.slots.len() * d)?;
        let seed = match seed {
            Some(s) => Some(s),
            None if !self.ready => Some(self.default_seed.unwrap_or_else(entropy_seed)),
            None => None,
        };
        for (i, (slot, row)) in shared.slots.iter().zip(obs.chunks_exact_mut(d)).enumerate() {
            let mut slot = lock(slot);
            if let Some(s) = seed {
                slot.rng = env_rng(s, i);
            }
            shared.work.reset(&mut slot);
            shared.work.task.observe(&slot.data, row);
            slot.show_ended = false;
        }
        self.ready = true;
        Ok(())
    }

    fn step(&mut self, actions: Actions<'_>, out: &mut StepBatch) -> Result<()> {
        let shared = &*self.shared;
        let n = shared.slots.len();
        let (d, a) = (self.obs_dim, self.action_dim);
        self.action_space.validate_actions(actions, n)?;
        if !self.ready {
            return Err(EnvError::NotReset);
        }
        out.prepare(n, d)?;
        let Actions::Continuous(actions) = actions else {
            unreachable!("validated as continuous")
        };
        for (slot, action) in shared.slots.iter().zip(actions.chunks_exact(a)) {
            lock(slot).action.copy_from_slice(action);
        }
        let threads = self.step_threads().min(n);
        if threads <= 1 {
            for slot in &shared.slots {
                shared.work.step(&mut lock(slot));
            }
        } else {
            // Actions are in place: open the step, then make sure enough helpers run.
            shared.finished.store(0, Ordering::Release);
            shared.next.store(0, Ordering::Release);
            shared.epoch.fetch_add(1, Ordering::AcqRel);
            while shared.helpers.load(Ordering::Acquire) < threads - 1 {
                shared.helpers.fetch_add(1, Ordering::AcqRel);
                let helper = Arc::clone(&self.shared);
                match &self.pool {
                    Some(pool) => pool.spawn(move || helper.helper()),
                    None => rayon::spawn(move || helper.helper()),
                }
            }
            shared.claim();
            // Helpers finish the last envs (at most one env step each): wait without sleeping.
            while shared.finished.load(Ordering::Acquire) < n {
                for _ in 0..32 {
                    std::hint::spin_loop();
                }
                std::thread::yield_now();
            }
        }
        for (i, slot) in shared.slots.iter().enumerate() {
            let slot = lock(slot);
            out.obs[i * d..(i + 1) * d].copy_from_slice(&slot.obs);
            out.rewards[i] = slot.reward;
            out.terminated[i] = slot.terminated;
            out.truncated[i] = slot.truncated;
            if slot.terminated || slot.truncated {
                out.final_obs[i * d..(i + 1) * d].copy_from_slice(&slot.fin);
            }
            if slot.failed {
                out.unstable.push(i);
                self.unstable_episodes += 1;
            }
        }
        Ok(())
    }

    fn reset_env(&mut self, index: usize, obs: &mut [f32]) -> Result<()> {
        check_index(index, self.shared.slots.len())?;
        check_buffer("reset observation", obs.len(), self.obs_dim)?;
        if !self.ready {
            return Err(EnvError::NotReset);
        }
        let mut slot = lock(&self.shared.slots[index]);
        self.shared.work.keep(&mut slot);
        slot.show_ended = true;
        self.shared.work.reset(&mut slot);
        self.shared.work.task.observe(&slot.data, obs);
        Ok(())
    }

    fn render(&mut self, index: usize, options: &RenderOptions) -> Result<Frame> {
        check_index(index, self.shared.slots.len())?;
        if !self.ready {
            return Err(EnvError::NotReset);
        }
        let (w, h) = options.size(render::DEFAULT_SIZE)?;
        let work = &self.shared.work;
        // From now on ended episodes are kept for their last picture.
        work.keep_ended.store(true, Ordering::Relaxed);
        let data = {
            let slot = lock(&self.shared.slots[index]);
            match (&slot.ended, slot.show_ended) {
                (Some(ended), true) => ended.clone(),
                (None, true) => {
                    return Err(EnvError::Render(
                        "this episode ended before the env was first rendered, and its last \
                         state was not kept: render once after reset to record episode ends"
                            .into(),
                    ));
                }
                _ => Box::new(slot.data.clone()),
            }
        };
        if !self
            .renderer
            .as_ref()
            .is_some_and(|r| r.serves(w, h, options.camera))
        {
            self.renderer = None;
            let cam = render::camera(work.task.id(), &data, options.camera);
            self.renderer = Some(render::RenderThread::start(
                &self.model,
                w,
                h,
                options.camera,
                cam,
            )?);
        }
        self.renderer.as_ref().expect("started above").render(data)
    }

    fn render_fps(&self) -> Option<f64> {
        // Gymnasium's metadata: round(1 / dt), which its MujocoEnv asserts.
        Some((1.0 / self.shared.work.dt).round())
    }

    fn save_runtime(&self, state: &mut EnvState) -> Result<()> {
        if !self.ready {
            return Err(EnvError::NotReset);
        }
        let spec = mujoco_rs::mujoco_c::mjtState::mjSTATE_INTEGRATION as u32;
        let slots: Vec<_> = self.shared.slots.iter().map(lock).collect();
        let runtime = MujocoRuntime {
            id: self.task().id().to_string(),
            states: slots
                .iter()
                .map(|s| s.data.state(spec).into_vec())
                .collect(),
            rngs: slots.iter().map(|s| s.rng.clone()).collect(),
            positions: slots.iter().map(|s| s.before).collect(),
            unstable_episodes: self.unstable_episodes,
        };
        state.insert_serialized(MUJOCO_KEY, &runtime)
    }

    fn load_runtime(&mut self, state: &EnvState) -> Result<()> {
        let runtime: MujocoRuntime = state.get_deserialized(MUJOCO_KEY, "a MuJoCo env's state")?;
        let n = self.shared.slots.len();
        if runtime.id != self.task().id()
            || runtime.states.len() != n
            || runtime.rngs.len() != n
            || runtime.positions.len() != n
        {
            return Err(EnvError::State(format!(
                "the saved state is of {} × {}, this env is {n} × {}",
                runtime.states.len(),
                runtime.id,
                self.task().id()
            )));
        }
        let spec = mujoco_rs::mujoco_c::mjtState::mjSTATE_INTEGRATION as u32;
        let size = lock(&self.shared.slots[0]).data.state(spec).len();
        if let Some(bad) = runtime.states.iter().find(|s| s.len() != size) {
            return Err(EnvError::State(format!(
                "a saved simulation state has {} values, this model's has {size}",
                bad.len()
            )));
        }
        for (((slot, values), rng), before) in self
            .shared
            .slots
            .iter()
            .zip(&runtime.states)
            .zip(runtime.rngs)
            .zip(runtime.positions)
        {
            let mut slot = lock(slot);
            slot.data.reset();
            slot.data
                .set_state(values, spec)
                .map_err(|e| EnvError::State(format!("MuJoCo refused the state: {e}")))?;
            slot.data.forward();
            slot.rng = rng;
            slot.before = before;
            slot.show_ended = false;
        }
        self.unstable_episodes = runtime.unstable_episodes;
        self.ready = true;
        Ok(())
    }
}

const MUJOCO_KEY: &str = "runtime/mujoco";

/// What [`MujocoVecEnv::save_runtime`](VecEnv::save_runtime) saves: each env's full
/// integration state (`mj_getState` with `mjSTATE_INTEGRATION`), random stream and the
/// position its next reward starts from.
#[derive(Serialize, Deserialize)]
struct MujocoRuntime {
    id: String,
    states: Vec<Vec<f64>>,
    rngs: Vec<EnvRng>,
    positions: Vec<[f64; 2]>,
    unstable_episodes: u64,
}
