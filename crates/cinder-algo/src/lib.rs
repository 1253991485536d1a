//! On-policy algorithms for cinder.
//!
//! So far: [`gae`], generalized advantage estimation over a `[T, N]` rollout with separate
//! termination and truncation masks. Rollout collection, the value fit and the TRPO / NPG /
//! PPO / VPG updates build on it.
#![warn(missing_docs)]

mod error;
pub mod gae;

pub use error::{AlgoError, Result};
pub use gae::{Advantages, gae};
