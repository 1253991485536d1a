//! The [`VecEnv`] contract: a batch of N environments stepped together.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{EnvError, Result};
use crate::render::{Frame, RenderOptions};
use crate::space::{Actions, Space};

/// What one vector step hands back: one buffer per quantity for the whole batch, laid out so
/// that each becomes a burn tensor with `TensorData::new(buf.clone(), [n, ...])` and no
/// per-env copies.
///
/// # Auto-reset (Gymnasium's "same-step" mode)
/// When env `i` ends an episode in this step (`terminated[i] || truncated[i]`), it has
/// already been reset when `step` returns:
/// - `obs` row `i` is the **first observation of the next episode**,
/// - `final_obs` row `i` is the **last observation of the episode that ended** — bootstrap
///   truncated episodes from it,
/// - `rewards[i]` and the flags belong to the step that ended the episode.
///
/// Rows of `final_obs` for envs that did not end hold stale values; read them only where
/// `done(i)`.
///
/// # Shapes
/// - `obs`, `final_obs`: `[num_envs, obs_dim]` row-major
/// - `rewards`, `terminated`, `truncated`: `[num_envs]`
#[derive(Debug, Clone, PartialEq)]
pub struct StepBatch {
    num_envs: usize,
    obs_dim: usize,
    /// Observations after the step (reset observations for envs that ended).
    pub obs: Vec<f32>,
    /// Rewards of the step.
    pub rewards: Vec<f32>,
    /// The episode reached a terminal state of the MDP (no bootstrapping).
    pub terminated: Vec<bool>,
    /// The episode was cut short (time limit): bootstrap from `final_obs`.
    pub truncated: Vec<bool>,
    /// Last observation of each episode that ended in this step.
    pub final_obs: Vec<f32>,
    /// Statistics of the episodes that ended in this step, filled by
    /// [`RecordEpisodeStatistics`](crate::wrappers::RecordEpisodeStatistics) (empty without it).
    pub episodes: Vec<EpisodeRecord>,
    /// Envs whose simulation became unstable in this step (a MuJoCo env that hit a NaN,
    /// infinite or huge state): their episode was cut there — `truncated`, reward 0 — and a
    /// new one started. Empty for envs that cannot become unstable.
    pub unstable: Vec<usize>,
}

impl StepBatch {
    /// Zeroed buffers for a batch of `num_envs` with `obs_dim` values per observation.
    pub fn new(num_envs: usize, obs_dim: usize) -> Self {
        Self {
            num_envs,
            obs_dim,
            obs: vec![0.0; num_envs * obs_dim],
            rewards: vec![0.0; num_envs],
            terminated: vec![false; num_envs],
            truncated: vec![false; num_envs],
            final_obs: vec![0.0; num_envs * obs_dim],
            episodes: Vec::new(),
            unstable: Vec::new(),
        }
    }

    /// Buffers sized for `env`.
    pub fn for_env(env: &(impl VecEnv + ?Sized)) -> Self {
        Self::new(env.num_envs(), env.observation_space().flat_dim())
    }

    /// Batch size.
    pub fn num_envs(&self) -> usize {
        self.num_envs
    }

    /// Values per observation.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// Whether env `i` ended an episode in this step.
    pub fn done(&self, i: usize) -> bool {
        self.terminated[i] || self.truncated[i]
    }

    /// Observation row `i`.
    pub fn obs_row(&self, i: usize) -> &[f32] {
        &self.obs[i * self.obs_dim..(i + 1) * self.obs_dim]
    }

    /// Final-observation row `i` (meaningful where `done(i)`).
    pub fn final_obs_row(&self, i: usize) -> &[f32] {
        &self.final_obs[i * self.obs_dim..(i + 1) * self.obs_dim]
    }

    /// Called by an environment at the start of `step`: checks that the buffers fit a batch of
    /// `num_envs` × `obs_dim` (they may have been resized by a user) and clears the episode
    /// and instability lists.
    ///
    /// # Errors
    /// [`EnvError::BufferSize`] naming the buffer that does not fit.
    pub fn prepare(&mut self, num_envs: usize, obs_dim: usize) -> Result<()> {
        let checks: [(&'static str, usize, usize); 5] = [
            ("StepBatch.obs", self.obs.len(), num_envs * obs_dim),
            (
                "StepBatch.final_obs",
                self.final_obs.len(),
                num_envs * obs_dim,
            ),
            ("StepBatch.rewards", self.rewards.len(), num_envs),
            ("StepBatch.terminated", self.terminated.len(), num_envs),
            ("StepBatch.truncated", self.truncated.len(), num_envs),
        ];
        for (what, got, expected) in checks {
            if got != expected {
                return Err(EnvError::BufferSize {
                    what,
                    expected,
                    got,
                });
            }
        }
        self.num_envs = num_envs;
        self.obs_dim = obs_dim;
        self.episodes.clear();
        self.unstable.clear();
        Ok(())
    }
}

/// Return and length of one finished episode (Gymnasium's `info["episode"]`: `r`, `l`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpisodeRecord {
    /// Index of the env in the batch.
    pub env: usize,
    /// Undiscounted sum of the raw rewards.
    pub episodic_return: f64,
    /// Number of steps.
    pub episodic_length: u64,
}

/// Serializable state of the stateful wrappers of an env stack (running normalisation
/// statistics, …), saved next to a checkpoint and loaded into a freshly made stack.
///
/// Keys are the wrappers' names (`"normalize_observation"`, `"normalize_reward"`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EnvState(pub BTreeMap<String, serde_json::Value>);

impl EnvState {
    /// Stores `value` under `key`.
    ///
    /// # Errors
    /// If `key` is already present (two wrappers of the same kind in one stack would
    /// overwrite each other's statistics).
    pub fn insert(&mut self, key: &str, value: serde_json::Value) -> Result<()> {
        if self.0.contains_key(key) {
            return Err(EnvError::State(format!(
                "two wrappers both save state under `{key}`; stack at most one of each stateful wrapper"
            )));
        }
        self.0.insert(key.to_string(), value);
        Ok(())
    }

    /// The value saved under `key`, if any.
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.0.get(key)
    }

    /// Serializes `value` and stores it under `key` (see [`insert`](Self::insert)).
    ///
    /// JSON has no NaN or ∞, and serde_json writes them as `null`: a state holding one would
    /// come back as something else, or not at all. Such a state is refused here, with an error
    /// that names the entry, rather than stored altered.
    ///
    /// # Errors
    /// If `key` is taken, `value` does not serialize, or it holds a non-finite float.
    pub fn insert_serialized<T: Serialize + serde::de::DeserializeOwned>(
        &mut self,
        key: &str,
        value: &T,
    ) -> Result<()> {
        let json =
            serde_json::to_value(value).map_err(|e| EnvError::State(format!("`{key}`: {e}")))?;
        // A `null` is either a `None` (fine) or a non-finite float (lost): only a value whose
        // JSON has one needs the round trip that tells them apart.
        if has_null(&json) && serde_json::from_value::<T>(json.clone()).is_err() {
            return Err(EnvError::State(format!(
                "`{key}` holds a non-finite value (NaN or ∞), which cannot be saved; the env \
                 produced a non-finite observation or reward (check the env, or clip it with a \
                 wrapper)"
            )));
        }
        self.insert(key, json)
    }

    /// Deserializes the entry under `key`; `saved_without` names what the state lacks when
    /// the entry is missing (e.g. "observation normalisation").
    ///
    /// # Errors
    /// [`EnvError::State`] if the entry is missing or has another form.
    pub fn get_deserialized<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
        saved_without: &str,
    ) -> Result<T> {
        let value = self.get(key).ok_or_else(|| {
            EnvError::State(format!(
                "no `{key}` entry: the state was saved without {saved_without}"
            ))
        })?;
        serde_json::from_value(value.clone()).map_err(|e| EnvError::State(format!("`{key}`: {e}")))
    }
}

/// A batch of `num_envs` environments with Gymnasium semantics, stepped together.
///
/// The contract (checked by [`check_env`](crate::check_env)):
/// - [`reset`](VecEnv::reset) must come before the first [`step`](VecEnv::step); `reset(Some(s))`
///   seeds env `i` with `s + i` (Gymnasium's convention), `reset(None)` continues each env's
///   random stream.
/// - `step` auto-resets envs whose episode ended and reports the final observation (see
///   [`StepBatch`]).
/// - Invalid input (wrong number or kind of actions, non-finite or out-of-range actions, wrong
///   buffer sizes) is an error and leaves every env exactly as it was.
/// - Same seed and same actions give bit-identical results, whatever the number of threads.
///
/// Observation and action spaces are those of **one** env.
pub trait VecEnv: Send {
    /// Batch size N.
    fn num_envs(&self) -> usize;

    /// Space of one env's observation.
    fn observation_space(&self) -> &Space;

    /// Space of one env's action.
    fn action_space(&self) -> &Space;

    /// Resets every env, writing the first observations to `obs` (`[num_envs, obs_dim]`).
    ///
    /// # Errors
    /// [`EnvError::BufferSize`] if `obs` has the wrong length.
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<()>;

    /// Steps every env with its action, writing the results to `out`.
    ///
    /// # Errors
    /// See the trait documentation; the env is unchanged after a validation error.
    fn step(&mut self, actions: Actions<'_>, out: &mut StepBatch) -> Result<()>;

    /// Resets env `index` alone (continuing its random stream), writing its first observation
    /// to `obs` (`[obs_dim]`). Used by wrappers that end episodes themselves, such as
    /// [`TimeLimit`](crate::wrappers::TimeLimit).
    ///
    /// # Errors
    /// [`EnvError::EnvIndex`], [`EnvError::BufferSize`].
    fn reset_env(&mut self, index: usize, obs: &mut [f32]) -> Result<()>;

    /// Adds the state of stateful wrappers (normalisation statistics) to `state`.
    ///
    /// # Errors
    /// If two wrappers would save under the same key.
    fn save_state(&self, state: &mut EnvState) -> Result<()> {
        let _ = state;
        Ok(())
    }

    /// Restores what [`save_state`](VecEnv::save_state) saved.
    ///
    /// # Errors
    /// [`EnvError::State`] if the saved state does not fit (other observation size, missing
    /// entry); nothing is changed then.
    fn load_state(&mut self, state: &EnvState) -> Result<()> {
        let _ = state;
        Ok(())
    }

    /// Training mode (the default) updates running statistics; evaluation mode (`false`)
    /// freezes them.
    fn set_training(&mut self, training: bool) {
        let _ = training;
    }

    /// Adds the env's whole dynamic state — simulator states, random streams, episode
    /// counters of the wrappers — so that a stopped run continues exactly
    /// ([`load_runtime`](VecEnv::load_runtime)). Statistics saved by
    /// [`save_state`](VecEnv::save_state) are not repeated.
    ///
    /// # Errors
    /// [`EnvError::State`] if this env cannot (the default, e.g. a Python env).
    fn save_runtime(&self, state: &mut EnvState) -> Result<()> {
        let _ = state;
        Err(EnvError::State(
            "this env cannot save its runtime state; a resumed run restarts its episodes".into(),
        ))
    }

    /// Restores what [`save_runtime`](VecEnv::save_runtime) saved into an env stack made the
    /// same way. The next `step` continues where the saved env was; no `reset` is needed.
    ///
    /// # Errors
    /// [`EnvError::State`] if the state does not fit or this env cannot restore it; the env
    /// is unchanged then.
    fn load_runtime(&mut self, state: &EnvState) -> Result<()> {
        let _ = state;
        Err(EnvError::State(
            "this env cannot restore a runtime state; reset it instead".into(),
        ))
    }

    /// Draws env `index` as Gymnasium's `render()` with `render_mode="rgb_array"` would after
    /// the last call: the state whose observation it returned. For an env whose episode the
    /// last [`step`](VecEnv::step) ended, or that [`reset_env`](VecEnv::reset_env) just
    /// restarted, that is the state the episode ended in (before the auto-reset), so a
    /// recording made step by step holds every episode's last picture.
    ///
    /// # Errors
    /// [`EnvError::Render`] if this env cannot draw itself (the default) or drawing failed
    /// (for MuJoCo, no EGL on the machine); [`EnvError::EnvIndex`]; [`EnvError::NotReset`].
    fn render(&mut self, index: usize, options: &RenderOptions) -> Result<Frame> {
        let _ = (index, options);
        Err(EnvError::Render(
            "this environment cannot draw itself (native classic-control and MuJoCo envs can)"
                .into(),
        ))
    }

    /// Frames per second of simulated time, Gymnasium's `metadata["render_fps"]`: the rate at
    /// which consecutive [`render`](VecEnv::render)s play in real time. `None` if unknown.
    fn render_fps(&self) -> Option<f64> {
        None
    }
}

impl<V: VecEnv + ?Sized> VecEnv for Box<V> {
    fn num_envs(&self) -> usize {
        (**self).num_envs()
    }
    fn observation_space(&self) -> &Space {
        (**self).observation_space()
    }
    fn action_space(&self) -> &Space {
        (**self).action_space()
    }
    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<()> {
        (**self).reset(seed, obs)
    }
    fn step(&mut self, actions: Actions<'_>, out: &mut StepBatch) -> Result<()> {
        (**self).step(actions, out)
    }
    fn reset_env(&mut self, index: usize, obs: &mut [f32]) -> Result<()> {
        (**self).reset_env(index, obs)
    }
    fn save_state(&self, state: &mut EnvState) -> Result<()> {
        (**self).save_state(state)
    }
    fn load_state(&mut self, state: &EnvState) -> Result<()> {
        (**self).load_state(state)
    }
    fn set_training(&mut self, training: bool) {
        (**self).set_training(training)
    }
    fn save_runtime(&self, state: &mut EnvState) -> Result<()> {
        (**self).save_runtime(state)
    }
    fn load_runtime(&mut self, state: &EnvState) -> Result<()> {
        (**self).load_runtime(state)
    }
    fn render(&mut self, index: usize, options: &RenderOptions) -> Result<Frame> {
        (**self).render(index, options)
    }
    fn render_fps(&self) -> Option<f64> {
        (**self).render_fps()
    }
}

/// Checks a buffer length, naming the buffer in the error.
pub(crate) fn check_buffer(what: &'static str, got: usize, expected: usize) -> Result<()> {
    if got != expected {
        return Err(EnvError::BufferSize {
            what,
            expected,
            got,
        });
    }
    Ok(())
}

/// Checks an env index against the batch size.
pub(crate) fn check_index(index: usize, num_envs: usize) -> Result<()> {
    if index >= num_envs {
        return Err(EnvError::EnvIndex { index, num_envs });
    }
    Ok(())
}

/// Whether a JSON value holds a `null` anywhere.
fn has_null(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::Array(a) => a.iter().any(has_null),
        serde_json::Value::Object(o) => o.values().any(has_null),
        _ => false,
    }
}
