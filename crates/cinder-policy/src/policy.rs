//! The [`Policy`] trait and the built-in MLP policies and value network.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Tensor, backend::Backend};

use crate::{
    Activation, Categorical, CategoricalFamily, DiagGaussian, Dist, DistributionFamily,
    GaussianFamily, Mlp, MlpConfig, PolicyError,
};

/// A stochastic policy: a burn [`Module`] mapping observations to action distributions.
///
/// Implement it for your own module to train it with cinder. Everything cinder needs follows
/// from this one method: the surrogate and its gradient, the KL for the line search and the
/// double-backprop Fisher product (`cinder_fisher::DoubleBackprop`), which only requires that
/// the module's forward pass be twice differentiable on burn 0.21 — use `matmul` + bias
/// ([`crate::Dense`]) instead of `burn::nn::Linear`, and element-wise ops (`tanh`, `relu`,
/// `exp`, `gelu`, …); not embedding, pooling or interpolate.
///
/// ```
/// use burn::prelude::*;
/// use cinder_policy::{Dense, DenseConfig, DiagGaussian, GaussianFamily, Policy};
///
/// #[derive(Module, Debug)]
/// struct Tiny<B: Backend> {
///     layer: Dense<B>,
///     log_std: burn::module::Param<Tensor<B, 1>>,
/// }
///
/// impl<B: Backend> Policy<B> for Tiny<B> {
///     type Family = GaussianFamily;
///     fn distribution(&self, obs: Tensor<B, 2>) -> DiagGaussian<B> {
///         DiagGaussian::with_shared_log_std(self.layer.forward(obs).tanh(), self.log_std.val())
///     }
/// }
/// ```
pub trait Policy<B: Backend>: Module<B> {
    /// The kind of action distribution this policy outputs.
    type Family: DistributionFamily;

    /// The action distribution for each observation.
    ///
    /// # Shapes
    /// - obs: [batch, obs_dim]
    /// - output: a batch of `batch` distributions
    fn distribution(&self, obs: Tensor<B, 2>) -> Dist<Self::Family, B>;
}

/// Configuration of a [`GaussianMlpPolicy`]; defaults follow SB3/CleanRL.
#[derive(Config, Debug)]
pub struct GaussianMlpPolicyConfig {
    /// Observation dimension.
    pub obs_dim: usize,
    /// Action dimension.
    pub act_dim: usize,
    /// Hidden layer widths.
    #[config(default = "vec![64, 64]")]
    pub hidden: Vec<usize>,
    /// Hidden-layer activation.
    #[config(default = "Activation::Tanh")]
    pub activation: Activation,
    /// Initial value of every log standard deviation (SB3 `log_std_init`).
    #[config(default = 0.0)]
    pub log_std_init: f64,
    /// Orthogonal-init gain of the mean head (0.01 in SB3 and CleanRL).
    #[config(default = 0.01)]
    pub head_gain: f64,
}

impl GaussianMlpPolicyConfig {
    /// Builds the policy, weights drawn from `seed`.
    pub fn init<B: Backend>(
        &self,
        seed: u64,
        device: &B::Device,
    ) -> crate::Result<GaussianMlpPolicy<B>> {
        if !self.log_std_init.is_finite() {
            return Err(PolicyError::InvalidConfig {
                field: "log_std_init",
                reason: format!("is {}; it must be finite", self.log_std_init),
            });
        }
        let mlp = MlpConfig::new(self.obs_dim, self.act_dim)
            .with_hidden(self.hidden.clone())
            .with_activation(self.activation)
            .with_output_gain(self.head_gain)
            .init(seed, device)
            .map_err(|e| rename_dims(e, "obs_dim", "act_dim"))?;
        let log_std = Tensor::full([self.act_dim], self.log_std_init, device);
        Ok(GaussianMlpPolicy {
            mlp,
            log_std: Param::from_tensor(log_std),
        })
    }
}

/// Maps the MLP's `d_input`/`d_output` field names onto the policy config's names.
fn rename_dims(e: PolicyError, input: &'static str, output: &'static str) -> PolicyError {
    match e {
        PolicyError::InvalidConfig { field, reason } => PolicyError::InvalidConfig {
            field: match field {
                "d_input" => input,
                "d_output" => output,
                "output_gain" => "head_gain",
                f => f,
            },
            reason,
        },
        e => e,
    }
}

/// MLP Gaussian policy with a state-independent log standard deviation: the SB3/CleanRL
/// `MlpPolicy` for continuous actions.
#[derive(Module, Debug)]
pub struct GaussianMlpPolicy<B: Backend> {
    /// Observation → action mean.
    pub mlp: Mlp<B>,
    /// Log standard deviation of each action dimension, [act_dim].
    pub log_std: Param<Tensor<B, 1>>,
}

impl<B: Backend> Policy<B> for GaussianMlpPolicy<B> {
    type Family = GaussianFamily;

    fn distribution(&self, obs: Tensor<B, 2>) -> DiagGaussian<B> {
        DiagGaussian::with_shared_log_std(self.mlp.forward(obs), self.log_std.val())
    }
}

/// Configuration of a [`CategoricalMlpPolicy`].
#[derive(Config, Debug)]
pub struct CategoricalMlpPolicyConfig {
    /// Observation dimension.
    pub obs_dim: usize,
    /// Number of discrete actions.
    pub n_actions: usize,
    /// Hidden layer widths.
    #[config(default = "vec![64, 64]")]
    pub hidden: Vec<usize>,
    /// Hidden-layer activation.
    #[config(default = "Activation::Tanh")]
    pub activation: Activation,
    /// Orthogonal-init gain of the logits head (0.01 in SB3 and CleanRL).
    #[config(default = 0.01)]
    pub head_gain: f64,
}

impl CategoricalMlpPolicyConfig {
    /// Builds the policy, weights drawn from `seed`.
    pub fn init<B: Backend>(
        &self,
        seed: u64,
        device: &B::Device,
    ) -> crate::Result<CategoricalMlpPolicy<B>> {
        if self.n_actions < 2 {
            return Err(PolicyError::InvalidConfig {
                field: "n_actions",
                reason: format!(
                    "is {}; a discrete action space needs at least 2",
                    self.n_actions
                ),
            });
        }
        let mlp = MlpConfig::new(self.obs_dim, self.n_actions)
            .with_hidden(self.hidden.clone())
            .with_activation(self.activation)
            .with_output_gain(self.head_gain)
            .init(seed, device)
            .map_err(|e| rename_dims(e, "obs_dim", "n_actions"))?;
        Ok(CategoricalMlpPolicy { mlp })
    }
}

/// MLP categorical policy for discrete actions.
#[derive(Module, Debug)]
pub struct CategoricalMlpPolicy<B: Backend> {
    /// Observation → logits.
    pub mlp: Mlp<B>,
}

impl<B: Backend> Policy<B> for CategoricalMlpPolicy<B> {
    type Family = CategoricalFamily;

    fn distribution(&self, obs: Tensor<B, 2>) -> Categorical<B> {
        Categorical::from_logits(self.mlp.forward(obs))
    }
}

/// Configuration of a [`ValueMlp`].
#[derive(Config, Debug)]
pub struct ValueMlpConfig {
    /// Observation dimension.
    pub obs_dim: usize,
    /// Hidden layer widths.
    #[config(default = "vec![64, 64]")]
    pub hidden: Vec<usize>,
    /// Hidden-layer activation.
    #[config(default = "Activation::Tanh")]
    pub activation: Activation,
    /// Orthogonal-init gain of the value head (1.0 in SB3 and CleanRL).
    #[config(default = 1.0)]
    pub head_gain: f64,
}

impl ValueMlpConfig {
    /// Builds the value network, weights drawn from `seed`.
    pub fn init<B: Backend>(&self, seed: u64, device: &B::Device) -> crate::Result<ValueMlp<B>> {
        let mlp = MlpConfig::new(self.obs_dim, 1)
            .with_hidden(self.hidden.clone())
            .with_activation(self.activation)
            .with_output_gain(self.head_gain)
            .init(seed, device)
            .map_err(|e| rename_dims(e, "obs_dim", "d_output"))?;
        Ok(ValueMlp { mlp })
    }
}

/// MLP state-value function `V(s)`.
#[derive(Module, Debug)]
pub struct ValueMlp<B: Backend> {
    /// Observation → value.
    pub mlp: Mlp<B>,
}

impl<B: Backend> ValueMlp<B> {
    /// Values of a batch of observations.
    ///
    /// # Shapes
    /// - obs: [batch, obs_dim]
    /// - output: [batch]
    pub fn forward(&self, obs: Tensor<B, 2>) -> Tensor<B, 1> {
        self.mlp.forward(obs).squeeze_dim::<1>(1)
    }
}
