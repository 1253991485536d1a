//! One update's data on the device, and what an update reports.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::family::{ActionFamily, Actions};
use crate::gae::Advantages;
use crate::rollout::Rollout;

/// A rollout flattened to `M = T · N` samples on the device, with its advantages and returns.
///
/// Every algorithm's `update` takes one.
#[derive(Clone)]
pub struct Batch<B: Backend, F: ActionFamily> {
    /// Observations, `[M, obs_dim]`.
    pub obs: Tensor<B, 2>,
    /// Actions as sampled (unclipped).
    pub actions: Actions<F, B>,
    /// log π_old(a | s), `[M]`.
    pub old_log_probs: Tensor<B, 1>,
    /// V_old(s), `[M]`.
    pub old_values: Tensor<B, 1>,
    /// GAE advantages, not normalised, `[M]`.
    pub advantages: Tensor<B, 1>,
    /// Value targets (advantages + values), `[M]`.
    pub returns: Tensor<B, 1>,
    /// Host copy of `obs` (for the value fit).
    pub host_obs: Vec<f32>,
    /// Host copy of `returns`.
    pub host_returns: Vec<f32>,
    /// Host copy of `old_values`.
    pub host_values: Vec<f32>,
    /// Samples M.
    pub len: usize,
    /// Fraction of the training budget left before this update, 1 → 0 (SB3's
    /// `progress_remaining`), for learning-rate annealing.
    pub progress_remaining: f64,
}

impl<B: Backend, F: ActionFamily> Batch<B, F> {
    /// Moves a rollout and its advantages to the device.
    ///
    /// # Errors
    /// Actions of the wrong kind for the family.
    pub fn new(
        rollout: &Rollout,
        advantages: &Advantages,
        progress_remaining: f64,
        device: &B::Device,
    ) -> Result<Self> {
        let m = rollout.num_steps * rollout.num_envs;
        let d = rollout.obs_dim;
        let vec1 = |v: &[f32]| Tensor::<B, 1>::from_data(TensorData::new(v.to_vec(), [m]), device);
        Ok(Self {
            obs: Tensor::from_data(TensorData::new(rollout.obs.clone(), [m, d]), device),
            actions: F::from_host(&rollout.actions, m, device)?,
            old_log_probs: vec1(&rollout.log_probs),
            old_values: vec1(&rollout.values),
            advantages: vec1(&advantages.advantages),
            returns: vec1(&advantages.returns),
            host_obs: rollout.obs.clone(),
            host_returns: advantages.returns.clone(),
            host_values: rollout.values.clone(),
            len: m,
            progress_remaining,
        })
    }
}

/// Runs a transaction of one-element tensors and reads each as `f64` (NaN if empty): one
/// device synchronisation for several scalars.
pub fn read_scalars<B: Backend>(tx: burn::tensor::Transaction<B>) -> Vec<f64> {
    tx.execute()
        .into_iter()
        .map(|d| d.iter::<f64>().next().unwrap_or(f64::NAN))
        .collect()
}

/// `(x − mean) / (std + 1e-8)` with the unbiased std, as SB3 and CleanRL normalise advantages.
pub fn normalize<B: Backend>(x: Tensor<B, 1>) -> Tensor<B, 1> {
    let [n] = x.dims();
    if n < 2 {
        return x;
    }
    let centered = x.clone() - x.mean().expand([n]);
    let std = (centered.clone().powi_scalar(2).sum() / (n as f64 - 1.0)).sqrt();
    centered / std.add_scalar(1e-8).expand([n])
}

/// What one update did. Fields that do not apply to an algorithm are `None` and left empty in
/// the metrics files.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateStats {
    /// Policy loss (the negated surrogate for TRPO/NPG) — `losses/policy_loss`.
    pub policy_loss: f64,
    /// Value loss — `losses/value_loss`.
    pub value_loss: f64,
    /// Mean policy entropy — `losses/entropy`.
    pub entropy: f64,
    /// `E[(r − 1) − log r]` of the new policy against the old — `losses/approx_kl`.
    pub approx_kl: f64,
    /// Fraction of ratios outside the clip range (PPO-clip) — `losses/clipfrac`.
    pub clipfrac: Option<f64>,
    /// Whether the line search accepted a step (TRPO) — `trpo/line_search_success`.
    pub line_search_success: Option<bool>,
    /// Line-search shrinks (each by `line_search_shrinking_factor`) before the accepted step
    /// (TRPO) — `trpo/backtracks`; the number of tries when none was accepted.
    pub backtracks: Option<usize>,
    /// Final CG residual norm — `trpo/cg_residual`.
    pub cg_residual: Option<f64>,
    /// Successful CG iterations — `trpo/cg_iterations`.
    pub cg_iterations: Option<usize>,
    /// Whether CG broke down (its last good iterate was used when it had one) —
    /// `trpo/cg_breakdown`.
    pub cg_breakdown: Option<bool>,
    /// Exact mean KL of the step taken — `trpo/step_kl`.
    pub step_kl: Option<f64>,
    /// Mean Gaussian standard deviation after the update — `policy/std`.
    pub policy_std: Option<f64>,
    /// Learning rate used — `charts/learning_rate`.
    pub learning_rate: Option<f64>,
    /// PPO-KL penalty coefficient β after adaptation — `losses/kl_coef`.
    pub kl_coef: Option<f64>,
    /// Epochs run (PPO with `target_kl` may stop early).
    pub epochs: Option<usize>,
    /// Seconds of a separate critic fit done inside the update (VPG), for the time split.
    pub critic_seconds: Option<f64>,
    /// Why the policy update was skipped (parameters unchanged), if it was —
    /// `update/skipped`, `update/skip_reason`.
    pub skipped: Option<String>,
    /// Why the critic fit was skipped (value net and its optimiser unchanged), if it was —
    /// `update/critic_skipped`, `update/critic_skip_reason`.
    pub critic_skipped: Option<String>,
}

/// The rows of `src` (each `width` values) at `order`, into `dst` (cleared first): one pass's
/// or epoch's data in minibatch order, so that each minibatch is then a slice.
pub(crate) fn gather_rows<T: Copy>(order: &[usize], src: &[T], width: usize, dst: &mut Vec<T>) {
    dst.clear();
    dst.reserve(order.len() * width);
    for &i in order {
        dst.extend_from_slice(&src[i * width..(i + 1) * width]);
    }
}
