//! On-policy algorithms for cinder: TRPO, NPG, PPO (clip and adaptive KL) and VPG, and the
//! loop that trains them.
//!
//! The pieces, in the order a training step uses them:
//! - [`RolloutCollector`] records a policy acting in a `VecEnv` as `[T, N, …]` buffers with
//!   log-probs, values and the values of the states each step led to;
//! - [`gae`]: generalized advantage estimation with separate termination and truncation masks;
//! - [`Batch`]: the rollout and its advantages on the device;
//! - the updates: [`NaturalGradient`] (TRPO, NPG) and [`PolicyGradient`] (PPO-clip, PPO-KL,
//!   VPG), each `update(policy, value, &batch) → (policy, value, UpdateStats)`; the critic fit
//!   is [`ValueFitter`];
//! - [`Trainer`] runs the loop with evaluation, [`Callback`]s, CleanRL-named [`Metrics`]
//!   (CSV, JSONL and a TensorBoard event file, [`tensorboard`]) and checkpoints that resume
//!   exactly; [`MlpAgent`] picks the built-in MLP policy for the env's action space;
//! - an [`Actor`] acts on copies of the networks elsewhere: [`HostActor`] keeps rollouts and
//!   evaluations on the CPU while the learner runs on a GPU;
//! - [`Lockstep`] steps K TRPO/NPG runs (seeds or configurations) together, their Fisher
//!   solves batched into one stacked operator and one CG loop.
//!
//! ```no_run
//! use burn::backend::{Autodiff, Flex};
//! use cinder_algo::{AlgoConfig, MlpAgent, NoCallback, TrainConfig, TrpoConfig};
//!
//! let config = TrainConfig::new("Pendulum-v1".into(), AlgoConfig::Trpo(TrpoConfig::new()))
//!     .with_total_timesteps(150_000)
//!     .with_gamma(0.9);
//! let mut agent = MlpAgent::<Autodiff<Flex>>::new(config, None, &Default::default())?;
//! let summary = agent.train(&mut NoCallback)?;
//! println!("{:.1}", summary.final_eval.mean_return);
//! # Ok::<(), cinder_algo::AlgoError>(())
//! ```
#![warn(missing_docs)]

pub mod actor;
pub mod batch;
pub mod comm;
pub mod config;
mod error;
pub mod family;
pub mod fsio;
pub mod gae;
mod host_adam;
pub mod lockstep;
pub mod metrics;
pub mod natural;
pub mod pg;
mod pg_host;
pub mod presets;
pub mod rollout;
pub mod tensorboard;
pub mod trainer;
pub mod value;
pub mod video;

pub use actor::{Actor, HostActor, NativeActor, NativeFamily};
pub use batch::{Batch, UpdateStats};
pub use comm::{Communicator, SingleProcess};
pub use config::{AlgoConfig, TrainConfig};
pub use error::{AlgoError, Result};
pub use family::{ActionFamily, AgentPolicy, FisherPolicy, FvpKind, double_backprop_operator};
pub use gae::{Advantages, gae};
pub use lockstep::Lockstep;
pub use metrics::{COLUMNS, Metrics, MetricsWriter, NOTES};
pub use natural::{NaturalGradient, NpgConfig, TrpoConfig};
pub use pg::{PolicyGradient, PpoConfig, PpoKlConfig, VpgConfig};
pub use presets::{PresetSource, preset, preset_from};
pub use rollout::{Rollout, RolloutCollector};
pub use trainer::{
    Callback, Control, EvalResult, MlpAgent, NoCallback, Recording, RolloutInfo, TrainRng,
    TrainSummary, Trainer, check_checkpoint_config, evaluate_policy, evaluate_policy_recorded,
    evaluate_with, latest_checkpoint, make_env,
};
pub use value::{ValueFitConfig, ValueFitStats, ValueFitter, explained_variance};
