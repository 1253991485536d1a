//! Generalized advantage estimation (Schulman et al. 2016) with separate termination and
//! truncation masks.
//!
//! For env `i` at step `t`, with `s'` the state the step led to — the next observation, or the
//! final observation when the episode ended in that step (cinder's `VecEnv` reports it apart):
//!
//! ```text
//! δₜ = rₜ + γ · V(s'ₜ) · (1 − terminatedₜ) − V(sₜ)
//! Aₜ = δₜ + γλ · (1 − doneₜ) · Aₜ₊₁          doneₜ = terminatedₜ ∨ truncatedₜ
//! Rₜ = Aₜ + V(sₜ)                             (the value target)
//! ```
//!
//! A truncated episode is bootstrapped from the value of its final observation; a terminated
//! one is not; either way the advantage trace stops at the episode boundary, and the last step
//! of the rollout bootstraps from the value of the state it reached.

use crate::error::{AlgoError, Result};

/// Advantages and value targets, `[T, N]` row-major (step-major, as the rollout).
#[derive(Debug, Clone, PartialEq)]
pub struct Advantages {
    /// GAE(γ, λ) advantages.
    pub advantages: Vec<f32>,
    /// `advantages + values`: the targets of the value fit.
    pub returns: Vec<f32>,
}

/// GAE over a rollout of `steps` × `num_envs`.
///
/// # Shapes
/// All buffers are `[T, N]`, step-major:
/// - `rewards[t, i]`: reward of step `t` in env `i`;
/// - `values[t, i]`: V(sₜ), the value of the observation the action was taken in;
/// - `next_values[t, i]`: V(s'ₜ), the value of the state step `t` led to (of the final
///   observation when the episode ended; ignored where `terminated`);
/// - `terminated`, `truncated`: the flags of step `t`.
///
/// Accumulates in f64.
///
/// # Errors
/// A buffer of the wrong size; `gamma` or `gae_lambda` outside `[0, 1]`.
#[allow(clippy::too_many_arguments)]
pub fn gae(
    rewards: &[f32],
    values: &[f32],
    next_values: &[f32],
    terminated: &[bool],
    truncated: &[bool],
    num_envs: usize,
    gamma: f64,
    gae_lambda: f64,
) -> Result<Advantages> {
    for (name, value) in [("gamma", gamma), ("gae_lambda", gae_lambda)] {
        if !(0.0..=1.0).contains(&value) {
            return Err(AlgoError::Hyperparameter {
                name,
                value,
                range: "[0, 1]",
            });
        }
    }
    let len = rewards.len();
    let steps = len.checked_div(num_envs).unwrap_or(0);
    let expected = steps * num_envs;
    let lengths = [
        ("rewards", rewards.len()),
        ("values", values.len()),
        ("next_values", next_values.len()),
        ("terminated", terminated.len()),
        ("truncated", truncated.len()),
    ];
    for (what, got) in lengths {
        if got != expected || num_envs == 0 {
            return Err(AlgoError::Shape {
                what,
                expected,
                got,
                steps,
                num_envs,
            });
        }
    }
    let mut advantages = vec![0.0f32; len];
    let mut returns = vec![0.0f32; len];
    for i in 0..num_envs {
        let mut next_advantage = 0.0f64;
        for t in (0..steps).rev() {
            let k = t * num_envs + i;
            let bootstrap = if terminated[k] {
                0.0
            } else {
                next_values[k] as f64
            };
            let delta = rewards[k] as f64 + gamma * bootstrap - values[k] as f64;
            let carry = if terminated[k] || truncated[k] {
                0.0
            } else {
                next_advantage
            };
            let a = delta + gamma * gae_lambda * carry;
            advantages[k] = a as f32;
            returns[k] = (a + values[k] as f64) as f32;
            next_advantage = a;
        }
    }
    Ok(Advantages {
        advantages,
        returns,
    })
}
