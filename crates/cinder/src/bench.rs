//! Benchmarks and numerical checks of the core numerics, generic over the backend; the
//! `cinder bench` and `cinder check` commands and the criterion benches call these.
//!
//! Timing protocol (as the reference harness in `shared/bench/peers`): warm-up runs, then
//! `reps` timed runs, each ended by a device sync; median and minimum reported. A time box
//! (`max_s`) may end the timed runs early, after at least two.

use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData, backend::Backend};
use cinder_cg::{CgConfig, conjugate_gradient};
use cinder_fisher::{
    DoubleBackprop, FisherVectorProduct, FvpConfig, GaussNewton, MlpPolicy, SecondOrderPolicy,
    dense::fisher_matrix,
};
use cinder_policy::{CategoricalMlpPolicyConfig, GaussianMlpPolicy, GaussianMlpPolicyConfig, flat};
use rand::{SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;

/// Which Fisher-vector product to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FvpMethod {
    /// [`DoubleBackprop`].
    DoubleBackprop,
    /// [`GaussNewton`].
    GaussNewton,
}

impl FvpMethod {
    /// The name used on the command line and in JSON output.
    pub fn name(self) -> &'static str {
        match self {
            FvpMethod::DoubleBackprop => "double-backprop",
            FvpMethod::GaussNewton => "gauss-newton",
        }
    }
}

/// The problem a benchmark runs: an MLP Gaussian policy on random observations.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Observation dimension.
    pub obs_dim: usize,
    /// Action dimension.
    pub act_dim: usize,
    /// Hidden widths.
    pub hidden: Vec<usize>,
    /// Observations in the batch.
    pub batch: usize,
    /// Seed of weights, observations and vectors.
    pub seed: u64,
}

/// Median and minimum of repeated timings, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Timing {
    /// Median.
    pub median_ms: f64,
    /// Minimum.
    pub min_ms: f64,
    /// Timed runs.
    pub reps: usize,
}

/// Standard-normal host data of the given shape, as a tensor (f64 draws rounded to f32).
pub fn randn<B: Backend, const D: usize>(
    shape: [usize; D],
    rng: &mut StdRng,
    device: &B::Device,
) -> Tensor<B, D> {
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| {
            let x: f64 = StandardNormal.sample(rng);
            x as f32
        })
        .collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

impl Problem {
    /// The policy, observations and a random vector of the problem.
    pub fn build<B: Backend>(
        &self,
        device: &B::Device,
    ) -> (GaussianMlpPolicy<B>, Tensor<B, 2>, Tensor<B, 2>) {
        let policy = GaussianMlpPolicyConfig::new(self.obs_dim, self.act_dim)
            .with_hidden(self.hidden.clone())
            .init::<B>(self.seed, device)
            .expect("benchmark sizes are valid");
        let mut rng = StdRng::seed_from_u64(self.seed ^ 0x5eed);
        let obs = randn([self.batch, self.obs_dim], &mut rng, device);
        let v = randn([1, flat::num_params(&policy)], &mut rng, device);
        (policy, obs, v)
    }
}

/// How many times a benchmark runs.
#[derive(Debug, Clone, Copy)]
pub struct Reps {
    /// Timed runs at most.
    pub reps: usize,
    /// Seconds of timed runs after which no more start (at least two run).
    pub max_s: f64,
}

impl Reps {
    /// Exactly `reps` timed runs.
    pub fn exactly(reps: usize) -> Self {
        Reps {
            reps,
            max_s: f64::INFINITY,
        }
    }
}

fn time<B: Backend>(device: &B::Device, warmup: usize, reps: Reps, mut f: impl FnMut()) -> Timing {
    for _ in 0..warmup {
        f();
        B::sync(device).expect("device sync");
    }
    let start = Instant::now();
    let mut ms = Vec::new();
    while ms.len() < reps.reps.max(1)
        && (ms.len() < 2 || start.elapsed().as_secs_f64() < reps.max_s)
    {
        let t = Instant::now();
        f();
        B::sync(device).expect("device sync");
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(|a, b| a.total_cmp(b));
    Timing {
        median_ms: ms[ms.len() / 2],
        min_ms: ms[0],
        reps: ms.len(),
    }
}

/// The Fisher-vector product of `method` for `policy` over `obs`, boxed so callers can
/// switch method at run time.
pub fn operator<B: Backend>(
    method: FvpMethod,
    policy: &GaussianMlpPolicy<B>,
    obs: Tensor<B, 2>,
    damping: f64,
) -> cinder_fisher::Result<Box<dyn FisherVectorProduct<B>>> {
    let config = FvpConfig::new().with_damping(damping);
    Ok(match method {
        FvpMethod::DoubleBackprop => Box::new(DoubleBackprop::new(policy, obs, &config)?),
        FvpMethod::GaussNewton => Box::new(GaussNewton::new(policy, obs, &config)?),
    })
}

/// Times one Fisher-vector product (the operator built once, outside the timing).
pub fn bench_fvp<B: Backend>(
    device: &B::Device,
    problem: &Problem,
    method: FvpMethod,
    reps: Reps,
) -> Timing {
    let (policy, obs, v) = problem.build::<B>(device);
    let mut op = operator(method, &policy, obs, 0.1).expect("benchmark sizes are valid");
    time::<B>(device, 3, reps, || {
        let _ = op.apply(v.clone());
    })
}

/// Times one whole CG solve of `iters` iterations with damping 0.1 and no early stop,
/// including building the operator (the per-update forward pass of Gauss-Newton, the old
/// distribution of double backprop), as a TRPO update pays it.
pub fn bench_cg<B: Backend>(
    device: &B::Device,
    problem: &Problem,
    method: FvpMethod,
    iters: usize,
    reps: Reps,
) -> Timing {
    let (policy, obs, g) = problem.build::<B>(device);
    let config = CgConfig::new().with_max_iters(iters).with_residual_tol(0.0);
    time::<B>(device, 2, reps, || {
        let mut op =
            operator(method, &policy, obs.clone(), 0.1).expect("benchmark sizes are valid");
        let sol = conjugate_gradient(|v| op.apply(v), g.clone(), &config).expect("valid");
        let _ = sol.x;
    })
}

/// Times one pass of TRPO's critic fit ([`ValueFitter`]: minibatch Adam on a [`ValueMlp`]
/// with `problem.hidden` layers, as the trainer builds it) over `problem.batch` random
/// observations and returns, in minibatches of `minibatch`: `⌈batch / minibatch⌉` Adam steps
/// and the pass's one read-back. The Adam state carries over from run to run, as it does
/// from update to update. `on_host`: the fit the trainer runs, on the host in plain Rust;
/// `false` times the same steps as burn ops on `B` (`ValueFitConfig::on_host`).
///
/// [`ValueFitter`]: cinder_algo::ValueFitter
/// [`ValueMlp`]: cinder_policy::ValueMlp
pub fn bench_critic<B: AutodiffBackend>(
    device: &B::Device,
    problem: &Problem,
    minibatch: usize,
    on_host: bool,
    reps: Reps,
) -> Timing {
    let mut value = cinder_policy::ValueMlpConfig::new(problem.obs_dim)
        .with_hidden(problem.hidden.clone())
        .init::<B>(problem.seed, device)
        .expect("benchmark sizes are valid");
    let mut rng = StdRng::seed_from_u64(problem.seed ^ 0x5eed);
    let host = |n: usize, rng: &mut StdRng| -> Vec<f32> {
        (0..n)
            .map(|_| {
                let x: f64 = StandardNormal.sample(rng);
                x as f32
            })
            .collect()
    };
    let obs = host(problem.batch * problem.obs_dim, &mut rng);
    let returns = host(problem.batch, &mut rng);
    let config = cinder_algo::ValueFitConfig::new()
        .with_n_critic_updates(1)
        .with_batch_size(minibatch)
        .with_on_host(on_host);
    let mut fitter = cinder_algo::ValueFitter::<B>::new(config).expect("valid sizes");
    time::<B>(device, 3, reps, || {
        let (v, _) = fitter
            .fit(value.clone(), &obs, &returns, &mut rng)
            .expect("random data fits");
        value = v;
    })
}

/// Relative errors of both Fisher products against the dense f64 reference.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FvpCheck {
    /// max over test vectors of ‖Fv − F_ref v‖ / ‖F_ref v‖ for double backprop.
    pub max_rel_err_double_backprop: f64,
    /// The same for Gauss-Newton.
    pub max_rel_err_gauss_newton: f64,
}

/// Which built-in policy a check runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    /// Gaussian MLP policy (continuous actions); `act_dim` is the action dimension.
    Gaussian,
    /// Categorical MLP policy (discrete actions); `act_dim` is the number of actions.
    Categorical,
}

/// Compares both Fisher products (no damping) with the dense Fisher built on the host in
/// f64 from per-sample Jacobians, over `n_vectors` random vectors.
pub fn check_fvp<B: Backend>(
    device: &B::Device,
    problem: &Problem,
    kind: PolicyKind,
    n_vectors: usize,
) -> FvpCheck {
    let mut rng = StdRng::seed_from_u64(problem.seed ^ 0xc4ec);
    let obs = randn::<B, 2>([problem.batch, problem.obs_dim], &mut rng, device);
    let config = FvpConfig::new().with_damping(0.0);
    match kind {
        PolicyKind::Gaussian => {
            // A non-trivial σ and a larger head gain, so every block of F matters.
            let policy = GaussianMlpPolicyConfig::new(problem.obs_dim, problem.act_dim)
                .with_hidden(problem.hidden.clone())
                .with_log_std_init(-0.4)
                .with_head_gain(1.0)
                .init::<B>(problem.seed, device)
                .expect("valid sizes");
            compare(&policy, obs, &config, &mut rng, n_vectors, device)
        }
        PolicyKind::Categorical => {
            let policy = CategoricalMlpPolicyConfig::new(problem.obs_dim, problem.act_dim)
                .with_hidden(problem.hidden.clone())
                .with_head_gain(1.0)
                .init::<B>(problem.seed, device)
                .expect("valid sizes");
            compare(&policy, obs, &config, &mut rng, n_vectors, device)
        }
    }
}

fn compare<B: Backend, P: MlpPolicy<B> + SecondOrderPolicy<B>>(
    policy: &P,
    obs: Tensor<B, 2>,
    config: &FvpConfig,
    rng: &mut StdRng,
    n_vectors: usize,
    device: &B::Device,
) -> FvpCheck {
    let dense = fisher_matrix(policy, obs.clone());
    let mut db = DoubleBackprop::new(policy, obs.clone(), config).expect("valid");
    let mut gn = GaussNewton::new(policy, obs, config).expect("valid");
    let n = dense.n;
    let mut out = FvpCheck {
        max_rel_err_double_backprop: 0.0,
        max_rel_err_gauss_newton: 0.0,
    };
    for _ in 0..n_vectors {
        let v = randn::<B, 2>([1, n], rng, device);
        let v_host: Vec<f64> = v.clone().into_data().iter::<f64>().collect();
        let want = dense.matvec(&v_host);
        let err =
            |got: Tensor<B, 2>| rel_err(&got.into_data().iter::<f64>().collect::<Vec<_>>(), &want);
        out.max_rel_err_double_backprop = out
            .max_rel_err_double_backprop
            .max(err(db.apply(v.clone())));
        out.max_rel_err_gauss_newton = out.max_rel_err_gauss_newton.max(err(gn.apply(v)));
    }
    out
}

/// `‖a − b‖₂ / ‖b‖₂`.
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "vectors of different lengths");
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den.max(f64::MIN_POSITIVE)).sqrt()
}

/// What [`bench_env`] measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnvBench {
    /// Env steps taken (vector steps × num_envs).
    pub env_steps: usize,
    /// Wall-clock seconds of the timed loop.
    pub seconds: f64,
    /// Env steps per second.
    pub steps_per_sec: f64,
    /// Episodes that ended during the timed loop.
    pub episodes: usize,
}

impl EnvBench {
    fn timed(vector_steps: usize, num_envs: usize, seconds: f64, episodes: usize) -> Self {
        let env_steps = vector_steps * num_envs;
        Self {
            env_steps,
            seconds,
            steps_per_sec: env_steps as f64 / seconds,
            episodes,
        }
    }
}

/// Steps `make(id, num_envs)` with uniformly random actions for about `steps` env steps
/// (rounded up to whole vector steps), auto-resets included, after a short warm-up. The
/// actions are drawn inside the timed loop.
///
/// # Errors
/// Unknown id or invalid sizes.
pub fn bench_env(
    id: &str,
    num_envs: usize,
    steps: usize,
    seed: u64,
) -> Result<EnvBench, cinder_env::EnvError> {
    use cinder_env::{StepBatch, VecEnv};
    let mut env = cinder_env::make(id, num_envs, Some(seed))?;
    let space = env.action_space().clone();
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut actions = space.action_buffer(num_envs);
    let mut obs = vec![0.0; num_envs * env.observation_space().flat_dim()];
    env.reset(Some(seed), &mut obs)?;
    let mut out = StepBatch::for_env(&*env);
    for _ in 0..100 {
        space.sample_into(&mut rng, actions.as_mut());
        env.step(actions.as_actions(), &mut out)?;
    }
    let vector_steps = steps.div_ceil(num_envs);
    let mut episodes = 0;
    let start = Instant::now();
    for _ in 0..vector_steps {
        space.sample_into(&mut rng, actions.as_mut());
        env.step(actions.as_actions(), &mut out)?;
        episodes += out
            .terminated
            .iter()
            .zip(&out.truncated)
            .filter(|(a, b)| **a || **b)
            .count();
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(EnvBench::timed(vector_steps, num_envs, seconds, episodes))
}

/// What [`bench_render`] measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RenderBench {
    /// Frames drawn in the timed loop.
    pub frames: usize,
    /// Seconds spent drawing them (env steps between frames not counted).
    pub seconds: f64,
    /// `frames / seconds`.
    pub frames_per_sec: f64,
    /// Milliseconds of the first frame, which starts the renderer.
    pub first_frame_ms: f64,
    /// Width × height of a frame.
    pub size: (usize, usize),
}

/// Draws `frames` frames of env 0 of `make(id, 1)`, one after each step with uniformly random
/// actions (auto-resets included), and times the drawing alone (after a first frame, timed
/// apart, that starts the renderer).
///
/// # Errors
/// Unknown id, an env that cannot draw itself, no EGL for MuJoCo.
pub fn bench_render(
    id: &str,
    frames: usize,
    options: &cinder_env::RenderOptions,
    seed: u64,
) -> Result<RenderBench, cinder_env::EnvError> {
    use cinder_env::{StepBatch, VecEnv};
    let mut env = cinder_env::make(id, 1, Some(seed))?;
    let space = env.action_space().clone();
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut actions = space.action_buffer(1);
    let mut obs = vec![0.0; env.observation_space().flat_dim()];
    env.reset(Some(seed), &mut obs)?;
    let t = Instant::now();
    let first = env.render(0, options)?;
    let first_frame_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut out = StepBatch::for_env(&*env);
    let mut seconds = 0.0;
    for _ in 0..frames {
        space.sample_into(&mut rng, actions.as_mut());
        env.step(actions.as_actions(), &mut out)?;
        let t = Instant::now();
        std::hint::black_box(env.render(0, options)?);
        seconds += t.elapsed().as_secs_f64();
    }
    Ok(RenderBench {
        frames,
        seconds,
        frames_per_sec: frames as f64 / seconds.max(1e-12),
        first_frame_ms,
        size: (first.width, first.height),
    })
}

/// The bound the native MuJoCo envs are measured against: a bare loop over `num_envs` MuJoCo
/// simulations of env `id`'s model, each setting the controls to uniformly random actions
/// (drawn as [`bench_env`] draws them) and calling `mj_step` `frame_skip` times per env step,
/// and resetting (`mj_resetData`, `mj_forward`) every `episode_length` steps — no observation,
/// reward, termination check or batching, one thread. About `steps` env steps, timed after a
/// short warm-up.
///
/// # Errors
/// If `id` is not a native MuJoCo env or its model cannot be loaded.
#[cfg(feature = "mujoco")]
pub fn bench_mj_step_loop(
    id: &str,
    num_envs: usize,
    steps: usize,
    episode_length: usize,
    seed: u64,
) -> Result<EnvBench, cinder_env::EnvError> {
    use cinder_env::VecEnv;
    use cinder_env::mujoco::{Data, MujocoVecEnv};
    let env = MujocoVecEnv::gymnasium(id, 1, &Default::default())?;
    let frame_skip = env.task().frame_skip();
    let space = env.action_space().clone();
    let dim = space.flat_dim();
    let mut sims: Vec<Data> = (0..num_envs)
        .map(|_| {
            let mut d = Data::new(env.model().clone());
            d.forward();
            d
        })
        .collect();
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut actions = space.action_buffer(num_envs);
    let episode_length = episode_length.max(1);
    let mut vector_step = |t: usize, sims: &mut [Data], actions: &mut cinder_env::ActionBuffer| {
        space.sample_into(&mut rng, actions.as_mut());
        let cinder_env::ActionBuffer::Continuous(a) = actions else {
            unreachable!("MuJoCo actions are continuous")
        };
        for (sim, a) in sims.iter_mut().zip(a.chunks_exact(dim)) {
            for (c, &x) in sim.ctrl_mut().iter_mut().zip(a) {
                *c = f64::from(x);
            }
            for _ in 0..frame_skip {
                sim.step();
            }
            if (t + 1).is_multiple_of(episode_length) {
                sim.reset();
                sim.forward();
            }
        }
    };
    for t in 0..100 {
        vector_step(t, &mut sims, &mut actions);
    }
    let vector_steps = steps.div_ceil(num_envs);
    let start = Instant::now();
    for t in 0..vector_steps {
        vector_step(t, &mut sims, &mut actions);
    }
    let seconds = start.elapsed().as_secs_f64();
    let episodes = (vector_steps / episode_length) * num_envs;
    Ok(EnvBench::timed(vector_steps, num_envs, seconds, episodes))
}
