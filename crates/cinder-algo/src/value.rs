//! The value function fit: minibatch Adam on the GAE returns for a number of epochs
//! (sb3-contrib TRPO's critic update), and explained variance.

use burn::config::Config;
use burn::module::{AutodiffModule, Module};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor, TensorData};
use cinder_policy::ValueMlp;
use rand::Rng;
use rand::seq::SliceRandom;

use std::sync::Arc;

use crate::comm::{self, Communicator};
use crate::error::AlgoError;

/// Hyperparameters of the value fit; names and defaults as sb3-contrib's TRPO.
#[derive(Config, Debug, PartialEq)]
pub struct ValueFitConfig {
    /// Passes over the rollout per update (`n_critic_updates`).
    #[config(default = 10)]
    pub n_critic_updates: usize,
    /// Adam learning rate.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// Minibatch size (`batch_size`); the last minibatch of a pass may be smaller.
    #[config(default = 128)]
    pub batch_size: usize,
    /// Adam's ε (PyTorch's default, which SB3 uses).
    #[config(default = 1e-8)]
    pub adam_epsilon: f32,
}

impl ValueFitConfig {
    /// Checks the ranges.
    ///
    /// # Errors
    /// [`AlgoError::Hyperparameter`] naming the field.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |name, value: f64, range| Err(AlgoError::Hyperparameter { name, value, range });
        if self.n_critic_updates == 0 {
            return bad("n_critic_updates", 0.0, "≥ 1");
        }
        if self.batch_size == 0 {
            return bad("batch_size", 0.0, "≥ 1");
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad("learning_rate", self.learning_rate, "(0, ∞)");
        }
        if self.adam_epsilon.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
            return bad("adam_epsilon", self.adam_epsilon as f64, "(0, ∞)");
        }
        Ok(())
    }
}

/// What a value fit did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValueFitStats {
    /// Mean squared error over the minibatches of the last pass (`losses/value_loss`).
    pub value_loss: f64,
    /// Gradient steps taken.
    pub steps: usize,
}

/// Fits a [`ValueMlp`] by minibatch Adam, keeping the optimizer state across updates (it is
/// part of a checkpoint).
pub struct ValueFitter<B: AutodiffBackend> {
    config: ValueFitConfig,
    optimizer: OptimizerAdaptor<Adam, ValueMlp<B>, B>,
    comm: Arc<dyn Communicator>,
}

impl<B: AutodiffBackend> ValueFitter<B> {
    /// A fitter with a fresh Adam state.
    ///
    /// # Errors
    /// An invalid config.
    pub fn new(config: ValueFitConfig) -> crate::Result<Self> {
        config.validate()?;
        let optimizer = AdamConfig::new().with_epsilon(config.adam_epsilon).init();
        Ok(Self {
            config,
            optimizer,
            comm: comm::single_process(),
        })
    }

    /// Fits data-parallel over `comm`'s ranks: each rank draws its minibatches from its own
    /// shard and every Adam step uses the minibatch gradients averaged over the ranks, so
    /// every rank takes the same step (a minibatch of `batch_size` per rank, K·`batch_size`
    /// samples in all).
    pub fn set_communicator(&mut self, comm: Arc<dyn Communicator>) {
        self.comm = comm;
    }

    /// The config.
    pub fn config(&self) -> &ValueFitConfig {
        &self.config
    }

    /// A fitter with this one's config and communicator and a fresh Adam state, to stand in
    /// while this one fits on another thread.
    pub(crate) fn stand_in(&self) -> Self {
        Self {
            config: self.config.clone(),
            optimizer: AdamConfig::new()
                .with_epsilon(self.config.adam_epsilon)
                .init(),
            comm: self.comm.clone(),
        }
    }

    /// The Adam state (part of a checkpoint).
    pub fn optimizer(&self) -> &OptimizerAdaptor<Adam, ValueMlp<B>, B> {
        &self.optimizer
    }

    /// The Adam state, mutably (to load a checkpoint).
    pub fn optimizer_mut(&mut self) -> &mut OptimizerAdaptor<Adam, ValueMlp<B>, B> {
        &mut self.optimizer
    }

    /// Fits `value` to `returns` for `n_critic_updates` passes over the data in minibatches
    /// drawn by `rng`, and returns the fitted network.
    ///
    /// # Shapes
    /// `obs`: `[M, obs_dim]` row-major; `returns`: `[M]`.
    ///
    /// # Errors
    /// Mismatched sizes. A non-finite loss (checked once per pass, one read-back) stops the
    /// fit, and non-finite weights after it (from a non-finite gradient) fail it
    /// ([`AlgoError::NonFinite`]); the caller keeps the network it passed in and restores the
    /// Adam state.
    pub fn fit<R: Rng + ?Sized>(
        &mut self,
        value: ValueMlp<B>,
        obs: &[f32],
        returns: &[f32],
        rng: &mut R,
    ) -> crate::Result<(ValueMlp<B>, ValueFitStats)> {
        check_sizes(obs, returns)?;
        let orders = self.draw_orders(returns.len(), rng);
        self.fit_in_order(value, obs, returns, &orders)
    }

    /// The minibatch order of every pass of a fit on `m` samples, drawn from `rng` as
    /// [`fit`](Self::fit) draws them (one shuffle per pass, each of the previous order), so
    /// that the fit can run elsewhere while `rng` goes on.
    pub fn draw_orders<R: Rng + ?Sized>(&self, m: usize, rng: &mut R) -> PassOrders {
        let mut order: Vec<usize> = (0..m).collect();
        PassOrders(
            (0..self.config.n_critic_updates)
                .map(|_| {
                    order.shuffle(rng);
                    order.clone()
                })
                .collect(),
        )
    }

    /// [`fit`](Self::fit) with the passes' minibatch orders drawn beforehand by
    /// [`draw_orders`](Self::draw_orders).
    ///
    /// # Errors
    /// As [`fit`](Self::fit); also orders drawn for another number of samples or passes.
    pub fn fit_in_order(
        &mut self,
        mut value: ValueMlp<B>,
        obs: &[f32],
        returns: &[f32],
        orders: &PassOrders,
    ) -> crate::Result<(ValueMlp<B>, ValueFitStats)> {
        check_sizes(obs, returns)?;
        let m = returns.len();
        if orders.0.len() != self.config.n_critic_updates || orders.0.iter().any(|o| o.len() != m) {
            return Err(AlgoError::Shape {
                what: "value-fit pass orders",
                expected: self.config.n_critic_updates * m,
                got: orders.0.iter().map(Vec::len).sum(),
                steps: m,
                num_envs: 1,
            });
        }
        let d = obs.len() / m;
        let device = value.devices().into_iter().next().unwrap_or_default();
        let mut pass_obs = vec![0.0; m * d];
        let mut pass_returns = vec![0.0; m];
        let mut steps = 0;
        let mut last_pass_loss = 0.0;
        for (pass, order) in orders.0.iter().enumerate() {
            // The pass's data in minibatch order, gathered on the host and uploaded once:
            // each minibatch is then a slice of it. A gather on the device per minibatch is an
            // index upload and two `select`s, and burn-flex's 1-D `select` hands its loop to
            // rayon's pool whatever its size (a thread wake-up per minibatch).
            for (k, &i) in order.iter().enumerate() {
                pass_obs[k * d..(k + 1) * d].copy_from_slice(&obs[i * d..(i + 1) * d]);
                pass_returns[k] = returns[i];
            }
            let all_obs =
                Tensor::<B, 2>::from_data(TensorData::new(pass_obs.clone(), [m, d]), &device);
            let all_returns =
                Tensor::<B, 1>::from_data(TensorData::new(pass_returns.clone(), [m]), &device);
            // The minibatch losses are summed on the device and read once per pass: a read
            // per minibatch is a device→host stall on a GPU (320 per MuJoCo TRPO update).
            let mut pass_loss: Option<Tensor<B::InnerBackend, 1>> = None;
            let mut batches = 0;
            for start in (0..m).step_by(self.config.batch_size) {
                let len = self.config.batch_size.min(m - start);
                let predicted = value.forward(all_obs.clone().narrow(0, start, len));
                let target = all_returns.clone().narrow(0, start, len);
                let loss = (predicted - target).powi_scalar(2).mean();
                let detached = loss.clone().inner();
                pass_loss = Some(match pass_loss {
                    Some(sum) => sum + detached,
                    None => detached,
                });
                let grads = GradientsParams::from_grads(loss.backward(), &value);
                let grads = comm::mean_grads(&*self.comm, grads, &value);
                value = self.optimizer.step(self.config.learning_rate, value, grads);
                batches += 1;
                steps += 1;
            }
            let mut sum = [pass_loss.map_or(0.0, |t| t.into_scalar().elem::<f64>())];
            // Every rank stops or goes on together: the loss is the ranks' mean.
            comm::mean_f64(&*self.comm, &mut sum);
            let [sum] = sum;
            // A non-finite minibatch loss makes the pass's sum non-finite; the caller keeps
            // the network it passed in (the steps taken since are discarded with it).
            if !sum.is_finite() {
                return Err(AlgoError::NonFinite(format!(
                    "value loss is {sum} in pass {} of {} ({steps} Adam steps)",
                    pass + 1,
                    self.config.n_critic_updates
                )));
            }
            last_pass_loss = sum / batches as f64;
        }
        // A finite loss can still come with an infinite gradient (the last minibatch's step
        // is never followed by a loss that would show it): check the weights themselves.
        if !cinder_policy::flat::all_finite(&value.valid()) {
            return Err(AlgoError::NonFinite(format!(
                "the value net's weights are not finite after {steps} Adam steps (a \
                 non-finite gradient)"
            )));
        }
        Ok((
            value,
            ValueFitStats {
                value_loss: last_pass_loss,
                steps,
            },
        ))
    }
}

/// The minibatch order of each pass of a value fit ([`ValueFitter::draw_orders`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassOrders(Vec<Vec<usize>>);

/// `obs` is `[M, obs_dim]` for the `M = returns.len() > 0` returns.
fn check_sizes(obs: &[f32], returns: &[f32]) -> crate::Result<()> {
    let m = returns.len();
    if m == 0 || !obs.len().is_multiple_of(m) {
        return Err(AlgoError::Shape {
            what: "value-fit observations",
            expected: m,
            got: obs.len(),
            steps: m,
            num_envs: 1,
        });
    }
    Ok(())
}

/// `1 − Var(target − predicted) / Var(target)` (`losses/explained_variance`); NaN when the
/// targets have no variance, as CleanRL and SB3 report it.
pub fn explained_variance(predicted: &[f32], target: &[f32]) -> f64 {
    fn variance(x: impl Iterator<Item = f64> + Clone) -> f64 {
        let n = x.clone().count() as f64;
        let mean = x.clone().sum::<f64>() / n;
        x.map(|v| (v - mean) * (v - mean)).sum::<f64>() / n
    }
    let var_target = variance(target.iter().map(|&t| t as f64));
    let var_residual = variance(
        target
            .iter()
            .zip(predicted)
            .map(|(&t, &p)| t as f64 - p as f64),
    );
    if var_target == 0.0 {
        f64::NAN
    } else {
        1.0 - var_residual / var_target
    }
}
