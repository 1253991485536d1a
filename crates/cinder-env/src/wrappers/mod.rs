//! Batched wrappers with Gymnasium's behaviour. Each wraps any [`VecEnv`](crate::VecEnv) and is
//! one itself; stateful ones save their statistics through
//! [`VecEnv::save_state`](crate::VecEnv::save_state).

mod action;
mod episode_stats;
mod normalize;
mod time_limit;

pub use action::{ClipAction, RescaleAction};
pub use episode_stats::RecordEpisodeStatistics;
pub use normalize::{NormalizeObservation, NormalizeReward, RunningMeanStd};
pub use time_limit::TimeLimit;

/// Implements the `VecEnv` methods a wrapper does not change by forwarding them to
/// `self.inner`. List the methods to forward.
macro_rules! forward {
    (num_envs) => {
        fn num_envs(&self) -> usize {
            self.inner.num_envs()
        }
    };
    (observation_space) => {
        fn observation_space(&self) -> &$crate::space::Space {
            self.inner.observation_space()
        }
    };
    (action_space) => {
        fn action_space(&self) -> &$crate::space::Space {
            self.inner.action_space()
        }
    };
    (reset) => {
        fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> $crate::error::Result<()> {
            self.inner.reset(seed, obs)
        }
    };
    (step) => {
        fn step(
            &mut self,
            actions: $crate::space::Actions<'_>,
            out: &mut $crate::vec_env::StepBatch,
        ) -> $crate::error::Result<()> {
            self.inner.step(actions, out)
        }
    };
    (reset_env) => {
        fn reset_env(&mut self, index: usize, obs: &mut [f32]) -> $crate::error::Result<()> {
            self.inner.reset_env(index, obs)
        }
    };
    (save_state) => {
        fn save_state(&self, state: &mut $crate::vec_env::EnvState) -> $crate::error::Result<()> {
            self.inner.save_state(state)
        }
    };
    (load_state) => {
        fn load_state(&mut self, state: &$crate::vec_env::EnvState) -> $crate::error::Result<()> {
            self.inner.load_state(state)
        }
    };
    (set_training) => {
        fn set_training(&mut self, training: bool) {
            self.inner.set_training(training)
        }
    };
    (runtime) => {
        fn save_runtime(&self, state: &mut $crate::vec_env::EnvState) -> $crate::error::Result<()> {
            self.inner.save_runtime(state)
        }
        fn load_runtime(&mut self, state: &$crate::vec_env::EnvState) -> $crate::error::Result<()> {
            self.inner.load_runtime(state)
        }
    };
    (render) => {
        fn render(
            &mut self,
            index: usize,
            options: &$crate::render::RenderOptions,
        ) -> $crate::error::Result<$crate::render::Frame> {
            self.inner.render(index, options)
        }
        fn render_fps(&self) -> Option<f64> {
            self.inner.render_fps()
        }
    };
    ($($name:ident),+ $(,)?) => {
        $($crate::wrappers::forward!($name);)+
    };
}
pub(crate) use forward;
