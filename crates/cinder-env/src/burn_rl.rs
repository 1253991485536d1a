//! Adapter to burn-rl's [`Environment`](burn_rl::Environment) trait (feature `burn-rl`), so
//! burn users can drive cinder's native environments from burn-rl code.

use burn_rl::{Environment, StepResult};

use crate::env::Env;
use crate::native::{Dynamics, NativeEnv};
use crate::space::Actions;

/// A native env as a burn-rl [`Environment`]: the state is the observation vector, the
/// action the env's native action (`i64` for discrete envs, `f32` for the one-dimensional
/// continuous ones), episodes end after Gymnasium's `max_episode_steps` with
/// `truncated = true`.
#[derive(Debug, Clone)]
pub struct BurnRlEnv<D: Dynamics> {
    env: NativeEnv<D>,
    obs: Vec<f32>,
    steps: usize,
}

impl<D: Dynamics> BurnRlEnv<D> {
    /// A reset env; `seed` seeds its random stream (`None`: from the OS).
    pub fn new(dynamics: D, seed: Option<u64>) -> Self {
        let mut env = NativeEnv::new(dynamics, seed);
        let mut obs = vec![0.0; env.observation_space().flat_dim()];
        env.reset(seed, &mut obs)
            .expect("observation buffer sized from the space");
        Self { env, obs, steps: 0 }
    }

    /// The wrapped env.
    pub fn env(&self) -> &NativeEnv<D> {
        &self.env
    }
}

/// Native actions as a batch of one.
pub trait AsActions {
    /// The action as a one-element batch.
    fn as_actions(&self) -> Actions<'_>;
}

impl AsActions for i64 {
    fn as_actions(&self) -> Actions<'_> {
        Actions::Discrete(std::slice::from_ref(self))
    }
}

impl AsActions for f32 {
    fn as_actions(&self) -> Actions<'_> {
        Actions::Continuous(std::slice::from_ref(self))
    }
}

impl<D: Dynamics> Environment for BurnRlEnv<D>
where
    D::Action: AsActions,
{
    type State = Vec<f32>;
    type Action = D::Action;
    const MAX_STEPS: usize = D::MAX_EPISODE_STEPS;

    fn state(&self) -> Vec<f32> {
        self.obs.clone()
    }

    /// # Panics
    /// On an invalid action (a discrete action out of range, a non-finite continuous one):
    /// burn-rl's `step` has no error channel. Validate with
    /// [`Space::validate_actions`](crate::space::Space::validate_actions) first if actions come
    /// from outside.
    fn step(&mut self, action: D::Action) -> StepResult<Vec<f32>> {
        let t = match self.env.step(action.as_actions(), &mut self.obs) {
            Ok(t) => t,
            Err(e) => panic!("{}: {e}", D::ID),
        };
        self.steps += 1;
        StepResult {
            next_state: self.obs.clone(),
            reward: t.reward,
            done: t.terminated,
            truncated: t.truncated || self.steps >= Self::MAX_STEPS,
        }
    }

    fn reset(&mut self) {
        self.env
            .reset(None, &mut self.obs)
            .expect("observation buffer sized from the space");
        self.steps = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::{CartPole, Pendulum};

    #[test]
    fn burn_rl_episode_runs_to_the_time_limit() {
        let mut env = BurnRlEnv::new(Pendulum::default(), Some(1));
        assert_eq!(env.state().len(), 3);
        let mut steps = 0;
        loop {
            let r = env.step(0.5f32);
            steps += 1;
            assert!(r.reward <= 0.0);
            if r.done || r.truncated {
                assert!(!r.done && r.truncated);
                break;
            }
        }
        assert_eq!(steps, 200);
        env.reset();
        let mut cart = BurnRlEnv::new(CartPole::default(), Some(1));
        let mut ended = false;
        for _ in 0..500 {
            if cart.step(1i64).done {
                ended = true;
                break;
            }
        }
        assert!(ended, "always pushing right ends a CartPole episode");
    }
}
