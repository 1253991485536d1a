//! Rollout collection: buffers line up with what the env and the networks give when replayed.

use burn::backend::Flex;
use burn::tensor::{Int, Tensor, TensorData};
use cinder_algo::{NativeFamily, Rollout, RolloutCollector, gae};
use cinder_env::native::{CartPole, NativeVecEnv, Pendulum};
use cinder_env::wrappers::{RecordEpisodeStatistics, TimeLimit};
use cinder_env::{ActionBuffer, Actions, StepBatch, VecEnv};
use cinder_policy::{
    ActionDistribution, CategoricalMlpPolicyConfig, GaussianMlpPolicyConfig, Policy, ValueMlpConfig,
};
use cinder_policy::{
    CategoricalFamily, CategoricalMlpPolicy, GaussianFamily, GaussianMlpPolicy, HostMlp,
    HostWorkspace, Mlp, flat,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

type B = Flex;

fn pendulum(n: usize) -> TimeLimit<NativeVecEnv<Pendulum>> {
    TimeLimit::new(NativeVecEnv::new(Pendulum::default(), n).unwrap(), 200).unwrap()
}

#[test]
fn gaussian_rollout_matches_a_replay_of_its_actions() {
    let device = Default::default();
    let (n, t_len) = (3, 230); // crosses the 200-step truncation
    // A wide policy (σ = e² ≈ 7.4) samples far outside Pendulum's ±2: stored unclipped, sent clipped.
    let policy = GaussianMlpPolicyConfig::new(3, 1)
        .with_log_std_init(2.0)
        .init::<B>(1, &device)
        .unwrap();
    let value = ValueMlpConfig::new(3).init::<B>(2, &device).unwrap();
    let mut env = pendulum(n);
    let mut collector = RolloutCollector::new(&mut env, 7).unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let mut r = collector
        .collect(&mut env, &policy, t_len, &mut rng, &device)
        .unwrap();
    assert!(
        r.values.is_empty() && r.next_values.is_empty(),
        "values come after acting"
    );
    assert_eq!(
        r.final_index.len(),
        n,
        "each env's episode was cut at 200 steps"
    );
    r.evaluate_values(&value, &device).unwrap();
    assert_eq!((r.num_steps, r.num_envs, r.obs_dim), (t_len, n, 3));
    assert_eq!(r.obs.len(), t_len * n * 3);
    let ActionBuffer::Continuous(actions) = &r.actions else {
        panic!("continuous actions")
    };
    assert_eq!(actions.len(), t_len * n);
    assert!(
        actions.iter().any(|a| a.abs() > 2.0),
        "unclipped samples are kept"
    );

    // Replay the clipped actions on a twin env: same observations, rewards, flags, and the
    // value of every final observation in next_values.
    let mut twin = pendulum(n);
    let mut obs = vec![0.0; n * 3];
    twin.reset(Some(7), &mut obs).unwrap();
    let mut out = StepBatch::for_env(&twin);
    let v = |rows: Vec<f32>| -> Vec<f32> {
        let k = rows.len() / 3;
        value
            .forward(Tensor::from_data(TensorData::new(rows, [k, 3]), &device))
            .into_data()
            .iter::<f32>()
            .collect()
    };
    let mut truncations = 0;
    for t in 0..t_len {
        assert_eq!(
            &r.obs[t * n * 3..(t + 1) * n * 3],
            &obs[..],
            "obs at step {t}"
        );
        let clipped: Vec<f32> = actions[t * n..(t + 1) * n]
            .iter()
            .map(|a| a.clamp(-2.0, 2.0))
            .collect();
        twin.step(Actions::Continuous(&clipped), &mut out).unwrap();
        assert_eq!(&r.rewards[t * n..(t + 1) * n], &out.rewards[..]);
        assert_eq!(&r.truncated[t * n..(t + 1) * n], &out.truncated[..]);
        for i in 0..n {
            let want = if out.done(i) {
                truncations += 1;
                v(out.final_obs_row(i).to_vec())[0]
            } else {
                v(out.obs_row(i).to_vec())[0]
            };
            assert!(
                (r.next_values[t * n + i] - want).abs() < 1e-5,
                "next value ({t}, {i})"
            );
        }
        obs.copy_from_slice(&out.obs);
    }
    assert_eq!(truncations, n);
    assert_eq!(
        collector.observations(),
        &obs[..],
        "the next rollout starts where this one ended"
    );

    // log-probs and values are those of the stored observations and actions.
    let all_obs =
        Tensor::<B, 2>::from_data(TensorData::new(r.obs.clone(), [t_len * n, 3]), &device);
    let all_actions =
        Tensor::<B, 2>::from_data(TensorData::new(actions.clone(), [t_len * n, 1]), &device);
    let lp: Vec<f32> = policy
        .distribution(all_obs.clone())
        .log_prob(all_actions)
        .into_data()
        .iter::<f32>()
        .collect();
    let vals: Vec<f32> = value.forward(all_obs).into_data().iter::<f32>().collect();
    for k in 0..t_len * n {
        assert!((lp[k] - r.log_probs[k]).abs() < 1e-4, "log-prob {k}");
        assert!((vals[k] - r.values[k]).abs() < 1e-5, "value {k}");
    }
    // And the buffers feed GAE directly.
    let adv = gae(
        &r.rewards,
        &r.values,
        &r.next_values,
        &r.terminated,
        &r.truncated,
        n,
        0.99,
        0.95,
    )
    .unwrap();
    assert!(adv.advantages.iter().all(|a| a.is_finite()));

    // Buffers that do not fit together are refused, not read out of bounds.
    let mut broken = r.clone();
    broken.final_index[0] = t_len * n;
    let err = broken.evaluate_values(&value, &device).unwrap_err();
    assert!(err.to_string().contains("rollout observations"), "{err}");
    let mut broken = r;
    broken.last_obs.pop();
    assert!(broken.evaluate_values(&value, &device).is_err());
}

#[test]
fn categorical_rollout_records_episodes_and_is_reproducible() {
    let device = Default::default();
    let policy = CategoricalMlpPolicyConfig::new(4, 2)
        .init::<B>(1, &device)
        .unwrap();
    let run = || {
        let mut env = RecordEpisodeStatistics::new(
            TimeLimit::new(NativeVecEnv::new(CartPole::default(), 4).unwrap(), 500).unwrap(),
            100,
        )
        .unwrap();
        let mut collector = RolloutCollector::new(&mut env, 1).unwrap();
        let mut rng = StdRng::seed_from_u64(9);
        let first = collector
            .collect(&mut env, &policy, 64, &mut rng, &device)
            .unwrap();
        let second = collector
            .collect(&mut env, &policy, 64, &mut rng, &device)
            .unwrap();
        (first, second)
    };
    let (a, b) = run();
    assert_eq!(run(), (a.clone(), b.clone()), "same seeds, same rollouts");
    let ActionBuffer::Discrete(actions) = &a.actions else {
        panic!("discrete actions")
    };
    assert!(actions.iter().all(|&x| x == 0 || x == 1));
    assert!(
        !a.episodes.is_empty(),
        "random CartPole episodes end within 64 steps"
    );
    let ended = a.terminated.iter().filter(|&&x| x).count();
    assert_eq!(ended, a.episodes.len());
    for ep in &a.episodes {
        assert!((ep.episodic_return - ep.episodic_length as f64).abs() < 1e-9);
    }
    // Log-probs of the stored actions under the policy.
    let obs = Tensor::<B, 2>::from_data(TensorData::new(a.obs.clone(), [64 * 4, 4]), &device);
    let acts = Tensor::<B, 1, Int>::from_data(TensorData::new(actions.clone(), [64 * 4]), &device);
    let lp: Vec<f32> = policy
        .distribution(obs)
        .log_prob(acts)
        .into_data()
        .iter::<f32>()
        .collect();
    assert!(
        lp.iter()
            .zip(&a.log_probs)
            .all(|(x, y)| (x - y).abs() < 1e-5)
    );
    assert_ne!(a.obs, b.obs);
}

#[test]
fn mismatched_policy_and_env_is_an_error() {
    let device = Default::default();
    let policy = CategoricalMlpPolicyConfig::new(3, 2)
        .init::<B>(1, &device)
        .unwrap();
    let mut env = pendulum(2);
    let mut collector = RolloutCollector::new(&mut env, 0).unwrap();
    let mut rng = StdRng::seed_from_u64(0);
    let err = collector
        .collect(&mut env, &policy, 4, &mut rng, &device)
        .unwrap_err();
    assert!(err.to_string().contains("discrete"), "{err}");
}

/// `steps` steps of `policy` on twin envs from the same seeds and generator: once acting on
/// burn, once natively ([`NativeFamily::act`] on the policy's flat parameters, what
/// `NativeActor` runs). Both draw the same random numbers (their generators end in the same
/// state).
fn act_both_ways<P, E>(policy: &P, mut env: E, mut twin: E, steps: usize) -> (Rollout, Rollout)
where
    P: Policy<B, Family: NativeFamily> + HasMlp,
    E: VecEnv,
{
    let device = Default::default();
    let net = HostMlp::of(policy.mlp());
    let params: Vec<f32> = flat::flatten(policy).into_data().iter::<f32>().collect();
    let mut ws = HostWorkspace::default();
    let mut on_burn = RolloutCollector::new(&mut env, 7).unwrap();
    let mut native = RolloutCollector::new(&mut twin, 7).unwrap();
    let (mut rng_a, mut rng_b) = (StdRng::seed_from_u64(3), StdRng::seed_from_u64(3));
    let a = on_burn
        .collect(&mut env, policy, steps, &mut rng_a, &device)
        .unwrap();
    let b = native
        .collect_with(&mut twin, steps, &mut rng_b, |obs, rng, log_probs| {
            Ok(P::Family::act(
                &net,
                &params,
                obs,
                &mut ws,
                Some(rng),
                Some(log_probs),
            ))
        })
        .unwrap();
    assert_eq!(
        rng_a.random::<u64>(),
        rng_b.random::<u64>(),
        "the same draws"
    );
    (a, b)
}

/// The MLP of a built-in policy.
trait HasMlp {
    fn mlp(&self) -> &Mlp<B>;
}

impl HasMlp for GaussianMlpPolicy<B> {
    fn mlp(&self) -> &Mlp<B> {
        &self.mlp
    }
}

impl HasMlp for CategoricalMlpPolicy<B> {
    fn mlp(&self) -> &Mlp<B> {
        &self.mlp
    }
}

fn close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    let worst = a
        .iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(worst < 1e-5, "{what} differ by up to {worst}");
}

/// Acting natively is acting with the burn policy up to float rounding: the same draws,
/// actions and log-probabilities within 1e-5 of burn's (a Gaussian on Pendulum, 60 steps of 3
/// envs), the same discrete actions (CartPole), and the same mode as the distribution's.
#[test]
fn native_acting_is_the_burn_policy_up_to_rounding() {
    let device = Default::default();
    let mut ws = HostWorkspace::default();
    let gaussian = GaussianMlpPolicyConfig::new(3, 1)
        .with_log_std_init(-0.5)
        .init::<B>(1, &device)
        .unwrap();
    let (a, b) = act_both_ways(&gaussian, pendulum(3), pendulum(3), 60);
    let (ActionBuffer::Continuous(xa), ActionBuffer::Continuous(xb)) = (&a.actions, &b.actions)
    else {
        panic!("continuous actions")
    };
    close(xa, xb, "Gaussian actions");
    close(&a.log_probs, &b.log_probs, "Gaussian log-probabilities");
    close(&a.obs, &b.obs, "observations");
    let obs: Vec<f32> = a.obs[..30].to_vec();
    let mode = gaussian
        .distribution(Tensor::from_data(
            TensorData::new(obs.clone(), [10, 3]),
            &device,
        ))
        .mode();
    let net = HostMlp::of(&gaussian.mlp);
    let params: Vec<f32> = flat::flatten(&gaussian).into_data().iter::<f32>().collect();
    let ActionBuffer::Continuous(native_mode) =
        GaussianFamily::act::<StdRng>(&net, &params, &obs, &mut ws, None, None)
    else {
        panic!("continuous actions")
    };
    close(
        &mode.into_data().iter::<f32>().collect::<Vec<_>>(),
        &native_mode,
        "Gaussian mode",
    );

    let categorical = CategoricalMlpPolicyConfig::new(4, 2)
        .init::<B>(1, &device)
        .unwrap();
    let cartpole =
        || TimeLimit::new(NativeVecEnv::new(CartPole::default(), 4).unwrap(), 500).unwrap();
    let (a, b) = act_both_ways(&categorical, cartpole(), cartpole(), 100);
    assert_eq!(a.actions, b.actions, "categorical actions");
    assert_eq!(a.obs, b.obs, "the same actions, the same episodes");
    close(&a.log_probs, &b.log_probs, "categorical log-probabilities");
    let obs: Vec<f32> = a.obs[..40].to_vec();
    let mode: Vec<i64> = categorical
        .distribution(Tensor::from_data(
            TensorData::new(obs.clone(), [10, 4]),
            &device,
        ))
        .mode()
        .into_data()
        .iter::<i64>()
        .collect();
    let net = HostMlp::of(&categorical.mlp);
    let params: Vec<f32> = flat::flatten(&categorical)
        .into_data()
        .iter::<f32>()
        .collect();
    assert_eq!(
        CategoricalFamily::act::<StdRng>(&net, &params, &obs, &mut ws, None, None),
        ActionBuffer::Discrete(mode),
        "categorical mode"
    );
}

/// A native actor refuses to act before its first sync, and refuses a policy of another
/// architecture than its network's, saying what to do.
#[test]
fn a_native_actor_needs_a_matching_sync() {
    use burn::backend::Autodiff;
    use cinder_algo::{Actor, NativeActor, TrainRng};
    use cinder_policy::Activation;
    type A = Autodiff<Flex>;
    let device = Default::default();
    let mut actor =
        NativeActor::<GaussianFamily>::new(HostMlp::new(vec![3, 8, 1], Activation::Tanh));
    let mut env = pendulum(2);
    let mut collector = RolloutCollector::new(&mut env, 0).unwrap();
    let mut rng = TrainRng::seed_from_u64(0);
    let err =
        Actor::<A, GaussianMlpPolicy<A>>::collect(&actor, &mut collector, &mut env, 4, &mut rng)
            .err()
            .unwrap();
    assert!(err.to_string().contains("call `Actor::sync`"), "{err}");
    let value = ValueMlpConfig::new(3).init::<A>(0, &device).unwrap();
    let wide = GaussianMlpPolicyConfig::new(3, 1)
        .with_hidden(vec![16])
        .init::<A>(0, &device)
        .unwrap();
    let err = actor.sync(&wide, &value).err().unwrap();
    assert!(
        err.to_string().contains("build it from the learner's MLP"),
        "{err}"
    );
    let fits = GaussianMlpPolicyConfig::new(3, 1)
        .with_hidden(vec![8])
        .init::<A>(0, &device)
        .unwrap();
    actor.sync(&fits, &value).unwrap();
    let rollout =
        Actor::<A, GaussianMlpPolicy<A>>::collect(&actor, &mut collector, &mut env, 4, &mut rng)
            .unwrap();
    assert_eq!(rollout.log_probs.len(), 8);
}
