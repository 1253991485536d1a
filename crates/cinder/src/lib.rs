//! cinder: deep reinforcement learning on burn.
//!
//! This umbrella crate re-exports the parts — the learners and trainer ([`algo`]), [`policy`] networks, [`fisher`]-vector
//! products, the batched [`cg`] solver, vectorized [`env`]ironments — and holds the concrete backend aliases
//! ([`backend`]), selected by cargo features (`flex`, the default; `ndarray`; `wgpu`), plus the
//! benchmark and check routines behind the `cinder` command line ([`bench`]).
#![warn(missing_docs)]

pub use cinder_algo as algo;
pub use cinder_cg as cg;
pub use cinder_env as env;
pub use cinder_fisher as fisher;
pub use cinder_policy as policy;

pub mod alloc;
pub mod backend;
pub mod bench;
pub mod distributed;
pub mod plot;
pub mod run;
pub mod suite;
pub mod sweep;

/// The Rust examples of the README, compiled as doctests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
