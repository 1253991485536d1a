//! cinder's own environments, batched: the state of all N envs lives in one contiguous array
//! and a vector step is one monomorphised loop over it (no per-env objects, no dynamic
//! dispatch).
//!
//! Each env is step-for-step identical to Gymnasium 1.4.0's env of the same id: same dynamics
//! and integrator, same float64 arithmetic — including the places where Gymnasium computes in
//! float32 because numpy's type promotion says so — same observation, reward, termination and
//! reset distribution (not the same random numbers: numpy's generator is not reproduced). The
//! tests replay trajectories recorded with Gymnasium (`scripts/record_gymnasium_fixtures.py`).

mod acrobot;
mod cartpole;
mod draw;
mod mountain_car;
mod pendulum;

pub use acrobot::{Acrobot, AcrobotState};
pub use cartpole::{CartPole, CartPoleState};
pub use mountain_car::{
    ContinuousMountainCar, ContinuousMountainCarState, MountainCar, MountainCarState,
};
pub use pendulum::{Pendulum, PendulumState};

use std::fmt::Debug;

use rand::SeedableRng;

use crate::env::{Env, Transition};
use crate::error::{EnvError, Result, at_least_one};
use crate::render::{Frame, RenderOptions};
use crate::space::{Actions, Space};
use crate::vec_env::{EnvState, StepBatch, VecEnv, check_buffer, check_index};

/// The random generator of one env (xoshiro256++, seeded with `seed_from_u64`): a fixed
/// algorithm, so seeded runs stay reproducible across rand releases.
pub type EnvRng = rand::rngs::Xoshiro256PlusPlus;

/// The action type of a native env: `i64` for discrete, `f32` for a one-dimensional box.
pub trait NativeAction: Copy + Send + Sync + 'static {
    /// The batch as a slice of this type (empty when the kind does not match; the kind has
    /// been validated before this is called).
    fn slice(actions: Actions<'_>) -> &[Self];
}

impl NativeAction for i64 {
    fn slice(actions: Actions<'_>) -> &[Self] {
        match actions {
            Actions::Discrete(a) => a,
            Actions::Continuous(_) => &[],
        }
    }
}

impl NativeAction for f32 {
    fn slice(actions: Actions<'_>) -> &[Self] {
        match actions {
            Actions::Continuous(a) => a,
            Actions::Discrete(_) => &[],
        }
    }
}

/// The dynamics of a native environment: pure functions of a small `Copy` state.
///
/// Implement this to add a cheap environment; [`NativeVecEnv`] batches it and [`NativeEnv`]
/// runs one instance.
pub trait Dynamics: Clone + Send + Sync + 'static {
    /// Full simulator state of one env.
    type State: Copy + Send + Sync + Debug + PartialEq;
    /// Action of one env.
    type Action: NativeAction;
    /// Gymnasium id.
    const ID: &'static str;
    /// Gymnasium's `max_episode_steps` for the id.
    const MAX_EPISODE_STEPS: usize;

    /// Observation space of one env.
    fn observation_space(&self) -> Space;
    /// Action space of one env.
    fn action_space(&self) -> Space;
    /// Draws an initial state (Gymnasium's reset distribution).
    fn initial_state(&self, rng: &mut EnvRng) -> Self::State;
    /// Writes the observation of `state` to `obs` (`[obs_dim]`).
    fn observe(&self, state: &Self::State, obs: &mut [f32]);
    /// Advances `state` by one step; returns the reward and whether the state is terminal.
    fn step(&self, state: &mut Self::State, action: Self::Action) -> (f64, bool);
    /// The state from its Gymnasium representation (`env.unwrapped.state`).
    ///
    /// # Errors
    /// If `values` has the wrong length.
    fn state_from_slice(values: &[f64]) -> Result<Self::State>;
    /// The Gymnasium representation of a state.
    fn state_to_vec(state: &Self::State) -> Vec<f64>;
    /// Draws `state` as Gymnasium's `rgb_array` renderer does, at Gymnasium's size; `None`
    /// (the default) if this env has no picture.
    fn draw(&self, state: &Self::State) -> Option<Frame> {
        let _ = state;
        None
    }
    /// Gymnasium's `metadata["render_fps"]`.
    fn render_fps(&self) -> Option<f64> {
        None
    }
}

pub(crate) fn state_len_error(id: &str, expected: usize, got: usize) -> EnvError {
    EnvError::State(format!("{id} state has {expected} values, got {got}"))
}

/// A batch of N native envs of one kind, without time limit (wrap it in
/// [`TimeLimit`](crate::wrappers::TimeLimit), or use [`make`](crate::make), for Gymnasium's
/// episode length).
#[derive(Debug, Clone)]
pub struct NativeVecEnv<D: Dynamics> {
    dynamics: D,
    states: Vec<D::State>,
    /// The state each env's episode ended in, for the envs the last step ended or
    /// `reset_env` restarted: what `render` draws for them.
    ended: Vec<Option<D::State>>,
    rngs: Vec<EnvRng>,
    observation_space: Space,
    action_space: Space,
    obs_dim: usize,
    default_seed: Option<u64>,
    ready: bool,
}

impl<D: Dynamics> NativeVecEnv<D> {
    /// `num_envs` copies of `dynamics`.
    ///
    /// # Errors
    /// If `num_envs` is 0.
    pub fn new(dynamics: D, num_envs: usize) -> Result<Self> {
        at_least_one("num_envs", num_envs)?;
        let observation_space = dynamics.observation_space();
        let action_space = dynamics.action_space();
        let obs_dim = observation_space.flat_dim();
        let mut rng = EnvRng::seed_from_u64(0);
        let state = dynamics.initial_state(&mut rng);
        Ok(Self {
            states: vec![state; num_envs],
            ended: vec![None; num_envs],
            rngs: vec![rng; num_envs],
            dynamics,
            observation_space,
            action_space,
            obs_dim,
            default_seed: None,
            ready: false,
        })
    }

    /// The seed the first `reset(None)` uses (otherwise it draws one from the OS).
    pub fn with_seed(mut self, seed: Option<u64>) -> Self {
        self.default_seed = seed;
        self
    }

    /// The dynamics and its parameters.
    pub fn dynamics(&self) -> &D {
        &self.dynamics
    }

    /// State of env `index`.
    ///
    /// # Errors
    /// [`EnvError::EnvIndex`].
    pub fn state(&self, index: usize) -> Result<D::State> {
        check_index(index, self.states.len())?;
        Ok(self.states[index])
    }

    /// Puts env `index` in `state` (to replay a recorded trajectory, or start from a chosen
    /// state) and writes its observation to `obs` (`[obs_dim]`).
    ///
    /// # Errors
    /// [`EnvError::EnvIndex`], [`EnvError::BufferSize`], or [`EnvError::NotReset`] before the
    /// first reset (which would overwrite the state).
    pub fn set_state(&mut self, index: usize, state: D::State, obs: &mut [f32]) -> Result<()> {
        check_index(index, self.states.len())?;
        check_buffer("observation", obs.len(), self.obs_dim)?;
        if !self.ready {
            return Err(EnvError::NotReset);
        }
        self.states[index] = state;
        self.dynamics.observe(&state, obs);
        Ok(())
    }
}

/// The stream of env `index` of a batch seeded `seed` (Gymnasium's `seed + i`).
pub(crate) fn env_rng(seed: u64, index: usize) -> EnvRng {
    EnvRng::seed_from_u64(seed.wrapping_add(index as u64))
}

pub(crate) fn seed_rngs(rngs: &mut [EnvRng], seed: u64) {
    for (i, rng) in rngs.iter_mut().enumerate() {
        *rng = env_rng(seed, i);
    }
}

pub(crate) fn entropy_seed() -> u64 {
    use rand::Rng;
    rand::rng().next_u64()
}

impl<D: Dynamics> VecEnv for NativeVecEnv<D> {
    fn num_envs(&self) -> usize {
        self.states.len()
    }

    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<()> {
        let d = self.obs_dim;
        check_buffer("reset observations", obs.len(), self.states.len() * d)?;
        match seed {
            Some(s) => seed_rngs(&mut self.rngs, s),
            None if !self.ready => seed_rngs(
                &mut self.rngs,
                self.default_seed.unwrap_or_else(entropy_seed),
            ),
            None => {}
        }
        for ((state, rng), row) in self
            .states
            .iter_mut()
            .zip(&mut self.rngs)
            .zip(obs.chunks_exact_mut(d))
        {
            *state = self.dynamics.initial_state(rng);
            self.dynamics.observe(state, row);
        }
        self.ended.fill(None);
        self.ready = true;
        Ok(())
    }

    fn step(&mut self, actions: Actions<'_>, out: &mut StepBatch) -> Result<()> {
        let n = self.states.len();
        let d = self.obs_dim;
        self.action_space.validate_actions(actions, n)?;
        if !self.ready {
            return Err(EnvError::NotReset);
        }
        out.prepare(n, d)?;
        let actions = D::Action::slice(actions);
        let dynamics = &self.dynamics;
        let rows = out
            .obs
            .chunks_exact_mut(d)
            .zip(out.final_obs.chunks_exact_mut(d));
        let flags = out
            .rewards
            .iter_mut()
            .zip(out.terminated.iter_mut())
            .zip(out.truncated.iter_mut());
        for (((((state, ended), rng), &action), (obs, fin)), ((rew, term), trunc)) in self
            .states
            .iter_mut()
            .zip(&mut self.ended)
            .zip(&mut self.rngs)
            .zip(actions)
            .zip(rows)
            .zip(flags)
        {
            let (reward, terminal) = dynamics.step(state, action);
            *rew = reward as f32;
            *term = terminal;
            *trunc = false;
            *ended = None;
            if terminal {
                dynamics.observe(state, fin);
                *ended = Some(*state);
                *state = dynamics.initial_state(rng);
            }
            dynamics.observe(state, obs);
        }
        Ok(())
    }

    fn reset_env(&mut self, index: usize, obs: &mut [f32]) -> Result<()> {
        check_index(index, self.states.len())?;
        check_buffer("reset observation", obs.len(), self.obs_dim)?;
        if !self.ready {
            return Err(EnvError::NotReset);
        }
        self.ended[index] = Some(self.states[index]);
        self.states[index] = self.dynamics.initial_state(&mut self.rngs[index]);
        self.dynamics.observe(&self.states[index], obs);
        Ok(())
    }

    fn render(&mut self, index: usize, options: &RenderOptions) -> Result<Frame> {
        check_index(index, self.states.len())?;
        if !self.ready {
            return Err(EnvError::NotReset);
        }
        let state = self.ended[index].unwrap_or(self.states[index]);
        let frame = self
            .dynamics
            .draw(&state)
            .ok_or_else(|| EnvError::Render(format!("{} has no picture", D::ID)))?;
        let (w, h) = options.size((frame.width, frame.height))?;
        Ok(frame.resized(w, h))
    }

    fn render_fps(&self) -> Option<f64> {
        self.dynamics.render_fps()
    }

    fn save_runtime(&self, state: &mut EnvState) -> Result<()> {
        if !self.ready {
            return Err(EnvError::NotReset);
        }
        let runtime = NativeRuntime {
            id: D::ID.to_string(),
            states: self.states.iter().map(D::state_to_vec).collect(),
            rngs: self.rngs.clone(),
        };
        state.insert_serialized(NATIVE_KEY, &runtime)
    }

    fn load_runtime(&mut self, state: &EnvState) -> Result<()> {
        let runtime: NativeRuntime = state.get_deserialized(NATIVE_KEY, "a native env's state")?;
        if runtime.id != D::ID || runtime.states.len() != self.states.len() {
            return Err(EnvError::State(format!(
                "the saved state is of {} × {}, this env is {} × {}",
                runtime.states.len(),
                runtime.id,
                self.states.len(),
                D::ID
            )));
        }
        let states = runtime
            .states
            .iter()
            .map(|v| D::state_from_slice(v))
            .collect::<Result<Vec<_>>>()?;
        self.states = states;
        self.ended.fill(None);
        self.rngs = runtime.rngs;
        self.ready = true;
        Ok(())
    }
}

const NATIVE_KEY: &str = "runtime/native";

/// What [`NativeVecEnv::save_runtime`](VecEnv::save_runtime) saves.
#[derive(serde::Serialize, serde::Deserialize)]
struct NativeRuntime {
    id: String,
    states: Vec<Vec<f64>>,
    rngs: Vec<EnvRng>,
}

/// One native env implementing [`Env`] (no time limit, no auto-reset).
#[derive(Debug, Clone)]
pub struct NativeEnv<D: Dynamics> {
    dynamics: D,
    state: D::State,
    rng: EnvRng,
    observation_space: Space,
    action_space: Space,
    default_seed: Option<u64>,
    ready: bool,
}

impl<D: Dynamics> NativeEnv<D> {
    /// One env with these dynamics; `seed` is used by the first `reset(None)`.
    pub fn new(dynamics: D, seed: Option<u64>) -> Self {
        let mut rng = EnvRng::seed_from_u64(seed.unwrap_or(0));
        let state = dynamics.initial_state(&mut rng);
        Self {
            observation_space: dynamics.observation_space(),
            action_space: dynamics.action_space(),
            dynamics,
            state,
            rng,
            default_seed: seed,
            ready: false,
        }
    }

    /// The current state.
    pub fn state(&self) -> D::State {
        self.state
    }
}

impl<D: Dynamics> Env for NativeEnv<D> {
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(&mut self, seed: Option<u64>, obs: &mut [f32]) -> Result<()> {
        check_buffer(
            "reset observation",
            obs.len(),
            self.observation_space.flat_dim(),
        )?;
        match seed {
            Some(s) => self.rng = EnvRng::seed_from_u64(s),
            None if !self.ready => {
                self.rng = EnvRng::seed_from_u64(self.default_seed.unwrap_or_else(entropy_seed))
            }
            None => {}
        }
        self.state = self.dynamics.initial_state(&mut self.rng);
        self.dynamics.observe(&self.state, obs);
        self.ready = true;
        Ok(())
    }

    fn step(&mut self, action: Actions<'_>, obs: &mut [f32]) -> Result<Transition> {
        self.action_space.validate_actions(action, 1)?;
        check_buffer("observation", obs.len(), self.observation_space.flat_dim())?;
        if !self.ready {
            return Err(EnvError::NotReset);
        }
        let (reward, terminated) = self
            .dynamics
            .step(&mut self.state, D::Action::slice(action)[0]);
        self.dynamics.observe(&self.state, obs);
        Ok(Transition {
            reward,
            terminated,
            truncated: false,
        })
    }
}
