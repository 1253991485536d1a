use std::collections::VecDeque;

use crate::error::{Result, at_least_one};
use crate::space::Actions;
use crate::vec_env::{EpisodeRecord, StepBatch, VecEnv};
use crate::wrappers::forward;

const STATS_KEY: &str = "runtime/episode_statistics";

#[derive(serde::Serialize, serde::Deserialize)]
struct EpisodeStatsRuntime {
    returns: Vec<f64>,
    lengths: Vec<u64>,
    recent: Vec<EpisodeRecord>,
    episode_count: u64,
}

/// Records the return and length of every episode that ends (Gymnasium's
/// `RecordEpisodeStatistics`): each step's [`StepBatch::episodes`] lists the episodes that
/// ended in it, and the last `buffer_length` are kept for [`recent`](Self::recent).
///
/// Place it below the normalising wrappers so that it sees the raw rewards.
#[derive(Debug, Clone)]
pub struct RecordEpisodeStatistics<V> {
    inner: V,
    returns: Vec<f64>,
    lengths: Vec<u64>,
    recent: VecDeque<EpisodeRecord>,
    buffer_length: usize,
    episode_count: u64,
}

impl<V: VecEnv> RecordEpisodeStatistics<V> {
    /// Wraps `inner`, keeping the last `buffer_length` episodes (Gymnasium's default is 100).
    ///
    /// # Errors
    /// If `buffer_length` is 0.
    pub fn new(inner: V, buffer_length: usize) -> Result<Self> {
        at_least_one("buffer_length", buffer_length)?;
        let n = inner.num_envs();
        Ok(Self {
            inner,
            returns: vec![0.0; n],
            lengths: vec![0; n],
            recent: VecDeque::with_capacity(buffer_length),
            buffer_length,
            episode_count: 0,
        })
    }

    /// The last episodes that ended, oldest first.
    pub fn recent(&self) -> &VecDeque<EpisodeRecord> {
        &self.recent
    }

    /// Episodes ended since construction.
    pub fn episode_count(&self) -> u64 {
        self.episode_count
    }

    /// The wrapped env.
    pub fn inner(&self) -> &V {
        &self.inner
    }

    /// The wrapped env, mutably.
    pub fn inner_mut(&mut self) -> &mut V {
        &mut self.inner
    }
}

impl<V: VecEnv> VecEnv for RecordEpisodeStatistics<V> {
    forward!(
        num_envs,
        observation_space,
        action_space,
        save_state,
        load_state,
        set_training,
        render
    );

    fn save_runtime(&self, state: &mut crate::vec_env::EnvState) -> Result<()> {
        self.inner.save_runtime(state)?;
        let saved = EpisodeStatsRuntime {
            returns: self.returns.clone(),
            lengths: self.lengths.clone(),
            recent: self.recent.iter().copied().collect(),
            episode_count: self.episode_count,
        };
        state.insert_serialized(STATS_KEY, &saved)
    }

    fn load_runtime(&mut self, state: &crate::vec_env::EnvState) -> Result<()> {
        let saved: EpisodeStatsRuntime = state.get_deserialized(STATS_KEY, "episode statistics")?;
        if saved.returns.len() != self.returns.len() || saved.lengths.len() != self.lengths.len() {
            return Err(crate::error::EnvError::State(format!(
                "`{STATS_KEY}` has {} envs, this env {}",
                saved.returns.len(),
                self.returns.len()
            )));
        }
        self.inner.load_runtime(state)?;
        self.returns = saved.returns;
        self.lengths = saved.lengths;
        let skip = saved.recent.len().saturating_sub(self.buffer_length);
        self.recent = saved.recent.into_iter().skip(skip).collect();
        self.episode_count = saved.episode_count;
        Ok(())
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<()> {
        self.inner.reset(seed, obs)?;
        self.returns.fill(0.0);
        self.lengths.fill(0);
        Ok(())
    }

    fn step(&mut self, actions: Actions<'_>, out: &mut StepBatch) -> Result<()> {
        self.inner.step(actions, out)?;
        for i in 0..self.returns.len() {
            self.returns[i] += out.rewards[i] as f64;
            self.lengths[i] += 1;
            if out.done(i) {
                let record = EpisodeRecord {
                    env: i,
                    episodic_return: self.returns[i],
                    episodic_length: self.lengths[i],
                };
                out.episodes.push(record);
                if self.recent.len() == self.buffer_length {
                    self.recent.pop_front();
                }
                self.recent.push_back(record);
                self.episode_count += 1;
                self.returns[i] = 0.0;
                self.lengths[i] = 0;
            }
        }
        Ok(())
    }

    fn reset_env(&mut self, index: usize, obs: &mut [f32]) -> Result<()> {
        self.inner.reset_env(index, obs)?;
        self.returns[index] = 0.0;
        self.lengths[index] = 0;
        Ok(())
    }
}
