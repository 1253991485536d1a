//! The VecEnv contract, seeding, reset distributions, parallel stepping, wrappers (against
//! hand-computed references), bad input and check_env.
#![allow(clippy::needless_range_loop, clippy::type_complexity)]

use cinder_env::native::{
    Acrobot, CartPole, ContinuousMountainCar, Dynamics, EnvRng, MountainCar, NativeEnv,
    NativeVecEnv, Pendulum,
};
use cinder_env::wrappers::{
    ClipAction, NormalizeObservation, NormalizeReward, RecordEpisodeStatistics, RescaleAction,
    RunningMeanStd, TimeLimit,
};
use cinder_env::{
    ActionBuffer, Actions, EnvError, EnvState, MakeOptions, ParallelVecEnv, Space, StepBatch,
    VecEnv, check_env, ids, make, make_with, registry,
};
use rand::SeedableRng;

/// Everything `steps` random steps return, for bitwise comparisons.
#[derive(Debug, PartialEq)]
struct Trace(Vec<(Vec<f32>, Vec<f32>, Vec<bool>, Vec<bool>, Vec<f32>)>);

fn random_actions(space: &Space, n: usize, steps: usize, seed: u64) -> Vec<ActionBuffer> {
    let mut rng = EnvRng::seed_from_u64(seed);
    (0..steps)
        .map(|_| {
            let mut a = space.action_buffer(n);
            space.sample_into(&mut rng, a.as_mut());
            a
        })
        .collect()
}

fn trace(env: &mut dyn VecEnv, seed: u64, actions: &[ActionBuffer]) -> Trace {
    let mut obs = vec![0.0; env.num_envs() * env.observation_space().flat_dim()];
    env.reset(Some(seed), &mut obs).unwrap();
    let mut out = StepBatch::for_env(env);
    let mut steps = vec![(obs, vec![], vec![], vec![], vec![])];
    for a in actions {
        env.step(a.as_actions(), &mut out).unwrap();
        let d = out.obs_dim();
        let fin: Vec<f32> = (0..out.num_envs())
            .flat_map(|i| {
                if out.done(i) {
                    out.final_obs_row(i).to_vec()
                } else {
                    vec![0.0; d]
                }
            })
            .collect();
        steps.push((
            out.obs.clone(),
            out.rewards.clone(),
            out.terminated.clone(),
            out.truncated.clone(),
            fin,
        ));
    }
    Trace(steps)
}

#[test]
fn every_registered_env_passes_check_env() {
    for spec in registry() {
        let mut env = make(spec.id, 3, Some(1)).unwrap();
        let report = check_env(&mut *env, 7, 300).unwrap_or_else(|e| panic!("{}: {e}", spec.id));
        assert_eq!(report.steps, 300);
        assert_eq!(env.observation_space(), &spec.observation_space);
        assert_eq!(env.action_space(), &spec.action_space);
    }
    let mut expected = vec![
        "CartPole-v1",
        "Acrobot-v1",
        "MountainCar-v0",
        "MountainCarContinuous-v0",
        "Pendulum-v1",
    ];
    if cfg!(feature = "mujoco") {
        expected.extend([
            "Hopper-v5",
            "HalfCheetah-v5",
            "Walker2d-v5",
            "Ant-v5",
            "Humanoid-v5",
            "HumanoidStandup-v5",
            "Swimmer-v5",
            "InvertedPendulum-v5",
            "InvertedDoublePendulum-v5",
            "Reacher-v5",
            "Pusher-v5",
        ]);
    }
    assert_eq!(ids(), expected);
}

#[test]
fn wrapped_stacks_pass_check_env() {
    let stack = |id: &str| -> Box<dyn VecEnv> {
        let env = RecordEpisodeStatistics::new(make(id, 4, None).unwrap(), 100).unwrap();
        Box::new(
            NormalizeReward::with_defaults(NormalizeObservation::with_defaults(env).unwrap())
                .unwrap(),
        )
    };
    for id in ["CartPole-v1", "Pendulum-v1"] {
        check_env(&mut *stack(id), 3, 250).unwrap_or_else(|e| panic!("{id}: {e}"));
    }
    let mut clipped = ClipAction::new(make("MountainCarContinuous-v0", 2, None).unwrap()).unwrap();
    check_env(&mut clipped, 3, 100).unwrap();
    let mut rescaled =
        RescaleAction::new(make("Pendulum-v1", 2, None).unwrap(), -1.0, 1.0).unwrap();
    check_env(&mut rescaled, 3, 100).unwrap();
    let mut parallel = ParallelVecEnv::from_fn(3, 2, |i| {
        Ok(NativeEnv::new(CartPole::default(), Some(i as u64)))
    })
    .unwrap();
    check_env(&mut parallel, 3, 100).unwrap();
}

#[test]
fn seeding_follows_gymnasium_convention_and_is_independent_of_batch_size() {
    // reset(Some(s)) seeds env i with s + i: env 2 of a batch of 5 is a single env seeded s + 2.
    let actions = random_actions(&Pendulum::default().action_space(), 5, 50, 1);
    let mut batch = NativeVecEnv::new(Pendulum::default(), 5).unwrap();
    let t5 = trace(&mut batch, 100, &actions);
    let mut small = NativeVecEnv::new(Pendulum::default(), 3).unwrap();
    let small_actions: Vec<ActionBuffer> = actions
        .iter()
        .map(|a| match a {
            ActionBuffer::Continuous(v) => ActionBuffer::Continuous(v[..3].to_vec()),
            ActionBuffer::Discrete(_) => unreachable!(),
        })
        .collect();
    let t3 = trace(&mut small, 100, &small_actions);
    for (a, b) in t5.0.iter().zip(&t3.0) {
        assert_eq!(
            &a.0[..9],
            &b.0[..],
            "env i's trajectory does not depend on the batch size"
        );
    }
    let mut single = NativeEnv::new(Pendulum::default(), None);
    let mut obs = vec![0.0; 3];
    cinder_env::Env::reset(&mut single, Some(102), &mut obs).unwrap();
    assert_eq!(&t5.0[0].0[6..9], &obs[..]);
    // Another seed, other starts; the same seed, the same starts.
    let mut again = NativeVecEnv::new(Pendulum::default(), 5).unwrap();
    assert_eq!(trace(&mut again, 100, &actions), t5);
    assert_ne!(trace(&mut again, 101, &actions).0[0], t5.0[0]);
}

#[test]
fn parallel_stepping_is_deterministic_for_any_thread_count() {
    let actions = random_actions(&Space::Discrete(2), 16, 400, 5);
    let make_parallel = |threads| {
        ParallelVecEnv::from_fn(16, threads, |_| {
            Ok(NativeEnv::new(CartPole::default(), None))
        })
        .unwrap()
    };
    let one = trace(&mut make_parallel(1), 9, &actions);
    let two = trace(&mut make_parallel(2), 9, &actions);
    let all = trace(&mut make_parallel(0), 9, &actions);
    assert_eq!(one, two);
    assert_eq!(one, all);
    // And the same as the batched native env: same seeds, same auto-resets.
    let batched = trace(
        &mut NativeVecEnv::new(CartPole::default(), 16).unwrap(),
        9,
        &actions,
    );
    assert_eq!(one, batched);
    let ended: usize = one
        .0
        .iter()
        .skip(1)
        .map(|s| s.2.iter().filter(|&&t| t).count())
        .sum();
    assert!(ended > 50, "random CartPole episodes end often ({ended})");
}

fn uniform_moments(values: &[f64], low: f64, high: f64, what: &str) {
    let n = values.len() as f64;
    assert!(
        values.iter().all(|&v| v >= low && v < high),
        "{what} outside [{low}, {high})"
    );
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let (m, v) = ((low + high) / 2.0, (high - low).powi(2) / 12.0);
    // 5 standard errors.
    assert!(
        (mean - m).abs() < 5.0 * (v / n).sqrt(),
        "{what}: mean {mean} vs {m}"
    );
    assert!(
        (var - v).abs() < 5.0 * v * (0.8 / n).sqrt(),
        "{what}: var {var} vs {v}"
    );
}

fn initial_states<D: Dynamics>(d: D, n: usize) -> Vec<Vec<f64>> {
    let mut env = NativeVecEnv::new(d, n).unwrap();
    let mut obs = vec![0.0; n * env.observation_space().flat_dim()];
    env.reset(Some(3), &mut obs).unwrap();
    (0..n)
        .map(|i| D::state_to_vec(&env.state(i).unwrap()))
        .collect()
}

#[test]
fn reset_distributions_match_gymnasium() {
    let n = 20_000;
    let column = |s: &[Vec<f64>], k: usize| s.iter().map(|v| v[k]).collect::<Vec<_>>();
    let p = initial_states(Pendulum::default(), n);
    uniform_moments(
        &column(&p, 0),
        -std::f64::consts::PI,
        std::f64::consts::PI,
        "Pendulum θ",
    );
    uniform_moments(&column(&p, 1), -1.0, 1.0, "Pendulum θ̇");
    let c = initial_states(CartPole::default(), n);
    for k in 0..4 {
        uniform_moments(&column(&c, k), -0.05, 0.05, "CartPole state");
    }
    let a = initial_states(Acrobot, n);
    for k in 0..4 {
        let col = column(&a, k);
        assert!(
            col.iter().all(|&x| x as f32 as f64 == x),
            "Acrobot stores its reset state as float32"
        );
        uniform_moments(&col, -0.1, 0.1, "Acrobot state");
    }
    for states in [
        initial_states(MountainCar::default(), n),
        initial_states(ContinuousMountainCar::default(), n),
    ] {
        uniform_moments(&column(&states, 0), -0.6, -0.4, "MountainCar position");
        assert!(
            column(&states, 1).iter().all(|&v| v == 0.0),
            "MountainCar starts at rest"
        );
    }
}

#[test]
fn out_of_range_continuous_actions_are_clipped_as_gymnasium_does() {
    let run = |a: f32| {
        let mut env = NativeVecEnv::new(Pendulum::default(), 1).unwrap();
        trace(&mut env, 4, &vec![ActionBuffer::Continuous(vec![a]); 20])
    };
    assert_eq!(run(5.0), run(2.0));
    assert_eq!(run(-100.0), run(-2.0));
    assert_ne!(run(1.5), run(2.0));
    // MountainCarContinuous clips the force but charges the unclipped action.
    let mut env = NativeVecEnv::new(ContinuousMountainCar::default(), 2).unwrap();
    let t = trace(&mut env, 4, &[ActionBuffer::Continuous(vec![3.0, 1.0])]);
    let (_, rewards, ..) = &t.0[1];
    assert!(
        (rewards[0] - (-0.9)).abs() < 1e-6 && (rewards[1] - (-0.1)).abs() < 1e-6,
        "{rewards:?}"
    );
}

#[test]
fn bad_input_is_an_error_and_changes_nothing() {
    let mut env = make("CartPole-v1", 2, Some(0)).unwrap();
    let mut out = StepBatch::for_env(&*env);
    assert_eq!(
        env.step(Actions::Discrete(&[0, 1]), &mut out),
        Err(EnvError::NotReset)
    );
    let mut obs = vec![0.0; 8];
    assert!(matches!(
        env.reset(None, &mut obs[..7]),
        Err(EnvError::BufferSize {
            expected: 8,
            got: 7,
            ..
        })
    ));
    env.reset(Some(1), &mut obs).unwrap();
    let before = out.clone();
    let errors = [
        env.step(Actions::Discrete(&[0, 2]), &mut out).unwrap_err(),
        env.step(Actions::Discrete(&[-1, 0]), &mut out).unwrap_err(),
        env.step(Actions::Discrete(&[0]), &mut out).unwrap_err(),
        env.step(Actions::Continuous(&[0.0, 1.0]), &mut out)
            .unwrap_err(),
    ];
    let messages: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        messages[0],
        "action of env 1 is 2, outside the action space Discrete(2) (0..2)"
    );
    assert_eq!(
        messages[1],
        "action of env 0 is -1, outside the action space Discrete(2) (0..2)"
    );
    assert_eq!(
        messages[2],
        "actions have 1 values, expected 2 (num_envs 2 × action dim 1)"
    );
    assert_eq!(
        messages[3],
        "discrete actions expected (action space Discrete(2)), got continuous actions"
    );
    assert_eq!(out, before, "rejected calls write nothing");
    let mut pendulum = make("Pendulum-v1", 2, Some(0)).unwrap();
    let mut obs = vec![0.0; 6];
    pendulum.reset(Some(0), &mut obs).unwrap();
    let mut out = StepBatch::for_env(&*pendulum);
    let err = pendulum
        .step(Actions::Continuous(&[0.0, f32::NAN]), &mut out)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "action 0 of env 1 is NaN: actions must be finite"
    );
    let mut wrong = StepBatch::new(3, 3);
    let err = pendulum
        .step(Actions::Continuous(&[0.0, 0.0]), &mut wrong)
        .unwrap_err();
    assert_eq!(err.to_string(), "StepBatch.obs has 9 values, expected 6");
    assert!(pendulum.reset_env(2, &mut [0.0; 3]).is_err());

    // The state is untouched by all of the above: the run continues as if they never happened.
    let actions = random_actions(pendulum.action_space(), 2, 30, 2);
    let clean = trace(&mut *make("Pendulum-v1", 2, None).unwrap(), 5, &actions);
    let mut env = make("Pendulum-v1", 2, None).unwrap();
    let mut obs = vec![0.0; 6];
    env.reset(Some(5), &mut obs).unwrap();
    let mut out = StepBatch::for_env(&*env);
    let mut steps = vec![(obs.clone(), vec![], vec![], vec![], vec![])];
    for a in &actions {
        assert!(
            env.step(Actions::Continuous(&[f32::INFINITY, 0.0]), &mut out)
                .is_err()
        );
        assert!(env.step(Actions::Discrete(&[0, 0]), &mut out).is_err());
        env.step(a.as_actions(), &mut out).unwrap();
        steps.push((
            out.obs.clone(),
            out.rewards.clone(),
            out.terminated.clone(),
            out.truncated.clone(),
            vec![0.0; 6],
        ));
    }
    for (t, (a, b)) in clean.0.iter().zip(&steps).enumerate() {
        assert_eq!((&a.0, &a.1), (&b.0, &b.1), "step {t}");
    }
}

#[test]
fn time_limit_truncates_and_reports_the_final_observation() {
    let n = 3;
    let mut env = TimeLimit::new(NativeVecEnv::new(Pendulum::default(), n).unwrap(), 5).unwrap();
    let mut obs = vec![0.0; n * 3];
    env.reset(Some(0), &mut obs).unwrap();
    let mut out = StepBatch::for_env(&env);
    let mut twin = NativeVecEnv::new(Pendulum::default(), n).unwrap();
    let mut twin_obs = obs.clone();
    twin.reset(Some(0), &mut twin_obs).unwrap();
    let mut twin_out = StepBatch::for_env(&twin);
    let a = vec![0.3f32; n];
    for t in 1..=12 {
        env.step(Actions::Continuous(&a), &mut out).unwrap();
        twin.step(Actions::Continuous(&a), &mut twin_out).unwrap();
        let at_limit = t % 5 == 0;
        assert!(out.truncated.iter().all(|&x| x == at_limit) && out.terminated.iter().all(|&x| !x));
        if at_limit {
            // The episode's last observation is what the un-limited twin sees; the new
            // episode starts from a fresh reset.
            assert_eq!(out.final_obs, twin_out.obs);
            assert_ne!(out.obs, twin_out.obs);
            let mut fresh = vec![0.0; n * 3];
            twin.reset(None, &mut fresh).unwrap();
            twin_out.obs.copy_from_slice(&fresh);
            assert_eq!(env.elapsed_steps(), &[0, 0, 0]);
        } else {
            assert_eq!(out.obs, twin_out.obs);
        }
    }
    assert!(TimeLimit::new(make("Pendulum-v1", 1, None).unwrap(), 0).is_err());
}

#[test]
fn termination_on_the_last_allowed_step_sets_both_flags() {
    // Always pushing right ends a CartPole episode after k steps; a limit of exactly k gives
    // terminated and truncated together, as Gymnasium's TimeLimit does.
    let mut env = NativeVecEnv::new(CartPole::default(), 1).unwrap();
    let pushes = vec![ActionBuffer::Discrete(vec![1]); 100];
    let t = trace(&mut env, 3, &pushes);
    let k = t.0.iter().skip(1).position(|s| s.2[0]).unwrap() + 1;
    let mut limited =
        TimeLimit::new(NativeVecEnv::new(CartPole::default(), 1).unwrap(), k).unwrap();
    let lt = trace(&mut limited, 3, &pushes[..k]);
    let last = &lt.0[k];
    assert!(
        last.2[0] && last.3[0],
        "terminated and truncated at step {k}"
    );
    assert_eq!(last.4, t.0[k].4, "final observation of the terminal state");
}

#[test]
fn episode_statistics_sum_the_raw_rewards() {
    let n = 4;
    let mut env = RecordEpisodeStatistics::new(make("Pendulum-v1", n, None).unwrap(), 3).unwrap();
    let mut raw = make("Pendulum-v1", n, None).unwrap();
    let actions = random_actions(env.action_space(), n, 450, 8);
    let mut obs = vec![0.0; n * 3];
    env.reset(Some(2), &mut obs).unwrap();
    raw.reset(Some(2), &mut obs).unwrap();
    let (mut out, mut raw_out) = (StepBatch::for_env(&env), StepBatch::for_env(&*raw));
    let mut sums = vec![0.0f64; n];
    let mut seen = 0;
    for a in &actions {
        env.step(a.as_actions(), &mut out).unwrap();
        raw.step(a.as_actions(), &mut raw_out).unwrap();
        for i in 0..n {
            sums[i] += raw_out.rewards[i] as f64;
        }
        for ep in &out.episodes {
            assert_eq!(ep.episodic_length, 200);
            assert!((ep.episodic_return - sums[ep.env]).abs() < 1e-9);
            sums[ep.env] = 0.0;
            seen += 1;
        }
    }
    assert_eq!(seen, 8);
    assert_eq!(env.episode_count(), 8);
    assert_eq!(
        env.recent().len(),
        3,
        "keeps the last buffer_length episodes"
    );
}

/// Reference: Chan's merge of (mean 0, var 1, count 1e-4) with all the rows seen, in f64.
fn reference_statistics(rows: &[Vec<f32>], dim: usize) -> RunningMeanStd {
    let mut rms = RunningMeanStd::new(dim);
    for batch in rows {
        let n = (batch.len() / dim) as f64;
        let mean: Vec<f64> = (0..dim)
            .map(|k| batch.chunks(dim).map(|r| r[k] as f64).sum::<f64>() / n)
            .collect();
        let var: Vec<f64> = (0..dim)
            .map(|k| {
                batch
                    .chunks(dim)
                    .map(|r| (r[k] as f64 - mean[k]).powi(2))
                    .sum::<f64>()
                    / n
            })
            .collect();
        let tot = rms.count + n;
        for k in 0..dim {
            let delta = mean[k] - rms.mean[k];
            let m2 = rms.var[k] * rms.count + var[k] * n + delta * delta * rms.count * n / tot;
            rms.mean[k] += delta * n / tot;
            rms.var[k] = m2 / tot;
        }
        rms.count = tot;
    }
    rms
}

#[test]
fn normalize_observation_matches_a_reference_and_freezes_saves_and_restores() {
    let n = 5;
    let mut env =
        NormalizeObservation::new(make("CartPole-v1", n, None).unwrap(), 1e-8, Some(5.0)).unwrap();
    let mut raw = make("CartPole-v1", n, None).unwrap();
    let actions = random_actions(env.action_space(), n, 120, 3);
    let mut obs = vec![0.0; n * 4];
    let mut raw_obs = obs.clone();
    env.reset(Some(4), &mut obs).unwrap();
    raw.reset(Some(4), &mut raw_obs).unwrap();
    let mut batches = vec![raw_obs.clone()];
    let (mut out, mut raw_out) = (StepBatch::for_env(&env), StepBatch::for_env(&*raw));
    for a in &actions {
        env.step(a.as_actions(), &mut out).unwrap();
        raw.step(a.as_actions(), &mut raw_out).unwrap();
        batches.push(raw_out.obs.clone());
        let rms = reference_statistics(&batches, 4);
        let expect = |x: f32, k: usize| {
            (((x as f64 - rms.mean[k]) / (rms.var[k] + 1e-8).sqrt()) as f32).clamp(-5.0, 5.0)
        };
        for (j, (&got, &x)) in out.obs.iter().zip(&raw_out.obs).enumerate() {
            assert!(
                (got - expect(x, j % 4)).abs() < 1e-5,
                "obs {j}: {got} vs {}",
                expect(x, j % 4)
            );
        }
        for i in (0..n).filter(|&i| out.done(i)) {
            for k in 0..4 {
                let want = expect(raw_out.final_obs_row(i)[k], k);
                assert!(
                    (out.final_obs_row(i)[k] - want).abs() < 1e-5,
                    "final obs normalised too"
                );
            }
        }
    }
    let stats = env.statistics().clone();
    let reference = reference_statistics(&batches, 4);
    for k in 0..4 {
        assert!(
            (stats.mean[k] - reference.mean[k]).abs() < 1e-12
                && (stats.var[k] - reference.var[k]).abs() < 1e-12
        );
    }

    // Save, restore into a fresh stack, freeze: same outputs, statistics unchanged.
    let mut state = EnvState::default();
    env.save_state(&mut state).unwrap();
    let json = serde_json::to_string(&state).unwrap();
    let restored_state: EnvState = serde_json::from_str(&json).unwrap();
    let mut fresh =
        NormalizeObservation::new(make("CartPole-v1", n, None).unwrap(), 1e-8, Some(5.0)).unwrap();
    fresh.load_state(&restored_state).unwrap();
    assert_eq!(fresh.statistics(), env.statistics());
    env.set_training(false);
    fresh.set_training(false);
    let t1 = trace(&mut env, 11, &actions[..40]);
    let t2 = trace(&mut fresh, 11, &actions[..40]);
    assert_eq!(t1, t2);
    assert_eq!(env.statistics(), &stats, "frozen statistics do not move");

    // A state from another observation size is refused and changes nothing.
    let mut pendulum =
        NormalizeObservation::with_defaults(make("Pendulum-v1", 1, None).unwrap()).unwrap();
    let err = pendulum.load_state(&restored_state).unwrap_err();
    assert!(
        err.to_string()
            .contains("statistics of 4 values, this env's observations have 3"),
        "{err}"
    );
    assert_eq!(pendulum.statistics(), &RunningMeanStd::new(3));
    let err = pendulum.load_state(&EnvState::default()).unwrap_err();
    assert!(
        err.to_string().contains("no `normalize_observation` entry"),
        "{err}"
    );
}

#[test]
fn normalize_reward_matches_a_reference() {
    let n = 3;
    let gamma = 0.9;
    let mut env = NormalizeReward::new(
        make("CartPole-v1", n, None).unwrap(),
        gamma,
        1e-8,
        Some(10.0),
    )
    .unwrap();
    let mut raw = make("CartPole-v1", n, None).unwrap();
    let actions = random_actions(env.action_space(), n, 200, 6);
    let mut obs = vec![0.0; n * 4];
    env.reset(Some(1), &mut obs).unwrap();
    raw.reset(Some(1), &mut obs).unwrap();
    let (mut out, mut raw_out) = (StepBatch::for_env(&env), StepBatch::for_env(&*raw));
    let (mut returns, mut count, mut mean, mut var) = (vec![0.0f64; n], 1e-4, 0.0f64, 1.0f64);
    for a in &actions {
        env.step(a.as_actions(), &mut out).unwrap();
        raw.step(a.as_actions(), &mut raw_out).unwrap();
        for i in 0..n {
            let keep = if raw_out.terminated[i] { 0.0 } else { 1.0 };
            returns[i] = returns[i] * gamma * keep + raw_out.rewards[i] as f64;
        }
        let bm = returns.iter().sum::<f64>() / n as f64;
        let bv = returns.iter().map(|g| (g - bm).powi(2)).sum::<f64>() / n as f64;
        let tot = count + n as f64;
        let delta = bm - mean;
        var = (var * count + bv * n as f64 + delta * delta * count * n as f64 / tot) / tot;
        mean += delta * n as f64 / tot;
        count = tot;
        for i in 0..n {
            let want =
                ((raw_out.rewards[i] as f64 / (var + 1e-8).sqrt()) as f32).clamp(-10.0, 10.0);
            assert!(
                (out.rewards[i] - want).abs() < 1e-5 * want.abs().max(1.0),
                "{} vs {want}",
                out.rewards[i]
            );
            if raw_out.done(i) {
                returns[i] = 0.0;
            }
        }
    }
    assert!((env.statistics().var[0] - var).abs() < 1e-9 * var);
    assert!(NormalizeReward::new(make("CartPole-v1", 1, None).unwrap(), 1.5, 1e-8, None).is_err());
}

#[test]
fn action_wrappers_map_actions_as_gymnasium() {
    // RescaleAction [-1, 1] → Pendulum's [-2, 2].
    let rescaled = |a: f32| {
        let mut env = RescaleAction::new(
            NativeVecEnv::new(Pendulum::default(), 1).unwrap(),
            -1.0,
            1.0,
        )
        .unwrap();
        trace(&mut env, 2, &vec![ActionBuffer::Continuous(vec![a]); 10])
    };
    let direct = |a: f32| {
        trace(
            &mut NativeVecEnv::new(Pendulum::default(), 1).unwrap(),
            2,
            &vec![ActionBuffer::Continuous(vec![a]); 10],
        )
    };
    assert_eq!(rescaled(1.0), direct(2.0));
    assert_eq!(rescaled(-0.5), direct(-1.0));
    assert_eq!(rescaled(0.0), direct(0.0));
    let env = RescaleAction::new(make("Pendulum-v1", 1, None).unwrap(), -1.0, 1.0).unwrap();
    assert_eq!(env.action_space().to_string(), "Box(-1, 1, [1], float32)");
    assert!(RescaleAction::new(make("Pendulum-v1", 1, None).unwrap(), 1.0, 1.0).is_err());
    assert!(RescaleAction::new(make("CartPole-v1", 1, None).unwrap(), -1.0, 1.0).is_err());
    // ClipAction: MountainCarContinuous charges the action it receives, so clipping shows.
    let mut clipped =
        ClipAction::new(NativeVecEnv::new(ContinuousMountainCar::default(), 1).unwrap()).unwrap();
    let t = trace(&mut clipped, 1, &[ActionBuffer::Continuous(vec![3.0])]);
    assert!((t.0[1].1[0] - (-0.1)).abs() < 1e-7, "{:?}", t.0[1].1);
    let err = clipped
        .step(Actions::Continuous(&[f32::NAN]), &mut StepBatch::new(1, 2))
        .unwrap_err();
    assert!(matches!(err, EnvError::NonFiniteAction { .. }));
}

#[test]
fn keyword_arguments_change_the_env() {
    let mut options = MakeOptions::default();
    options
        .kwargs
        .insert("sutton_barto_reward".into(), serde_json::json!(true));
    let mut env = make_with("CartPole-v1", 1, None, &options).unwrap();
    let t = trace(&mut *env, 0, &vec![ActionBuffer::Discrete(vec![1]); 30]);
    let rewards: Vec<f32> = t.0.iter().skip(1).map(|s| s.1[0]).collect();
    let end = t.0.iter().skip(1).position(|s| s.2[0]).unwrap();
    assert!(rewards[..end].iter().all(|&r| r == 0.0) && rewards[end] == -1.0);
    options.kwargs.clear();
    options.kwargs.insert("g".into(), serde_json::json!(0.0));
    options.max_episode_steps = Some(7);
    let mut env = make_with("Pendulum-v1", 1, None, &options).unwrap();
    let t = trace(&mut *env, 0, &vec![ActionBuffer::Continuous(vec![0.0]); 7]);
    assert_eq!(
        t.0[1].0[2], t.0[0].0[2],
        "no gravity, no torque: constant angular velocity"
    );
    assert!(t.0[7].3[0], "max_episode_steps override");
}

/// A VecEnv that breaks the contract in a chosen way.
struct Broken {
    flaw: &'static str,
    ready: bool,
    calls: u32,
    obs_space: Space,
    act_space: Space,
}

impl VecEnv for Broken {
    fn num_envs(&self) -> usize {
        2
    }
    fn observation_space(&self) -> &Space {
        &self.obs_space
    }
    fn action_space(&self) -> &Space {
        &self.act_space
    }
    fn reset(&mut self, _seed: Option<u64>, obs: &mut [f32]) -> cinder_env::Result<()> {
        if obs.len() != 2 && self.flaw != "accepts short buffers" {
            return Err(EnvError::BufferSize {
                what: "obs",
                expected: 2,
                got: obs.len(),
            });
        }
        obs.fill(0.0);
        self.ready = true;
        Ok(())
    }
    fn step(&mut self, actions: Actions<'_>, out: &mut StepBatch) -> cinder_env::Result<()> {
        if self.flaw != "accepts bad actions" {
            self.act_space.validate_actions(actions, 2)?;
        }
        if !self.ready && self.flaw != "steps before reset" {
            return Err(EnvError::NotReset);
        }
        out.prepare(2, 1)?;
        self.calls += 1;
        let value = match self.flaw {
            "nondeterministic" => self.calls as f32 * 0.01,
            "nan" => f32::NAN,
            "out of bounds" => 7.0,
            _ => 0.5,
        };
        out.obs.fill(value);
        out.rewards.fill(1.0);
        out.terminated.fill(false);
        out.truncated.fill(false);
        Ok(())
    }
    fn reset_env(&mut self, index: usize, obs: &mut [f32]) -> cinder_env::Result<()> {
        if index >= 2 {
            return Err(EnvError::EnvIndex { index, num_envs: 2 });
        }
        obs.fill(0.0);
        Ok(())
    }
}

#[test]
fn check_env_names_what_is_wrong() {
    let problems = |flaw: &'static str| -> String {
        let mut env = Broken {
            flaw,
            ready: false,
            calls: 0,
            obs_space: Space::Box(
                cinder_env::BoxSpace::uniform(-1.0, 1.0, 1, cinder_env::DType::F32).unwrap(),
            ),
            act_space: Space::Discrete(2),
        };
        match check_env(&mut env, 0, 20) {
            Ok(_) => format!("{flaw}: passed"),
            Err(e) => e.to_string(),
        }
    };
    assert_eq!(problems("none"), "none: passed");
    assert!(
        problems("nondeterministic").contains("not deterministic"),
        "{}",
        problems("nondeterministic")
    );
    assert!(problems("nan").contains("component 0 is NaN"));
    assert!(problems("out of bounds").contains("outside the observation space"));
    assert!(problems("accepts bad actions").contains("step accepted"));
    assert!(problems("steps before reset").contains("step before reset returned Ok"));
    assert!(problems("accepts short buffers").contains("reset accepted an observation buffer"));
}

/// A full stack saved mid-run (states, random streams, time-limit counters, episode
/// statistics, normaliser statistics and running returns) and loaded into a freshly made
/// stack continues bit for bit.
#[test]
fn runtime_state_continues_a_stack_exactly() {
    fn stack(id: &str, n: usize) -> Box<dyn VecEnv> {
        let env = make(id, n, Some(0)).unwrap();
        let env = RecordEpisodeStatistics::new(env, 100).unwrap();
        let env = NormalizeObservation::with_defaults(env).unwrap();
        Box::new(NormalizeReward::with_defaults(env).unwrap())
    }
    for id in ["CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCar-v0"] {
        let mut env = stack(id, 3);
        let actions = random_actions(env.action_space(), 3, 700, 9);
        let (before, after) = actions.split_at(350);
        let _ = trace(env.as_mut(), 5, before);
        let mut saved = EnvState::default();
        env.save_state(&mut saved).unwrap();
        env.save_runtime(&mut saved).unwrap();

        let mut out = StepBatch::for_env(env.as_ref());
        let run = |env: &mut dyn VecEnv, out: &mut StepBatch| {
            after
                .iter()
                .map(|a| {
                    env.step(a.as_actions(), out).unwrap();
                    (
                        out.obs.clone(),
                        out.rewards.clone(),
                        out.terminated.clone(),
                        out.truncated.clone(),
                        out.episodes.clone(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let expected = run(env.as_mut(), &mut out);

        let mut fresh = stack(id, 3);
        fresh.load_state(&saved).unwrap();
        fresh.load_runtime(&saved).unwrap();
        assert_eq!(run(fresh.as_mut(), &mut out), expected, "{id}");

        // A state of another batch size is refused and changes nothing.
        let mut other = stack(id, 2);
        let mut obs = vec![0.0; 2 * other.observation_space().flat_dim()];
        other.reset(Some(1), &mut obs).unwrap();
        let mut before_state = EnvState::default();
        other.save_runtime(&mut before_state).unwrap();
        let err = other.load_runtime(&saved).unwrap_err();
        assert!(matches!(err, EnvError::State(_)), "{err}");
        let mut after_state = EnvState::default();
        other.save_runtime(&mut after_state).unwrap();
        assert_eq!(before_state, after_state);
    }
    // An env that was never reset has no runtime state to save.
    let env = make("CartPole-v1", 1, None).unwrap();
    assert!(env.save_runtime(&mut EnvState::default()).is_err());
}

/// Emits an infinite observation at its third step, finite ones otherwise.
struct Spike {
    t: u32,
    observation_space: Space,
    action_space: Space,
}

impl Spike {
    fn new() -> Self {
        let space = |b: f64| {
            Space::Box(
                cinder_env::BoxSpace::new(vec![-b], vec![b], cinder_env::DType::F32).unwrap(),
            )
        };
        Self {
            t: 0,
            observation_space: space(f64::INFINITY),
            action_space: space(1.0),
        }
    }
}

impl cinder_env::Env for Spike {
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }
    fn action_space(&self) -> &Space {
        &self.action_space
    }
    fn reset(&mut self, _seed: Option<u64>, obs: &mut [f32]) -> cinder_env::Result<()> {
        self.t = 0;
        obs[0] = 0.0;
        Ok(())
    }
    fn step(
        &mut self,
        _action: Actions<'_>,
        obs: &mut [f32],
    ) -> cinder_env::Result<cinder_env::Transition> {
        self.t += 1;
        obs[0] = if self.t == 3 {
            f32::INFINITY
        } else {
            self.t as f32
        };
        Ok(cinder_env::Transition {
            reward: 1.0,
            terminated: false,
            truncated: self.t >= 10,
        })
    }
}

/// JSON cannot hold ∞: normaliser statistics that took in an infinite observation are refused
/// when saved, with a message saying so — never written as `null` into a checkpoint that then
/// cannot be loaded.
#[test]
fn a_non_finite_env_state_is_refused_not_saved_as_null() {
    let env = ParallelVecEnv::new(vec![Spike::new(), Spike::new()], 1).unwrap();
    let mut env = NormalizeObservation::with_defaults(env).unwrap();
    let mut obs = vec![0.0; 2];
    env.reset(Some(0), &mut obs).unwrap();
    let mut out = StepBatch::new(2, 1);
    let actions = [0.0f32, 0.0];
    for step in 1..=3 {
        let mut saved = EnvState::default();
        let result = env.save_state(&mut saved);
        if step < 3 {
            result.unwrap();
            // A finite state loads back.
            env.load_state(&saved).unwrap();
        }
        env.step(Actions::Continuous(&actions), &mut out).unwrap();
    }
    let mut saved = EnvState::default();
    let err = env.save_state(&mut saved).unwrap_err().to_string();
    assert!(err.contains("non-finite"), "{err}");
}
