use serde::{Deserialize, Serialize};

use crate::error::{EnvError, Result};
use crate::space::{Actions, BoxSpace, DType, Space};
use crate::vec_env::{EnvState, StepBatch, VecEnv, check_index};
use crate::wrappers::forward;

/// Running mean and variance of a stream of vectors, merged batch by batch (Chan et al.'s
/// parallel algorithm, as Gymnasium's and SB3's `RunningMeanStd`, starting from a pseudo-count
/// of 1e-4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningMeanStd {
    /// Mean per component.
    pub mean: Vec<f64>,
    /// Population variance per component.
    pub var: Vec<f64>,
    /// Number of samples merged (plus the initial pseudo-count).
    pub count: f64,
}

impl RunningMeanStd {
    /// Statistics for vectors of `dim` components: mean 0, variance 1, count 1e-4.
    pub fn new(dim: usize) -> Self {
        Self {
            mean: vec![0.0; dim],
            var: vec![1.0; dim],
            count: 1e-4,
        }
    }

    /// Merges a batch `[n, dim]` (row-major, `n ≥ 1`).
    pub fn update(&mut self, batch: &[f32]) {
        let dim = self.mean.len();
        let n = batch.len() / dim;
        if n == 0 {
            return;
        }
        let mut batch_mean = vec![0.0f64; dim];
        for row in batch.chunks_exact(dim) {
            for (m, &x) in batch_mean.iter_mut().zip(row) {
                *m += x as f64;
            }
        }
        batch_mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut batch_var = vec![0.0f64; dim];
        for row in batch.chunks_exact(dim) {
            for ((v, &x), m) in batch_var.iter_mut().zip(row).zip(&batch_mean) {
                *v += (x as f64 - m) * (x as f64 - m);
            }
        }
        batch_var.iter_mut().for_each(|v| *v /= n as f64);
        self.merge(&batch_mean, &batch_var, n as f64);
    }

    /// Merges a batch given by its moments.
    pub fn merge(&mut self, batch_mean: &[f64], batch_var: &[f64], batch_count: f64) {
        let tot = self.count + batch_count;
        for i in 0..self.mean.len() {
            let delta = batch_mean[i] - self.mean[i];
            let m2 = self.var[i] * self.count
                + batch_var[i] * batch_count
                + delta * delta * self.count * batch_count / tot;
            self.mean[i] += delta * batch_count / tot;
            self.var[i] = m2 / tot;
        }
        self.count = tot;
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ObsNormState {
    rms: RunningMeanStd,
    epsilon: f64,
    clip: Option<f32>,
}

/// Normalises observations by running statistics, `clip((obs - mean) / sqrt(var + ε))`
/// (Gymnasium's `NormalizeObservation` followed by the clip CleanRL and SB3's `VecNormalize`
/// apply; default clip 10, ε 1e-8).
///
/// In training mode the statistics are updated with every batch of observations the env
/// returns (reset observations included, final observations not — those are only
/// normalised, as in SB3); [`set_training(false)`](VecEnv::set_training) freezes them for
/// evaluation. The statistics are saved with [`VecEnv::save_state`].
#[derive(Debug, Clone)]
pub struct NormalizeObservation<V> {
    inner: V,
    state: ObsNormState,
    training: bool,
    space: Space,
}

impl<V: VecEnv> NormalizeObservation<V> {
    /// Wraps `inner` (which must have a Box observation space).
    ///
    /// # Errors
    /// If the observation space is discrete, `epsilon ≤ 0` or `clip ≤ 0`.
    pub fn new(inner: V, epsilon: f64, clip: Option<f32>) -> Result<Self> {
        let Some(b) = inner.observation_space().as_box() else {
            return Err(EnvError::Config {
                what: "NormalizeObservation",
                message: "needs a Box observation space".into(),
            });
        };
        check_positive(epsilon, clip)?;
        let bound = clip.map_or(f64::INFINITY, |c| c as f64);
        let space = Space::Box(BoxSpace::with_shape(
            vec![-bound; b.dim()],
            vec![bound; b.dim()],
            b.shape.clone(),
            DType::F32,
        )?);
        let dim = b.dim();
        Ok(Self {
            inner,
            state: ObsNormState {
                rms: RunningMeanStd::new(dim),
                epsilon,
                clip,
            },
            training: true,
            space,
        })
    }

    /// Defaults: ε = 1e-8, clip 10.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_defaults(inner: V) -> Result<Self> {
        Self::new(inner, 1e-8, Some(10.0))
    }

    /// The running statistics.
    pub fn statistics(&self) -> &RunningMeanStd {
        &self.state.rms
    }

    /// Whether statistics are being updated.
    pub fn is_training(&self) -> bool {
        self.training
    }

    /// The wrapped env.
    pub fn inner(&self) -> &V {
        &self.inner
    }

    /// Normalises rows `[n, dim]` in place with the current statistics.
    pub fn normalize(&self, rows: &mut [f32]) {
        let scale = self.scale();
        self.normalize_with(&scale, rows);
    }

    fn scale(&self) -> Vec<f64> {
        let eps = self.state.epsilon;
        self.state
            .rms
            .var
            .iter()
            .map(|v| 1.0 / (v + eps).sqrt())
            .collect()
    }

    fn normalize_with(&self, scale: &[f64], rows: &mut [f32]) {
        let rms = &self.state.rms;
        for row in rows.chunks_exact_mut(rms.mean.len()) {
            for ((x, m), s) in row.iter_mut().zip(&rms.mean).zip(scale) {
                let y = ((*x as f64 - m) * s) as f32;
                *x = match self.state.clip {
                    Some(c) => y.clamp(-c, c),
                    None => y,
                };
            }
        }
    }
}

/// ε > 0 and clip > 0 (or none).
fn check_positive(epsilon: f64, clip: Option<f32>) -> Result<()> {
    if epsilon.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Err(EnvError::Config {
            what: "epsilon",
            message: format!("must be > 0, got {epsilon}"),
        });
    }
    if let Some(c) = clip
        && c.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
    {
        return Err(EnvError::Config {
            what: "clip",
            message: format!("must be > 0 (or None for no clipping), got {c}"),
        });
    }
    Ok(())
}

const OBS_KEY: &str = "normalize_observation";
const REWARD_KEY: &str = "normalize_reward";

impl<V: VecEnv> VecEnv for NormalizeObservation<V> {
    forward!(num_envs, action_space, runtime, render);

    fn observation_space(&self) -> &Space {
        &self.space
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<()> {
        self.inner.reset(seed, obs)?;
        if self.training {
            self.state.rms.update(obs);
        }
        self.normalize(obs);
        Ok(())
    }

    fn step(&mut self, actions: Actions<'_>, out: &mut StepBatch) -> Result<()> {
        self.inner.step(actions, out)?;
        if self.training {
            self.state.rms.update(&out.obs);
        }
        let scale = self.scale();
        self.normalize_with(&scale, &mut out.obs);
        let d = out.obs_dim();
        for i in 0..out.num_envs() {
            if out.done(i) {
                self.normalize_with(&scale, &mut out.final_obs[i * d..(i + 1) * d]);
            }
        }
        Ok(())
    }

    fn reset_env(&mut self, index: usize, obs: &mut [f32]) -> Result<()> {
        self.inner.reset_env(index, obs)?;
        self.normalize(obs);
        Ok(())
    }

    fn save_state(&self, state: &mut EnvState) -> Result<()> {
        self.inner.save_state(state)?;
        state.insert_serialized(OBS_KEY, &self.state)
    }

    fn load_state(&mut self, state: &EnvState) -> Result<()> {
        let loaded: ObsNormState = state.get_deserialized(OBS_KEY, "observation normalisation")?;
        let dim = self.state.rms.mean.len();
        if loaded.rms.mean.len() != dim || loaded.rms.var.len() != dim {
            return Err(EnvError::State(format!(
                "`{OBS_KEY}` holds statistics of {} values, this env's observations have {dim}",
                loaded.rms.mean.len()
            )));
        }
        self.inner.load_state(state)?;
        self.state = loaded;
        Ok(())
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
        self.inner.set_training(training);
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RewardNormState {
    rms: RunningMeanStd,
    gamma: f64,
    epsilon: f64,
    clip: Option<f32>,
}

/// Scales rewards by the running standard deviation of the discounted return (Gymnasium's
/// `NormalizeReward`: `G ← γ G (1 - terminated) + r`, statistics of G, reward / sqrt(var + ε),
/// G reset when an episode ends), then clips (SB3/CleanRL; default 10). Defaults γ 0.99,
/// ε 1e-8. The statistics are saved with [`VecEnv::save_state`] and frozen by
/// [`set_training(false)`](VecEnv::set_training).
#[derive(Debug, Clone)]
pub struct NormalizeReward<V> {
    inner: V,
    state: RewardNormState,
    returns: Vec<f64>,
    training: bool,
}

impl<V: VecEnv> NormalizeReward<V> {
    /// Wraps `inner`.
    ///
    /// # Errors
    /// If γ is outside `[0, 1]`, ε ≤ 0 or clip ≤ 0.
    pub fn new(inner: V, gamma: f64, epsilon: f64, clip: Option<f32>) -> Result<Self> {
        if !(0.0..=1.0).contains(&gamma) {
            return Err(EnvError::Config {
                what: "gamma",
                message: format!("must be in [0, 1], got {gamma}"),
            });
        }
        check_positive(epsilon, clip)?;
        let n = inner.num_envs();
        Ok(Self {
            inner,
            state: RewardNormState {
                rms: RunningMeanStd::new(1),
                gamma,
                epsilon,
                clip,
            },
            returns: vec![0.0; n],
            training: true,
        })
    }

    /// Defaults: γ 0.99, ε 1e-8, clip 10.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_defaults(inner: V) -> Result<Self> {
        Self::new(inner, 0.99, 1e-8, Some(10.0))
    }

    /// Statistics of the discounted return.
    pub fn statistics(&self) -> &RunningMeanStd {
        &self.state.rms
    }

    /// The wrapped env.
    pub fn inner(&self) -> &V {
        &self.inner
    }
}

impl<V: VecEnv> VecEnv for NormalizeReward<V> {
    forward!(num_envs, observation_space, action_space, render);

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<()> {
        self.inner.reset(seed, obs)?;
        self.returns.fill(0.0);
        Ok(())
    }

    fn step(&mut self, actions: Actions<'_>, out: &mut StepBatch) -> Result<()> {
        self.inner.step(actions, out)?;
        let gamma = self.state.gamma;
        for i in 0..self.returns.len() {
            let keep = if out.terminated[i] { 0.0 } else { 1.0 };
            self.returns[i] = self.returns[i] * gamma * keep + out.rewards[i] as f64;
        }
        if self.training {
            let n = self.returns.len() as f64;
            let mean = self.returns.iter().sum::<f64>() / n;
            let var = self
                .returns
                .iter()
                .map(|g| (g - mean) * (g - mean))
                .sum::<f64>()
                / n;
            self.state.rms.merge(&[mean], &[var], n);
        }
        let scale = 1.0 / (self.state.rms.var[0] + self.state.epsilon).sqrt();
        for i in 0..self.returns.len() {
            let r = (out.rewards[i] as f64 * scale) as f32;
            out.rewards[i] = match self.state.clip {
                Some(c) => r.clamp(-c, c),
                None => r,
            };
            if out.done(i) {
                self.returns[i] = 0.0;
            }
        }
        Ok(())
    }

    fn reset_env(&mut self, index: usize, obs: &mut [f32]) -> Result<()> {
        check_index(index, self.returns.len())?;
        self.inner.reset_env(index, obs)?;
        self.returns[index] = 0.0;
        Ok(())
    }

    fn save_state(&self, state: &mut EnvState) -> Result<()> {
        self.inner.save_state(state)?;
        state.insert_serialized(REWARD_KEY, &self.state)
    }

    fn load_state(&mut self, state: &EnvState) -> Result<()> {
        let loaded: RewardNormState = state.get_deserialized(REWARD_KEY, "reward normalisation")?;
        if loaded.rms.mean.len() != 1 || loaded.rms.var.len() != 1 {
            return Err(EnvError::State(format!(
                "`{REWARD_KEY}` must hold scalar statistics"
            )));
        }
        self.inner.load_state(state)?;
        self.state = loaded;
        Ok(())
    }

    fn set_training(&mut self, training: bool) {
        self.training = training;
        self.inner.set_training(training);
    }

    fn save_runtime(&self, state: &mut EnvState) -> Result<()> {
        self.inner.save_runtime(state)?;
        state.insert_serialized("runtime/normalize_reward", &self.returns)
    }

    fn load_runtime(&mut self, state: &EnvState) -> Result<()> {
        let returns: Vec<f64> =
            state.get_deserialized("runtime/normalize_reward", "reward normalisation")?;
        if returns.len() != self.returns.len() {
            return Err(EnvError::State(format!(
                "`runtime/normalize_reward` has {} envs, this env {}",
                returns.len(),
                self.returns.len()
            )));
        }
        self.inner.load_runtime(state)?;
        self.returns = returns;
        Ok(())
    }
}
