//! Acrobot-v1: swing the tip of a two-link chain above a line by torquing the middle joint.

use std::f64::consts::PI;

use rand::RngExt;

use super::{Dynamics, EnvRng, state_len_error};
use crate::error::Result;
use crate::space::{BoxSpace, DType, Space};

/// Acrobot-v1 (Gymnasium 1.4.0 `AcrobotEnv`, "book" dynamics, RK4 over one 0.2 s step, no
/// torque noise): observation `[cos θ₁, sin θ₁, cos θ₂, sin θ₂, θ̇₁, θ̇₂]`, actions 0/1/2 apply
/// torque -1/0/+1, reward -1 per step and 0 on the terminal step, terminates when the tip is
/// above the bar (`-cos θ₁ - cos(θ₁+θ₂) > 1`), 500 steps.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Acrobot;

/// Acrobot state (Gymnasium's `env.unwrapped.state`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AcrobotState {
    /// Angle of the first link, 0 pointing down.
    pub theta1: f64,
    /// Angle of the second link relative to the first.
    pub theta2: f64,
    /// Angular velocity of link 1.
    pub dtheta1: f64,
    /// Angular velocity of link 2.
    pub dtheta2: f64,
}

const DT: f64 = 0.2;
const LINK_LENGTH_1: f64 = 1.0;
const LINK_MASS_1: f64 = 1.0;
const LINK_MASS_2: f64 = 1.0;
const LINK_COM_POS_1: f64 = 0.5;
const LINK_COM_POS_2: f64 = 0.5;
const LINK_MOI: f64 = 1.0;
const AVAIL_TORQUE: [f64; 3] = [-1.0, 0.0, 1.0];

fn max_vel_1() -> f64 {
    4.0 * PI
}

fn max_vel_2() -> f64 {
    9.0 * PI
}

/// Time derivative of `[θ₁, θ₂, θ̇₁, θ̇₂]` under torque `a`, term for term as Gymnasium's
/// `_dsdt` (book variant) so that the float64 rounding is the same.
fn dsdt(s: [f64; 4], a: f64) -> [f64; 4] {
    let (m1, m2, l1, lc1, lc2, i1, i2) = (
        LINK_MASS_1,
        LINK_MASS_2,
        LINK_LENGTH_1,
        LINK_COM_POS_1,
        LINK_COM_POS_2,
        LINK_MOI,
        LINK_MOI,
    );
    let g = 9.8;
    let [theta1, theta2, dtheta1, dtheta2] = s;
    let (sin2, cos2) = (theta2.sin(), theta2.cos());
    let d1 = m1 * (lc1 * lc1) + m2 * ((l1 * l1) + (lc2 * lc2) + 2.0 * l1 * lc2 * cos2) + i1 + i2;
    let d2 = m2 * ((lc2 * lc2) + l1 * lc2 * cos2) + i2;
    let phi2 = m2 * lc2 * g * (theta1 + theta2 - PI / 2.0).cos();
    let phi1 = -m2 * l1 * lc2 * (dtheta2 * dtheta2) * sin2
        - 2.0 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin2
        + (m1 * lc1 + m2 * l1) * g * (theta1 - PI / 2.0).cos()
        + phi2;
    let ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * (dtheta1 * dtheta1) * sin2 - phi2)
        / (m2 * (lc2 * lc2) + i2 - (d2 * d2) / d1);
    let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
    [dtheta1, dtheta2, ddtheta1, ddtheta2]
}

fn axpy(y: [f64; 4], a: f64, x: [f64; 4]) -> [f64; 4] {
    [
        y[0] + a * x[0],
        y[1] + a * x[1],
        y[2] + a * x[2],
        y[3] + a * x[3],
    ]
}

/// Gymnasium's `rk4` over `t = [0, dt]`: one classical Runge–Kutta step.
fn rk4(y0: [f64; 4], a: f64) -> [f64; 4] {
    let dt = DT - 0.0;
    let dt2 = dt / 2.0;
    let k1 = dsdt(y0, a);
    let k2 = dsdt(axpy(y0, dt2, k1), a);
    let k3 = dsdt(axpy(y0, dt2, k2), a);
    let k4 = dsdt(axpy(y0, dt, k3), a);
    let h = dt / 6.0;
    std::array::from_fn(|i| y0[i] + h * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
}

fn wrap(mut x: f64, m: f64, big_m: f64) -> f64 {
    let diff = big_m - m;
    while x > big_m {
        x -= diff;
    }
    while x < m {
        x += diff;
    }
    x
}

impl Dynamics for Acrobot {
    type State = AcrobotState;
    type Action = i64;
    const ID: &'static str = "Acrobot-v1";
    const MAX_EPISODE_STEPS: usize = 500;

    fn draw(&self, state: &Self::State) -> Option<crate::render::Frame> {
        Some(super::draw::acrobot(state.theta1, state.theta2))
    }

    fn render_fps(&self) -> Option<f64> {
        Some(15.0)
    }

    fn observation_space(&self) -> Space {
        let high = [1.0, 1.0, 1.0, 1.0, max_vel_1(), max_vel_2()].map(|h| h as f32 as f64);
        Space::Box(
            BoxSpace::new(high.map(|h| -h).to_vec(), high.to_vec(), DType::F32)
                .expect("valid bounds"),
        )
    }

    fn action_space(&self) -> Space {
        Space::Discrete(3)
    }

    fn initial_state(&self, rng: &mut EnvRng) -> AcrobotState {
        // Gymnasium draws float64 and stores the state as float32.
        let mut u = || rng.random_range(-0.1..0.1) as f32 as f64;
        AcrobotState {
            theta1: u(),
            theta2: u(),
            dtheta1: u(),
            dtheta2: u(),
        }
    }

    fn observe(&self, s: &AcrobotState, obs: &mut [f32]) {
        obs[0] = s.theta1.cos() as f32;
        obs[1] = s.theta1.sin() as f32;
        obs[2] = s.theta2.cos() as f32;
        obs[3] = s.theta2.sin() as f32;
        obs[4] = s.dtheta1 as f32;
        obs[5] = s.dtheta2 as f32;
    }

    fn step(&self, s: &mut AcrobotState, action: i64) -> (f64, bool) {
        let torque = AVAIL_TORQUE[action as usize];
        let ns = rk4([s.theta1, s.theta2, s.dtheta1, s.dtheta2], torque);
        *s = AcrobotState {
            theta1: wrap(ns[0], -PI, PI),
            theta2: wrap(ns[1], -PI, PI),
            dtheta1: ns[2].max(-max_vel_1()).min(max_vel_1()),
            dtheta2: ns[3].max(-max_vel_2()).min(max_vel_2()),
        };
        let terminated = -s.theta1.cos() - (s.theta2 + s.theta1).cos() > 1.0;
        (if terminated { 0.0 } else { -1.0 }, terminated)
    }

    fn state_from_slice(values: &[f64]) -> Result<AcrobotState> {
        match values {
            &[theta1, theta2, dtheta1, dtheta2] => Ok(AcrobotState {
                theta1,
                theta2,
                dtheta1,
                dtheta2,
            }),
            _ => Err(state_len_error(Self::ID, 4, values.len())),
        }
    }

    fn state_to_vec(s: &AcrobotState) -> Vec<f64> {
        vec![s.theta1, s.theta2, s.dtheta1, s.dtheta2]
    }
}
