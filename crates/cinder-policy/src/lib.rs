//! Policy and value networks for cinder, on burn tensors.
//!
//! * [`GaussianMlpPolicy`] (continuous actions) and [`CategoricalMlpPolicy`] (discrete
//!   actions): MLPs built from [`Dense`] layers — `x.matmul(w) + b`, which burn 0.21 can
//!   differentiate twice, unlike `burn::nn::Linear` — with orthogonal initialisation at the
//!   reference gains (√2 hidden, 0.01 policy head, 1.0 value head).
//! * [`ValueMlp`], the critic.
//! * [`DiagGaussian`] and [`Categorical`], the action distributions: seeded sampling,
//!   log-probability, entropy, analytic KL and mode.
//! * [`Policy`], the trait a user's own burn `Module` implements to be trained by cinder.
//! * [`flat`]: a module's parameters as one flat device tensor and back, for conjugate
//!   gradient and the line search.
//!
//! ```
//! use burn::backend::Flex;
//! use burn::tensor::Tensor;
//! use cinder_policy::{ActionDistribution, GaussianMlpPolicyConfig, Policy};
//!
//! let device = Default::default();
//! let policy = GaussianMlpPolicyConfig::new(11, 3).init::<Flex>(7, &device).unwrap();
//! let obs = Tensor::<Flex, 2>::zeros([5, 11], &device);
//! let dist = policy.distribution(obs);
//! assert_eq!(dist.mode().dims(), [5, 3]);
//! ```
#![warn(missing_docs)]

mod activation;
mod dense;
mod distribution;
mod error;
pub mod flat;
mod host;
mod init;
mod mlp;
mod policy;

pub use activation::{Activation, TANH_CLAMP};
pub use dense::{Dense, DenseConfig};
pub use distribution::{
    ActionDistribution, Categorical, CategoricalFamily, DiagGaussian, Dist, DistributionFamily,
    GaussianFamily, LN_2PI,
};
pub use error::{PolicyError, Result};
pub use host::{
    HostMlp, HostWorkspace, categorical_act, gaussian_act, gaussian_log_probs, log_softmax,
};
pub use init::orthogonal;
pub use mlp::{Mlp, MlpConfig, MlpTrace};
pub use policy::{
    CategoricalMlpPolicy, CategoricalMlpPolicyConfig, GaussianMlpPolicy, GaussianMlpPolicyConfig,
    Policy, ValueMlp, ValueMlpConfig,
};
