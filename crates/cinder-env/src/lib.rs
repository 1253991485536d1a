//! Vectorized reinforcement-learning environments with Gymnasium's semantics.
//!
//! - [`VecEnv`]: a batch of N envs stepped together; one buffer per quantity for the whole
//!   batch (`[N, obs_dim]` observations, `[N]` rewards and flags), auto-reset with the final
//!   observation of every ended episode ([`StepBatch`]).
//! - [`Env`]: one env; [`ParallelVecEnv`] batches expensive ones across cores with rayon.
//! - [`native`]: CartPole-v1, Acrobot-v1, MountainCar-v0, MountainCarContinuous-v0 and
//!   Pendulum-v1, batched, step-for-step identical to Gymnasium 1.4.0.
//! - `mujoco` (feature `mujoco`): Gymnasium's eleven MuJoCo v5 tasks (Hopper-v5, Humanoid-v5,
//!   …) stepped by MuJoCo from Rust, in parallel, identical to Gymnasium 1.4.0, and drawn by
//!   MuJoCo's offscreen renderer.
//! - [`make`]: envs by Gymnasium id, with Gymnasium's time limits and keyword arguments.
//! - [`wrappers`]: TimeLimit, RecordEpisodeStatistics, NormalizeObservation, NormalizeReward,
//!   ClipAction, RescaleAction; stateful ones save their statistics ([`EnvState`]).
//! - [`VecEnv::render`]: a picture of one env ([`render`]), as Gymnasium's `rgb_array`.
//! - [`check_env`]: validates a user env against the contract.
//! - `gymnasium` (feature `gymnasium`): any Gymnasium env through an embedded Python;
//!   [`make`] falls back to it for ids it has no native env for.
//!
//! ```
//! use cinder_env::{StepBatch, VecEnv, make};
//! use cinder_env::wrappers::RecordEpisodeStatistics;
//!
//! let mut env = RecordEpisodeStatistics::new(make("CartPole-v1", 8, None)?, 100)?;
//! let mut obs = vec![0.0; 8 * 4];
//! env.reset(Some(42), &mut obs)?;
//! let mut out = StepBatch::for_env(&env);
//! let actions = vec![1i64; 8];
//! for _ in 0..50 {
//!     env.step(cinder_env::Actions::Discrete(&actions), &mut out)?;
//!     for ep in &out.episodes {
//!         assert!(ep.episodic_length < 50);
//!     }
//! }
//! assert!(env.episode_count() >= 8);
//! # Ok::<(), cinder_env::EnvError>(())
//! ```
#![warn(missing_docs)]

#[cfg(feature = "burn-rl")]
pub mod burn_rl;
mod check;
mod env;
mod error;
#[cfg(feature = "gymnasium")]
pub mod gymnasium;
#[cfg(feature = "mujoco")]
pub mod mujoco;
pub mod native;
mod registry;
pub mod render;
pub mod space;
mod vec_env;
pub mod wrappers;

pub use check::{CheckReport, check_env};
pub use env::{Env, ParallelVecEnv, Transition};
pub use error::{EnvError, Result};
pub use registry::{EnvSpec, MakeOptions, ids, make, make_with, registry, spec, suggestions};
pub use render::{Camera, Frame, RenderOptions};
pub use space::{ActionBuffer, Actions, BoxSpace, DType, Space};
pub use vec_env::{EnvState, EpisodeRecord, StepBatch, VecEnv};
