//! The trainer's contracts on flex: failed line searches leave the parameters bit-identical,
//! CG breakdowns after a good iteration still step, metrics files, config validation, every
//! algorithm on discrete and continuous actions. The backend-generic ones (exact resume from
//! every checkpoint, skipped updates, critic fits, checkpoint refusal) are in
//! `crates/cinder/tests/backends/trainer.rs`, run on flex, ndarray and wgpu.

use std::path::PathBuf;

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::tensor::{Tensor, TensorData};
use cinder_algo::{
    AlgoConfig, Batch, COLUMNS, MlpAgent, NaturalGradient, NoCallback, PpoConfig, TrainConfig,
    TrpoConfig, preset,
};
use cinder_policy::{ActionDistribution, GaussianMlpPolicyConfig, Policy, flat};
use rand::SeedableRng;

type B = Autodiff<Flex>;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cinder-algo-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A batch for a policy step alone (values and returns are not read by it: zeros).
fn policy_batch(
    obs: Tensor<B, 2>,
    actions: Tensor<B, 2>,
    old_log_probs: Tensor<B, 1>,
    advantages: Tensor<B, 1>,
) -> Batch<B, cinder_policy::GaussianFamily> {
    let len = obs.dims()[0];
    let zeros = Tensor::<B, 1>::zeros([len], &obs.device());
    Batch {
        obs,
        actions,
        old_log_probs,
        old_values: zeros.clone(),
        advantages,
        returns: zeros,
        host_obs: vec![],
        host_returns: vec![],
        host_values: vec![],
        len,
        progress_remaining: 1.0,
    }
}

/// A Gaussian policy, a batch whose actions are the policy's means, advantage +1 everywhere:
/// the natural step only shrinks σ, and for a large KL radius the true KL of the full step is
/// far beyond the quadratic model's, so a one-try line search must fail.
#[test]
fn failed_line_search_leaves_parameters_bit_identical() {
    let device = Default::default();
    let policy = GaussianMlpPolicyConfig::new(3, 2)
        .init::<B>(7, &device)
        .unwrap();
    let m = 256;
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(1);
    let obs: Vec<f32> = (0..m * 3)
        .map(|_| rand::RngExt::random_range(&mut rng, -1.0f32..1.0))
        .collect();
    let obs = Tensor::<B, 2>::from_data(TensorData::new(obs.clone(), [m, 3]), &device);
    let dist = policy.valid().distribution(obs.clone().inner());
    let actions = Tensor::<B, 2>::from_inner(dist.mode());
    let old_log_probs = Tensor::<B, 1>::from_inner(dist.log_prob(dist.mode()));
    let batch = policy_batch(obs, actions, old_log_probs, Tensor::ones([m], &device));
    let before: Vec<f32> = flat::flatten(&policy.valid()).into_data().to_vec().unwrap();
    let trpo = NaturalGradient::<B>::trpo(
        &TrpoConfig::new()
            .with_target_kl(50.0)
            .with_line_search_max_iter(1)
            .with_normalize_advantage(false),
    )
    .unwrap();
    let (after, stats) = trpo.policy_step(policy.clone(), &batch).unwrap();
    assert_eq!(stats.line_search_success, Some(false), "{stats:?}");
    assert_eq!(stats.skipped, None);
    let after: Vec<f32> = flat::flatten(&after.valid()).into_data().to_vec().unwrap();
    assert_eq!(before, after);

    // The same batch with a small radius: the step is taken (the test above is not vacuous).
    let trpo =
        NaturalGradient::<B>::trpo(&TrpoConfig::new().with_normalize_advantage(false)).unwrap();
    let (moved, stats) = trpo.policy_step(policy, &batch).unwrap();
    assert_eq!(stats.line_search_success, Some(true), "{stats:?}");
    let moved: Vec<f32> = flat::flatten(&moved.valid()).into_data().to_vec().unwrap();
    assert_ne!(before, moved);
}

#[test]
fn metrics_files_have_cleanrl_names() {
    let device = Default::default();
    let dir = temp_dir("metrics");
    let config = preset("Pendulum-v1", "trpo")
        .unwrap()
        .with_n_steps(200)
        .with_total_timesteps(3 * 400)
        .with_eval_interval(3)
        .with_eval_episodes(2);
    let mut agent = MlpAgent::<B>::new(config, Some(&dir), &device).unwrap();
    agent.train(&mut NoCallback).unwrap();
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), COLUMNS.join(","));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3);
    for row in &rows {
        assert_eq!(row.len(), COLUMNS.len());
    }
    let col = |name: &str| COLUMNS.iter().position(|c| *c == name).unwrap();
    assert_eq!(rows[2][col("global_step")], "1200");
    assert_eq!(rows[2][col("update")], "3");
    // Pendulum episodes are 200 steps: every rollout ends two.
    assert_eq!(rows[0][col("charts/episodic_length")], "200");
    assert!(
        rows[0][col("losses/clipfrac")].is_empty(),
        "no clipping in TRPO"
    );
    assert!(!rows[2][col("eval/mean_return")].is_empty());
    assert!(rows[0][col("eval/mean_return")].is_empty());
    let jsonl = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(jsonl.lines().last().unwrap()).unwrap();
    for key in [
        "charts/episodic_return",
        "charts/SPS",
        "losses/policy_loss",
        "losses/value_loss",
        "losses/entropy",
        "losses/approx_kl",
        "losses/explained_variance",
        "trpo/line_search_success",
        "trpo/backtracks",
        "trpo/cg_residual",
        "trpo/step_kl",
        "policy/std",
    ] {
        assert!(
            last.get(key).is_some_and(|v| v.is_number()),
            "{key} in {last}"
        );
    }
    assert!(dir.join("checkpoints/update_000003/state.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_configs_say_what_to_fix() {
    let config = TrainConfig::new(
        "CartPole-v1".into(),
        AlgoConfig::Ppo(PpoConfig::new().with_batch_size(100)),
    )
    .with_n_steps(2048);
    let err = config.validate().unwrap_err().to_string();
    assert!(
        err.contains("batch_size = 100") && err.contains("divisor"),
        "{err}"
    );
    let err = MlpAgent::<B>::new(
        TrainConfig::new("Pendulum-v2".into(), AlgoConfig::Trpo(TrpoConfig::new())),
        None,
        &Default::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("Pendulum-v1"), "{err}");
    let err = AlgoConfig::from_name("sac").unwrap_err().to_string();
    assert!(err.contains("trpo, npg, ppo, ppo-kl, vpg"), "{err}");
    let err = TrainConfig::new(
        "Pendulum-v1".into(),
        AlgoConfig::Trpo(TrpoConfig::new().with_target_kl(-1.0)),
    );
    let err = MlpAgent::<B>::new(err, None, &Default::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("target_kl"), "{err}");
    // Configs round-trip through JSON (the run folder's config.json).
    let config = preset("Pendulum-v1", "ppo").unwrap();
    let json = serde_json::to_string(&config).unwrap();
    let back: TrainConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(config, back);
}

#[test]
fn every_algorithm_handles_discrete_and_continuous_actions() {
    for env in ["CartPole-v1", "Pendulum-v1"] {
        for algo in ["trpo", "npg", "ppo", "ppo-kl", "vpg"] {
            let mut config = preset(env, algo)
                .unwrap()
                .with_num_envs(2)
                .with_n_steps(128)
                .with_total_timesteps(2 * 256)
                .with_eval_episodes(2);
            match &mut config.algo {
                AlgoConfig::Ppo(c) => c.batch_size = 64,
                AlgoConfig::PpoKl(c) => c.batch_size = 64,
                _ => {}
            }
            for fvp in [
                cinder_algo::FvpKind::GaussNewton,
                cinder_algo::FvpKind::DoubleBackprop,
            ] {
                let mut config = config.clone();
                match &mut config.algo {
                    AlgoConfig::Trpo(c) => c.fvp = fvp,
                    AlgoConfig::Npg(c) => c.fvp = fvp,
                    _ if fvp == cinder_algo::FvpKind::DoubleBackprop => continue,
                    _ => {}
                }
                let mut agent = MlpAgent::<B>::new(config, None, &Default::default()).unwrap();
                let s = agent.train(&mut NoCallback).unwrap();
                assert_eq!(s.updates, 2, "{algo} {env}");
                assert_eq!(s.skipped_updates, 0, "{algo} {env} {fvp:?}");
                assert!(s.final_eval.mean_return.is_finite());
                assert_eq!(s.final_eval.returns.len(), 2);
            }
        }
    }
}

#[test]
fn evaluation_is_deterministic_and_leaves_training_alone() {
    let config = preset("Pendulum-v1", "trpo")
        .unwrap()
        .with_normalize_observation(true)
        .with_n_steps(256)
        .with_total_timesteps(512)
        .with_eval_episodes(3);
    let mut agent = MlpAgent::<B>::new(config.clone(), None, &Default::default()).unwrap();
    agent.train(&mut NoCallback).unwrap();
    let a = agent.evaluate().unwrap();
    let b = agent.evaluate().unwrap();
    assert_eq!(a, b);
    // Evaluating in between does not change what training does next.
    let mut with_eval = MlpAgent::<B>::new(
        config.clone().with_eval_interval(1),
        None,
        &Default::default(),
    )
    .unwrap();
    with_eval.train(&mut NoCallback).unwrap();
    assert_eq!(agent.policy_params(), with_eval.policy_params());
}

/// Without damping and with far fewer samples than parameters the Fisher matrix is singular:
/// once CG has solved the system within the range of F, rounding pushes its search direction
/// into the null space and it breaks down. Before, any breakdown threw the update away; now
/// the last good iterate is used and the line search judges it: the policy either takes a
/// step within the KL radius or stays bit-identical — never a skip, never a corrupted policy.
#[test]
fn a_cg_breakdown_after_good_iterations_is_not_a_skip() {
    let device = Default::default();
    let policy = GaussianMlpPolicyConfig::new(3, 2)
        .with_log_std_init(-3.0)
        .init::<B>(5, &device)
        .unwrap();
    let m = 2;
    let obs = Tensor::<B, 2>::from_data(
        TensorData::new(vec![0.3f32, -0.2, 0.5, -0.7, 0.1, 0.4], [m, 3]),
        &device,
    );
    let dist = policy.valid().distribution(obs.clone().inner());
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(3);
    let actions = dist.sample(&mut rng);
    let old_log_probs = Tensor::<B, 1>::from_inner(dist.log_prob(actions.clone()));
    // Large advantages: a large gradient, so that CG does not reach its residual tolerance
    // (1e-10 on ‖r‖²) before rounding leaves the range of F.
    let advantages = Tensor::from_data(TensorData::new(vec![1e4f32, -1e4], [m]), &device);
    let batch = policy_batch(obs, Tensor::from_inner(actions), old_log_probs, advantages);
    let before: Vec<f32> = flat::flatten(&policy.valid()).into_data().to_vec().unwrap();
    let trpo = NaturalGradient::<B>::trpo(
        &TrpoConfig::new()
            .with_cg_damping(0.0)
            .with_cg_max_steps(60)
            .with_normalize_advantage(false),
    )
    .unwrap();
    let (after, stats) = trpo.policy_step(policy, &batch).unwrap();
    assert_eq!(stats.cg_breakdown, Some(true), "{stats:?}");
    assert!(stats.cg_iterations.unwrap() >= 1, "{stats:?}");
    assert_eq!(stats.skipped, None, "{stats:?}");
    let after: Vec<f32> = flat::flatten(&after.valid()).into_data().to_vec().unwrap();
    if stats.line_search_success == Some(true) {
        assert!(stats.step_kl.unwrap() <= 0.01, "{stats:?}");
        assert_ne!(before, after);
    } else {
        assert_eq!(before, after);
    }
}
