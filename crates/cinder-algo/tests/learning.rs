//! Learning tests: each algorithm reaches its threshold on a classic-control task within the
//! step budget (mean of a 10-episode deterministic evaluation), in release mode.
//!
//! Wall-clock, steps/s and the time split are printed (`--nocapture`) for the docs.

use burn::backend::{Autodiff, Flex};
use cinder_algo::{MlpAgent, NoCallback, TrainConfig, TrainSummary, preset};

type B = Autodiff<Flex>;

fn run(config: TrainConfig) -> TrainSummary {
    let label = format!(
        "{} {} seed {}",
        config.algo.name(),
        config.env_id,
        config.seed
    );
    let mut agent = MlpAgent::<B>::new(config, None, &Default::default()).unwrap();
    let s = agent.train(&mut NoCallback).unwrap();
    let [c, g, p, v] = s.time_split;
    println!(
        "{label}: eval {:.1} ± {:.1} after {} steps, {:.1} s, {:.0} steps/s; \
         split collect {:.1} s / gae {:.2} s / policy {:.1} s / value {:.1} s; skipped {}",
        s.final_eval.mean_return,
        s.final_eval.std_return,
        s.steps,
        s.wall_s,
        s.sps,
        c,
        g,
        p,
        v,
        s.skipped_updates
    );
    s
}

/// Trains within `budget` env steps (whole updates only: the last one may not overshoot).
fn run_within(config: TrainConfig, budget: u64) -> TrainSummary {
    let batch = (config.n_steps * config.num_envs) as u64;
    let s = run(config.with_total_timesteps(budget - budget % batch));
    assert!(s.steps <= budget);
    s
}

/// Trains within `budget` env steps and checks the final deterministic evaluation.
fn check(config: TrainConfig, budget: u64, threshold: f64) {
    let s = run_within(config, budget);
    assert!(
        s.final_eval.mean_return >= threshold,
        "{} on {}: {:.1} < {threshold}",
        s.algo,
        s.env,
        s.final_eval.mean_return
    );
}

#[test]
fn trpo_pendulum_three_seeds() {
    for seed in 0..3 {
        check(
            preset("Pendulum-v1", "trpo").unwrap().with_seed(seed),
            150_000,
            -250.0,
        );
    }
}

#[test]
fn npg_pendulum() {
    check(preset("Pendulum-v1", "npg").unwrap(), 150_000, -400.0);
}

#[test]
fn ppo_kl_pendulum() {
    check(preset("Pendulum-v1", "ppo-kl").unwrap(), 200_000, -400.0);
}

#[test]
fn trpo_cartpole_three_seeds() {
    // TRPO reaches 500 on CartPole within 40–50k steps, but its final policy can fall back
    // later (the value loss spikes when returns jump to 500): at 150k steps seeds 0–7 ended at
    // 225.7 / 500 / 400.2 / 500 / 500 / 500 / 500 / 500 (2026-12-01; values from one batched
    // pass after each rollout). A per-seed 475 would test a seed's luck; the mean of three
    // seeds and a floor far above a random policy's 22 test learning.
    let budget = 150_000;
    let finals: Vec<f64> = (0..3)
        .map(|seed| {
            let config = preset("CartPole-v1", "trpo").unwrap().with_seed(seed);
            run_within(config, budget).final_eval.mean_return
        })
        .collect();
    let mean = finals.iter().sum::<f64>() / 3.0;
    assert!(
        mean >= 350.0 && finals.iter().all(|&r| r >= 195.0),
        "TRPO CartPole-v1, seeds 0–2: {finals:?}"
    );
}

#[test]
fn ppo_cartpole() {
    check(preset("CartPole-v1", "ppo").unwrap(), 100_000, 475.0);
}

#[test]
fn vpg_cartpole() {
    check(preset("CartPole-v1", "vpg").unwrap(), 200_000, 195.0);
}

/// The same three TRPO seeds in lockstep (one stacked Fisher operator, one batched CG).
#[test]
fn trpo_pendulum_three_seeds_in_lockstep() {
    use cinder_algo::{Callback, Lockstep, MlpAgent, NoCallback};
    let budget = 150_000u64;
    let trainers = (0..3)
        .map(|seed| {
            let c = preset("Pendulum-v1", "trpo").unwrap().with_seed(seed);
            let batch = (c.n_steps * c.num_envs) as u64;
            let c = c.with_total_timesteps(budget - budget % batch);
            match MlpAgent::<B>::new(c, None, &Default::default()).unwrap() {
                MlpAgent::Gaussian(t) => t,
                MlpAgent::Categorical(_) => unreachable!(),
            }
        })
        .collect();
    let mut group = Lockstep::new(trainers).unwrap();
    let mut callbacks = [NoCallback; 3];
    let mut refs: Vec<&mut dyn Callback> = callbacks
        .iter_mut()
        .map(|c| c as &mut dyn Callback)
        .collect();
    let start = std::time::Instant::now();
    let summaries = group.train(&mut refs).unwrap();
    let wall = start.elapsed().as_secs_f64();
    let steps: u64 = summaries.iter().map(|s| s.steps).sum();
    println!(
        "lockstep trpo Pendulum-v1 seeds 0-2: eval {:?}, {steps} steps in {wall:.1} s ({:.0} steps/s)",
        summaries
            .iter()
            .map(|s| (s.final_eval.mean_return * 10.0).round() / 10.0)
            .collect::<Vec<_>>(),
        steps as f64 / wall
    );
    for s in &summaries {
        assert!(s.steps <= budget);
        assert!(
            s.final_eval.mean_return >= -250.0,
            "{:.1}",
            s.final_eval.mean_return
        );
    }
}

/// A native MuJoCo task end to end (feature `mujoco`): InvertedPendulum-v5 with the presets.
#[cfg(feature = "mujoco")]
#[test]
fn trpo_and_ppo_inverted_pendulum_mujoco() {
    for algo in ["trpo", "ppo"] {
        check(preset("InvertedPendulum-v5", algo).unwrap(), 65_536, 950.0);
    }
}
