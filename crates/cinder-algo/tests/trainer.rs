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
    AlgoConfig, Batch, COLUMNS, MlpAgent, NaturalGradient, NoCallback, NpgConfig, PpoConfig,
    TrainConfig, TrpoConfig, preset,
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

/// A Gaussian policy (3 observations, 2 actions, parameters from `policy_seed`) and a batch
/// of 256 uniform observations, the policy's means plus uniform noise as actions, and uniform
/// advantages (from `data_seed`): a natural step on it moves means and σ, and large radii
/// make the line search backtrack.
fn noisy_policy_batch(
    policy_seed: u64,
    data_seed: u64,
) -> (
    cinder_policy::GaussianMlpPolicy<B>,
    Batch<B, cinder_policy::GaussianFamily>,
) {
    let device = Default::default();
    let policy = GaussianMlpPolicyConfig::new(3, 2)
        .init::<B>(policy_seed, &device)
        .unwrap();
    let m = 256;
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(data_seed);
    let mut uniform = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| rand::RngExt::random_range(&mut rng, -1.0f32..1.0))
            .collect()
    };
    let obs = Tensor::<B, 2>::from_data(TensorData::new(uniform(m * 3), [m, 3]), &device);
    let dist = policy.valid().distribution(obs.clone().inner());
    let noise = Tensor::<Flex, 2>::from_data(TensorData::new(uniform(m * 2), [m, 2]), &device);
    let actions = dist.mode() + noise;
    let old_log_probs = dist.log_prob(actions.clone());
    let advantages = Tensor::<B, 1>::from_data(TensorData::new(uniform(m), [m]), &device);
    let batch = policy_batch(
        obs,
        Tensor::from_inner(actions),
        Tensor::from_inner(old_log_probs),
        advantages,
    );
    (policy, batch)
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

/// `algo`'s config as a run saved before `field` existed: written without it, refused by a
/// strict parse, read back by [`TrainConfig::from_saved`].
fn saved_without(algo: AlgoConfig, field: &str) -> AlgoConfig {
    let mut saved = serde_json::to_value(TrainConfig::new("Hopper-v5".into(), algo)).unwrap();
    let fields = saved["algo"].as_object_mut().unwrap().values_mut().next();
    let fields = fields.unwrap().as_object_mut().unwrap();
    assert!(fields.remove(field).is_some(), "{field}");
    assert!(serde_json::from_value::<TrainConfig>(saved.clone()).is_err());
    TrainConfig::from_saved(saved).unwrap().algo
}

/// TRPO's and NPG's `adam_epsilon` is the critic's Adam ε, and a bad one is refused by name.
#[test]
fn trpo_and_npg_adam_epsilon_is_the_critic_s() {
    let trpo = NaturalGradient::<B>::trpo(&TrpoConfig::new().with_adam_epsilon(1e-5)).unwrap();
    assert_eq!(trpo.critic().config().adam_epsilon, 1e-5);
    let npg = NaturalGradient::<B>::npg(&NpgConfig::new().with_adam_epsilon(3e-6)).unwrap();
    assert_eq!(npg.critic().config().adam_epsilon, 3e-6);
    for bad in [0.0, -1e-8, f32::NAN] {
        let e = TrpoConfig::new()
            .with_adam_epsilon(bad)
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("adam_epsilon"), "{e}");
        let e = NpgConfig::new()
            .with_adam_epsilon(bad)
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("adam_epsilon"), "{e}");
    }
    // Configs saved before the field existed (run folders, checkpoints) load with the ε
    // their critic was fitted with.
    for algo in [
        AlgoConfig::Trpo(TrpoConfig::new().with_adam_epsilon(0.5)),
        AlgoConfig::Npg(NpgConfig::new().with_adam_epsilon(0.5)),
    ] {
        match saved_without(algo, "adam_epsilon") {
            AlgoConfig::Trpo(t) => assert_eq!(t.adam_epsilon, 1e-8),
            AlgoConfig::Npg(n) => assert_eq!(n.adam_epsilon, 1e-8),
            other => panic!("{other:?}"),
        }
    }
}

/// The line search evaluates the full step alone and then every shorter step in one
/// read-back; the step it takes must be the one the sequential backtracking search takes: the
/// first coefficient 0.8ⁱ whose mean KL(π_old ‖ π_θ) is within the radius and whose surrogate
/// improves. Recomputed here candidate by candidate from the step that was taken (the full
/// step is that step / 0.8ᵏ): every earlier candidate fails, the taken one passes. Large radii
/// make the quadratic model overshoot, so most of these cases backtrack.
#[test]
fn the_batched_line_search_takes_the_step_the_sequential_one_takes() {
    let device = Default::default();
    let (policy, batch) = noisy_policy_batch(7, 5);
    let obs = batch.obs.clone();
    let dist = policy.valid().distribution(obs.clone().inner());
    let actions = batch.actions.clone().inner();
    let old_log_probs = batch.old_log_probs.clone().inner();
    let advantages = batch.advantages.clone();
    let before: Vec<f32> = flat::flatten(&policy.valid()).into_data().to_vec().unwrap();
    // KL and surrogate of the policy with parameters `theta`, as the TRPO paper defines them.
    let kl_and_surrogate = |theta: &[f32]| -> (f64, f64) {
        let p = flat::load(
            policy.valid(),
            Tensor::from_data(TensorData::new(theta.to_vec(), [theta.len()]), &device),
        )
        .unwrap();
        let new = p.distribution(obs.clone().inner());
        let kl = f64::from(dist.kl(&new).mean().into_scalar());
        let ratio = (new.log_prob(actions.clone()) - old_log_probs.clone()).exp();
        let surr = f64::from((ratio * advantages.clone().inner()).mean().into_scalar());
        (kl, surr)
    };
    let (_, surrogate_old) = kl_and_surrogate(&before);
    let mut backtracked = 0;
    for target_kl in [0.01, 0.5, 2.0, 5.0, 20.0] {
        let trpo = NaturalGradient::<B>::trpo(
            &TrpoConfig::new()
                .with_target_kl(target_kl)
                .with_normalize_advantage(false),
        )
        .unwrap();
        let (after, stats) = trpo.policy_step(policy.clone(), &batch).unwrap();
        let after: Vec<f32> = flat::flatten(&after.valid()).into_data().to_vec().unwrap();
        let k = stats.backtracks.unwrap();
        if stats.line_search_success != Some(true) {
            assert_eq!(k, 10, "δ {target_kl}: {stats:?}");
            assert_eq!(
                after, before,
                "δ {target_kl}: a failed search moved the policy"
            );
            continue;
        }
        backtracked += (k > 0) as usize;
        let taken = 0.8f64.powi(k as i32);
        let full: Vec<f64> = after
            .iter()
            .zip(&before)
            .map(|(a, b)| (*a as f64 - *b as f64) / taken)
            .collect();
        for i in 0..=k {
            let coef = 0.8f64.powi(i as i32);
            let theta: Vec<f32> = before
                .iter()
                .zip(&full)
                .map(|(b, f)| (*b as f64 + coef * f) as f32)
                .collect();
            let (kl, surr) = kl_and_surrogate(&theta);
            let passes = kl <= target_kl && surr > surrogate_old;
            assert_eq!(
                passes,
                i == k,
                "δ {target_kl}: candidate {i} (coef {coef}): KL {kl}, surrogate {surr} vs \
                 {surrogate_old}; the search took candidate {k}"
            );
            if i == k {
                assert!(
                    (kl - stats.step_kl.unwrap()).abs() <= 1e-4 * kl.max(1e-6),
                    "δ {target_kl}: step KL {kl} vs reported {:?}",
                    stats.step_kl
                );
            }
        }
    }
    assert!(
        backtracked >= 2,
        "only {backtracked} cases backtracked: the test is vacuous"
    );
}

/// `anneal_target_kl`: the update at `progress_remaining` p takes exactly the step that the
/// radius p·δ takes without annealing, for TRPO and NPG; at p = 1 it is the unannealed step,
/// and the step's KL falls with p.
#[test]
fn an_annealed_radius_is_the_radius_times_the_progress_remaining() {
    let (policy, mut batch) = noisy_policy_batch(11, 9);
    let delta = 0.05;
    let params = |p: &cinder_policy::GaussianMlpPolicy<B>| -> Vec<f32> {
        flat::flatten(&p.valid()).into_data().to_vec().unwrap()
    };
    let before = params(&policy);
    for line_search in [true, false] {
        let make = |target_kl: f64, anneal: bool| {
            let trpo = TrpoConfig::new()
                .with_target_kl(target_kl)
                .with_anneal_target_kl(anneal);
            if line_search {
                NaturalGradient::<B>::trpo(&trpo).unwrap()
            } else {
                let npg = NpgConfig::new()
                    .with_target_kl(target_kl)
                    .with_anneal_target_kl(anneal);
                NaturalGradient::<B>::npg(&npg).unwrap()
            }
        };
        let mut last_kl = f64::INFINITY;
        for progress in [1.0, 0.5, 0.1] {
            batch.progress_remaining = progress;
            let (annealed, a) = make(delta, true)
                .policy_step(policy.clone(), &batch)
                .unwrap();
            let (plain, b) = make(delta * progress, false)
                .policy_step(policy.clone(), &batch)
                .unwrap();
            let what = format!("line search {line_search}, progress {progress}");
            assert_eq!(params(&annealed), params(&plain), "{what}");
            assert_ne!(params(&annealed), before, "{what}: no step was taken");
            let kl = a.step_kl.unwrap();
            assert_eq!(Some(kl), b.step_kl, "{what}");
            if line_search {
                assert!(kl <= delta * progress, "{what}: KL {kl}");
            }
            assert!(kl < last_kl, "{what}: KL {kl} did not fall from {last_kl}");
            last_kl = kl;
        }
        // Without annealing the progress does not matter.
        batch.progress_remaining = 0.1;
        let (low, _) = make(delta, false)
            .policy_step(policy.clone(), &batch)
            .unwrap();
        batch.progress_remaining = 1.0;
        let (full, _) = make(delta, false)
            .policy_step(policy.clone(), &batch)
            .unwrap();
        assert_eq!(params(&low), params(&full));
    }
    // Configs saved before the field existed (run folders, checkpoints) load unannealed.
    for algo in [
        AlgoConfig::Trpo(TrpoConfig::new().with_target_kl(0.02)),
        AlgoConfig::Npg(NpgConfig::new().with_target_kl(0.02)),
    ] {
        match saved_without(algo, "anneal_target_kl") {
            AlgoConfig::Trpo(t) => assert!(!t.anneal_target_kl && t.target_kl == 0.02),
            AlgoConfig::Npg(n) => assert!(!n.anneal_target_kl && n.target_kl == 0.02),
            other => panic!("{other:?}"),
        }
    }
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

/// One recorded sb3-contrib TRPO step (`scripts/sb3_trpo_step.py`): the batch, the policy
/// before and after, SB3's settings and the KL it reported.
#[derive(serde::Deserialize)]
struct Sb3Step {
    obs_dim: usize,
    act_dim: usize,
    hidden: Vec<usize>,
    samples: usize,
    sb3_target_kl: f64,
    sb3_cg_damping: f64,
    cg_max_steps: usize,
    sb3_kl: f64,
    line_search_success: bool,
    obs: Vec<f32>,
    actions: Vec<f32>,
    old_log_probs: Vec<f32>,
    advantages: Vec<f32>,
    params_before: Vec<f32>,
    params_after: Vec<f32>,
}

/// The step that `config` takes from the recorded policy on the recorded batch, SB3's step,
/// the update's stats and the mean KL(π_new ‖ π_old) (the direction sb3-contrib reports).
fn step_on_sb3_fixture(
    fixture: &Sb3Step,
    config: &TrpoConfig,
) -> (Vec<f32>, Vec<f32>, cinder_algo::UpdateStats, f64) {
    let device = Default::default();
    let (d, a, m) = (fixture.obs_dim, fixture.act_dim, fixture.samples);
    let policy = GaussianMlpPolicyConfig::new(d, a)
        .with_hidden(fixture.hidden.clone())
        .init::<B>(0, &device)
        .unwrap();
    // SB3's parameters arrive in cinder's order: each layer's [in, out] weight, its bias,
    // the mean head, then log σ.
    let shapes: Vec<Vec<usize>> = flat::named_shapes(&policy)
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    let (h0, h1) = (fixture.hidden[0], fixture.hidden[1]);
    let expected = [
        vec![d, h0],
        vec![h0],
        vec![h0, h1],
        vec![h1],
        vec![h1, a],
        vec![a],
        vec![a],
    ];
    assert_eq!(shapes, expected);
    let vec1 =
        |v: &[f32]| Tensor::<B, 1>::from_data(TensorData::new(v.to_vec(), [v.len()]), &device);
    let policy = flat::load(policy, vec1(&fixture.params_before)).unwrap();
    let batch = policy_batch(
        Tensor::from_data(TensorData::new(fixture.obs.clone(), [m, d]), &device),
        Tensor::from_data(TensorData::new(fixture.actions.clone(), [m, a]), &device),
        vec1(&fixture.old_log_probs),
        vec1(&fixture.advantages),
    );
    let trpo = NaturalGradient::<B>::trpo(config).unwrap();
    let old = policy.valid().distribution(batch.obs.clone().inner());
    let (after, stats) = trpo.policy_step(policy, &batch).unwrap();
    let new = after.valid().distribution(batch.obs.clone().inner());
    let reverse_kl = f64::from(new.kl(&old).mean().into_scalar());
    let after: Vec<f32> = flat::flatten(&after.valid()).into_data().to_vec().unwrap();
    let diff = |to: &[f32]| -> Vec<f32> {
        to.iter()
            .zip(&fixture.params_before)
            .map(|(x, y)| x - y)
            .collect()
    };
    (diff(&after), diff(&fixture.params_after), stats, reverse_kl)
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt()
}

fn relative_error(x: &[f32], reference: &[f32]) -> f64 {
    let d: Vec<f32> = x.iter().zip(reference).map(|(a, b)| a - b).collect();
    norm(&d) / norm(reference)
}

/// sb3-contrib's TRPO averages the Gaussian KL over action dimensions; cinder's KL is the
/// KL between the policies (summed over dimensions, as in Schulman et al. and Spinning Up).
/// So sb3-contrib's step with `target_kl` δ and `cg_damping` λ is cinder's step with d·δ and
/// d·λ (d = action dimension): its Fisher is F/d, its radius δ on KL/d. On a step recorded
/// from sb3-contrib itself, cinder with the converted values takes the same step; with the
/// raw values a much shorter one, which is what made cinder's MuJoCo presets (rl-zoo values,
/// tuned on sb3-contrib) far more cautious than rl-zoo's runs.
#[test]
fn trpo_step_equals_sb3_contrib_s_on_recorded_data() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sb3_trpo_step.json"),
    )
    .unwrap();
    let fixture: Sb3Step = serde_json::from_str(&text).unwrap();
    assert!(fixture.line_search_success);
    let d = fixture.act_dim as f64;
    let base = TrpoConfig::new().with_cg_max_steps(fixture.cg_max_steps);

    let converted = base
        .clone()
        .with_target_kl(fixture.sb3_target_kl * d)
        .with_cg_damping(fixture.sb3_cg_damping * d);
    let (step, sb3_step, stats, kl) = step_on_sb3_fixture(&fixture, &converted);
    assert_eq!(stats.backtracks, Some(0), "{stats:?}");
    let err = relative_error(&step, &sb3_step);
    assert!(
        err < 2e-3,
        "relative difference to sb3-contrib's step {err}"
    );
    assert!(
        (kl / (fixture.sb3_kl * d) - 1.0).abs() < 2e-3,
        "KL {kl} vs sb3-contrib's {} × {d}",
        fixture.sb3_kl
    );

    // rl-zoo's MuJoCo values (tuned on sb3-contrib) arrive converted in the presets.
    for (id, d, sb3_target_kl) in [("Ant-v5", 8.0, 0.01), ("HalfCheetah-v5", 6.0, 0.04)] {
        let AlgoConfig::Trpo(c) = preset(id, "trpo").unwrap().algo else {
            unreachable!()
        };
        assert_eq!(
            (c.target_kl, c.cg_damping),
            (sb3_target_kl * d, 0.1 * d),
            "{id}"
        );
    }

    // Read literally, the same numbers give a much shorter step (0.63 of SB3's here: 1/√d
    // from the radius, less damping makes up some of it).
    let literal = base
        .with_target_kl(fixture.sb3_target_kl)
        .with_cg_damping(fixture.sb3_cg_damping);
    let (short, _, stats, _) = step_on_sb3_fixture(&fixture, &literal);
    let ratio = norm(&short) / norm(&sb3_step);
    assert!(ratio < 0.7, "step length ratio {ratio}, {stats:?}");
}

/// A recorded evaluation runs the episodes an unrecorded one runs (same returns), draws
/// `length + 1` frames per episode at stride 1 — the picture after the reset and one after
/// every step, the last one the state the episode ended in, not the next episode's start —
/// and frames that change over time.
#[test]
fn recorded_evaluation_draws_every_step_of_the_same_episodes() {
    use cinder_algo::Recording;
    use cinder_env::RenderOptions;
    let config = preset("CartPole-v1", "ppo")
        .unwrap()
        .with_total_timesteps(512)
        .with_eval_episodes(3);
    let mut agent = MlpAgent::<B>::new(config, None, &Default::default()).unwrap();
    agent.train(&mut NoCallback).unwrap();
    let plain = agent.evaluate_episodes(3, true, 7).unwrap();
    let record = Recording {
        options: RenderOptions::default(),
        stride: 1,
    };
    let (recorded, frames) = agent.record_episodes(3, true, 7, Some(&record)).unwrap();
    assert_eq!(plain, recorded);
    assert_eq!(frames.len(), 3);
    for (episode, (f, &len)) in frames.iter().zip(&recorded.lengths).enumerate() {
        assert_eq!(f.len() as u64, len + 1, "episode {episode}");
        assert!(f.iter().all(|x| (x.width, x.height) == (600, 400)));
        let white = cinder_env::Frame::filled(600, 400, [255, 255, 255]);
        assert!(
            f.iter().all(|x| x.mean_abs_diff(&white).unwrap() > 1.0),
            "a blank frame"
        );
        let changed = f.windows(2).filter(|w| w[0] != w[1]).count();
        assert!(
            changed * 2 > f.len(),
            "only {changed} of {} frames change",
            f.len()
        );
    }
    // At stride 4: every 4th step and the last picture.
    let record = Recording {
        stride: 4,
        ..record
    };
    let (_, sparse) = agent.record_episodes(3, true, 7, Some(&record)).unwrap();
    for (s, f) in sparse.iter().zip(&frames) {
        let len = f.len() - 1;
        let mut want: Vec<usize> = (0..=len).step_by(4).collect();
        if want.last() != Some(&len) {
            want.push(len);
        }
        assert_eq!(s.len(), want.len());
        for (a, &i) in s.iter().zip(&want) {
            assert_eq!(*a, f[i]);
        }
    }
}

/// `video_interval` writes a GIF of an evaluation episode every N updates into `videos/`,
/// without changing what is learned.
#[test]
fn video_interval_writes_gifs_and_learns_the_same() {
    let dir = temp_dir("videos");
    let config = preset("CartPole-v1", "ppo")
        .unwrap()
        .with_total_timesteps(1024);
    let mut with_videos = MlpAgent::<B>::new(
        config.clone().with_video_interval(2),
        Some(&dir),
        &Default::default(),
    )
    .unwrap();
    with_videos.train(&mut NoCallback).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir.join("videos"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // 1024 steps of 256 are 4 updates: videos after updates 2 and 4.
    assert_eq!(names, ["step_000000512.gif", "step_000001024.gif"]);
    let file = std::fs::File::open(dir.join("videos").join(&names[1])).unwrap();
    let mut decoder = gif::DecodeOptions::new().read_info(file).unwrap();
    assert_eq!((decoder.width(), decoder.height()), (600, 400));
    let mut n = 0;
    while decoder.read_next_frame().unwrap().is_some() {
        n += 1;
    }
    assert!(n >= 2, "{n} frames");
    let mut without = MlpAgent::<B>::new(config, None, &Default::default()).unwrap();
    without.train(&mut NoCallback).unwrap();
    assert_eq!(with_videos.policy_params(), without.policy_params());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A run saved before the video fields existed (no `video_interval`, `video_camera` in its
/// config) still resumes, as the run it was.
#[test]
fn checkpoints_from_before_the_video_fields_resume() {
    let dir = temp_dir("old-config");
    let config = preset("CartPole-v1", "ppo")
        .unwrap()
        .with_total_timesteps(512);
    let mut agent = MlpAgent::<B>::new(config.clone(), Some(&dir), &Default::default()).unwrap();
    agent.train(&mut NoCallback).unwrap();
    let checkpoint = cinder_algo::latest_checkpoint(&dir).unwrap();
    let path = checkpoint.join("state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let saved = state["config"].as_object_mut().unwrap();
    assert!(saved.remove("video_interval").is_some() && saved.remove("video_camera").is_some());
    std::fs::write(&path, state.to_string()).unwrap();
    let resumed =
        MlpAgent::<B>::resume(&checkpoint, Some(1024), None, &Default::default()).unwrap();
    assert_eq!(resumed.config().video_interval, 0);
    assert_eq!(resumed.policy_params(), agent.policy_params());
    std::fs::remove_dir_all(&dir).unwrap();
}

fn params<M: AutodiffModule<B>>(m: &M) -> Vec<f32> {
    flat::flatten(&m.valid()).into_data().to_vec().unwrap()
}

/// `x` within `tol` of `y` relative to the largest of `y` (at least 1).
fn assert_close(x: &[f32], y: &[f32], tol: f32, what: &str) {
    assert_eq!(x.len(), y.len(), "{what}: lengths");
    let scale = y.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let worst = x
        .iter()
        .zip(y)
        .fold(0.0f32, |m, (p, q)| m.max((p - q).abs()));
    assert!(
        worst <= tol * scale,
        "{what}: differ by {worst} (scale {scale})"
    );
}

/// The first-order learners' epochs on the host (`PolicyGradient::update_natively`) are burn's
/// epochs up to float rounding: for PPO-clip (value clipping, an entropy bonus, and an early
/// stop on `target_kl`), PPO-KL and VPG, with a Gaussian and a categorical policy, three
/// updates in a row — host, then burn continuing from the Adam state the host wrote, then the
/// host again from burn's — end where three burn updates end, with the same statistics. The
/// learning rate is large enough that ratios leave the clip range (clip fractions above 0).
#[test]
fn host_epochs_are_burns_epochs_up_to_rounding() {
    use cinder_algo::{PolicyGradient, PpoKlConfig, UpdateStats, VpgConfig};
    use cinder_policy::{CategoricalMlpPolicyConfig, HostMlp, ValueMlpConfig};

    let device = Default::default();
    let (m, d) = (256, 3);
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(11);
    let mut uniform = |n: usize, lo: f32, hi: f32| -> Vec<f32> {
        (0..n)
            .map(|_| rand::RngExt::random_range(&mut rng, lo..hi))
            .collect()
    };
    let host_obs = uniform(m * d, -1.0, 1.0);
    let advantages = uniform(m, -2.0, 2.0);
    let returns = uniform(m, -1.0, 1.0);
    let values = uniform(m, -1.0, 1.0);
    let noise = uniform(m * 2, -1.0, 1.0);
    let picks: Vec<i64> = uniform(m, 0.0, 4.0).iter().map(|u| *u as i64).collect();
    let vec1 = |v: &[f32]| Tensor::<B, 1>::from_data(TensorData::new(v.to_vec(), [m]), &device);
    let obs = Tensor::<B, 2>::from_data(TensorData::new(host_obs.clone(), [m, d]), &device);
    let value = ValueMlpConfig::new(d).init::<B>(3, &device).unwrap();
    macro_rules! batch_of {
        ($actions:expr, $old_log_probs:expr) => {
            Batch {
                obs: obs.clone(),
                actions: $actions,
                old_log_probs: $old_log_probs,
                old_values: vec1(&values),
                advantages: vec1(&advantages),
                returns: vec1(&returns),
                host_obs: host_obs.clone(),
                host_returns: returns.clone(),
                host_values: values.clone(),
                len: m,
                progress_remaining: 0.5,
            }
        };
    }
    let ppo = PpoConfig::new()
        .with_learning_rate(3e-3)
        .with_n_epochs(4)
        .with_batch_size(64)
        .with_ent_coef(0.01);
    let ppo_stop = ppo
        .clone()
        .with_clip_range_vf(None)
        .with_target_kl(Some(0.002));
    let ppo_kl = PpoKlConfig::new()
        .with_learning_rate(3e-3)
        .with_n_epochs(3)
        .with_batch_size(64)
        .with_ent_coef(0.01);
    let vpg = VpgConfig::new()
        .with_learning_rate(1e-2)
        .with_n_critic_updates(2);
    type Make<'a, P> = Box<dyn Fn() -> PolicyGradient<B, P> + 'a>;
    // The learners of every case, for either family.
    macro_rules! cases {
        () => {{
            let cases: Vec<(&str, Make<'_, _>)> = vec![
                ("ppo", Box::new(|| PolicyGradient::ppo(&ppo).unwrap())),
                (
                    "ppo, no value clip, target_kl",
                    Box::new(|| PolicyGradient::ppo(&ppo_stop).unwrap()),
                ),
                (
                    "ppo-kl",
                    Box::new(|| PolicyGradient::ppo_kl(&ppo_kl).unwrap()),
                ),
                ("vpg", Box::new(|| PolicyGradient::vpg(&vpg).unwrap())),
            ];
            cases
        }};
    }

    // Three updates both ways; `$what` names the case.
    macro_rules! compare {
        ($make:expr, $policy_net:expr, $nets:expr, $batch:expr, $what:expr) => {{
            let (make, nets, batch, what) = ($make, $nets, $batch, $what);
            let value_net = HostMlp::of(&nets.1.mlp);
            let start = params(&nets.0);
            // `relay` takes update 2 on burn from the host's Adam state; `host` takes 1 and
            // 3, the last from the state burn wrote.
            let (mut burn, mut host, mut relay) = (make(), make(), make());
            host.update_natively($policy_net, value_net);
            assert!(host.updates_natively() && !relay.updates_natively());
            let (mut a, mut b) = (nets.clone(), nets);
            let mut stats: Vec<(UpdateStats, UpdateStats)> = Vec::new();
            for (k, seed) in [5u64, 6, 7].into_iter().enumerate() {
                let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
                let (p, v, sa) = burn.update(a.0, a.1, batch, &mut rng).unwrap();
                a = (p, v);
                if k == 1 {
                    *relay.policy_optimizer() = host.policy_optimizer().clone();
                    *relay.value_optimizer() = host.value_optimizer().clone();
                    relay.set_kl_coef(host.kl_coef());
                    if let Some(c) = host.critic_mut().map(|c| c.optimizer().clone()) {
                        *relay.critic_mut().unwrap().optimizer_mut() = c;
                    }
                } else if k == 2 {
                    *host.policy_optimizer() = relay.policy_optimizer().clone();
                    *host.value_optimizer() = relay.value_optimizer().clone();
                    host.set_kl_coef(relay.kl_coef());
                    if let Some(c) = relay.critic_mut().map(|c| c.optimizer().clone()) {
                        *host.critic_mut().unwrap().optimizer_mut() = c;
                    }
                }
                let learner = if k == 1 { &mut relay } else { &mut host };
                let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
                let (p, v, sb) = learner.update(b.0, b.1, batch, &mut rng).unwrap();
                b = (p, v);
                assert_eq!(sb.skipped, None, "{what}, update {k}");
                stats.push((sa, sb));
            }
            assert_close(
                &params(&b.0),
                &params(&a.0),
                2e-4,
                &format!("{what}: policy"),
            );
            assert_close(
                &params(&b.1),
                &params(&a.1),
                2e-4,
                &format!("{what}: value net"),
            );
            assert_ne!(params(&a.0), start, "{what}: the policy did not move");
            for (k, (sa, sb)) in stats.iter().enumerate() {
                let near = |x: f64, y: f64| (x - y).abs() <= 1e-3 * (1.0 + y.abs());
                assert_eq!(sb.epochs, sa.epochs, "{what}, update {k}: epochs");
                for (name, x, y) in [
                    ("policy_loss", sb.policy_loss, sa.policy_loss),
                    ("value_loss", sb.value_loss, sa.value_loss),
                    ("entropy", sb.entropy, sa.entropy),
                    ("approx_kl", sb.approx_kl, sa.approx_kl),
                    ("step_kl", sb.step_kl.unwrap(), sa.step_kl.unwrap()),
                ] {
                    assert!(
                        x.is_nan() && y.is_nan() || near(x, y),
                        "{what}, update {k}: {name} {x} vs {y}"
                    );
                }
                assert_eq!(sb.clipfrac.is_some(), sa.clipfrac.is_some(), "{what}");
                if let (Some(x), Some(y)) = (sb.clipfrac, sa.clipfrac) {
                    assert!(
                        (x - y).abs() <= 0.02,
                        "{what}, update {k}: clipfrac {x} vs {y}"
                    );
                }
                assert_eq!(sb.kl_coef, sa.kl_coef, "{what}, update {k}: kl_coef");
            }
            stats
        }};
    }
    // The cases exercise what they name: clipped ratios, an early stop.
    let checked = |what: &str, stats: &[(UpdateStats, UpdateStats)]| {
        if what.ends_with("ppo") {
            assert!(
                stats.iter().any(|(a, _)| a.clipfrac > Some(0.0)),
                "{what}: no clipping"
            );
        }
        if what.contains("target_kl") {
            assert!(
                stats.iter().any(|(a, _)| a.epochs < Some(4)),
                "{what}: no early stop"
            );
        }
    };

    // Gaussian.
    let gaussian = GaussianMlpPolicyConfig::new(d, 2)
        .init::<B>(7, &device)
        .unwrap();
    let dist = gaussian.valid().distribution(obs.clone().inner());
    let actions =
        dist.mode() + Tensor::<Flex, 2>::from_data(TensorData::new(noise.clone(), [m, 2]), &device);
    let old = Tensor::<B, 1>::from_inner(dist.log_prob(actions.clone()));
    let batch = batch_of!(Tensor::<B, 2>::from_inner(actions), old);
    let net = HostMlp::of(&gaussian.mlp);
    let cases = cases!();
    for (what, make) in &cases {
        let what = format!("Gaussian {what}");
        let stats = compare!(
            make,
            net.clone(),
            (gaussian.clone(), value.clone()),
            &batch,
            &what
        );
        checked(&what, &stats);
    }

    // Categorical.
    let categorical = CategoricalMlpPolicyConfig::new(d, 4)
        .init::<B>(7, &device)
        .unwrap();
    let actions =
        Tensor::<B, 1, burn::tensor::Int>::from_data(TensorData::new(picks, [m]), &device);
    let dist = categorical.valid().distribution(obs.clone().inner());
    let old = Tensor::<B, 1>::from_inner(dist.log_prob(actions.clone().inner()));
    let batch = batch_of!(actions, old);
    let net = HostMlp::of(&categorical.mlp);
    let cases = cases!();
    for (what, make) in &cases {
        let what = format!("categorical {what}");
        let stats = compare!(
            make,
            net.clone(),
            (categorical.clone(), value.clone()),
            &batch,
            &what
        );
        checked(&what, &stats);
    }
}
