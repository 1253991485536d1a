//! The native envs replay trajectories recorded with Gymnasium 1.4.0
//! (`scripts/record_gymnasium_fixtures.py`): same initial state, same actions → the same
//! observations and rewards (≤ 1e-5 relative) and the same flags (exactly), step for step,
//! all episodes of an env stepped together as one batch.
#![allow(clippy::needless_range_loop)]

use cinder_env::native::{
    Acrobot, CartPole, ContinuousMountainCar, Dynamics, MountainCar, NativeVecEnv, Pendulum,
};
use cinder_env::wrappers::TimeLimit;
use cinder_env::{Actions, StepBatch, VecEnv};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    env_id: String,
    gymnasium: String,
    max_episode_steps: usize,
    episodes: Vec<Episode>,
}

#[derive(Deserialize)]
struct Episode {
    seed: u64,
    policy: String,
    initial_state: Vec<f64>,
    reset_obs: Vec<f32>,
    actions: Vec<serde_json::Value>,
    obs: Vec<Vec<f32>>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
}

#[derive(Default)]
struct Agreement {
    compared: usize,
    exact: usize,
    max_rel: f64,
}

impl Agreement {
    fn check(&mut self, got: f64, want: f64, what: &dyn Fn() -> String) {
        let err = (got - want).abs();
        let rel = err / want.abs().max(1e-30);
        self.compared += 1;
        if err == 0.0 {
            self.exact += 1;
        } else {
            self.max_rel = self.max_rel.max(rel);
        }
        assert!(
            err <= 1e-5 * want.abs() + 1e-7,
            "{}: native {got} vs Gymnasium {want} (relative error {rel:.2e})",
            what()
        );
    }
}

fn pick(ep: &Episode, t: usize) -> &serde_json::Value {
    &ep.actions[if t < ep.actions.len() { t } else { 0 }]
}

fn replay<D: Dynamics>(dynamics: D) {
    let path = format!(
        "{}/tests/fixtures/gymnasium/{}.json",
        env!("CARGO_MANIFEST_DIR"),
        D::ID
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let fixture: Fixture = serde_json::from_str(&text).unwrap();
    assert_eq!(fixture.env_id, D::ID);
    assert_eq!(fixture.gymnasium, "1.4.0");
    assert_eq!(
        fixture.max_episode_steps,
        D::MAX_EPISODE_STEPS,
        "registered episode limit"
    );
    let episodes = &fixture.episodes;
    let n = episodes.len();
    let mut env = TimeLimit::new(
        NativeVecEnv::new(dynamics, n).unwrap(),
        fixture.max_episode_steps,
    )
    .unwrap();
    let d = env.observation_space().flat_dim();
    let mut obs = vec![0.0; n * d];
    env.reset(Some(0), &mut obs).unwrap();
    let mut agreement = Agreement::default();
    for (i, ep) in episodes.iter().enumerate() {
        let state = D::state_from_slice(&ep.initial_state).unwrap();
        let row = &mut obs[i * d..(i + 1) * d];
        env.inner_mut().set_state(i, state, row).unwrap();
        for k in 0..d {
            agreement.check(row[k] as f64, ep.reset_obs[k] as f64, &|| {
                format!("episode {i} reset obs[{k}]")
            });
        }
    }
    let discrete = env.action_space().is_discrete();
    let longest = episodes.iter().map(|e| e.actions.len()).max().unwrap();
    let mut out = StepBatch::for_env(&env);
    let mut ended = vec![false; n];
    for t in 0..longest {
        // Envs whose recorded episode is over keep stepping with their first action.
        if discrete {
            let a: Vec<i64> = episodes
                .iter()
                .map(|ep| pick(ep, t).as_i64().unwrap())
                .collect();
            env.step(Actions::Discrete(&a), &mut out).unwrap();
        } else {
            let a: Vec<f32> = episodes
                .iter()
                .flat_map(|ep| {
                    pick(ep, t)
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().unwrap() as f32)
                })
                .collect();
            env.step(Actions::Continuous(&a), &mut out).unwrap();
        }
        for (i, ep) in episodes.iter().enumerate() {
            if t >= ep.actions.len() {
                continue;
            }
            let ctx = |what: &str| {
                format!(
                    "{} seed {} ({}) step {t}: {what}",
                    D::ID,
                    ep.seed,
                    ep.policy
                )
            };
            assert_eq!(out.terminated[i], ep.terminated[t], "{}", ctx("terminated"));
            assert_eq!(out.truncated[i], ep.truncated[t], "{}", ctx("truncated"));
            let last = t + 1 == ep.actions.len();
            assert_eq!(out.done(i), last, "{}", ctx("episode end"));
            let row = if last {
                out.final_obs_row(i)
            } else {
                out.obs_row(i)
            };
            for k in 0..d {
                agreement.check(row[k] as f64, ep.obs[t][k] as f64, &|| {
                    ctx(&format!("obs[{k}]"))
                });
            }
            agreement.check(out.rewards[i] as f64, ep.rewards[t], &|| ctx("reward"));
            ended[i] |= last;
        }
    }
    assert!(ended.iter().all(|&e| e));
    let terminated = episodes
        .iter()
        .filter(|e| *e.terminated.last().unwrap())
        .count();
    let truncated = episodes
        .iter()
        .filter(|e| *e.truncated.last().unwrap())
        .count();
    assert!(
        truncated > 0,
        "{}: the fixtures should hold a truncated episode",
        D::ID
    );
    if D::ID != "Pendulum-v1" {
        assert!(
            terminated > 0,
            "{}: the fixtures should hold a terminated episode",
            D::ID
        );
    }
    eprintln!(
        "{}: {} episodes ({terminated} terminated, {truncated} truncated), {} values compared, {} bit-identical, max relative error {:.1e}",
        D::ID,
        n,
        agreement.compared,
        agreement.exact,
        agreement.max_rel
    );
}

#[test]
fn cartpole_matches_gymnasium() {
    replay(CartPole::default());
}

#[test]
fn acrobot_matches_gymnasium() {
    replay(Acrobot);
}

#[test]
fn mountain_car_matches_gymnasium() {
    replay(MountainCar::default());
}

#[test]
fn continuous_mountain_car_matches_gymnasium() {
    replay(ContinuousMountainCar::default());
}

#[test]
fn pendulum_matches_gymnasium() {
    replay(Pendulum::default());
}
