//! The value function fit: minibatch Adam on the GAE returns for a number of epochs
//! (sb3-contrib TRPO's critic update), and explained variance.

use burn::config::Config;
use burn::module::{AutodiffModule, Module};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor, TensorData};
use cinder_policy::{HostMlp, HostWorkspace, ValueMlp, flat};
use rand::Rng;
use rand::seq::SliceRandom;

use std::sync::Arc;

use crate::batch::gather_rows;
use crate::comm::{self, Communicator};
use crate::error::AlgoError;
use crate::host_adam::HostAdam;

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
    /// Adam's ε (PyTorch's default; SB3's actor-critic policies use 1e-5).
    #[config(default = 1e-8)]
    pub adam_epsilon: f32,
    /// Run the fit on the host in plain Rust ([`HostMlp`]) instead of as burn ops on the value
    /// net's backend. The same Adam steps up to float rounding, 2.9× faster than burn-flex at
    /// Hopper sizes (burn's fixed cost per op is most of a step at these sizes), and on a GPU
    /// no kernel launches: the parameters and Adam state are read once per fit and written
    /// back once.
    #[config(default = true)]
    pub on_host: bool,
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
        if self.config.on_host {
            return self.fit_on_host(value, obs, returns, orders);
        }
        let d = obs.len() / m;
        let device = value.devices().into_iter().next().unwrap_or_default();
        let (mut pass_obs, mut pass_returns) = (Vec::new(), Vec::new());
        let mut steps = 0;
        let mut last_pass_loss = 0.0;
        for (pass, order) in orders.0.iter().enumerate() {
            // The pass's data in minibatch order, gathered on the host and uploaded once:
            // each minibatch is then a slice of it. A gather on the device per minibatch is an
            // index upload and two `select`s, and burn-flex's 1-D `select` hands its loop to
            // rayon's pool whatever its size (a thread wake-up per minibatch).
            gather_rows(order, obs, d, &mut pass_obs);
            gather_rows(order, returns, 1, &mut pass_returns);
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
            let sum = pass_loss.map_or(0.0, |t| t.into_scalar().elem::<f64>());
            last_pass_loss = self.end_pass(sum, pass, steps, batches)?;
        }
        // A finite loss can still come with an infinite gradient (the last minibatch's step
        // is never followed by a loss that would show it): check the weights themselves.
        if !cinder_policy::flat::all_finite(&value.valid()) {
            return Err(non_finite_weights(steps));
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

impl<B: AutodiffBackend> ValueFitter<B> {
    /// [`fit_in_order`](Self::fit_in_order) on the host: the parameters and Adam state are
    /// read once, every minibatch step is a [`HostMlp`] forward and backward pass and an Adam
    /// update in plain Rust, and the results are written back once. burn's Adam, step for step
    /// (its bias corrections and ε placement, moments that start at zero); only the rounding
    /// of the passes differs.
    fn fit_on_host(
        &mut self,
        value: ValueMlp<B>,
        obs: &[f32],
        returns: &[f32],
        orders: &PassOrders,
    ) -> crate::Result<(ValueMlp<B>, ValueFitStats)> {
        let m = returns.len();
        let d = obs.len() / m;
        let device = value.devices().into_iter().next().unwrap_or_default();
        let net = HostMlp::of(&value.mlp);
        let mut params: Vec<f32> = flat::flatten(&value.valid())
            .into_data()
            .iter::<f32>()
            .collect();
        let mut adam = HostAdam::read(&self.optimizer, &value);
        let lr = self.config.learning_rate;
        let eps = self.config.adam_epsilon;
        let mut ws = HostWorkspace::default();
        let mut grad = vec![0.0; params.len()];
        let mut d_output = Vec::with_capacity(self.config.batch_size);
        let (mut pass_obs, mut pass_returns) = (Vec::new(), Vec::new());
        let (mut steps, mut last_pass_loss) = (0, 0.0);
        let ranks = self.comm.size() as f32;
        for (pass, order) in orders.0.iter().enumerate() {
            gather_rows(order, obs, d, &mut pass_obs);
            gather_rows(order, returns, 1, &mut pass_returns);
            // Summed in f32 minibatch by minibatch, as the device fit sums its loss tensors.
            let mut pass_loss = 0.0f32;
            let mut batches = 0;
            for start in (0..m).step_by(self.config.batch_size) {
                let len = self.config.batch_size.min(m - start);
                let x = &pass_obs[start * d..(start + len) * d];
                let target = &pass_returns[start..start + len];
                let predicted = net.forward(&params, x, len, &mut ws);
                // L = mean((v − target)²), ∂L/∂v = 2 (v − target) / len.
                let scale = 1.0 / len as f32;
                let mut squares = 0.0f32;
                d_output.clear();
                for (&v, &t) in predicted.iter().zip(target) {
                    let diff = v - t;
                    squares += diff * diff;
                    d_output.push(2.0 * diff * scale);
                }
                pass_loss += squares * scale;
                net.backward(&params, x, &d_output, &mut ws, &mut grad);
                if self.comm.size() > 1 {
                    self.comm.all_reduce_sum_f32(&mut grad);
                    grad.iter_mut().for_each(|g| *g /= ranks);
                }
                adam.step(&mut params, &grad, lr, eps);
                batches += 1;
                steps += 1;
            }
            last_pass_loss = self.end_pass(pass_loss as f64, pass, steps, batches)?;
        }
        if !params.iter().all(|p| p.is_finite()) {
            return Err(non_finite_weights(steps));
        }
        adam.write(&mut self.optimizer, &device);
        let n = params.len();
        let value = flat::load(
            value,
            Tensor::<B, 1>::from_data(TensorData::new(params, [n]), &device),
        )?;
        Ok((
            value,
            ValueFitStats {
                value_loss: last_pass_loss,
                steps,
            },
        ))
    }
}

impl<B: AutodiffBackend> ValueFitter<B> {
    /// The mean minibatch loss of a pass from this rank's sum of its `batches` losses (the
    /// ranks' mean, so that every rank stops or goes on together). A non-finite minibatch
    /// loss makes the sum non-finite and refuses the fit; the caller keeps the network it
    /// passed in (the steps taken since are discarded with it).
    fn end_pass(&self, sum: f64, pass: usize, steps: usize, batches: usize) -> crate::Result<f64> {
        let mut sum = [sum];
        comm::mean_f64(&*self.comm, &mut sum);
        let [sum] = sum;
        if !sum.is_finite() {
            return Err(AlgoError::NonFinite(format!(
                "value loss is {sum} in pass {} of {} ({steps} Adam steps)",
                pass + 1,
                self.config.n_critic_updates
            )));
        }
        Ok(sum / batches as f64)
    }
}

/// A fit refused for weights that are not finite after its last step.
fn non_finite_weights(steps: usize) -> AlgoError {
    AlgoError::NonFinite(format!(
        "the value net's weights are not finite after {steps} Adam steps (a non-finite \
         gradient)"
    ))
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
