//! On-policy algorithms for cinder.
//!
//! So far: [`RolloutCollector`], which records a policy acting in a `VecEnv` as `[T, N, …]`
//! buffers with log-probs, values and the values of the states each step led to, and [`gae`],
//! generalized advantage estimation with separate termination and truncation masks, and the
//! minibatch-Adam value fit ([`ValueFitter`]). The TRPO / NPG / PPO / VPG updates build on
//! them.
#![warn(missing_docs)]

mod error;
pub mod gae;
pub mod rollout;
pub mod value;

pub use error::{AlgoError, Result};
pub use gae::{Advantages, gae};
pub use rollout::{HostActions, Rollout, RolloutCollector};
pub use value::{ValueFitConfig, ValueFitStats, ValueFitter, explained_variance};
