//! Fisher-vector products `v ↦ (F + λI) v` for trust-region policy optimisation.
//!
//! `F` is the Hessian of the mean `KL(π_old ‖ π_θ)` over a batch of observations, at
//! `θ = θ_old` — the Fisher information of the policy. TRPO and NPG never form it; conjugate
//! gradient only needs products with it. Two implementations of one trait,
//! [`FisherVectorProduct`]:
//!
//! * [`DoubleBackprop`] — the pytorch-trpo `Fvp`: gradient of the KL with a graph, dot with
//!   `v`, gradient again; through burn's nested `Autodiff<Autodiff<B>>`. Works for any
//!   [`cinder_policy::Policy`], including your own modules.
//! * [`GaussNewton`] — `F = Jᵀ M J / N` exactly at `θ_old` (`M` the Fisher of the action
//!   distribution in its own parameters), with `J v` by a forward-mode tangent pass and
//!   `Jᵀ u` by one backward pass written out for the built-in MLP policies; the activations of
//!   the forward pass are computed once per update and reused by every product. Several
//!   policies of one architecture can be stacked and served by one batched pass.
//!
//! [`dense`] builds the Fisher matrix itself in f64 on the host, column by column from
//! per-sample Jacobians: the reference the two are tested against.
#![warn(missing_docs)]

pub mod dense;
mod double_backprop;
mod error;
mod fvp;
mod gauss_newton;

pub use double_backprop::{Ad1, Ad2, DoubleBackprop, SecondOrderPolicy};
pub use error::{FisherError, Result};
pub use fvp::{FisherVectorProduct, FvpConfig, subsample_rows};
pub use gauss_newton::{GaussNewton, MlpHead, MlpPolicy};
