use crate::error::{Result, at_least_one};
use crate::space::Actions;
use crate::vec_env::{StepBatch, VecEnv};
use crate::wrappers::forward;

/// Ends an episode with `truncated = true` after `max_episode_steps` steps (Gymnasium's
/// `TimeLimit`; `terminated` and `truncated` may both be true on the last step). The env that
/// hit the limit is reset through [`VecEnv::reset_env`], its last observation goes to
/// `final_obs`.
#[derive(Debug, Clone)]
pub struct TimeLimit<V> {
    inner: V,
    max_episode_steps: u64,
    elapsed: Vec<u64>,
}

impl<V: VecEnv> TimeLimit<V> {
    /// Wraps `inner`.
    ///
    /// # Errors
    /// If `max_episode_steps` is 0.
    pub fn new(inner: V, max_episode_steps: usize) -> Result<Self> {
        at_least_one("max_episode_steps", max_episode_steps)?;
        let n = inner.num_envs();
        Ok(Self {
            inner,
            max_episode_steps: max_episode_steps as u64,
            elapsed: vec![0; n],
        })
    }

    /// The limit.
    pub fn max_episode_steps(&self) -> usize {
        self.max_episode_steps as usize
    }

    /// Steps taken in each env's current episode.
    pub fn elapsed_steps(&self) -> &[u64] {
        &self.elapsed
    }

    /// The wrapped env.
    pub fn inner(&self) -> &V {
        &self.inner
    }

    /// The wrapped env, mutably (e.g. to set a native env's state).
    pub fn inner_mut(&mut self) -> &mut V {
        &mut self.inner
    }
}

impl<V: VecEnv> VecEnv for TimeLimit<V> {
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
        state.insert_serialized("runtime/time_limit", &self.elapsed)
    }

    fn load_runtime(&mut self, state: &crate::vec_env::EnvState) -> Result<()> {
        let elapsed: Vec<u64> = state.get_deserialized("runtime/time_limit", "a time limit")?;
        if elapsed.len() != self.elapsed.len() {
            return Err(crate::error::EnvError::State(format!(
                "`runtime/time_limit` has {} envs, this env {}",
                elapsed.len(),
                self.elapsed.len()
            )));
        }
        self.inner.load_runtime(state)?;
        self.elapsed = elapsed;
        Ok(())
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<()> {
        self.inner.reset(seed, obs)?;
        self.elapsed.fill(0);
        Ok(())
    }

    fn step(&mut self, actions: Actions<'_>, out: &mut StepBatch) -> Result<()> {
        self.inner.step(actions, out)?;
        let d = out.obs_dim();
        for i in 0..self.elapsed.len() {
            self.elapsed[i] += 1;
            if self.elapsed[i] >= self.max_episode_steps {
                out.truncated[i] = true;
                if !out.terminated[i] {
                    // The inner env has not ended this episode: record its last observation
                    // and start the next one.
                    let (obs, fin) = (
                        &mut out.obs[i * d..(i + 1) * d],
                        &mut out.final_obs[i * d..(i + 1) * d],
                    );
                    fin.copy_from_slice(obs);
                    self.inner.reset_env(i, obs)?;
                }
            }
            if out.terminated[i] || out.truncated[i] {
                self.elapsed[i] = 0;
            }
        }
        Ok(())
    }

    fn reset_env(&mut self, index: usize, obs: &mut [f32]) -> Result<()> {
        self.inner.reset_env(index, obs)?;
        self.elapsed[index] = 0;
        Ok(())
    }
}
