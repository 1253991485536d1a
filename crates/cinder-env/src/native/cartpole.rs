//! CartPole-v1: balance a pole on a cart by pushing it left or right.

use rand::RngExt;

use super::{Dynamics, EnvRng, state_len_error};
use crate::error::Result;
use crate::space::{BoxSpace, DType, Space};

/// CartPole-v1 (Gymnasium 1.4.0 `CartPoleEnv`, Euler integrator): observation
/// `[x, ẋ, θ, θ̇]`, actions 0 (push left) / 1 (push right), reward 1 per step, terminates when
/// |x| > 2.4 or |θ| > 12°, 500 steps.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CartPole {
    /// Gymnasium's keyword `sutton_barto_reward`: reward 0 per step and -1 on termination.
    pub sutton_barto_reward: bool,
}

/// CartPole state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CartPoleState {
    /// Cart position.
    pub x: f64,
    /// Cart velocity.
    pub x_dot: f64,
    /// Pole angle (rad).
    pub theta: f64,
    /// Pole angular velocity.
    pub theta_dot: f64,
}

const GRAVITY: f64 = 9.8;
const MASSCART: f64 = 1.0;
const MASSPOLE: f64 = 0.1;
const LENGTH: f64 = 0.5;
const FORCE_MAG: f64 = 10.0;
const TAU: f64 = 0.02;
const X_THRESHOLD: f64 = 2.4;

fn theta_threshold() -> f64 {
    12.0 * 2.0 * std::f64::consts::PI / 360.0
}

fn f32_bound(x: f64) -> f64 {
    x as f32 as f64
}

impl Dynamics for CartPole {
    type State = CartPoleState;
    type Action = i64;
    const ID: &'static str = "CartPole-v1";
    const MAX_EPISODE_STEPS: usize = 500;

    fn draw(&self, state: &Self::State) -> Option<crate::render::Frame> {
        Some(super::draw::cartpole(state.x, state.theta))
    }

    fn render_fps(&self) -> Option<f64> {
        Some(50.0)
    }

    fn observation_space(&self) -> Space {
        let high = [
            X_THRESHOLD * 2.0,
            f64::INFINITY,
            theta_threshold() * 2.0,
            f64::INFINITY,
        ]
        .map(f32_bound);
        Space::Box(
            BoxSpace::new(high.map(|h| -h).to_vec(), high.to_vec(), DType::F32)
                .expect("valid bounds"),
        )
    }

    fn action_space(&self) -> Space {
        Space::Discrete(2)
    }

    fn initial_state(&self, rng: &mut EnvRng) -> CartPoleState {
        let mut u = || rng.random_range(-0.05..0.05);
        CartPoleState {
            x: u(),
            x_dot: u(),
            theta: u(),
            theta_dot: u(),
        }
    }

    fn observe(&self, s: &CartPoleState, obs: &mut [f32]) {
        obs[0] = s.x as f32;
        obs[1] = s.x_dot as f32;
        obs[2] = s.theta as f32;
        obs[3] = s.theta_dot as f32;
    }

    fn step(&self, s: &mut CartPoleState, action: i64) -> (f64, bool) {
        let total_mass = MASSPOLE + MASSCART;
        let polemass_length = MASSPOLE * LENGTH;
        let force = if action == 1 { FORCE_MAG } else { -FORCE_MAG };
        let (sintheta, costheta) = s.theta.sin_cos();
        let temp = (force + polemass_length * (s.theta_dot * s.theta_dot) * sintheta) / total_mass;
        let thetaacc = (GRAVITY * sintheta - costheta * temp)
            / (LENGTH * (4.0 / 3.0 - MASSPOLE * (costheta * costheta) / total_mass));
        let xacc = temp - polemass_length * thetaacc * costheta / total_mass;
        let x = s.x + TAU * s.x_dot;
        let x_dot = s.x_dot + TAU * xacc;
        let theta = s.theta + TAU * s.theta_dot;
        let theta_dot = s.theta_dot + TAU * thetaacc;
        *s = CartPoleState {
            x,
            x_dot,
            theta,
            theta_dot,
        };
        let limit = theta_threshold();
        let terminated =
            !(-X_THRESHOLD..=X_THRESHOLD).contains(&x) || !(-limit..=limit).contains(&theta);
        let reward = match (self.sutton_barto_reward, terminated) {
            (false, _) => 1.0,
            (true, false) => 0.0,
            (true, true) => -1.0,
        };
        (reward, terminated)
    }

    fn state_from_slice(values: &[f64]) -> Result<CartPoleState> {
        match values {
            &[x, x_dot, theta, theta_dot] => Ok(CartPoleState {
                x,
                x_dot,
                theta,
                theta_dot,
            }),
            _ => Err(state_len_error(Self::ID, 4, values.len())),
        }
    }

    fn state_to_vec(s: &CartPoleState) -> Vec<f64> {
        vec![s.x, s.x_dot, s.theta, s.theta_dot]
    }
}
