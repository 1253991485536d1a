//! Lockstep TRPO/NPG: one run in lockstep is the single trainer bit for bit; K runs match K
//! single runs up to float reassociation in the batched products; groups that cannot share an
//! operator are refused with the reason.

use burn::backend::{Autodiff, Flex};
use cinder_algo::{
    AlgoConfig, Callback, Lockstep, MlpAgent, NoCallback, NpgConfig, TrainConfig, Trainer,
    TrpoConfig, preset,
};
use cinder_policy::GaussianMlpPolicy;

type B = Autodiff<Flex>;

fn gaussian(config: TrainConfig) -> Trainer<B, GaussianMlpPolicy<B>> {
    match MlpAgent::<B>::new(config, None, &Default::default()).unwrap() {
        MlpAgent::Gaussian(t) => t,
        MlpAgent::Categorical(_) => panic!("Pendulum has continuous actions"),
    }
}

fn config(seed: u64) -> TrainConfig {
    preset("Pendulum-v1", "trpo")
        .unwrap()
        .with_seed(seed)
        .with_n_steps(256)
        .with_total_timesteps(3 * 512)
        .with_normalize_observation(true)
        .with_eval_episodes(2)
}

fn params(t: &Trainer<B, GaussianMlpPolicy<B>>) -> Vec<f32> {
    use burn::module::AutodiffModule;
    cinder_policy::flat::flatten(&t.policy().valid())
        .into_data()
        .to_vec()
        .unwrap()
}

fn train_group(configs: Vec<TrainConfig>) -> Lockstep<B, GaussianMlpPolicy<B>> {
    let mut group = Lockstep::new(configs.into_iter().map(gaussian).collect()).unwrap();
    let mut callbacks: Vec<NoCallback> = vec![NoCallback; group.trainers().len()];
    let mut refs: Vec<&mut dyn Callback> = callbacks
        .iter_mut()
        .map(|c| c as &mut dyn Callback)
        .collect();
    let summaries = group.train(&mut refs).unwrap();
    for s in &summaries {
        assert_eq!(s.updates, 3);
        assert_eq!(s.skipped_updates, 0);
    }
    group
}

#[test]
fn one_run_in_lockstep_is_the_single_trainer() {
    let group = train_group(vec![config(5)]);
    let mut single = gaussian(config(5));
    single.train(&mut NoCallback).unwrap();
    assert_eq!(params(&group.trainers()[0]), params(&single));
}

#[test]
fn k_runs_match_k_single_runs() {
    let configs: Vec<TrainConfig> = (0..3)
        .map(|s| {
            let c = config(s);
            // Different KL radii in one group: only the operator is shared.
            match (s, c.algo.clone()) {
                (1, AlgoConfig::Trpo(a)) => TrainConfig {
                    algo: AlgoConfig::Trpo(a.with_target_kl(0.02)),
                    ..c
                },
                _ => c,
            }
        })
        .collect();
    let group = train_group(configs.clone());
    for (k, c) in configs.into_iter().enumerate() {
        let mut single = gaussian(c);
        single.train(&mut NoCallback).unwrap();
        let (a, b) = (params(&group.trainers()[k]), params(&single));
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f32>()
            .sqrt();
        let norm = b.iter().map(|y| y * y).sum::<f32>().sqrt();
        assert!(
            diff <= 1e-4 * norm,
            "run {k}: ‖Δθ‖ = {diff:e}, ‖θ‖ = {norm}"
        );
    }
}

#[test]
fn groups_that_cannot_share_an_operator_are_refused() {
    let err = |configs: Vec<TrainConfig>| {
        Lockstep::new(configs.into_iter().map(gaussian).collect())
            .err()
            .expect("refused")
            .to_string()
    };
    let with = |c: TrainConfig, algo| TrainConfig { algo, ..c };
    let damped = with(
        config(1),
        AlgoConfig::Trpo(TrpoConfig::new().with_cg_damping(0.5)),
    );
    assert!(err(vec![config(0), damped]).contains("cg_damping"));
    let longer = config(1).with_n_steps(512);
    assert!(err(vec![config(0), longer]).contains("n_steps"));
    let wide = config(1).with_policy_hidden(vec![32, 32]);
    assert!(err(vec![config(0), wide]).contains("architecture"));
    let ppo = preset("Pendulum-v1", "ppo").unwrap();
    assert!(err(vec![ppo]).contains("TRPO and NPG"));
    let db = with(
        config(0),
        AlgoConfig::Trpo(TrpoConfig::new().with_fvp(cinder_algo::FvpKind::DoubleBackprop)),
    );
    assert!(err(vec![db]).contains("GaussNewton"));
    // TRPO and NPG mix.
    let npg = with(config(1), AlgoConfig::Npg(NpgConfig::new()));
    Lockstep::new(vec![gaussian(config(0)), gaussian(npg)]).unwrap();
}
