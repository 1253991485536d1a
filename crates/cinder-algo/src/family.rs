//! What the learners need of a policy beyond [`Policy`]: moving its actions between the host
//! and the device ([`ActionFamily`]) and a Fisher-vector product ([`FisherPolicy`]).

use burn::config::Config;
use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData, Transaction};
use cinder_env::ActionBuffer;
use cinder_fisher::{
    DoubleBackprop, FisherVectorProduct, FvpConfig, GaussNewton, SecondOrderPolicy,
};
use cinder_policy::{
    ActionDistribution, CategoricalFamily, CategoricalMlpPolicy, DiagGaussian, Dist,
    DistributionFamily, GaussianFamily, GaussianMlpPolicy, Policy,
};

use crate::error::{AlgoError, Result};

/// The actions of a distribution family as device tensors, to and from host buffers.
pub trait ActionFamily: DistributionFamily {
    /// Host copy of a batch of actions (one read-back).
    fn to_host<B: Backend>(actions: &Actions<Self, B>) -> ActionBuffer {
        let data = Self::register(Transaction::default(), actions.clone()).execute();
        Self::from_data(data.into_iter().next().expect("one tensor was registered"))
    }

    /// Adds a batch of actions to a read-back [`Transaction`], so that they cross to the host
    /// with other tensors in one transfer.
    fn register<B: Backend>(tx: Transaction<B>, actions: Actions<Self, B>) -> Transaction<B>;

    /// The host buffer of actions a [`Transaction`] read back (see
    /// [`register`](Self::register)).
    fn from_data(data: TensorData) -> ActionBuffer;

    /// `rows` actions from a host buffer.
    ///
    /// # Errors
    /// A buffer of the other kind, or of a length that is not a multiple of `rows`.
    fn from_host<B: Backend>(
        buffer: &ActionBuffer,
        rows: usize,
        device: &B::Device,
    ) -> Result<Actions<Self, B>>;

    /// The actions at `indices` (a minibatch).
    fn select<B: Backend>(
        actions: &Actions<Self, B>,
        indices: Tensor<B, 1, Int>,
    ) -> Actions<Self, B>;

    /// The actions `start..start + len` (a minibatch of actions already in minibatch order).
    fn narrow<B: Backend>(actions: &Actions<Self, B>, start: usize, len: usize)
    -> Actions<Self, B>;

    /// Mean standard deviation of a Gaussian (`policy/std`); `None` for other families.
    fn mean_std<B: Backend>(dist: &Dist<Self, B>) -> Option<Tensor<B, 1>> {
        let _ = dist;
        None
    }
}

/// The action type of family `F` on backend `B`.
pub type Actions<F, B> = <Dist<F, B> as ActionDistribution<B>>::Actions;

impl ActionFamily for GaussianFamily {
    fn register<B: Backend>(tx: Transaction<B>, actions: Tensor<B, 2>) -> Transaction<B> {
        tx.register(actions)
    }

    fn from_data(data: TensorData) -> ActionBuffer {
        ActionBuffer::Continuous(data.iter::<f32>().collect())
    }

    fn from_host<B: Backend>(
        buffer: &ActionBuffer,
        rows: usize,
        device: &B::Device,
    ) -> Result<Tensor<B, 2>> {
        match buffer {
            ActionBuffer::Continuous(a) if rows > 0 && a.len().is_multiple_of(rows) => Ok(
                Tensor::from_data(TensorData::new(a.clone(), [rows, a.len() / rows]), device),
            ),
            ActionBuffer::Continuous(a) => Err(AlgoError::Shape {
                what: "continuous actions",
                expected: rows,
                got: a.len(),
                steps: rows,
                num_envs: 1,
            }),
            ActionBuffer::Discrete(_) => Err(AlgoError::Unsupported(
                "discrete actions for a Gaussian policy: use a categorical policy".into(),
            )),
        }
    }

    fn select<B: Backend>(actions: &Tensor<B, 2>, indices: Tensor<B, 1, Int>) -> Tensor<B, 2> {
        actions.clone().select(0, indices)
    }

    fn narrow<B: Backend>(actions: &Tensor<B, 2>, start: usize, len: usize) -> Tensor<B, 2> {
        actions.clone().narrow(0, start, len)
    }

    fn mean_std<B: Backend>(dist: &DiagGaussian<B>) -> Option<Tensor<B, 1>> {
        Some(dist.log_std.clone().exp().mean())
    }
}

impl ActionFamily for CategoricalFamily {
    fn register<B: Backend>(tx: Transaction<B>, actions: Tensor<B, 1, Int>) -> Transaction<B> {
        tx.register(actions)
    }

    fn from_data(data: TensorData) -> ActionBuffer {
        ActionBuffer::Discrete(data.iter::<i64>().collect())
    }

    fn from_host<B: Backend>(
        buffer: &ActionBuffer,
        rows: usize,
        device: &B::Device,
    ) -> Result<Tensor<B, 1, Int>> {
        match buffer {
            ActionBuffer::Discrete(a) if a.len() == rows => Ok(Tensor::from_data(
                TensorData::new(a.clone(), [rows]),
                device,
            )),
            ActionBuffer::Discrete(a) => Err(AlgoError::Shape {
                what: "discrete actions",
                expected: rows,
                got: a.len(),
                steps: rows,
                num_envs: 1,
            }),
            ActionBuffer::Continuous(_) => Err(AlgoError::Unsupported(
                "continuous actions for a categorical policy: use a Gaussian policy".into(),
            )),
        }
    }

    fn select<B: Backend>(
        actions: &Tensor<B, 1, Int>,
        indices: Tensor<B, 1, Int>,
    ) -> Tensor<B, 1, Int> {
        actions.clone().select(0, indices)
    }

    fn narrow<B: Backend>(
        actions: &Tensor<B, 1, Int>,
        start: usize,
        len: usize,
    ) -> Tensor<B, 1, Int> {
        actions.clone().narrow(0, start, len)
    }
}

/// How TRPO and NPG multiply by the Fisher matrix.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum FvpKind {
    /// `Jᵀ M J` with the cached forward pass (built-in MLP policies; the fast path).
    GaussNewton,
    /// Hessian-vector product of the KL through nested autodiff (any twice-differentiable
    /// policy).
    DoubleBackprop,
}

/// A policy TRPO and NPG can train: it provides its Fisher-vector product.
///
/// The built-in MLP policies offer both [`FvpKind`]s. For your own module, return
/// [`double_backprop_operator`] (and refuse [`FvpKind::GaussNewton`] unless you have one):
///
/// ```
/// use burn::prelude::*;
/// use cinder_algo::{FisherPolicy, FvpKind, double_backprop_operator};
/// use cinder_fisher::{FisherVectorProduct, FvpConfig};
/// use cinder_policy::{Dense, DiagGaussian, GaussianFamily, Policy};
///
/// #[derive(Module, Debug)]
/// struct MyPolicy<B: Backend> {
///     layer: Dense<B>,
///     log_std: burn::module::Param<Tensor<B, 1>>,
/// }
///
/// impl<B: Backend> Policy<B> for MyPolicy<B> {
///     type Family = GaussianFamily;
///     fn distribution(&self, obs: Tensor<B, 2>) -> DiagGaussian<B> {
///         DiagGaussian::with_shared_log_std(self.layer.forward(obs).tanh(), self.log_std.val())
///     }
/// }
///
/// impl<B: Backend> FisherPolicy<B> for MyPolicy<B> {
///     fn fisher_operator(
///         &self,
///         obs: Tensor<B, 2>,
///         kind: FvpKind,
///         config: &FvpConfig,
///     ) -> cinder_algo::Result<Box<dyn FisherVectorProduct<B>>> {
///         double_backprop_operator(self, obs, kind, config)
///     }
/// }
/// ```
pub trait FisherPolicy<B: Backend>: Policy<B, Family: ActionFamily> {
    /// `(F + λI)` at the current parameters over `obs` (`[batch, obs_dim]`).
    ///
    /// # Errors
    /// An operator this policy does not offer, or a bad config.
    fn fisher_operator(
        &self,
        obs: Tensor<B, 2>,
        kind: FvpKind,
        config: &FvpConfig,
    ) -> Result<Box<dyn FisherVectorProduct<B>>>;
}

/// The double-backprop operator for any [`SecondOrderPolicy`]; refuses
/// [`FvpKind::GaussNewton`], which needs the built-in MLP structure.
///
/// # Errors
/// [`AlgoError::Unsupported`] for Gauss-Newton; a bad config.
pub fn double_backprop_operator<B: Backend, P: SecondOrderPolicy<B> + 'static>(
    policy: &P,
    obs: Tensor<B, 2>,
    kind: FvpKind,
    config: &FvpConfig,
) -> Result<Box<dyn FisherVectorProduct<B>>>
where
    P::Lifted: 'static,
{
    match kind {
        FvpKind::DoubleBackprop => Ok(Box::new(DoubleBackprop::new(policy, obs, config)?)),
        FvpKind::GaussNewton => Err(AlgoError::Unsupported(
            "fvp = GaussNewton needs a built-in MLP policy; use DoubleBackprop for your own module"
                .into(),
        )),
    }
}

macro_rules! mlp_fisher_policy {
    ($policy:ident) => {
        impl<B: Backend> FisherPolicy<B> for $policy<B> {
            fn fisher_operator(
                &self,
                obs: Tensor<B, 2>,
                kind: FvpKind,
                config: &FvpConfig,
            ) -> Result<Box<dyn FisherVectorProduct<B>>> {
                Ok(match kind {
                    FvpKind::GaussNewton => Box::new(GaussNewton::new(self, obs, config)?),
                    FvpKind::DoubleBackprop => Box::new(DoubleBackprop::new(self, obs, config)?),
                })
            }
        }
    };
}
mlp_fisher_policy!(GaussianMlpPolicy);
mlp_fisher_policy!(CategoricalMlpPolicy);

/// A policy every learner can train on the autodiff backend `B`: gradients on `B`, rollouts,
/// line searches and Fisher products on the inner backend (`AutodiffModule::valid`).
pub trait AgentPolicy<B: AutodiffBackend>:
    Policy<B, Family: ActionFamily>
    + AutodiffModule<B, InnerModule: FisherPolicy<B::InnerBackend>>
    + Clone
    + Send
    + 'static
{
}

impl<B, P> AgentPolicy<B> for P
where
    B: AutodiffBackend,
    P: Policy<B, Family: ActionFamily>
        + AutodiffModule<B, InnerModule: FisherPolicy<B::InnerBackend>>
        + Clone
        + Send
        + 'static,
{
}
