//! The on-policy training loop: collect → GAE → update → log, with evaluation, callbacks and
//! checkpoints that resume exactly.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::{AutodiffModule, Module};
use burn::optim::Optimizer;
use burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use cinder_env::wrappers::{NormalizeObservation, NormalizeReward, RecordEpisodeStatistics};
use cinder_env::{
    ActionBuffer, EnvState, Frame, MakeOptions, RenderOptions, Space, StepBatch, VecEnv,
};
use cinder_policy::{
    ActionDistribution, CategoricalFamily, CategoricalMlpPolicy, CategoricalMlpPolicyConfig,
    GaussianFamily, GaussianMlpPolicy, GaussianMlpPolicyConfig, HostMlp, Policy, ValueMlp,
    ValueMlpConfig, flat,
};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::actor::{Actor, HostActor};
use crate::batch::{Batch, UpdateStats};
use crate::comm::{self, Communicator};
use crate::config::{AlgoConfig, TrainConfig};
use crate::error::{AlgoError, Result};
use crate::family::{ActionFamily, AgentPolicy};
use crate::fsio;
use crate::gae::gae;
use crate::metrics::{Metrics, MetricsWriter};
use crate::natural::{CriticJob, NaturalGradient};
use crate::pg::PolicyGradient;
use crate::rollout::{Rollout, RolloutCollector};
use crate::value::explained_variance;

/// The random generator of the learner (action noise, minibatch order); its state is saved in
/// checkpoints.
pub type TrainRng = rand::rngs::Xoshiro256PlusPlus;

/// Offset between the training seed and the evaluation envs' seed.
const EVAL_SEED_OFFSET: u64 = 1_000_003;

/// What a rollout looked like, for [`Callback::on_rollout_end`].
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutInfo {
    /// Env steps so far, this rollout included.
    pub global_step: u64,
    /// Updates done so far (this rollout's update not yet).
    pub update: u64,
    /// Episodes that ended in the rollout: (return, length).
    pub episodes: Vec<(f64, u64)>,
}

/// A deterministic evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    /// Env steps of training when it ran.
    pub global_step: u64,
    /// Mean undiscounted return.
    pub mean_return: f64,
    /// Standard deviation of the returns (population).
    pub std_return: f64,
    /// Every episode's return.
    pub returns: Vec<f64>,
    /// Every episode's length.
    pub lengths: Vec<u64>,
}

/// Whether training goes on after a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop after this update (a final evaluation and checkpoint still happen).
    Stop,
}

/// Whether TRPO/NPG overlap their policy step and critic fit by default on `B`
/// ([`Trainer::set_overlap`]): on the CPU backends with more than one core.
fn overlap_by_default<B: AutodiffBackend>(device: &B::Device) -> bool {
    let name = B::name(device);
    let inner = name.trim_start_matches("autodiff<").trim_end_matches('>');
    matches!(inner, "flex" | "ndarray")
        && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1)
}

/// Hooks into the loop; every method defaults to doing nothing.
pub trait Callback {
    /// After each rollout, before the update.
    fn on_rollout_end(&mut self, info: &RolloutInfo) {
        let _ = info;
    }
    /// After each update with its metrics row; return [`Control::Stop`] to end training.
    /// TRPO/NPG with the critic fitted in the background ([`Trainer::set_overlap`]): the row
    /// may lack the critic's columns (`losses/value_loss`, `update/critic_skipped`,
    /// `time/value_s`), which the metrics files get when the fit ends.
    fn on_update_end(&mut self, metrics: &Metrics) -> Control {
        let _ = metrics;
        Control::Continue
    }
    /// After each evaluation.
    fn on_evaluation(&mut self, result: &EvalResult) {
        let _ = result;
    }
    /// Something the user should know that does not stop training (e.g. updates that keep
    /// being skipped); printed to stderr unless overridden.
    fn on_warning(&mut self, message: &str) {
        eprintln!("warning: {message}");
    }
}

/// A callback that does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCallback;
impl Callback for NoCallback {}

/// The result of [`Trainer::train`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSummary {
    /// Environment id.
    pub env: String,
    /// Algorithm name.
    pub algo: String,
    /// Env steps trained.
    pub steps: u64,
    /// Updates done.
    pub updates: u64,
    /// Wall-clock seconds of this `train` call.
    pub wall_s: f64,
    /// Env steps per second over this call.
    pub sps: f64,
    /// Final deterministic evaluation.
    pub final_eval: EvalResult,
    /// Updates whose policy step was skipped (non-finite values, CG breakdown), over the
    /// whole run.
    pub skipped_updates: u64,
    /// Updates whose critic fit was skipped (non-finite loss or weights), over the whole run.
    pub critic_skipped_updates: u64,
    /// Seconds spent per phase over this call: collect, gae, policy, value.
    pub time_split: [f64; 4],
}

/// TRPO/NPG or a first-order learner.
pub(crate) enum Learner<B: AutodiffBackend, P: AgentPolicy<B>> {
    Natural(NaturalGradient<B>),
    FirstOrder(Box<PolicyGradient<B, P>>),
}

/// Builds the training or evaluation env stack of a config: the env (with its time limit),
/// episode statistics on the raw rewards, then the normalisers the config asks for.
///
/// # Errors
/// An unknown env id, bad kwargs.
pub fn make_env(config: &TrainConfig, num_envs: usize, seed: u64) -> Result<Box<dyn VecEnv>> {
    let options = MakeOptions {
        kwargs: config.env_kwargs.clone(),
        max_episode_steps: config.max_episode_steps,
    };
    let env = cinder_env::make_with(&config.env_id, num_envs, Some(seed), &options)?;
    let mut env: Box<dyn VecEnv> = Box::new(RecordEpisodeStatistics::new(env, 100)?);
    if config.normalize_observation {
        env = Box::new(NormalizeObservation::with_defaults(env)?);
    }
    if config.normalize_reward {
        env = Box::new(NormalizeReward::new(env, config.gamma, 1e-8, Some(10.0))?);
    }
    Ok(env)
}

/// Everything in `state.json` of a checkpoint besides the tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointState {
    format: u32,
    config: serde_json::Value,
    global_step: u64,
    update: u64,
    rng: TrainRng,
    env_stats: EnvState,
    env_runtime: Option<EnvState>,
    /// Lossless: non-finite values are kept as strings.
    #[serde(with = "lossless_f32")]
    observations: Vec<f32>,
    kl_coef: f64,
    policy_params: usize,
    value_params: usize,
    /// Each parameter's path and dimensions (absent in early checkpoints).
    #[serde(default)]
    policy_shapes: Vec<(String, Vec<usize>)>,
    #[serde(default)]
    value_shapes: Vec<(String, Vec<usize>)>,
    skipped_updates: u64,
    #[serde(default)]
    critic_skipped_updates: u64,
    #[serde(default)]
    schedule: Schedule,
    /// Data-parallel runs: ranks 1…K−1's random streams and envs (rank 0's are above).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ranks: Vec<RankState>,
}

/// What a rank other than rank 0 needs to go on exactly: its random stream, its envs' runtime
/// state and current observations (everything else is the same on every rank).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RankState {
    rng: TrainRng,
    env_runtime: Option<EnvState>,
    #[serde(with = "lossless_f32")]
    observations: Vec<f32>,
}

/// The learning-rate schedule's anchor: `progress_remaining` falls linearly from
/// `start_progress` at `start_step` to 0 at `total_timesteps`. A fresh run starts at (0, 1);
/// resuming with a larger budget re-anchors at the resume point, so the learning rate goes on
/// from the value it had and reaches 0 at the new end instead of jumping up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Schedule {
    start_step: u64,
    start_progress: f64,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            start_step: 0,
            start_progress: 1.0,
        }
    }
}

impl Schedule {
    /// `progress_remaining` before the update that starts at `step` of `total`.
    fn progress(&self, step: u64, total: u64) -> f64 {
        if total <= self.start_step {
            return 0.0;
        }
        let done = step.saturating_sub(self.start_step) as f64 / (total - self.start_step) as f64;
        (self.start_progress * (1.0 - done)).max(0.0)
    }
}

/// Serde for a `Vec<f32>` that keeps every value: finite ones as JSON numbers, the others as
/// `"inf"`, `"-inf"` or `"nan"` (serde_json would write `null` and lose them).
mod lossless_f32 {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Number(f32),
        Text(String),
    }

    pub fn serialize<S: Serializer>(v: &[f32], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|&x| {
            if x.is_finite() {
                Repr::Number(x)
            } else if x.is_nan() {
                Repr::Text("nan".into())
            } else if x > 0.0 {
                Repr::Text("inf".into())
            } else {
                Repr::Text("-inf".into())
            }
        }))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        Vec::<Repr>::deserialize(d)?
            .into_iter()
            .map(|r| match r {
                Repr::Number(x) => Ok(x),
                Repr::Text(t) => match t.as_str() {
                    "inf" => Ok(f32::INFINITY),
                    "-inf" => Ok(f32::NEG_INFINITY),
                    "nan" => Ok(f32::NAN),
                    other => Err(serde::de::Error::custom(format!(
                        "`{other}` is not a number"
                    ))),
                },
            })
            .collect()
    }
}

const CHECKPOINT_FORMAT: u32 = 1;

/// A collected batch waiting for its update.
pub(crate) struct Pending<B: AutodiffBackend, F: ActionFamily> {
    pub(crate) batch: Batch<B, F>,
    /// The communicator's seconds in collectives when the update began.
    comm_seconds: f64,
    episodes: Vec<(f64, u64)>,
    unstable: usize,
    /// collect, GAE, policy, value seconds.
    pub(crate) times: [f64; 4],
    explained_variance: f64,
}

/// A critic fit running in the background and the metrics row of its update, which is written
/// when the fit is joined (it lacks the critic's columns until then).
struct Background<B: AutodiffBackend> {
    job: CriticJob<B>,
    row: Option<Metrics>,
}

/// The metrics of the critic fit, which a row built while the fit runs lacks.
const CRITIC_COLUMNS: [&str; 3] = ["losses/value_loss", "update/critic_skipped", "time/value_s"];

/// Wall clock of one `train` call.
pub(crate) struct Clock {
    start: Instant,
    start_step: u64,
    split: [f64; 4],
}

impl Clock {
    pub(crate) fn new(start_step: u64) -> Self {
        Self {
            start: Instant::now(),
            start_step,
            split: [0.0; 4],
        }
    }
}

/// Trains one policy with one algorithm on one env stack.
pub struct Trainer<B: AutodiffBackend, P: AgentPolicy<B>> {
    config: TrainConfig,
    device: B::Device,
    env: Box<dyn VecEnv>,
    eval_env: Box<dyn VecEnv>,
    collector: RolloutCollector,
    pub(crate) policy: P,
    value: ValueMlp<B>,
    pub(crate) learner: Learner<B, P>,
    rng: TrainRng,
    global_step: u64,
    update: u64,
    skipped_updates: u64,
    critic_skipped_updates: u64,
    /// Policy steps skipped in a row (for the warning).
    skipped_in_a_row: u64,
    schedule: Schedule,
    /// The update whose checkpoint is on disk in the run folder (not written again).
    saved_update: Option<u64>,
    run_dir: Option<PathBuf>,
    metrics: Option<MetricsWriter>,
    last_eval: Option<EvalResult>,
    /// Acts on copies of the networks elsewhere (e.g. the host) when set.
    actor: Option<Box<dyn Actor<B, P>>>,
    /// The update whose networks the actor holds (`None`: not synced since it was set or
    /// since a checkpoint was loaded).
    actor_synced: Option<u64>,
    /// TRPO/NPG: fit the critic in the background (beside the policy step, the logging and
    /// the next rollout).
    overlap: bool,
    /// The critic fit running in the background, with its update's metrics row once
    /// [`end_update`](Self::end_update) has built it.
    background: Option<Background<B>>,
    /// Seconds of background critic fits joined since the clock last took them.
    unclaimed_critic_s: f64,
    /// The ranks training this policy together (one process by default).
    comm: Arc<dyn Communicator>,
    /// The normalisers' statistics every rank held after the last merge (data-parallel runs).
    synced_stats: Option<EnvState>,
    /// Whether checkpoints are written into the run folder (rank 0 has one): every rank
    /// knows, since every rank takes part in writing them.
    checkpoints_in_run: bool,
    /// The seed of this rank's envs.
    env_seed: u64,
}

/// Policy steps skipped in a row before the trainer warns (once per streak).
const SKIP_WARNING_STREAK: u64 = 3;

impl<B: AutodiffBackend, P: AgentPolicy<B>> Trainer<B, P> {
    /// A fresh run of `policy` (built by you for the env's spaces) under `config`. The value
    /// net is built from the config. With `run_dir`, metrics and checkpoints are written there.
    ///
    /// # Errors
    /// An invalid config, an env that cannot be made, or a policy whose actions do not fit
    /// the env.
    pub fn new(
        config: TrainConfig,
        policy: P,
        run_dir: Option<&Path>,
        device: &B::Device,
    ) -> Result<Self> {
        Self::data_parallel(config, policy, run_dir, device, comm::single_process())
    }

    /// A fresh run trained by all of `comm`'s ranks together, each calling this with the same
    /// config (refused otherwise, naming the field that differs).
    ///
    /// - Rank r runs `num_envs` envs; its env i is seeded as env r·`num_envs`+i of one process
    ///   with all of them would be. Its action noise has a random stream of its own.
    /// - Every update averages the ranks' shards (see [`comm`](crate::comm)), merges the
    ///   normalisers' statistics once, and then gives every rank rank 0's parameters.
    /// - Steps count every rank's envs: an update adds `n_steps × num_envs × K`.
    /// - Only rank 0 writes `run_dir`; every rank evaluates (the same episodes, the same
    ///   returns).
    ///
    /// # Errors
    /// As [`new`](Self::new); a config that differs from rank 0's.
    pub fn data_parallel(
        config: TrainConfig,
        policy: P,
        run_dir: Option<&Path>,
        device: &B::Device,
        comm: Arc<dyn Communicator>,
    ) -> Result<Self> {
        config.validate()?;
        let (rank, ranks) = (comm.rank(), comm.size());
        if ranks > 1 {
            check_same_config(&*comm, &config)?;
        }
        let run_dir = run_dir.filter(|_| rank == 0);
        let env_seed = config.seed.wrapping_add((rank * config.num_envs) as u64);
        let mut env = make_env(&config, config.num_envs, env_seed)?;
        let synced_stats = if ranks > 1 {
            let mut s = EnvState::default();
            env.save_state(&mut s)?;
            Some(s)
        } else {
            None
        };
        let mut eval_env = make_env(
            &config,
            config.eval_episodes,
            config.seed.wrapping_add(EVAL_SEED_OFFSET),
        )?;
        if config.video_interval > 0 {
            // Videos are asked for: find out now, not at the first video, if this env or
            // machine cannot draw.
            let mut obs = vec![0.0; eval_env.num_envs() * obs_dim(eval_env.observation_space())?];
            eval_env.reset(Some(config.seed), &mut obs)?;
            eval_env
                .render(0, &video_options(&config))
                .map_err(|e| AlgoError::Config(format!("video_interval (--video-every): {e}")))?;
        }
        let obs_dim = obs_dim(env.observation_space())?;
        let value = ValueMlpConfig::new(obs_dim)
            .with_hidden(config.value_hidden.clone())
            .with_activation(config.activation)
            .init::<B>(config.seed.wrapping_add(1), device)?;
        let collector = RolloutCollector::new(env.as_mut(), env_seed)?;
        let mut learner = build_learner(&config.algo)?;
        match &mut learner {
            Learner::Natural(n) => n.set_communicator(comm.clone()),
            Learner::FirstOrder(pg) => pg.set_communicator(comm.clone()),
        }
        let policy = comm::broadcast_module(&*comm, policy, 0)?;
        let value = comm::broadcast_module(&*comm, value, 0)?;
        let metrics = match run_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| AlgoError::io(dir, e))?;
                // A run killed before its first checkpoint starts over in its folder
                // (`cinder train --resume` with nothing to resume): the temporaries its
                // killed writers left go, as a resume from a checkpoint removes them.
                fsio::remove_stale_temporaries(dir);
                fsio::remove_stale_temporaries(&dir.join("checkpoints"));
                let mut m = MetricsWriter::open(dir, None)?;
                m.write_config(&config_json(&config)?)?;
                Some(m)
            }
            None => None,
        };
        Ok(Self {
            rng: TrainRng::seed_from_u64(rank_seed(config.seed.wrapping_add(2), rank)),
            config,
            device: device.clone(),
            env,
            eval_env,
            collector,
            policy: flat::require_grad(policy),
            value,
            learner,
            global_step: 0,
            update: 0,
            skipped_updates: 0,
            critic_skipped_updates: 0,
            skipped_in_a_row: 0,
            schedule: Schedule::default(),
            saved_update: None,
            run_dir: run_dir.map(Path::to_path_buf),
            metrics,
            last_eval: None,
            actor: None,
            actor_synced: None,
            overlap: overlap_by_default::<B>(device),
            background: None,
            unclaimed_critic_s: 0.0,
            checkpoints_in_run: root_says(&*comm, run_dir.is_some()),
            comm,
            synced_stats,
            env_seed,
        })
    }

    /// Continues the run saved in checkpoint folder `checkpoint` (see
    /// [`save_checkpoint`](Self::save_checkpoint)). `policy` must have the architecture the
    /// checkpoint was trained with (its values are replaced). `total_timesteps` may change the
    /// budget; any other difference from the saved config is refused. With a new budget, an
    /// annealed learning rate goes on from the value it had at the checkpoint and falls
    /// linearly to 0 at the new end (it neither jumps nor restarts). Metrics rows written
    /// after the checkpoint are dropped.
    ///
    /// # Errors
    /// [`AlgoError::Checkpoint`] for a damaged checkpoint or one of another config/shape.
    pub fn resume(
        checkpoint: &Path,
        policy: P,
        total_timesteps: Option<u64>,
        run_dir: Option<&Path>,
        device: &B::Device,
    ) -> Result<Self> {
        Self::resume_data_parallel(
            checkpoint,
            policy,
            total_timesteps,
            run_dir,
            device,
            comm::single_process(),
        )
    }

    /// [`resume`](Self::resume) of a data-parallel run: every rank of `comm` calls it with the
    /// same checkpoint (the run folder must be visible to every rank, e.g. on a shared file
    /// system), and each goes on with its own envs and random stream as they were saved. The
    /// number of ranks must be the one the checkpoint was saved with: each rank's envs and
    /// random stream are part of it.
    ///
    /// # Errors
    /// As [`resume`](Self::resume); a checkpoint saved by another number of ranks.
    pub fn resume_data_parallel(
        checkpoint: &Path,
        policy: P,
        total_timesteps: Option<u64>,
        run_dir: Option<&Path>,
        device: &B::Device,
        comm: Arc<dyn Communicator>,
    ) -> Result<Self> {
        Self::resume_with(
            checkpoint,
            policy,
            total_timesteps,
            run_dir,
            device,
            comm,
            true,
        )
    }

    /// The policy, value net and normaliser statistics of checkpoint `checkpoint`, in a
    /// one-process trainer, to evaluate or inspect them: a checkpoint of a data-parallel run
    /// opens too, as its rank 0 (training on from it would continue rank 0's envs alone; use
    /// [`resume_data_parallel`](Self::resume_data_parallel) to continue the run).
    ///
    /// # Errors
    /// As [`resume`](Self::resume), but for the number of ranks.
    pub fn open_checkpoint(checkpoint: &Path, policy: P, device: &B::Device) -> Result<Self> {
        Self::resume_with(
            checkpoint,
            policy,
            None,
            None,
            device,
            comm::single_process(),
            false,
        )
    }

    fn resume_with(
        checkpoint: &Path,
        policy: P,
        total_timesteps: Option<u64>,
        run_dir: Option<&Path>,
        device: &B::Device,
        comm: Arc<dyn Communicator>,
        same_ranks: bool,
    ) -> Result<Self> {
        let (mut state, mut config) = read_checkpoint(checkpoint)?;
        let saved_ranks = state.ranks.len() + 1;
        if !same_ranks && comm.size() == 1 {
            state.ranks.clear();
        } else if saved_ranks != comm.size() {
            return Err(AlgoError::Checkpoint {
                path: checkpoint.to_path_buf(),
                message: format!(
                    "it was saved by a run of {saved_ranks} process(es) and holds each one's \
                     envs and random stream; resume it with {saved_ranks} ({}), not {}",
                    if saved_ranks == 1 {
                        "without mpiexec".to_string()
                    } else {
                        format!("mpiexec -n {saved_ranks} …")
                    },
                    comm.size()
                ),
            });
        }
        let saved_total = config.total_timesteps;
        if let Some(t) = total_timesteps {
            config.total_timesteps = t;
        }
        let rank = comm.rank();
        let mut trainer = Self::data_parallel(config, policy, None, device, comm)?;
        trainer.load(checkpoint, &state)?;
        if trainer.config.total_timesteps != saved_total {
            trainer.schedule = Schedule {
                start_step: state.global_step,
                start_progress: state.schedule.progress(state.global_step, saved_total),
            };
        }
        let run_dir = run_dir.filter(|_| rank == 0);
        trainer.run_dir = run_dir.map(Path::to_path_buf);
        let mut saved_in_run = false;
        if let Some(dir) = run_dir {
            let mut m = MetricsWriter::open(dir, Some(state.update))?;
            m.write_config(&config_json(&trainer.config)?)?;
            trainer.metrics = Some(m);
            let in_run = dir
                .join("checkpoints")
                .join(format!("update_{:06}", state.update));
            saved_in_run = in_run.join("state.json").exists();
            fsio::remove_stale_temporaries(dir);
            fsio::remove_stale_temporaries(&dir.join("checkpoints"));
        }
        if root_says(&*trainer.comm, saved_in_run) {
            trainer.saved_update = Some(state.update);
        }
        trainer.checkpoints_in_run = root_says(&*trainer.comm, run_dir.is_some());
        Ok(trainer)
    }

    fn load(&mut self, dir: &Path, state: &CheckpointState) -> Result<()> {
        let fail = |message: String| AlgoError::Checkpoint {
            path: dir.to_path_buf(),
            message,
        };
        for (net, saved, ours) in [
            (
                "policy",
                &state.policy_shapes,
                flat::named_shapes(&self.policy),
            ),
            (
                "value net",
                &state.value_shapes,
                flat::named_shapes(&self.value),
            ),
        ] {
            if saved.is_empty() {
                continue; // an early checkpoint: only the counts below
            }
            if let Some(message) = shape_mismatch(net, saved, &ours) {
                return Err(fail(message));
            }
        }
        let (p, v) = (
            flat::num_params(&self.policy),
            flat::num_params(&self.value),
        );
        if (p, v) != (state.policy_params, state.value_params) {
            return Err(fail(format!(
                "its networks have {} + {} parameters, this policy and value net {p} + {v}",
                state.policy_params, state.value_params
            )));
        }
        let rec = BinFileRecorder::<FullPrecisionSettings>::new();
        let load_err = |what: &str, e: burn::record::RecorderError| {
            fail(format!("{what} cannot be read ({e})"))
        };
        let policy_record = rec
            .load(dir.join("policy"), &self.device)
            .map_err(|e| load_err("policy.bin", e))?;
        let value_record = rec
            .load(dir.join("value"), &self.device)
            .map_err(|e| load_err("value.bin", e))?;
        let policy = self.policy.clone().load_record(policy_record);
        let value = self.value.clone().load_record(value_record);
        match &mut self.learner {
            Learner::Natural(n) => {
                let r = rec
                    .load(dir.join("critic_optim"), &self.device)
                    .map_err(|e| load_err("critic_optim.bin", e))?;
                let o = n.critic_mut().optimizer_mut();
                *o = o.clone().load_record(r);
            }
            Learner::FirstOrder(pg) => {
                let r = rec
                    .load(dir.join("policy_optim"), &self.device)
                    .map_err(|e| load_err("policy_optim.bin", e))?;
                let o = pg.policy_optimizer();
                *o = o.clone().load_record(r);
                let r = rec
                    .load(dir.join("value_optim"), &self.device)
                    .map_err(|e| load_err("value_optim.bin", e))?;
                let o = pg.value_optimizer();
                *o = o.clone().load_record(r);
                if let Some(c) = pg.critic_mut() {
                    let r = rec
                        .load(dir.join("critic_optim"), &self.device)
                        .map_err(|e| load_err("critic_optim.bin", e))?;
                    let o = c.optimizer_mut();
                    *o = o.clone().load_record(r);
                }
                pg.set_kl_coef(state.kl_coef);
            }
        }
        self.env.load_state(&state.env_stats)?;
        // Rank 0's envs and random stream are the checkpoint's own, rank r's its entry r − 1.
        let (rng, env_runtime, observations) = match self.comm.rank() {
            0 => (&state.rng, &state.env_runtime, &state.observations),
            r => {
                let s = state.ranks.get(r - 1).ok_or_else(|| {
                    fail(format!(
                        "it holds no state of rank {r} (saved by fewer ranks)"
                    ))
                })?;
                (&s.rng, &s.env_runtime, &s.observations)
            }
        };
        if self.comm.size() > 1 {
            self.synced_stats = Some(state.env_stats.clone());
        }
        match env_runtime {
            Some(rt) => {
                self.env.load_runtime(rt)?;
                self.collector = RolloutCollector::resume(self.env.as_ref(), observations.clone())?;
            }
            None => {
                // An env that cannot save its state (a Python env) restarts its episodes.
                self.collector = RolloutCollector::new(
                    self.env.as_mut(),
                    self.env_seed.wrapping_add(state.update),
                )?;
            }
        }
        self.policy = flat::require_grad(policy);
        self.value = flat::require_grad(value);
        self.actor_synced = None;
        self.rng = rng.clone();
        self.global_step = state.global_step;
        self.update = state.update;
        self.skipped_updates = state.skipped_updates;
        self.critic_skipped_updates = state.critic_skipped_updates;
        self.schedule = state.schedule;
        Ok(())
    }

    /// The config.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The policy.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// The value net.
    pub fn value(&self) -> &ValueMlp<B> {
        &self.value
    }

    /// Env steps so far.
    pub fn global_step(&self) -> u64 {
        self.global_step
    }

    /// Updates so far.
    pub fn updates(&self) -> u64 {
        self.update
    }

    /// The training env stack (e.g. to read its normaliser statistics).
    pub fn env(&self) -> &dyn VecEnv {
        self.env.as_ref()
    }

    /// Evaluates `episodes` episodes on fresh envs seeded `seed` (the training normaliser
    /// statistics frozen in them), with mode actions when `deterministic`, else sampled.
    ///
    /// # Errors
    /// As [`Trainer::evaluate`]; `episodes` = 0.
    pub fn evaluate_episodes(
        &mut self,
        episodes: usize,
        deterministic: bool,
        seed: u64,
    ) -> Result<EvalResult> {
        Ok(self.record_episodes(episodes, deterministic, seed, None)?.0)
    }

    /// [`evaluate_episodes`](Trainer::evaluate_episodes), also drawing each episode when
    /// `record` is given ([`evaluate_policy_recorded`]). The episodes are the same either way.
    ///
    /// # Errors
    /// As [`Trainer::evaluate_episodes`]; an env that cannot draw itself.
    pub fn record_episodes(
        &mut self,
        episodes: usize,
        deterministic: bool,
        seed: u64,
        record: Option<&Recording>,
    ) -> Result<(EvalResult, Vec<Vec<Frame>>)> {
        if episodes == 0 {
            return Err(AlgoError::Hyperparameter {
                name: "episodes",
                value: 0.0,
                range: "≥ 1",
            });
        }
        let mut env = make_env(&self.config, episodes, seed)?;
        let mut stats = EnvState::default();
        self.env.save_state(&mut stats)?;
        let mut rng = TrainRng::seed_from_u64(seed);
        let (result, frames) = self.run_evaluation(
            Some(env.as_mut()),
            &stats,
            seed,
            (!deterministic).then_some(&mut rng),
            record,
        )?;
        let result = EvalResult {
            global_step: self.global_step,
            ..result
        };
        Ok((result, frames))
    }

    /// Records one deterministic evaluation episode (the first of the periodic evaluations'
    /// seed) as `videos/step_<global step>.gif` in the run folder, at
    /// [`DEFAULT_FPS`](crate::video::DEFAULT_FPS) or the env's rate if lower; returns its
    /// path.
    ///
    /// # Errors
    /// No run folder, drawing or I/O failures.
    pub fn record_video(&mut self) -> Result<PathBuf> {
        let dir = self
            .run_dir
            .as_ref()
            .ok_or_else(|| AlgoError::Config("videos are written into a run folder".into()))?
            .join("videos");
        std::fs::create_dir_all(&dir).map_err(|e| AlgoError::io(&dir, e))?;
        let env_fps = self.env.render_fps().unwrap_or(crate::video::DEFAULT_FPS);
        let stride = crate::video::frame_stride(env_fps, None)?;
        let record = Recording {
            options: video_options(&self.config),
            stride,
        };
        let seed = self.config.seed.wrapping_add(EVAL_SEED_OFFSET);
        let (_, frames) = self.record_episodes(1, true, seed, Some(&record))?;
        let path = dir.join(format!("step_{:09}.gif", self.global_step));
        crate::video::write_gif(&path, &frames[0], env_fps / stride as f64)?;
        Ok(path)
    }

    /// Frames per second of simulated time of this run's env
    /// ([`VecEnv::render_fps`](cinder_env::VecEnv::render_fps)).
    pub fn render_fps(&self) -> Option<f64> {
        self.env.render_fps()
    }

    /// The last evaluation, if any.
    pub fn last_eval(&self) -> Option<&EvalResult> {
        self.last_eval.as_ref()
    }

    /// Trains until `total_timesteps` or until a callback stops, then evaluates and (with a
    /// run folder) writes a final checkpoint.
    ///
    /// # Errors
    /// Env failures and I/O errors. Non-finite updates are skipped and logged, not errors.
    pub fn train(&mut self, callback: &mut dyn Callback) -> Result<TrainSummary> {
        let result = self.train_loop(callback);
        if result.is_err() {
            // The critic's state comes back even when training failed.
            let _ = self.join_critic();
        }
        result
    }

    fn train_loop(&mut self, callback: &mut dyn Callback) -> Result<TrainSummary> {
        let mut clock = Clock::new(self.global_step);
        while !self.done() {
            let mut pending = self.begin_update(callback)?;
            let stats = self.learn(&mut pending)?;
            if self.end_update(pending, stats, &mut clock, callback)? == Control::Stop {
                break;
            }
        }
        self.finish(&mut clock, callback)
    }

    /// Whether the budget is spent.
    pub(crate) fn done(&self) -> bool {
        self.global_step >= self.config.total_timesteps
    }

    /// Env steps per update (`n_steps × num_envs`).
    pub(crate) fn batch_len(&self) -> usize {
        self.config.n_steps * self.config.num_envs
    }

    /// Collects a rollout, computes GAE and moves the batch to the device.
    pub(crate) fn begin_update(
        &mut self,
        callback: &mut dyn Callback,
    ) -> Result<Pending<B, P::Family>> {
        let progress_remaining = self
            .schedule
            .progress(self.global_step, self.config.total_timesteps);
        let comm_seconds = self.comm.seconds();
        let (mut rollout, mut times) = self.collect()?;
        self.merge_statistics()?;
        // The values need the critic of the last update, which may have been fitting while
        // this rollout was collected.
        self.join_critic()?;
        rollout.evaluate_values(&self.value.valid(), &self.device)?;
        self.global_step += (self.config.n_steps * self.config.num_envs * self.comm.size()) as u64;
        let episodes: Vec<(f64, u64)> = rollout
            .episodes
            .iter()
            .map(|e| (e.episodic_return, e.episodic_length))
            .collect();
        callback.on_rollout_end(&RolloutInfo {
            global_step: self.global_step,
            update: self.update,
            episodes: episodes.clone(),
        });
        let t = Instant::now();
        let adv = gae(
            &rollout.rewards,
            &rollout.values,
            &rollout.next_values,
            &rollout.terminated,
            &rollout.truncated,
            rollout.num_envs,
            self.config.gamma,
            self.config.gae_lambda,
        )?;
        let batch = Batch::<B, P::Family>::new(&rollout, &adv, progress_remaining, &self.device)?;
        times[1] = t.elapsed().as_secs_f64();
        Ok(Pending {
            comm_seconds,
            explained_variance: explained_variance(&rollout.values, &adv.returns),
            batch,
            episodes,
            unstable: rollout.unstable,
            times,
        })
    }

    /// The update of the pending batch with this trainer's learner; data-parallel, every rank
    /// then holds rank 0's parameters (they are equal already; this keeps float drift from
    /// ever building up).
    fn learn(&mut self, pending: &mut Pending<B, P::Family>) -> Result<UpdateStats> {
        let stats = self.learn_shard(pending)?;
        if self.comm.size() > 1 {
            self.policy = comm::broadcast_module(&*self.comm, self.policy.clone(), 0)?;
            // A critic fitting in the background is broadcast when it is joined.
            if self.background.is_none() {
                self.value = comm::broadcast_module(&*self.comm, self.value.clone(), 0)?;
            }
        }
        Ok(stats)
    }

    /// Waits for the critic fit running in the background, if any: the fitted value net
    /// replaces the trainer's (rank 0's on every rank, data-parallel), and the metrics row of
    /// its update, when [`end_update`](Self::end_update) stashed one, gets the critic's
    /// columns and is written. Returns the fit's stats (`value_loss`, `critic_skipped`) and
    /// seconds when the row was not built yet.
    fn join_critic(&mut self) -> Result<Option<(UpdateStats, f64)>> {
        let Some(Background { job, row }) = self.background.take() else {
            return Ok(None);
        };
        let Learner::Natural(n) = &mut self.learner else {
            unreachable!("only TRPO/NPG fit the critic in the background");
        };
        let mut stats = UpdateStats::default();
        let (value, seconds) = n.finish_critic_fit(job, &mut stats);
        self.value = value;
        if self.comm.size() > 1 {
            self.value = comm::broadcast_module(&*self.comm, self.value.clone(), 0)?;
        }
        let Some(mut row) = row else {
            return Ok(Some((stats, seconds)));
        };
        self.unclaimed_critic_s += seconds;
        row.set("losses/value_loss", stats.value_loss);
        row.set(
            "update/critic_skipped",
            f64::from(u8::from(stats.critic_skipped.is_some())),
        );
        row.set("time/value_s", seconds);
        if let Some(reason) = &stats.critic_skipped {
            self.critic_skipped_updates += 1;
            row.set_note("update/critic_skip_reason", reason.clone());
        }
        if let Some(m) = &mut self.metrics {
            m.write(&row)?;
        }
        Ok(None)
    }

    /// Merges the normalisers' statistics of every rank once per update (data-parallel).
    fn merge_statistics(&mut self) -> Result<()> {
        let Some(base) = &self.synced_stats else {
            return Ok(());
        };
        let mut current = EnvState::default();
        self.env.save_state(&mut current)?;
        let merged = comm::merge_statistics(&*self.comm, base, &current)?;
        self.env.load_state(&merged)?;
        self.synced_stats = Some(merged);
        Ok(())
    }

    fn learn_shard(&mut self, pending: &mut Pending<B, P::Family>) -> Result<UpdateStats> {
        let t = Instant::now();
        let policy = self.policy.clone();
        let value = self.value.clone();
        match &mut self.learner {
            Learner::Natural(n) if self.overlap => {
                // The critic fits in the background from here until the next update needs
                // its values; the policy step runs meanwhile on this thread.
                let saved = (n.critic().optimizer().clone(), self.rng.clone());
                let job = n.spawn_critic_fit(value, &pending.batch, &mut self.rng);
                match n.policy_step(policy, &pending.batch) {
                    Ok((policy, stats)) => {
                        self.policy = policy;
                        pending.times[2] = t.elapsed().as_secs_f64();
                        self.background = Some(Background { job, row: None });
                        Ok(stats)
                    }
                    Err(e) => {
                        // As if the update had not begun: the critic's Adam state, the value
                        // net and the generator as they were.
                        n.finish_critic_fit(job, &mut UpdateStats::default());
                        *n.critic_mut().optimizer_mut() = saved.0;
                        self.rng = saved.1;
                        Err(e)
                    }
                }
            }
            Learner::Natural(n) => {
                let (policy, stats) = n.policy_step(policy, &pending.batch)?;
                self.policy = policy;
                pending.times[2] = t.elapsed().as_secs_f64();
                Ok(self.fit_critic(pending, stats))
            }
            Learner::FirstOrder(pg) => {
                let (p, v, s) = pg.update(policy, value, &pending.batch, &mut self.rng)?;
                let critic = s.critic_seconds.unwrap_or(0.0);
                pending.times[2] = t.elapsed().as_secs_f64() - critic;
                pending.times[3] = critic;
                self.policy = p;
                self.value = v;
                Ok(s)
            }
        }
    }

    /// The critic fit of TRPO/NPG after the policy step; a non-finite loss keeps the value
    /// net and its Adam state as they were.
    pub(crate) fn fit_critic(
        &mut self,
        pending: &mut Pending<B, P::Family>,
        stats: UpdateStats,
    ) -> UpdateStats {
        let Learner::Natural(n) = &mut self.learner else {
            return stats;
        };
        let t = Instant::now();
        let (value, stats) = n.fit_critic(self.value.clone(), &pending.batch, stats, &mut self.rng);
        self.value = value;
        pending.times[3] = t.elapsed().as_secs_f64();
        stats
    }

    /// Logs the update, evaluates and checkpoints when due, and asks the callback whether to
    /// go on.
    pub(crate) fn end_update(
        &mut self,
        pending: Pending<B, P::Family>,
        mut stats: UpdateStats,
        clock: &mut Clock,
        callback: &mut dyn Callback,
    ) -> Result<Control> {
        let Pending {
            episodes,
            unstable,
            mut times,
            explained_variance,
            comm_seconds,
            ..
        } = pending;
        self.update += 1;
        let ck = self.config.checkpoint_interval;
        let checkpoint_due =
            ck > 0 && self.update.is_multiple_of(ck as u64) && self.checkpoints_in_run;
        // A checkpoint holds the fitted critic, and the last update's row is complete: wait
        // for a background fit then. Otherwise its columns come when it is joined.
        if (checkpoint_due || self.done())
            && let Some((critic, seconds)) = self.join_critic()?
        {
            stats.value_loss = critic.value_loss;
            stats.critic_skipped = critic.critic_skipped;
            times[3] = seconds;
        }
        clock.split[3] += std::mem::take(&mut self.unclaimed_critic_s);
        for (s, t) in clock.split.iter_mut().zip(times) {
            *s += t;
        }
        let mut row = Metrics::default();
        row.set("global_step", self.global_step as f64);
        row.set("update", self.update as f64);
        // Every rank's episodes (one process: this one's).
        let mut sums = [
            episodes.iter().map(|e| e.0).sum::<f64>(),
            episodes.iter().map(|e| e.1 as f64).sum::<f64>(),
            episodes.len() as f64,
            unstable as f64,
            explained_variance,
        ];
        self.comm.all_reduce_sum_f64(&mut sums);
        let [returns, lengths, n, unstable, explained_variance_sum] = sums;
        if n > 0.0 {
            row.set("charts/episodic_return", returns / n);
            row.set("charts/episodic_length", lengths / n);
        }
        row.set("charts/unstable_episodes", unstable);
        // Data-parallel: the mean of the ranks' values.
        let explained_variance = explained_variance_sum / self.comm.size() as f64;
        let elapsed = clock.start.elapsed().as_secs_f64();
        row.set(
            "charts/SPS",
            ((self.global_step - clock.start_step) as f64 / elapsed).round(),
        );
        fill_stats(&mut row, &stats);
        row.set("losses/explained_variance", explained_variance);
        if self.comm.size() > 1 {
            // Seconds in collectives this update (both threads when the halves overlap).
            row.set("time/comm_s", self.comm.seconds() - comm_seconds);
        }
        for (name, t) in [
            "time/collect_s",
            "time/gae_s",
            "time/policy_s",
            "time/value_s",
        ]
        .iter()
        .zip(times)
        {
            row.set(name, t);
        }
        if let Some(reason) = &stats.skipped {
            self.skipped_updates += 1;
            self.skipped_in_a_row += 1;
            row.set_note("update/skip_reason", reason.clone());
            if self.skipped_in_a_row == SKIP_WARNING_STREAK {
                callback.on_warning(&format!(
                    "the last {SKIP_WARNING_STREAK} policy updates were skipped (update {}: \
                     {reason}); the policy does not learn while this lasts. Every reason is \
                     in metrics.jsonl under update/skip_reason",
                    self.update
                ));
            }
        } else {
            self.skipped_in_a_row = 0;
        }
        if let Some(reason) = &stats.critic_skipped {
            self.critic_skipped_updates += 1;
            row.set_note("update/critic_skip_reason", reason.clone());
        }
        let interval = self.config.eval_interval;
        if interval > 0 && self.update.is_multiple_of(interval as u64) {
            let eval = self.evaluate()?;
            row.set("eval/mean_return", eval.mean_return);
            row.set("eval/std_return", eval.std_return);
            callback.on_evaluation(&eval);
        }
        match &mut self.background {
            Some(background) => {
                for column in CRITIC_COLUMNS {
                    row.values.remove(column);
                }
                background.row = Some(row.clone());
            }
            None => {
                if let Some(m) = &mut self.metrics {
                    m.write(&row)?;
                }
            }
        }
        let vi = self.config.video_interval;
        if vi > 0 && self.update.is_multiple_of(vi as u64) && self.run_dir.is_some() {
            self.record_video()?;
        }
        if checkpoint_due {
            self.save_checkpoint_in_run()?;
        }
        let control = callback.on_update_end(&row);
        if self.comm.size() == 1 {
            return Ok(control);
        }
        // Data-parallel: the ranks stop together when any rank's callback says stop (a rank
        // that stopped alone would leave the others waiting in the next collective).
        let mut stop = [f64::from(u8::from(control == Control::Stop))];
        self.comm.all_reduce_sum_f64(&mut stop);
        Ok(if stop[0] > 0.0 {
            Control::Stop
        } else {
            Control::Continue
        })
    }

    /// The final evaluation (unless one just ran) and checkpoint, and the summary.
    pub(crate) fn finish(
        &mut self,
        clock: &mut Clock,
        callback: &mut dyn Callback,
    ) -> Result<TrainSummary> {
        self.join_critic()?;
        clock.split[3] += std::mem::take(&mut self.unclaimed_critic_s);
        let final_eval = match &self.last_eval {
            Some(e) if e.global_step == self.global_step => e.clone(),
            _ => {
                let e = self.evaluate()?;
                callback.on_evaluation(&e);
                e
            }
        };
        if self.checkpoints_in_run && self.saved_update != Some(self.update) {
            self.save_checkpoint_in_run()?;
        }
        let wall_s = clock.start.elapsed().as_secs_f64();
        Ok(TrainSummary {
            env: self.config.env_id.clone(),
            algo: self.config.algo.name().to_string(),
            steps: self.global_step,
            updates: self.update,
            wall_s,
            sps: (self.global_step - clock.start_step) as f64 / wall_s.max(1e-9),
            final_eval,
            skipped_updates: self.skipped_updates,
            critic_skipped_updates: self.critic_skipped_updates,
            time_split: clock.split,
        })
    }

    /// One rollout with the current policy; returns it and the seconds it took (in slot 0).
    fn collect(&mut self) -> Result<(Rollout, [f64; 4])> {
        let t = Instant::now();
        self.sync_actor()?;
        let rollout = match &self.actor {
            Some(actor) => actor.collect(
                &mut self.collector,
                self.env.as_mut(),
                self.config.n_steps,
                &mut self.rng,
            )?,
            None => self.collector.collect(
                self.env.as_mut(),
                &self.policy.valid(),
                self.config.n_steps,
                &mut self.rng,
                &self.device,
            )?,
        };
        Ok((rollout, [t.elapsed().as_secs_f64(), 0.0, 0.0, 0.0]))
    }

    /// Acts on copies of the networks held by `actor` (e.g. a [`HostActor`] on the CPU while
    /// this trainer learns on a GPU) instead of on the learner's own. The copies are refreshed
    /// from the learner once per update, before they act; the random numbers drawn are the
    /// same, so only the float rounding of the two backends differs.
    ///
    /// [`HostActor`]: crate::HostActor
    pub fn set_actor(&mut self, actor: Box<dyn Actor<B, P>>) {
        self.actor = Some(actor);
        self.actor_synced = None;
    }

    /// TRPO and NPG: whether the critic fit runs in the background, on a thread of its own,
    /// while this thread takes the policy step, logs and evaluates the update and collects the
    /// next rollout; the fit is joined where its result is first needed (the next rollout's
    /// values, a checkpoint, the end of the run). The critic's minibatch orders are drawn
    /// from the generator before the rollout draws its actions, as in sequence, so on the
    /// CPU backends (flex, ndarray) what is learned is the same either way, bit for bit, and
    /// an update costs about the longer of the critic fit and everything else instead of their
    /// sum. On by default there when the machine has more than one core; turn it off to keep
    /// a run on one core (e.g. one job per core in a sweep). Off by default on every other
    /// backend: cubecl 0.10 (wgpu, cuda) picks kernels by timing them, and while one thread
    /// tunes a kernel any other thread that needs it runs a fallback variant, which can round
    /// differently — so two threads are not bit-exact against one, nor a resumed run against
    /// the uninterrupted one — and the device serialises the work anyway. PPO and VPG are not
    /// affected.
    ///
    /// With the overlap, [`Callback::on_update_end`] may see an update's row before its
    /// critic has finished: the row then lacks `losses/value_loss`, `update/critic_skipped`
    /// and `time/value_s`, which `metrics.csv`, `metrics.jsonl` and TensorBoard still get
    /// (the row is written once the fit is joined). Rows of updates that write a checkpoint,
    /// and of the last update, are complete.
    pub fn set_overlap(&mut self, on: bool) {
        self.overlap = on;
    }

    /// Whether TRPO/NPG overlap the policy step and the critic fit ([`set_overlap`](Self::set_overlap)).
    pub fn overlap(&self) -> bool {
        self.overlap
    }

    /// Runs PPO's, PPO-KL's and VPG's epochs in plain Rust on the host with `Some(policy_net)`,
    /// the policy's MLP (see [`PolicyGradient::update_natively`]), or as burn ops on `B` with
    /// `None`; nothing changes for TRPO and NPG. [`MlpAgent`] runs them on the host by default.
    pub fn set_native_updates(&mut self, policy_net: Option<HostMlp>)
    where
        P::Family: crate::NativeFamily,
    {
        if let Learner::FirstOrder(pg) = &mut self.learner {
            match policy_net {
                Some(net) => pg.update_natively(net, HostMlp::of(&self.value.mlp)),
                None => pg.update_on_device(),
            }
        }
    }

    /// Whether the first-order epochs run on the host (see
    /// [`set_native_updates`](Self::set_native_updates)).
    pub fn native_updates(&self) -> bool {
        matches!(&self.learner, Learner::FirstOrder(pg) if pg.updates_natively())
    }

    /// What acts: `None` for the learner's own networks, else the actor's description.
    pub fn actor(&self) -> Option<String> {
        self.actor.as_ref().map(|a| a.describe())
    }

    /// Gives the actor, if any, the learner's current networks (copied only when an update or
    /// a checkpoint load changed them since the last copy).
    fn sync_actor(&mut self) -> Result<()> {
        if let Some(actor) = &mut self.actor
            && self.actor_synced != Some(self.update)
        {
            actor.sync(&self.policy, &self.value)?;
            self.actor_synced = Some(self.update);
        }
        Ok(())
    }

    /// Evaluates with the actor when there is one, else on the learner's networks.
    fn run_evaluation(
        &mut self,
        env: Option<&mut dyn VecEnv>,
        stats: &EnvState,
        seed: u64,
        sample: Option<&mut TrainRng>,
        record: Option<&Recording>,
    ) -> Result<(EvalResult, Vec<Vec<Frame>>)> {
        self.sync_actor()?;
        let env = match env {
            Some(e) => e,
            None => self.eval_env.as_mut(),
        };
        match &self.actor {
            Some(actor) => actor.evaluate(env, stats, seed, sample, record),
            None => evaluate_policy_recorded(
                &self.policy.valid(),
                env,
                stats,
                seed,
                sample,
                record,
                &self.device,
            ),
        }
    }

    /// Deterministic evaluation (mode actions) of `eval_episodes` episodes on the separate
    /// eval envs, with the training normaliser statistics loaded and frozen.
    ///
    /// # Errors
    /// Env failures; an env whose episodes do not end within 1,000,000 steps.
    pub fn evaluate(&mut self) -> Result<EvalResult> {
        let mut stats = EnvState::default();
        self.env.save_state(&mut stats)?;
        let (result, _) = self.run_evaluation(
            None,
            &stats,
            self.config.seed.wrapping_add(EVAL_SEED_OFFSET),
            None,
            None,
        )?;
        let result = EvalResult {
            global_step: self.global_step,
            ..result
        };
        self.last_eval = Some(result.clone());
        Ok(result)
    }

    fn save_checkpoint_in_run(&mut self) -> Result<()> {
        if !self.checkpoints_in_run {
            return Ok(());
        }
        let ranks = self.gather_rank_states()?;
        if let Some(dir) = self.run_dir.clone() {
            // The rows the checkpoint stands for reach the disk first: a resume keeps them.
            if let Some(m) = &self.metrics {
                m.sync()?;
            }
            let target = dir
                .join("checkpoints")
                .join(format!("update_{:06}", self.update));
            self.write_checkpoint_atomically(&target, ranks)?;
        }
        self.saved_update = Some(self.update);
        Ok(())
    }

    /// Every other rank's [`RankState`], on rank 0 (empty elsewhere and for one process).
    fn gather_rank_states(&self) -> Result<Vec<RankState>> {
        let (rank, k) = (self.comm.rank(), self.comm.size());
        if k == 1 {
            return Ok(Vec::new());
        }
        let encode = |e: serde_json::Error| AlgoError::Config(format!("rank state: {e}"));
        let mine = if rank > 0 {
            let mut runtime = EnvState::default();
            let env_runtime = self.env.save_runtime(&mut runtime).ok().map(|_| runtime);
            serde_json::to_vec(&RankState {
                rng: self.rng.clone(),
                env_runtime,
                observations: self.collector.observations().to_vec(),
            })
            .map_err(encode)?
        } else {
            Vec::new()
        };
        let mut out = Vec::new();
        for r in 1..k {
            let mut bytes = if r == rank { mine.clone() } else { Vec::new() };
            self.comm.broadcast_bytes(&mut bytes, r);
            if rank == 0 {
                out.push(serde_json::from_slice(&bytes).map_err(encode)?);
            }
        }
        Ok(out)
    }

    /// Writes a checkpoint folder at `target` atomically: everything goes to a temporary
    /// sibling folder, is synced to disk, and the folder is renamed into place (swapped in
    /// one step for a `target` that exists, on Linux). A crash at any moment leaves the
    /// previous checkpoint or the new one, complete. Refuses (and writes nothing) when the
    /// policy or value net holds a non-finite parameter, or the env state does.
    ///
    /// Data-parallel: every rank calls it (each adds its envs and random stream); rank 0
    /// writes.
    ///
    /// # Errors
    /// I/O errors; [`AlgoError::NonFinite`] for non-finite parameters.
    pub fn save_checkpoint(&mut self, target: &Path) -> Result<()> {
        let ranks = self.gather_rank_states()?;
        if self.comm.rank() > 0 {
            return Ok(());
        }
        self.write_checkpoint_atomically(target, ranks)
    }

    fn write_checkpoint_atomically(&mut self, target: &Path, ranks: Vec<RankState>) -> Result<()> {
        if !flat::all_finite(&self.policy.valid()) || !flat::all_finite(&self.value.valid()) {
            return Err(AlgoError::NonFinite(
                "the parameters hold NaN or ∞; the checkpoint was not written".into(),
            ));
        }
        let parent = fsio::parent_of(target);
        std::fs::create_dir_all(&parent).map_err(|e| AlgoError::io(&parent, e))?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "checkpoint".into());
        let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| AlgoError::io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| AlgoError::io(&tmp, e))?;
        let written = self
            .write_checkpoint(&tmp, ranks)
            .and_then(|_| fsio::sync_tree(&tmp))
            .and_then(|_| fsio::replace_dir(&tmp, target));
        if let Err(e) = written {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        Ok(())
    }

    fn write_checkpoint(&mut self, dir: &Path, ranks: Vec<RankState>) -> Result<()> {
        let rec = BinFileRecorder::<FullPrecisionSettings>::new();
        let io = |what: &str, e: burn::record::RecorderError| AlgoError::io(dir.join(what), e);
        rec.record(self.policy.clone().into_record(), dir.join("policy"))
            .map_err(|e| io("policy.bin", e))?;
        rec.record(self.value.clone().into_record(), dir.join("value"))
            .map_err(|e| io("value.bin", e))?;
        let mut kl_coef = 1.0;
        match &mut self.learner {
            Learner::Natural(n) => {
                rec.record(n.critic().optimizer().to_record(), dir.join("critic_optim"))
                    .map_err(|e| io("critic_optim.bin", e))?;
            }
            Learner::FirstOrder(pg) => {
                kl_coef = pg.kl_coef();
                rec.record(pg.policy_optimizer().to_record(), dir.join("policy_optim"))
                    .map_err(|e| io("policy_optim.bin", e))?;
                rec.record(pg.value_optimizer().to_record(), dir.join("value_optim"))
                    .map_err(|e| io("value_optim.bin", e))?;
                if let Some(c) = pg.critic_mut() {
                    rec.record(c.optimizer().to_record(), dir.join("critic_optim"))
                        .map_err(|e| io("critic_optim.bin", e))?;
                }
            }
        }
        let mut env_stats = EnvState::default();
        self.env.save_state(&mut env_stats)?;
        let mut runtime = EnvState::default();
        let env_runtime = self.env.save_runtime(&mut runtime).ok().map(|_| runtime);
        let state = CheckpointState {
            format: CHECKPOINT_FORMAT,
            config: serde_json::to_value(&self.config)
                .map_err(|e| AlgoError::io(dir.join("state.json"), e))?,
            global_step: self.global_step,
            update: self.update,
            rng: self.rng.clone(),
            env_stats,
            env_runtime,
            observations: self.collector.observations().to_vec(),
            kl_coef,
            policy_params: flat::num_params(&self.policy),
            value_params: flat::num_params(&self.value),
            policy_shapes: flat::named_shapes(&self.policy),
            value_shapes: flat::named_shapes(&self.value),
            skipped_updates: self.skipped_updates,
            critic_skipped_updates: self.critic_skipped_updates,
            schedule: self.schedule,
            ranks,
        };
        let text =
            serde_json::to_string(&state).map_err(|e| AlgoError::io(dir.join("state.json"), e))?;
        std::fs::write(dir.join("state.json"), text)
            .map_err(|e| AlgoError::io(dir.join("state.json"), e))?;
        Ok(())
    }
}

/// Refuses a checkpoint whose config differs from `expected` in anything but
/// `total_timesteps`, naming the fields.
///
/// # Errors
/// [`AlgoError::Checkpoint`] listing the differences.
pub fn check_checkpoint_config(checkpoint: &Path, expected: &TrainConfig) -> Result<()> {
    let (state, _) = read_checkpoint(checkpoint)?;
    let mut want = serde_json::to_value(expected).unwrap_or_default();
    let mut got = state.config;
    for v in [&mut want, &mut got] {
        if let Some(o) = v.as_object_mut() {
            o.remove("total_timesteps");
        }
    }
    if want != got {
        let diff = differing_keys(&got, &want);
        return Err(AlgoError::Checkpoint {
            path: checkpoint.to_path_buf(),
            message: format!(
                "it was trained with another config (differs in: {}); resume with the \
                 saved config or start a new run",
                diff.join(", ")
            ),
        });
    }
    Ok(())
}

/// The state file of a checkpoint folder and the config it holds, checked for its format.
fn read_checkpoint(checkpoint: &Path) -> Result<(CheckpointState, TrainConfig)> {
    let fail = |message: String| AlgoError::Checkpoint {
        path: checkpoint.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(checkpoint.join("state.json")).map_err(|e| {
        fail(format!(
            "cannot read state.json ({e}); is this a checkpoint folder?"
        ))
    })?;
    let state: CheckpointState =
        serde_json::from_str(&text).map_err(|e| fail(format!("state.json is damaged ({e})")))?;
    if state.format != CHECKPOINT_FORMAT {
        return Err(fail(format!(
            "format {} is not the format {CHECKPOINT_FORMAT} this build reads",
            state.format
        )));
    }
    let state = CheckpointState {
        config: crate::config::upgrade_saved(state.config),
        ..state
    };
    let config = TrainConfig::from_saved(state.config.clone())
        .map_err(|e| fail(format!("the saved config does not parse ({e})")))?;
    Ok((state, config))
}

fn build_learner<B: AutodiffBackend, P: AgentPolicy<B>>(
    algo: &AlgoConfig,
) -> Result<Learner<B, P>> {
    Ok(match algo {
        AlgoConfig::Trpo(c) => Learner::Natural(NaturalGradient::trpo(c)?),
        AlgoConfig::Npg(c) => Learner::Natural(NaturalGradient::npg(c)?),
        AlgoConfig::Ppo(c) => Learner::FirstOrder(Box::new(PolicyGradient::ppo(c)?)),
        AlgoConfig::PpoKl(c) => Learner::FirstOrder(Box::new(PolicyGradient::ppo_kl(c)?)),
        AlgoConfig::Vpg(c) => Learner::FirstOrder(Box::new(PolicyGradient::vpg(c)?)),
    })
}

fn fill_stats(row: &mut Metrics, s: &UpdateStats) {
    row.set("losses/policy_loss", s.policy_loss);
    row.set("losses/value_loss", s.value_loss);
    row.set("losses/entropy", s.entropy);
    row.set("losses/approx_kl", s.approx_kl);
    row.set_opt("losses/clipfrac", s.clipfrac);
    row.set_opt("losses/kl_coef", s.kl_coef);
    row.set_opt("charts/learning_rate", s.learning_rate);
    row.set_opt(
        "trpo/line_search_success",
        s.line_search_success.map(|b| b as u8 as f64),
    );
    row.set_opt("trpo/backtracks", s.backtracks.map(|b| b as f64));
    row.set_opt("trpo/cg_residual", s.cg_residual);
    row.set_opt("trpo/step_kl", s.step_kl);
    row.set_opt("policy/std", s.policy_std);
    row.set_opt("trpo/cg_iterations", s.cg_iterations.map(|n| n as f64));
    row.set_opt("trpo/cg_breakdown", s.cg_breakdown.map(|b| b as u8 as f64));
    row.set("update/skipped", s.skipped.is_some() as u8 as f64);
    row.set(
        "update/critic_skipped",
        s.critic_skipped.is_some() as u8 as f64,
    );
}

/// The first parameter whose path or dimensions differ between a checkpoint and this
/// network, as a message naming it.
fn shape_mismatch(
    net: &str,
    saved: &[(String, Vec<usize>)],
    ours: &[(String, Vec<usize>)],
) -> Option<String> {
    for (i, (s, o)) in saved.iter().zip(ours).enumerate() {
        if s != o {
            return Some(format!(
                "the {net}'s parameter {i} is `{}` {:?} in the checkpoint but `{}` {:?} here; \
                 build the network with the architecture it was trained with",
                s.0, s.1, o.0, o.1
            ));
        }
    }
    (saved.len() != ours.len()).then(|| {
        format!(
            "the {net} has {} parameter tensors in the checkpoint but {} here; build the \
             network with the architecture it was trained with",
            saved.len(),
            ours.len()
        )
    })
}

fn obs_dim(space: &Space) -> Result<usize> {
    match space {
        Space::Box(b) => Ok(b.dim()),
        other => Err(AlgoError::Unsupported(format!(
            "observation space {other}: the learners take Box observations"
        ))),
    }
}

fn differing_keys(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(prefix: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
        match (a.as_object(), b.as_object()) {
            (Some(x), Some(y)) => {
                let keys: std::collections::BTreeSet<_> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let name = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    match (x.get(k), y.get(k)) {
                        (Some(p), Some(q)) => walk(&name, p, q, out),
                        _ => out.push(name),
                    }
                }
            }
            _ if a != b => out.push(prefix.to_string()),
            _ => {}
        }
    }
    walk("", a, b, &mut out);
    out
}

/// Runs one episode per eval env — mode actions, or actions sampled from `sample` when
/// given; `stats` (normaliser statistics of the training env) are loaded into the eval env
/// and frozen.
///
/// # Errors
/// Env failures; episodes that do not end within 1,000,000 steps.
pub fn evaluate_policy<B, P>(
    policy: &P,
    env: &mut dyn VecEnv,
    stats: &EnvState,
    seed: u64,
    sample: Option<&mut TrainRng>,
    device: &B::Device,
) -> Result<EvalResult>
where
    B: Backend,
    P: Policy<B, Family: ActionFamily>,
{
    Ok(evaluate_policy_recorded(policy, env, stats, seed, sample, None, device)?.0)
}

/// What a recorded evaluation draws: how, and every how many env steps (the first and the
/// last picture of an episode are always drawn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recording {
    /// Size and camera.
    pub options: RenderOptions,
    /// A frame every this many steps (1: every step, `length + 1` frames an episode).
    pub stride: usize,
}

/// [`evaluate_policy`], also drawing each env's episode with
/// [`VecEnv::render`](cinder_env::VecEnv::render) when `record` is given: one list of frames
/// per env, from the picture after the reset to the one the episode ended in. The episodes
/// and returns are those of [`evaluate_policy`] with the same arguments.
///
/// # Errors
/// As [`evaluate_policy`]; an env that cannot draw itself.
pub fn evaluate_policy_recorded<B, P>(
    policy: &P,
    env: &mut dyn VecEnv,
    stats: &EnvState,
    seed: u64,
    sample: Option<&mut TrainRng>,
    record: Option<&Recording>,
    device: &B::Device,
) -> Result<(EvalResult, Vec<Vec<Frame>>)>
where
    B: Backend,
    P: Policy<B, Family: ActionFamily>,
{
    let d = obs_dim(env.observation_space())?;
    evaluate_with(env, stats, seed, sample, record, |obs, rng| {
        let t =
            Tensor::<B, 2>::from_data(TensorData::new(obs.to_vec(), [obs.len() / d, d]), device);
        let dist = policy.distribution(t);
        Ok(match rng {
            Some(rng) => P::Family::to_host(&dist.sample(rng)),
            None => P::Family::to_host(&dist.mode()),
        })
    })
}

/// [`evaluate_policy_recorded`] with the acting left to `act`: given the `[N, obs_dim]`
/// observations and the generator when actions are sampled (`None`: the mode), it returns
/// the N actions.
///
/// # Errors
/// As [`evaluate_policy_recorded`], and `act`'s own.
pub fn evaluate_with<F>(
    env: &mut dyn VecEnv,
    stats: &EnvState,
    seed: u64,
    mut sample: Option<&mut TrainRng>,
    record: Option<&Recording>,
    mut act: F,
) -> Result<(EvalResult, Vec<Vec<Frame>>)>
where
    F: FnMut(&[f32], Option<&mut TrainRng>) -> Result<ActionBuffer>,
{
    env.load_state(stats)?;
    env.set_training(false);
    let n = env.num_envs();
    let d = obs_dim(env.observation_space())?;
    let bounds = env.action_space().as_box().map(|b| {
        (
            b.low.iter().map(|&x| x as f32).collect::<Vec<_>>(),
            b.high.iter().map(|&x| x as f32).collect::<Vec<_>>(),
        )
    });
    let mut obs = vec![0.0; n * d];
    env.reset(Some(seed), &mut obs)?;
    let mut out = StepBatch::new(n, d);
    let mut first: Vec<Option<(f64, u64)>> = vec![None; n];
    let mut frames: Vec<Vec<Frame>> = vec![Vec::new(); if record.is_some() { n } else { 0 }];
    if let Some(r) = record {
        for (i, f) in frames.iter_mut().enumerate() {
            f.push(env.render(i, &r.options)?);
        }
    }
    // Which envs were still in their first episode before the current step (recording only).
    let mut running = vec![true; frames.len()];
    let mut steps = 0usize;
    while first.iter().any(Option::is_none) {
        if steps >= 1_000_000 {
            return Err(AlgoError::Unsupported(
                "evaluation episodes did not end within 1,000,000 steps; set max_episode_steps"
                    .into(),
            ));
        }
        let actions = act(&obs, sample.as_deref_mut())?;
        let actions = match (actions, &bounds) {
            (ActionBuffer::Continuous(mut a), Some((low, high))) => {
                let k = low.len();
                for (j, x) in a.iter_mut().enumerate() {
                    *x = x.clamp(low[j % k], high[j % k]);
                }
                ActionBuffer::Continuous(a)
            }
            (a, _) => a,
        };
        env.step(actions.as_actions(), &mut out)?;
        for e in &out.episodes {
            if first[e.env].is_none() {
                first[e.env] = Some((e.episodic_return, e.episodic_length));
            }
        }
        obs.copy_from_slice(&out.obs);
        steps += 1;
        if let Some(r) = record {
            for (i, (f, was_running)) in frames.iter_mut().zip(&mut running).enumerate() {
                // Every stride-th step of a running episode, and the step that ends it.
                if *was_running && (first[i].is_some() || steps.is_multiple_of(r.stride.max(1))) {
                    f.push(env.render(i, &r.options)?);
                }
                *was_running = first[i].is_none();
            }
        }
    }
    let returns: Vec<f64> = first.iter().map(|e| e.map_or(0.0, |e| e.0)).collect();
    let lengths: Vec<u64> = first.iter().map(|e| e.map_or(0, |e| e.1)).collect();
    let mean = returns.iter().sum::<f64>() / n as f64;
    let var = returns.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / n as f64;
    let result = EvalResult {
        global_step: 0,
        mean_return: mean,
        std_return: var.sqrt(),
        returns,
        lengths,
    };
    Ok((result, frames))
}

/// How a run's videos are drawn.
fn video_options(config: &TrainConfig) -> RenderOptions {
    RenderOptions {
        camera: config.video_camera,
        ..RenderOptions::default()
    }
}

/// The built-in MLP policy of a config's env.
enum BuiltPolicy<B: Backend> {
    Gaussian(GaussianMlpPolicy<B>),
    Categorical(CategoricalMlpPolicy<B>),
}

/// Gaussian for a box action space, categorical for a discrete one; weights from
/// `config.seed`. One env is made to read the spaces.
fn build_policy<B: Backend>(config: &TrainConfig, device: &B::Device) -> Result<BuiltPolicy<B>> {
    config.validate()?;
    let probe = make_env(config, 1, config.seed)?;
    let obs_dim = obs_dim(probe.observation_space())?;
    Ok(match probe.action_space() {
        Space::Box(b) => BuiltPolicy::Gaussian(
            GaussianMlpPolicyConfig::new(obs_dim, b.dim())
                .with_hidden(config.policy_hidden.clone())
                .with_activation(config.activation)
                .with_log_std_init(config.log_std_init)
                .init::<B>(config.seed, device)?,
        ),
        Space::Discrete(k) => BuiltPolicy::Categorical(
            CategoricalMlpPolicyConfig::new(obs_dim, *k)
                .with_hidden(config.policy_hidden.clone())
                .with_activation(config.activation)
                .init::<B>(config.seed, device)?,
        ),
    })
}

/// A built-in MLP policy for an env: Gaussian for a box action space, categorical for a
/// discrete one. PPO's, PPO-KL's and VPG's epochs run in plain Rust on the host
/// ([`set_native_updates`](MlpAgent::set_native_updates)); acting stays on the learner until
/// [`act_natively`](MlpAgent::act_natively) or [`act_on`](MlpAgent::act_on).
pub enum MlpAgent<B: AutodiffBackend> {
    /// Continuous actions.
    Gaussian(Trainer<B, GaussianMlpPolicy<B>>),
    /// Discrete actions.
    Categorical(Trainer<B, CategoricalMlpPolicy<B>>),
}

impl<B: AutodiffBackend> MlpAgent<B> {
    /// A fresh run with the built-in MLP policy for the env's action space (weights from
    /// `config.seed`).
    ///
    /// # Errors
    /// As [`Trainer::new`].
    pub fn new(config: TrainConfig, run_dir: Option<&Path>, device: &B::Device) -> Result<Self> {
        Self::data_parallel(config, run_dir, device, comm::single_process())
    }

    /// A fresh run trained by all of `comm`'s ranks together (see
    /// [`Trainer::data_parallel`]).
    ///
    /// # Errors
    /// As [`Trainer::data_parallel`].
    pub fn data_parallel(
        config: TrainConfig,
        run_dir: Option<&Path>,
        device: &B::Device,
        comm: Arc<dyn Communicator>,
    ) -> Result<Self> {
        let mut agent = match build_policy::<B>(&config, device)? {
            BuiltPolicy::Gaussian(p) => {
                MlpAgent::Gaussian(Trainer::data_parallel(config, p, run_dir, device, comm)?)
            }
            BuiltPolicy::Categorical(p) => {
                MlpAgent::Categorical(Trainer::data_parallel(config, p, run_dir, device, comm)?)
            }
        };
        agent.set_native_updates(true);
        Ok(agent)
    }

    /// Continues a run from a checkpoint folder (see [`Trainer::resume`]).
    ///
    /// # Errors
    /// As [`Trainer::resume`].
    pub fn resume(
        checkpoint: &Path,
        total_timesteps: Option<u64>,
        run_dir: Option<&Path>,
        device: &B::Device,
    ) -> Result<Self> {
        Self::resume_data_parallel(
            checkpoint,
            total_timesteps,
            run_dir,
            device,
            comm::single_process(),
        )
    }

    /// A checkpoint's networks and statistics, to evaluate them (see
    /// [`Trainer::open_checkpoint`]).
    ///
    /// # Errors
    /// As [`Trainer::open_checkpoint`].
    pub fn open_checkpoint(checkpoint: &Path, device: &B::Device) -> Result<Self> {
        let (_, config) = read_checkpoint(checkpoint)?;
        let mut agent = match build_policy::<B>(&config, device)? {
            BuiltPolicy::Gaussian(p) => {
                MlpAgent::Gaussian(Trainer::open_checkpoint(checkpoint, p, device)?)
            }
            BuiltPolicy::Categorical(p) => {
                MlpAgent::Categorical(Trainer::open_checkpoint(checkpoint, p, device)?)
            }
        };
        agent.set_native_updates(true);
        Ok(agent)
    }

    /// Continues a data-parallel run on every rank of `comm` (see
    /// [`Trainer::resume_data_parallel`]).
    ///
    /// # Errors
    /// As [`Trainer::resume_data_parallel`].
    pub fn resume_data_parallel(
        checkpoint: &Path,
        total_timesteps: Option<u64>,
        run_dir: Option<&Path>,
        device: &B::Device,
        comm: Arc<dyn Communicator>,
    ) -> Result<Self> {
        let (_, config) = read_checkpoint(checkpoint)?;
        // The architecture comes from the saved config; the values from the checkpoint.
        let mut agent = match build_policy::<B>(&config, device)? {
            BuiltPolicy::Gaussian(p) => MlpAgent::Gaussian(Trainer::resume_data_parallel(
                checkpoint,
                p,
                total_timesteps,
                run_dir,
                device,
                comm,
            )?),
            BuiltPolicy::Categorical(p) => MlpAgent::Categorical(Trainer::resume_data_parallel(
                checkpoint,
                p,
                total_timesteps,
                run_dir,
                device,
                comm,
            )?),
        };
        agent.set_native_updates(true);
        Ok(agent)
    }

    /// Acts on a copy of the policy and value net on backend `A` (see
    /// [`Trainer::set_actor`]): rollouts and evaluations run there, the learner stays on
    /// `B`. With `A` a CPU backend and `B` a GPU one, each env step costs no kernel launch and
    /// no device read; the parameters cross once per update.
    ///
    /// # Errors
    /// As [`MlpAgent::new`] (the copy is built from the config).
    pub fn act_on<A: Backend>(&mut self, device: &A::Device) -> Result<()> {
        let config = self.config().clone();
        let value = |obs_dim: usize| {
            ValueMlpConfig::new(obs_dim)
                .with_hidden(config.value_hidden.clone())
                .with_activation(config.activation)
                .init::<A>(0, device)
        };
        match (self, build_policy::<A>(&config, device)?) {
            (MlpAgent::Gaussian(t), BuiltPolicy::Gaussian(p)) => {
                let v = value(obs_dim(t.env().observation_space())?)?;
                t.set_actor(Box::new(HostActor::new(p, v, device)));
            }
            (MlpAgent::Categorical(t), BuiltPolicy::Categorical(p)) => {
                let v = value(obs_dim(t.env().observation_space())?)?;
                t.set_actor(Box::new(HostActor::new(p, v, device)));
            }
            _ => unreachable!("the same config builds the same kind of policy"),
        }
        Ok(())
    }

    /// Acts with the policy in plain Rust on the host ([`NativeActor`]): no backend op per
    /// env step, and one read of the policy's parameters per update. Float rounding apart,
    /// the same actions and log-probabilities as acting on the learner.
    ///
    /// [`NativeActor`]: crate::NativeActor
    pub fn act_natively(&mut self) {
        match self {
            MlpAgent::Gaussian(t) => {
                let net = HostMlp::of(&t.policy().mlp);
                t.set_actor(Box::new(crate::NativeActor::<GaussianFamily>::new(net)));
            }
            MlpAgent::Categorical(t) => {
                let net = HostMlp::of(&t.policy().mlp);
                t.set_actor(Box::new(crate::NativeActor::<CategoricalFamily>::new(net)));
            }
        }
    }

    /// Whether PPO's, PPO-KL's and VPG's epochs run in plain Rust on the host (the default;
    /// see [`PolicyGradient::update_natively`]) or as burn ops on the learner's backend
    /// (`false`). On the host each update reads the networks and their Adam state once and
    /// writes them back once, with no backend op per minibatch; float rounding apart, the
    /// two learn the same. Nothing changes for TRPO and NPG, whose critic fits on the host
    /// already ([`ValueFitConfig::on_host`]) and whose policy step stays on the device.
    ///
    /// [`ValueFitConfig::on_host`]: crate::ValueFitConfig::on_host
    pub fn set_native_updates(&mut self, on: bool) {
        match self {
            MlpAgent::Gaussian(t) => {
                let net = on.then(|| HostMlp::of(&t.policy().mlp));
                t.set_native_updates(net);
            }
            MlpAgent::Categorical(t) => {
                let net = on.then(|| HostMlp::of(&t.policy().mlp));
                t.set_native_updates(net);
            }
        }
    }

    /// Whether the first-order epochs run on the host (see
    /// [`set_native_updates`](Self::set_native_updates)).
    pub fn native_updates(&self) -> bool {
        match self {
            MlpAgent::Gaussian(t) => t.native_updates(),
            MlpAgent::Categorical(t) => t.native_updates(),
        }
    }

    /// What acts (see [`Trainer::actor`]).
    pub fn actor(&self) -> Option<String> {
        match self {
            MlpAgent::Gaussian(t) => t.actor(),
            MlpAgent::Categorical(t) => t.actor(),
        }
    }

    /// See [`Trainer::set_overlap`].
    pub fn set_overlap(&mut self, on: bool) {
        match self {
            MlpAgent::Gaussian(t) => t.set_overlap(on),
            MlpAgent::Categorical(t) => t.set_overlap(on),
        }
    }

    /// See [`Trainer::overlap`].
    pub fn overlap(&self) -> bool {
        match self {
            MlpAgent::Gaussian(t) => t.overlap(),
            MlpAgent::Categorical(t) => t.overlap(),
        }
    }

    /// See [`Trainer::train`].
    ///
    /// # Errors
    /// As [`Trainer::train`].
    pub fn train(&mut self, callback: &mut dyn Callback) -> Result<TrainSummary> {
        match self {
            MlpAgent::Gaussian(t) => t.train(callback),
            MlpAgent::Categorical(t) => t.train(callback),
        }
    }

    /// See [`Trainer::evaluate`].
    ///
    /// # Errors
    /// As [`Trainer::evaluate`].
    pub fn evaluate(&mut self) -> Result<EvalResult> {
        match self {
            MlpAgent::Gaussian(t) => t.evaluate(),
            MlpAgent::Categorical(t) => t.evaluate(),
        }
    }

    /// See [`Trainer::evaluate_episodes`].
    ///
    /// # Errors
    /// As [`Trainer::evaluate_episodes`].
    pub fn evaluate_episodes(
        &mut self,
        episodes: usize,
        deterministic: bool,
        seed: u64,
    ) -> Result<EvalResult> {
        match self {
            MlpAgent::Gaussian(t) => t.evaluate_episodes(episodes, deterministic, seed),
            MlpAgent::Categorical(t) => t.evaluate_episodes(episodes, deterministic, seed),
        }
    }

    /// As [`Trainer::record_episodes`].
    ///
    /// # Errors
    /// As [`Trainer::record_episodes`].
    pub fn record_episodes(
        &mut self,
        episodes: usize,
        deterministic: bool,
        seed: u64,
        record: Option<&Recording>,
    ) -> Result<(EvalResult, Vec<Vec<Frame>>)> {
        match self {
            MlpAgent::Gaussian(t) => t.record_episodes(episodes, deterministic, seed, record),
            MlpAgent::Categorical(t) => t.record_episodes(episodes, deterministic, seed, record),
        }
    }

    /// As [`Trainer::render_fps`].
    pub fn render_fps(&self) -> Option<f64> {
        match self {
            MlpAgent::Gaussian(t) => t.render_fps(),
            MlpAgent::Categorical(t) => t.render_fps(),
        }
    }

    /// The run's config.
    pub fn config(&self) -> &TrainConfig {
        match self {
            MlpAgent::Gaussian(t) => t.config(),
            MlpAgent::Categorical(t) => t.config(),
        }
    }

    /// Env steps trained so far.
    pub fn global_step(&self) -> u64 {
        match self {
            MlpAgent::Gaussian(t) => t.global_step(),
            MlpAgent::Categorical(t) => t.global_step(),
        }
    }

    /// All policy parameters, flattened (for comparisons).
    pub fn policy_params(&self) -> Vec<f32> {
        match self {
            MlpAgent::Gaussian(t) => host(flat::flatten(&t.policy().valid())),
            MlpAgent::Categorical(t) => host(flat::flatten(&t.policy().valid())),
        }
    }

    /// All value-net parameters, flattened.
    pub fn value_params(&self) -> Vec<f32> {
        match self {
            MlpAgent::Gaussian(t) => host(flat::flatten(&t.value().valid())),
            MlpAgent::Categorical(t) => host(flat::flatten(&t.value().valid())),
        }
    }

    /// Writes a checkpoint (see [`Trainer::save_checkpoint`]).
    ///
    /// # Errors
    /// As [`Trainer::save_checkpoint`].
    pub fn save_checkpoint(&mut self, target: &Path) -> Result<()> {
        match self {
            MlpAgent::Gaussian(t) => t.save_checkpoint(target),
            MlpAgent::Categorical(t) => t.save_checkpoint(target),
        }
    }
}

/// The checkpoint of `run_dir` with the most updates (`checkpoints/update_NNNNNN`).
///
/// # Errors
/// [`AlgoError::Checkpoint`] if the folder has no checkpoint.
pub fn latest_checkpoint(run_dir: &Path) -> Result<PathBuf> {
    let dir = run_dir.join("checkpoints");
    let entries = std::fs::read_dir(&dir).map_err(|e| AlgoError::Checkpoint {
        path: run_dir.to_path_buf(),
        message: format!("no checkpoints folder ({e}); is this a run folder?"),
    })?;
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let n: u64 = name.strip_prefix("update_")?.parse().ok()?;
            Some((n, e.path()))
        })
        .max_by_key(|(n, _)| *n)
        .map(|(_, p)| p)
        .ok_or_else(|| AlgoError::Checkpoint {
            path: run_dir.to_path_buf(),
            message: "the run has no checkpoint yet".into(),
        })
}

fn host<B: Backend>(t: Tensor<B, 1>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// The learner's random seed on `rank`: `seed` itself on rank 0 (a one-process run is
/// unchanged), a well-mixed other seed on each other rank.
fn rank_seed(seed: u64, rank: usize) -> u64 {
    if rank == 0 {
        return seed;
    }
    // SplitMix64's finaliser of (seed, rank).
    let mut z = seed ^ (rank as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Rank 0's `flag`, on every rank.
fn root_says(comm: &dyn Communicator, flag: bool) -> bool {
    let mut bytes = vec![u8::from(flag)];
    comm.broadcast_bytes(&mut bytes, 0);
    bytes.first() == Some(&1)
}

/// Refuses to start unless every rank has rank 0's config: each rank compares its own with
/// rank 0's, and all fail together when any differs (the ranks that differ name the fields).
fn check_same_config(comm: &dyn Communicator, config: &TrainConfig) -> Result<()> {
    let ours = config_json(config)?;
    let mut bytes = serde_json::to_vec(&ours).map_err(|e| AlgoError::Config(e.to_string()))?;
    comm.broadcast_bytes(&mut bytes, 0);
    let root: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| AlgoError::Config(e.to_string()))?;
    let differing = differing_keys(&root, &ours);
    let mut count = [f64::from(u8::from(!differing.is_empty()))];
    comm.all_reduce_sum_f64(&mut count);
    if !differing.is_empty() {
        return Err(AlgoError::Config(format!(
            "rank {} started with another config than rank 0 (differs in: {}); start every \
             rank with the same command",
            comm.rank(),
            differing.join(", ")
        )));
    }
    if count[0] > 0.0 {
        return Err(AlgoError::Config(format!(
            "{} rank(s) started with another config than rank 0 (their errors name the \
             fields); start every rank with the same command",
            count[0]
        )));
    }
    Ok(())
}

/// The config as JSON, for the event file's hyperparameter text.
fn config_json(config: &TrainConfig) -> Result<serde_json::Value> {
    serde_json::to_value(config)
        .map_err(|e| AlgoError::Config(format!("the config cannot be written as JSON: {e}")))
}
