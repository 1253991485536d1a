//! Pendulum-v1: swing a pendulum up and keep it upright with a bounded torque.

use std::f64::consts::PI;

use rand::RngExt;

use super::{Dynamics, EnvRng, state_len_error};
use crate::error::Result;
use crate::space::{BoxSpace, DType, Space};

/// Pendulum-v1 (Gymnasium 1.4.0 `PendulumEnv`): observation `[cos θ, sin θ, θ̇]`, action a
/// torque in `[-2, 2]` (out-of-range torques are clipped, as Gymnasium does), reward
/// `-(θ² + 0.1 θ̇² + 0.001 u²)` with θ normalised to `[-π, π)`, never terminates, 200 steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pendulum {
    /// Gravity (m/s²), Gymnasium's keyword `g`; default 10.0.
    pub g: f64,
}

impl Default for Pendulum {
    fn default() -> Self {
        Self { g: 10.0 }
    }
}

/// Pendulum state: angle (not wrapped) and angular velocity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PendulumState {
    /// θ in radians, 0 upright.
    pub theta: f64,
    /// θ̇ in rad/s.
    pub theta_dot: f64,
}

const MAX_SPEED: f64 = 8.0;
const MAX_TORQUE: f32 = 2.0;
const DT: f64 = 0.05;
const M: f64 = 1.0;
const L: f64 = 1.0;

/// numpy's float remainder (`np.remainder`, sign of the divisor), then shift.
fn angle_normalize(x: f64) -> f64 {
    let modulus = 2.0 * PI;
    let mut m = (x + PI) % modulus;
    if m != 0.0 {
        if (modulus < 0.0) != (m < 0.0) {
            m += modulus;
        }
    } else {
        m = 0.0f64.copysign(modulus);
    }
    m - PI
}

impl Dynamics for Pendulum {
    type State = PendulumState;
    type Action = f32;
    const ID: &'static str = "Pendulum-v1";
    const MAX_EPISODE_STEPS: usize = 200;

    fn draw(&self, state: &Self::State) -> Option<crate::render::Frame> {
        Some(super::draw::pendulum(state.theta))
    }

    fn render_fps(&self) -> Option<f64> {
        Some(30.0)
    }

    fn observation_space(&self) -> Space {
        Space::Box(
            BoxSpace::new(
                vec![-1.0, -1.0, -MAX_SPEED],
                vec![1.0, 1.0, MAX_SPEED],
                DType::F32,
            )
            .expect("valid bounds"),
        )
    }

    fn action_space(&self) -> Space {
        Space::Box(BoxSpace::uniform(-2.0, 2.0, 1, DType::F32).expect("valid bounds"))
    }

    fn initial_state(&self, rng: &mut EnvRng) -> PendulumState {
        PendulumState {
            theta: rng.random_range(-PI..PI),
            theta_dot: rng.random_range(-1.0..1.0),
        }
    }

    fn observe(&self, s: &PendulumState, obs: &mut [f32]) {
        let (sin, cos) = s.theta.sin_cos();
        obs[0] = cos as f32;
        obs[1] = sin as f32;
        obs[2] = s.theta_dot as f32;
    }

    fn step(&self, s: &mut PendulumState, action: f32) -> (f64, bool) {
        // `u` stays a numpy float32: the torque terms are float32 products (NEP 50).
        let u = action.clamp(-MAX_TORQUE, MAX_TORQUE);
        let (th, thdot) = (s.theta, s.theta_dot);
        let an = angle_normalize(th);
        let costs = an * an + 0.1 * (thdot * thdot) + (0.001f32 * (u * u)) as f64;
        let gravity_term = 3.0 * self.g / (2.0 * L) * th.sin();
        let torque_term = ((3.0 / (M * (L * L))) as f32 * u) as f64;
        let newthdot = (thdot + (gravity_term + torque_term) * DT).clamp(-MAX_SPEED, MAX_SPEED);
        s.theta = th + newthdot * DT;
        s.theta_dot = newthdot;
        (-costs, false)
    }

    fn state_from_slice(values: &[f64]) -> Result<PendulumState> {
        match values {
            &[theta, theta_dot] => Ok(PendulumState { theta, theta_dot }),
            _ => Err(state_len_error(Self::ID, 2, values.len())),
        }
    }

    fn state_to_vec(s: &PendulumState) -> Vec<f64> {
        vec![s.theta, s.theta_dot]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angle_normalize_matches_numpy_remainder() {
        assert_eq!(angle_normalize(0.0), 0.0);
        assert!((angle_normalize(3.0 * PI / 2.0) + PI / 2.0).abs() < 1e-12);
        assert!((angle_normalize(-3.0 * PI / 2.0) - PI / 2.0).abs() < 1e-12);
        assert_eq!(angle_normalize(PI), -PI);
        assert!((angle_normalize(-7.0) - (-7.0 + 2.0 * PI)).abs() < 1e-12);
    }
}
