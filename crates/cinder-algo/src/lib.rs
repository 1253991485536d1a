//! On-policy algorithms for cinder.
//!
//! So far: [`RolloutCollector`], which records a policy acting in a `VecEnv` as `[T, N, …]`
//! buffers with log-probs, values and the values of the states each step led to, and [`gae`],
//! generalized advantage estimation with separate termination and truncation masks. The value
//! fit and the TRPO / NPG / PPO / VPG updates build on them.
#![warn(missing_docs)]

mod error;
pub mod gae;
pub mod rollout;

pub use error::{AlgoError, Result};
pub use gae::{Advantages, gae};
pub use rollout::{HostActions, Rollout, RolloutCollector};
