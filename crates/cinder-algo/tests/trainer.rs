//! The trainer's contracts: exact resume, failed line searches and non-finite updates leave
//! the parameters bit-identical, checkpoints are refused when they do not fit, metrics files,
//! config validation, every algorithm on discrete and continuous actions.

use std::path::PathBuf;

use burn::backend::{Autodiff, Flex};
use burn::module::AutodiffModule;
use burn::tensor::{Tensor, TensorData};
use cinder_algo::{
    AlgoConfig, AlgoError, Batch, COLUMNS, Callback, Control, Metrics, MlpAgent, NaturalGradient,
    NoCallback, PolicyGradient, PpoConfig, TrainConfig, Trainer, TrpoConfig, preset,
};
use cinder_policy::{
    ActionDistribution, GaussianMlpPolicy, GaussianMlpPolicyConfig, Policy, ValueMlpConfig, flat,
};
use rand::SeedableRng;

type B = Autodiff<Flex>;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cinder-algo-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Stops training after `at` updates.
struct StopAt(u64);
impl Callback for StopAt {
    fn on_update_end(&mut self, metrics: &Metrics) -> Control {
        if metrics.get("update") == Some(self.0 as f64) {
            Control::Stop
        } else {
            Control::Continue
        }
    }
}

fn resume_equals_uninterrupted(config: TrainConfig, name: &str) {
    let device = Default::default();
    let whole_dir = temp_dir(&format!("{name}-whole"));
    let mut whole = MlpAgent::<B>::new(config.clone(), Some(&whole_dir), &device).unwrap();
    whole.train(&mut NoCallback).unwrap();

    let dir = temp_dir(&format!("{name}-split"));
    let mut first = MlpAgent::<B>::new(config.clone(), Some(&dir), &device).unwrap();
    first.train(&mut StopAt(2)).unwrap();
    let checkpoint = dir.join("checkpoints").join("update_000002");
    assert!(checkpoint.join("state.json").exists());
    let mut resumed = MlpAgent::<B>::resume(&checkpoint, None, Some(&dir), &device).unwrap();
    resumed.train(&mut NoCallback).unwrap();

    assert_ne!(
        first.policy_params(),
        whole.policy_params(),
        "{name}: updates 3-4 learn"
    );
    assert_eq!(
        whole.policy_params(),
        resumed.policy_params(),
        "{name}: policy"
    );
    assert_eq!(
        whole.value_params(),
        resumed.value_params(),
        "{name}: value"
    );
    // The resumed run's metrics continue the first part's: one row per update.
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let whole_csv = std::fs::read_to_string(whole_dir.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), whole_csv.lines().count());
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&whole_dir);
}

#[test]
fn resume_equals_uninterrupted_trpo_with_normalisation() {
    let config = preset("Pendulum-v1", "trpo")
        .unwrap()
        .with_n_steps(256)
        .with_total_timesteps(4 * 512)
        .with_normalize_observation(true)
        .with_normalize_reward(true)
        .with_eval_episodes(2);
    resume_equals_uninterrupted(config, "trpo");
}

#[test]
fn resume_equals_uninterrupted_ppo_annealed_adam() {
    let config = preset("CartPole-v1", "ppo")
        .unwrap()
        .with_total_timesteps(4 * 256)
        .with_eval_episodes(2);
    resume_equals_uninterrupted(config, "ppo");
}

#[test]
fn resume_equals_uninterrupted_ppo_kl_and_vpg() {
    for algo in ["ppo-kl", "vpg"] {
        let config = preset("Pendulum-v1", algo)
            .unwrap()
            .with_num_envs(2)
            .with_n_steps(128)
            .with_total_timesteps(4 * 256)
            .with_eval_episodes(2);
        resume_equals_uninterrupted(config, algo);
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
    let ones = Tensor::<B, 1>::ones([m], &device);
    let batch = Batch::<B, cinder_policy::GaussianFamily> {
        obs: obs.clone(),
        actions,
        old_log_probs,
        old_values: ones.clone(),
        advantages: ones.clone(),
        returns: ones,
        host_obs: vec![],
        host_returns: vec![],
        host_values: vec![],
        len: m,
        progress_remaining: 1.0,
    };
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

fn nan_batch(policy: &GaussianMlpPolicy<B>) -> Batch<B, cinder_policy::GaussianFamily> {
    let device = Default::default();
    let m = 64;
    let obs = Tensor::<B, 2>::from_data(
        TensorData::new(
            (0..m * 3).map(|i| (i as f32).sin()).collect::<Vec<_>>(),
            [m, 3],
        ),
        &device,
    );
    let dist = policy.valid().distribution(obs.clone().inner());
    let mut adv = vec![1.0f32; m];
    adv[5] = f32::NAN;
    Batch {
        obs: obs.clone(),
        actions: Tensor::from_inner(dist.mode()),
        old_log_probs: Tensor::from_inner(dist.log_prob(dist.mode())),
        old_values: Tensor::zeros([m], &device),
        advantages: Tensor::from_data(TensorData::new(adv, [m]), &device),
        returns: Tensor::ones([m], &device),
        host_obs: obs.clone().into_data().to_vec().unwrap(),
        host_returns: vec![1.0; m],
        host_values: vec![0.0; m],
        len: m,
        progress_remaining: 1.0,
    }
}

#[test]
fn non_finite_updates_are_skipped_with_parameters_unchanged() {
    let device = Default::default();
    let policy = GaussianMlpPolicyConfig::new(3, 1)
        .init::<B>(3, &device)
        .unwrap();
    let value = ValueMlpConfig::new(3).init::<B>(4, &device).unwrap();
    let batch = nan_batch(&policy);
    let before: Vec<f32> = flat::flatten(&policy.valid()).into_data().to_vec().unwrap();
    let value_before: Vec<f32> = flat::flatten(&value.valid()).into_data().to_vec().unwrap();
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(0);

    let mut trpo = NaturalGradient::<B>::trpo(&TrpoConfig::new()).unwrap();
    let (p, _, stats) = trpo
        .update(policy.clone(), value.clone(), &batch, &mut rng)
        .unwrap();
    assert!(stats.skipped.is_some(), "{stats:?}");
    let after: Vec<f32> = flat::flatten(&p.valid()).into_data().to_vec().unwrap();
    assert_eq!(before, after);

    // A non-finite critic target: the value net and the critic's Adam state stay as they were.
    // A twin replays only the successful critic fit above (same data, same fresh seed); after
    // the bad batch both fitters must give the same next fit.
    let mut twin = NaturalGradient::<B>::trpo(&TrpoConfig::new()).unwrap();
    let mut twin_rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(0);
    let _ = twin.fit_critic(value.clone(), &batch, Default::default(), &mut twin_rng);
    let mut bad = nan_batch(&policy);
    bad.host_returns[3] = f32::NAN;
    let (v, stats) = trpo.fit_critic(value.clone(), &bad, Default::default(), &mut rng);
    assert!(
        stats
            .skipped
            .as_deref()
            .is_some_and(|s| s.contains("critic")),
        "{stats:?}"
    );
    let v_after: Vec<f32> = flat::flatten(&v.valid()).into_data().to_vec().unwrap();
    assert_eq!(v_after, value_before);
    let next = |n: &mut NaturalGradient<B>| -> Vec<f32> {
        let mut r = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(9);
        let (v, _) = n.fit_critic(value.clone(), &batch, Default::default(), &mut r);
        flat::flatten(&v.valid()).into_data().to_vec().unwrap()
    };
    assert_eq!(next(&mut trpo), next(&mut twin));

    let mut ppo = PolicyGradient::<B, GaussianMlpPolicy<B>>::ppo(&PpoConfig::new()).unwrap();
    let (p, v, stats) = ppo
        .update(policy.clone(), value.clone(), &batch, &mut rng)
        .unwrap();
    assert!(stats.skipped.is_some(), "{stats:?}");
    let after: Vec<f32> = flat::flatten(&p.valid()).into_data().to_vec().unwrap();
    let value_after: Vec<f32> = flat::flatten(&v.valid()).into_data().to_vec().unwrap();
    assert_eq!(before, after);
    assert_eq!(value_before, value_after);
}

#[test]
fn a_nan_policy_is_never_checkpointed() {
    let device = Default::default();
    let config = TrainConfig::new("Pendulum-v1".into(), AlgoConfig::Trpo(TrpoConfig::new()))
        .with_n_steps(64)
        .with_total_timesteps(64);
    let policy = GaussianMlpPolicyConfig::new(3, 1)
        .init::<B>(0, &device)
        .unwrap();
    let n = flat::num_params(&policy);
    let policy = flat::load(policy, Tensor::full([n], f32::NAN, &device)).unwrap();
    let mut trainer = Trainer::new(config, policy, None, &device).unwrap();
    let target = temp_dir("nan-checkpoint");
    let err = trainer.save_checkpoint(&target).unwrap_err();
    assert!(matches!(err, AlgoError::NonFinite(_)), "{err}");
    assert!(!target.exists());
}

#[test]
fn checkpoints_of_another_run_are_refused() {
    let device = Default::default();
    let dir = temp_dir("refuse");
    let config = preset("Pendulum-v1", "trpo")
        .unwrap()
        .with_n_steps(64)
        .with_num_envs(1)
        .with_total_timesteps(64)
        .with_eval_episodes(1);
    let mut agent = MlpAgent::<B>::new(config.clone(), Some(&dir), &device).unwrap();
    agent.train(&mut NoCallback).unwrap();
    let checkpoint = dir.join("checkpoints").join("update_000001");

    // Other config.
    let other = config.clone().with_gamma(0.5);
    let err = cinder_algo::check_checkpoint_config(&checkpoint, &other)
        .unwrap_err()
        .to_string();
    assert!(err.contains("gamma"), "{err}");
    // A longer budget is not a different run.
    cinder_algo::check_checkpoint_config(&checkpoint, &config.clone().with_total_timesteps(1_000))
        .unwrap();

    // Another architecture.
    let wide = GaussianMlpPolicyConfig::new(3, 1)
        .with_hidden(vec![32])
        .init::<B>(0, &device)
        .unwrap();
    let err = Trainer::resume(&checkpoint, wide, None, None, &device)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("parameters"), "{err}");

    // A damaged state file.
    let damaged = dir.join("damaged");
    std::fs::create_dir_all(&damaged).unwrap();
    std::fs::write(damaged.join("state.json"), "{ not json").unwrap();
    let err = MlpAgent::<B>::resume(&damaged, None, None, &device)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("damaged"), "{err}");
    // Not a checkpoint at all.
    let err = MlpAgent::<B>::resume(&dir.join("nope"), None, None, &device)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("checkpoint"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
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
