//! MountainCar-v0 and MountainCarContinuous-v0: drive an under-powered car up a hill.

use rand::RngExt;

use super::{Dynamics, EnvRng, state_len_error};
use crate::error::Result;
use crate::space::{BoxSpace, DType, Space};

const MIN_POSITION: f64 = -1.2;
const MAX_POSITION: f64 = 0.6;
const MAX_SPEED: f64 = 0.07;

fn observation_space() -> Space {
    let f = |x: f64| x as f32 as f64;
    Space::Box(
        BoxSpace::new(
            vec![f(MIN_POSITION), f(-MAX_SPEED)],
            vec![f(MAX_POSITION), f(MAX_SPEED)],
            DType::F32,
        )
        .expect("valid bounds"),
    )
}

fn initial_position(rng: &mut EnvRng) -> f64 {
    rng.random_range(-0.6..-0.4)
}

/// MountainCar-v0 (Gymnasium 1.4.0 `MountainCarEnv`): observation `[position, velocity]`,
/// actions 0/1/2 accelerate left / not / right, reward -1 per step, terminates at the flag
/// (position ≥ 0.5 and velocity ≥ `goal_velocity`), 200 steps.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MountainCar {
    /// Gymnasium's keyword `goal_velocity` (default 0).
    pub goal_velocity: f64,
}

/// MountainCar state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MountainCarState {
    /// Position on the track.
    pub position: f64,
    /// Velocity.
    pub velocity: f64,
}

impl Dynamics for MountainCar {
    type State = MountainCarState;
    type Action = i64;
    const ID: &'static str = "MountainCar-v0";
    const MAX_EPISODE_STEPS: usize = 200;

    fn draw(&self, state: &Self::State) -> Option<crate::render::Frame> {
        Some(super::draw::mountain_car(state.position, 0.5))
    }

    fn render_fps(&self) -> Option<f64> {
        Some(30.0)
    }

    fn observation_space(&self) -> Space {
        observation_space()
    }

    fn action_space(&self) -> Space {
        Space::Discrete(3)
    }

    fn initial_state(&self, rng: &mut EnvRng) -> MountainCarState {
        MountainCarState {
            position: initial_position(rng),
            velocity: 0.0,
        }
    }

    fn observe(&self, s: &MountainCarState, obs: &mut [f32]) {
        obs[0] = s.position as f32;
        obs[1] = s.velocity as f32;
    }

    fn step(&self, s: &mut MountainCarState, action: i64) -> (f64, bool) {
        let force = 0.001;
        let gravity = 0.0025;
        let mut velocity =
            s.velocity + ((action - 1) as f64 * force + (3.0 * s.position).cos() * (-gravity));
        velocity = velocity.clamp(-MAX_SPEED, MAX_SPEED);
        let position = (s.position + velocity).clamp(MIN_POSITION, MAX_POSITION);
        if position == MIN_POSITION && velocity < 0.0 {
            velocity = 0.0;
        }
        let terminated = position >= 0.5 && velocity >= self.goal_velocity;
        *s = MountainCarState { position, velocity };
        (-1.0, terminated)
    }

    fn state_from_slice(values: &[f64]) -> Result<MountainCarState> {
        match values {
            &[position, velocity] => Ok(MountainCarState { position, velocity }),
            _ => Err(state_len_error(Self::ID, 2, values.len())),
        }
    }

    fn state_to_vec(s: &MountainCarState) -> Vec<f64> {
        vec![s.position, s.velocity]
    }
}

/// MountainCarContinuous-v0 (Gymnasium 1.4.0 `Continuous_MountainCarEnv`): observation
/// `[position, velocity]`, action a force in `[-1, 1]` (clipped), reward `-0.1 a²` per step
/// (of the unclipped action) plus 100 at the flag (position ≥ 0.45 and velocity ≥
/// `goal_velocity`), 999 steps.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ContinuousMountainCar {
    /// Gymnasium's keyword `goal_velocity` (default 0).
    pub goal_velocity: f64,
}

/// MountainCarContinuous state.
///
/// Gymnasium keeps this state as float64 after reset and as float32 after every step, and
/// numpy's promotion rules then make parts of the step float32 arithmetic; `float32` records
/// which case applies so the native env rounds where Gymnasium does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContinuousMountainCarState {
    /// Position on the track.
    pub position: f64,
    /// Velocity.
    pub velocity: f64,
    /// Whether Gymnasium holds the state as float32 (true after the first step).
    pub float32: bool,
}

/// A numpy scalar: its value and how numpy types it (NEP 50 promotion).
#[derive(Debug, Clone, Copy)]
enum Np {
    F32(f32),
    F64(f64),
    /// A Python float: takes the type of the numpy operand.
    Py(f64),
}

impl Np {
    fn value(self) -> f64 {
        match self {
            Np::F32(x) => x as f64,
            Np::F64(x) | Np::Py(x) => x,
        }
    }

    fn binary(self, other: Np, f64op: fn(f64, f64) -> f64, f32op: fn(f32, f32) -> f32) -> Np {
        use Np::*;
        match (self, other) {
            (F32(a), F32(b)) => F32(f32op(a, b)),
            (F32(a), Py(b)) => F32(f32op(a, b as f32)),
            (Py(a), F32(b)) => F32(f32op(a as f32, b)),
            (Py(a), Py(b)) => Py(f64op(a, b)),
            (a, b) => F64(f64op(a.value(), b.value())),
        }
    }

    fn add(self, o: Np) -> Np {
        self.binary(o, |a, b| a + b, |a, b| a + b)
    }

    fn sub(self, o: Np) -> Np {
        self.binary(o, |a, b| a - b, |a, b| a - b)
    }

    fn mul(self, o: Np) -> Np {
        self.binary(o, |a, b| a * b, |a, b| a * b)
    }

    /// Comparison in the promoted type.
    fn cmp(self, o: Np) -> std::cmp::Ordering {
        use Np::*;
        let (a, b) = match (self, o) {
            (F32(a), F32(b)) => (a as f64, b as f64),
            (F32(a), Py(b)) => (a as f64, b as f32 as f64),
            (Py(a), F32(b)) => (a as f32 as f64, b as f64),
            (a, b) => (a.value(), b.value()),
        };
        a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal)
    }

    fn gt(self, o: Np) -> bool {
        self.cmp(o).is_gt()
    }

    fn lt(self, o: Np) -> bool {
        self.cmp(o).is_lt()
    }

    fn ge(self, o: Np) -> bool {
        self.cmp(o).is_ge()
    }

    fn eq(self, o: Np) -> bool {
        self.cmp(o).is_eq()
    }
}

impl Dynamics for ContinuousMountainCar {
    type State = ContinuousMountainCarState;
    type Action = f32;
    const ID: &'static str = "MountainCarContinuous-v0";
    const MAX_EPISODE_STEPS: usize = 999;

    fn draw(&self, state: &Self::State) -> Option<crate::render::Frame> {
        Some(super::draw::mountain_car(state.position, 0.45))
    }

    fn render_fps(&self) -> Option<f64> {
        Some(30.0)
    }

    fn observation_space(&self) -> Space {
        observation_space()
    }

    fn action_space(&self) -> Space {
        Space::Box(BoxSpace::uniform(-1.0, 1.0, 1, DType::F32).expect("valid bounds"))
    }

    fn initial_state(&self, rng: &mut EnvRng) -> ContinuousMountainCarState {
        ContinuousMountainCarState {
            position: initial_position(rng),
            velocity: 0.0,
            float32: false,
        }
    }

    fn observe(&self, s: &ContinuousMountainCarState, obs: &mut [f32]) {
        obs[0] = s.position as f32;
        obs[1] = s.velocity as f32;
    }

    fn step(&self, s: &mut ContinuousMountainCarState, action: f32) -> (f64, bool) {
        let scalar = |x: f64| {
            if s.float32 {
                Np::F32(x as f32)
            } else {
                Np::F64(x)
            }
        };
        let (mut position, mut velocity) = (scalar(s.position), scalar(s.velocity));
        // force = min(max(action[0], min_action), max_action): Python's min/max keep the
        // float32 action unless a bound (a Python float) wins.
        let a = Np::F32(action);
        let force = if Np::Py(-1.0).gt(a) {
            Np::Py(-1.0)
        } else if Np::Py(1.0).lt(a) {
            Np::Py(1.0)
        } else {
            a
        };
        let three_pos = Np::Py(3.0).mul(position);
        let slope = Np::Py(0.0025 * three_pos.value().cos());
        velocity = velocity.add(force.mul(Np::Py(0.0015)).sub(slope));
        if velocity.gt(Np::Py(MAX_SPEED)) {
            velocity = Np::Py(MAX_SPEED);
        }
        if velocity.lt(Np::Py(-MAX_SPEED)) {
            velocity = Np::Py(-MAX_SPEED);
        }
        position = position.add(velocity);
        if position.gt(Np::Py(MAX_POSITION)) {
            position = Np::Py(MAX_POSITION);
        }
        if position.lt(Np::Py(MIN_POSITION)) {
            position = Np::Py(MIN_POSITION);
        }
        if position.eq(Np::Py(MIN_POSITION)) && velocity.lt(Np::Py(0.0)) {
            velocity = Np::Py(0.0);
        }
        let terminated = position.ge(Np::Py(0.45)) && velocity.ge(Np::Py(self.goal_velocity));
        let a64 = action as f64;
        let reward = if terminated { 100.0 } else { 0.0 } - (a64 * a64) * 0.1;
        *s = ContinuousMountainCarState {
            position: position.value() as f32 as f64,
            velocity: velocity.value() as f32 as f64,
            float32: true,
        };
        (reward, terminated)
    }

    fn state_from_slice(values: &[f64]) -> Result<ContinuousMountainCarState> {
        match values {
            // Gymnasium's state after reset: float64.
            &[position, velocity] => Ok(ContinuousMountainCarState {
                position,
                velocity,
                float32: false,
            }),
            _ => Err(state_len_error(Self::ID, 2, values.len())),
        }
    }

    fn state_to_vec(s: &ContinuousMountainCarState) -> Vec<f64> {
        vec![s.position, s.velocity]
    }
}
