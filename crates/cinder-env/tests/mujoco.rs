//! Native MuJoCo tasks (feature `mujoco`).
//!
//! Against Gymnasium 1.4.0 itself (with the `gymnasium` feature, through the bridge's Python):
//! every env replays Gymnasium's episodes — Gymnasium's state after each reset is set in the
//! native env, the same actions applied, observations, rewards and flags compared, ≥ 300 steps
//! per seed, episodes that terminate included — and many native resets are compared with many
//! Gymnasium resets. Without Python: spaces, thread-count independence, instability handling,
//! exact resume, keyword-argument errors, the VecEnv contract.
#![cfg(feature = "mujoco")]

use std::collections::BTreeMap;

use cinder_env::mujoco::MujocoVecEnv;
use cinder_env::native::EnvRng;
use cinder_env::wrappers::TimeLimit;
use cinder_env::{
    ActionBuffer, EnvError, EnvState, MakeOptions, StepBatch, VecEnv, check_env, make, make_with,
    spec,
};
use rand::SeedableRng;
use serde_json::json;

const IDS: [&str; 11] = [
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
];

fn kwargs(value: serde_json::Value) -> BTreeMap<String, serde_json::Value> {
    serde_json::from_value(value).unwrap()
}

/// Random actions, 1.2 × the action box (MuJoCo clamps controls; costs use the raw action).
fn random_actions(env: &dyn VecEnv, rng: &mut EnvRng) -> ActionBuffer {
    let space = env.action_space().clone();
    let mut buffer = space.action_buffer(env.num_envs());
    space.sample_into(rng, buffer.as_mut());
    if let ActionBuffer::Continuous(a) = &mut buffer {
        a.iter_mut().for_each(|x| *x *= 1.2);
    }
    buffer
}

#[test]
fn registry_spaces_are_those_of_the_made_envs() {
    for id in IDS {
        let s = spec(id).unwrap();
        let env = make(id, 2, Some(0)).unwrap();
        assert_eq!(env.observation_space(), &s.observation_space, "{id}");
        assert_eq!(env.action_space(), &s.action_space, "{id}");
        let raw = MujocoVecEnv::gymnasium(id, 1, &BTreeMap::new()).unwrap();
        assert_eq!(raw.task().id(), id);
    }
    assert_eq!(spec("Reacher-v5").unwrap().max_episode_steps, 50);
    assert_eq!(spec("Hopper-v5").unwrap().reward_threshold, Some(3800.0));
}

#[test]
fn every_env_keeps_the_vec_env_contract() {
    for id in IDS {
        let mut env = make(id, 3, Some(1)).unwrap();
        check_env(&mut *env, 7, 200).unwrap_or_else(|e| panic!("{id}: {e}"));
    }
}

fn run(env: &mut dyn VecEnv, steps: usize, seed: u64) -> Vec<StepBatch> {
    let mut rng = EnvRng::seed_from_u64(seed);
    let mut obs = vec![0.0; env.num_envs() * env.observation_space().flat_dim()];
    env.reset(Some(seed), &mut obs).unwrap();
    let mut out = StepBatch::for_env(env);
    let mut all = Vec::new();
    for _ in 0..steps {
        let actions = random_actions(env, &mut rng);
        env.step(actions.as_actions(), &mut out).unwrap();
        all.push(out.clone());
    }
    all
}

#[test]
fn results_do_not_depend_on_the_number_of_threads() {
    for id in ["Hopper-v5", "Ant-v5"] {
        let make_env = |threads| {
            MujocoVecEnv::gymnasium(id, 9, &BTreeMap::new())
                .unwrap()
                .with_threads(threads)
                .unwrap()
        };
        let one = run(&mut make_env(1), 150, 3);
        assert!(one.iter().any(|b| b.terminated.iter().any(|&t| t)), "{id}");
        for threads in [0, 2, 3] {
            let other = run(&mut make_env(threads), 150, 3);
            assert!(one == other, "{id}: {threads} threads differ from 1");
        }
    }
}

#[test]
fn an_unstable_simulation_ends_the_episode_without_nan() {
    let mut env = MujocoVecEnv::gymnasium("Hopper-v5", 2, &BTreeMap::new()).unwrap();
    let mut obs = vec![0.0; 2 * 11];
    env.reset(Some(0), &mut obs).unwrap();
    let qpos = env.data(0).unwrap().qpos().to_vec();
    let mut qvel = env.data(0).unwrap().qvel().to_vec();
    // Beyond MuJoCo's mjMAXVAL (1e10): MuJoCo warns and resets the simulation in the next step.
    qvel[3] = 1e12;
    env.set_state(0, &qpos, &qvel, &mut obs[..11]).unwrap();
    let mut out = StepBatch::for_env(&env);
    let actions = ActionBuffer::Continuous(vec![0.5; 2 * 3]);
    env.step(actions.as_actions(), &mut out).unwrap();
    assert_eq!(out.unstable, vec![0]);
    assert!(out.truncated[0] && !out.terminated[0]);
    assert_eq!(out.rewards[0], 0.0);
    assert!(!out.truncated[1] && out.rewards[1] != 0.0);
    assert!(
        out.obs
            .iter()
            .chain(&out.final_obs[..11])
            .all(|v| v.is_finite())
    );
    assert_eq!(env.unstable_episodes(), 1);
    // The new episode runs normally.
    for _ in 0..5 {
        env.step(actions.as_actions(), &mut out).unwrap();
        assert!(out.unstable.is_empty());
    }
    assert_eq!(env.unstable_episodes(), 1);
    // Through make's wrappers the list arrives too.
    let mut wrapped = cinder_env::wrappers::RecordEpisodeStatistics::new(env, 10).unwrap();
    let mut obs = vec![0.0; 2 * 11];
    wrapped.reset(Some(1), &mut obs).unwrap();
    let mut out = StepBatch::for_env(&wrapped);
    wrapped.step(actions.as_actions(), &mut out).unwrap();
    assert!(out.unstable.is_empty());
}

#[test]
fn bad_actions_are_refused_and_change_nothing() {
    let mut env = make("Walker2d-v5", 2, Some(0)).unwrap();
    let mut obs = vec![0.0; 2 * 17];
    env.reset(Some(0), &mut obs).unwrap();
    let mut out = StepBatch::for_env(&*env);
    let mut before = EnvState::default();
    env.save_runtime(&mut before).unwrap();
    let mut actions = vec![0.1f32; 12];
    actions[7] = f32::NAN;
    let err = env
        .step(cinder_env::Actions::Continuous(&actions), &mut out)
        .unwrap_err();
    assert!(
        matches!(
            err,
            EnvError::NonFiniteAction {
                env: 1,
                index: 1,
                ..
            }
        ),
        "{err}"
    );
    let err = env
        .step(cinder_env::Actions::Continuous(&actions[..5]), &mut out)
        .unwrap_err();
    assert!(matches!(err, EnvError::ActionLength { .. }), "{err}");
    let mut after = EnvState::default();
    env.save_runtime(&mut after).unwrap();
    assert_eq!(before, after);
}

/// Equal steps: everything but the stale `final_obs` rows of envs that did not end.
fn same_step(a: &StepBatch, b: &StepBatch) -> bool {
    let d = a.obs_dim();
    a.obs == b.obs
        && a.rewards == b.rewards
        && a.terminated == b.terminated
        && a.truncated == b.truncated
        && a.unstable == b.unstable
        && (0..a.num_envs())
            .filter(|&i| a.done(i))
            .all(|i| a.final_obs[i * d..(i + 1) * d] == b.final_obs[i * d..(i + 1) * d])
}

#[test]
fn a_saved_runtime_continues_bit_for_bit() {
    for id in ["Ant-v5", "Reacher-v5"] {
        let mut env = make(id, 3, Some(5)).unwrap();
        let steps = run(&mut *env, 40, 5);
        assert_eq!(steps.len(), 40);
        let mut state = EnvState::default();
        env.save_runtime(&mut state).unwrap();
        let json = serde_json::to_string(&state).unwrap();
        let mut rng = EnvRng::seed_from_u64(99);
        let mut out = StepBatch::for_env(&*env);
        let mut expected = Vec::new();
        for _ in 0..60 {
            let actions = random_actions(&*env, &mut rng);
            env.step(actions.as_actions(), &mut out).unwrap();
            expected.push(out.clone());
        }
        let mut resumed = make(id, 3, Some(123)).unwrap();
        resumed
            .load_runtime(&serde_json::from_str(&json).unwrap())
            .unwrap();
        let mut rng = EnvRng::seed_from_u64(99);
        for e in &expected {
            let actions = random_actions(&*resumed, &mut rng);
            resumed.step(actions.as_actions(), &mut out).unwrap();
            assert!(same_step(&out, e), "{id}: the resumed env differs");
        }
        // Another env's state is refused.
        let mut other = make("Hopper-v5", 3, Some(0)).unwrap();
        assert!(other.load_runtime(&state).is_err());
    }
}

#[test]
fn keyword_arguments_are_checked() {
    let err = |id: &str, kw: serde_json::Value| {
        let options = MakeOptions {
            kwargs: kwargs(kw),
            max_episode_steps: None,
        };
        make_with(id, 1, None, &options).err().unwrap().to_string()
    };
    let msg = err("Hopper-v5", json!({"terminate_when_healthy": true}));
    assert!(
        msg.starts_with("Hopper-v5: unknown keyword argument `terminate_when_healthy`; accepted: xml_file, frame_skip"),
        "{msg}"
    );
    let msg = err("Hopper-v5", json!({"healthy_z_range": [1.0, 0.5]}));
    assert!(
        msg.contains("`healthy_z_range` must be [low, high] with low ≤ high"),
        "{msg}"
    );
    // Gymnasium ignores it; another value would silently change nothing.
    let msg = err("HumanoidStandup-v5", json!({"uph_cost_weight": 2.0}));
    assert!(
        msg.contains("uph_cost_weight = 2 would have no effect"),
        "{msg}"
    );
    assert!(
        make_with(
            "HumanoidStandup-v5",
            1,
            None,
            &MakeOptions {
                kwargs: kwargs(json!({"uph_cost_weight": 1.0})),
                max_episode_steps: None,
            }
        )
        .is_ok()
    );
    let msg = err("Ant-v5", json!({"main_body": "head"}));
    assert!(msg.contains("body `head`"), "{msg}");
    let msg = err("Swimmer-v5", json!({"frame_skip": 0}));
    assert!(
        msg.contains("`frame_skip` must be a whole number of at least 1"),
        "{msg}"
    );
    let msg = err(
        "Reacher-v5",
        json!({"xml_file": "/nonexistent/reacher.xml"}),
    );
    assert!(
        msg.contains("/nonexistent/reacher.xml does not exist"),
        "{msg}"
    );
    // A model that does not fit the task.
    let msg = err("Ant-v5", json!({"xml_file": "inverted_pendulum.xml"}));
    assert!(msg.contains("Ant-v5 needs a model with at least"), "{msg}");
    // Infinite bounds are written as strings.
    let options = MakeOptions {
        kwargs: kwargs(json!({"healthy_z_range": [0.5, "inf"]})),
        max_episode_steps: Some(10),
    };
    assert!(make_with("Hopper-v5", 1, None, &options).is_ok());
}

/// Gymnasium's side of the comparison: episodes of `gym.make(id, **kwargs)` with seeded
/// random actions, the state after every reset, and many reset states.
#[cfg(feature = "gymnasium")]
mod against_gymnasium {
    use super::*;
    use cinder_env::gymnasium::run_python;
    use serde::Deserialize;

    const SCRIPT: &str = r#"
import json, math
import numpy as np
import gymnasium as gym

def fix(v):
    if isinstance(v, str) and v in ("inf", "-inf"):
        return float(v)
    if isinstance(v, list):
        return tuple(fix(x) for x in v)
    return v

def record(env_id, kwargs, seed, steps, resets):
    env = gym.make(env_id, **{k: fix(v) for k, v in kwargs.items()})
    u = env.unwrapped
    rng = np.random.default_rng(seed)
    low, high = env.action_space.low, env.action_space.high
    segments, total, k = [], 0, 0
    while total < steps:
        obs, _ = env.reset(seed=seed * 1000 + k)
        k += 1
        seg = dict(qpos=u.data.qpos.tolist(), qvel=u.data.qvel.tolist(), obs0=obs.tolist(),
                   actions=[], obs=[], rewards=[], terminated=[], truncated=[])
        while total < steps:
            a = (rng.uniform(low, high) * 1.2).astype(np.float32)
            obs, r, term, trunc, _ = env.step(a)
            seg["actions"].append(a.tolist())
            seg["obs"].append(obs.tolist())
            seg["rewards"].append(float(r))
            seg["terminated"].append(bool(term))
            seg["truncated"].append(bool(trunc))
            total += 1
            if term or trunc:
                break
        segments.append(seg)
    states = []
    for i in range(resets):
        env.reset(seed=10_000 + i)
        states.append(u.data.qpos.tolist() + u.data.qvel.tolist())
    return dict(segments=segments, resets=states, init=u.init_qpos.tolist() + u.init_qvel.tolist(),
                nq=u.model.nq)

out = record(ENV_ID, KWARGS, SEED, STEPS, RESETS)
with open(OUT, "w") as f:
    json.dump(out, f)
"#;

    #[derive(Deserialize)]
    struct Segment {
        qpos: Vec<f64>,
        qvel: Vec<f64>,
        obs0: Vec<f64>,
        actions: Vec<Vec<f32>>,
        obs: Vec<Vec<f64>>,
        rewards: Vec<f64>,
        terminated: Vec<bool>,
        truncated: Vec<bool>,
    }

    #[derive(Deserialize)]
    struct Record {
        segments: Vec<Segment>,
        resets: Vec<Vec<f64>>,
        init: Vec<f64>,
        nq: usize,
    }

    fn gymnasium(
        id: &str,
        kw: &BTreeMap<String, serde_json::Value>,
        seed: u64,
        steps: usize,
        resets: usize,
    ) -> Record {
        // Tests run in parallel: one file per call.
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out = std::env::temp_dir().join(format!(
            "cinder-mujoco-{}-{call}-{id}-{seed}.json",
            std::process::id()
        ));
        let code = format!(
            "import json\nENV_ID = {id:?}\nKWARGS = json.loads({kw:?})\nSEED = {seed}\nSTEPS = {steps}\nRESETS = {resets}\nOUT = {out:?}\n{SCRIPT}",
            kw = serde_json::to_string(kw).unwrap(),
            out = out.to_string_lossy(),
        );
        run_python(&code).unwrap();
        let record = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        std::fs::remove_file(&out).unwrap();
        record
    }

    /// Relative difference ≤ 1e-6 (the native env hands out float32, Gymnasium float64).
    fn close(ours: f32, theirs: f64) -> bool {
        (f64::from(ours) - theirs).abs() <= 1e-6 * theirs.abs() + 1e-30
    }

    struct Tally {
        values: usize,
        exact: usize,
        terminations: usize,
        truncations: usize,
        steps: usize,
    }

    fn compare_rows(id: &str, what: &str, ours: &[f32], theirs: &[f64], tally: &mut Tally) {
        assert_eq!(ours.len(), theirs.len(), "{id} {what}: length");
        for (k, (&o, &t)) in ours.iter().zip(theirs).enumerate() {
            assert!(close(o, t), "{id} {what}[{k}]: native {o}, Gymnasium {t}");
            tally.values += 1;
            tally.exact += usize::from(o == t as f32);
        }
    }

    fn replay(id: &str, kw: &BTreeMap<String, serde_json::Value>, seed: u64) -> Tally {
        let record = gymnasium(id, kw, seed, 300, 0);
        // The registry's stack: the raw task under its time limit, so that truncation is the
        // native env's own output, compared with Gymnasium's below.
        let limit = spec(id).unwrap().max_episode_steps;
        let mut env = TimeLimit::new(MujocoVecEnv::gymnasium(id, 1, kw).unwrap(), limit).unwrap();
        let d = env.observation_space().flat_dim();
        let mut obs = vec![0.0; d];
        env.reset(Some(0), &mut obs).unwrap();
        let mut out = StepBatch::for_env(&env);
        let mut tally = Tally {
            values: 0,
            exact: 0,
            terminations: 0,
            truncations: 0,
            steps: 0,
        };
        for (s, seg) in record.segments.iter().enumerate() {
            env.inner_mut()
                .set_state(0, &seg.qpos, &seg.qvel, &mut obs)
                .unwrap();
            compare_rows(
                id,
                &format!("segment {s} reset obs"),
                &obs,
                &seg.obs0,
                &mut tally,
            );
            for t in 0..seg.actions.len() {
                let at = format!("segment {s} step {t}");
                env.step(cinder_env::Actions::Continuous(&seg.actions[t]), &mut out)
                    .unwrap();
                assert!(out.unstable.is_empty(), "{id} {at}: unstable");
                assert!(
                    close(out.rewards[0], seg.rewards[t]),
                    "{id} {at}: reward native {}, Gymnasium {}",
                    out.rewards[0],
                    seg.rewards[t]
                );
                assert_eq!(
                    out.terminated[0], seg.terminated[t],
                    "{id} {at}: terminated"
                );
                // The native env truncates where Gymnasium did, and that is exactly at the
                // registry's time limit.
                assert_eq!(
                    out.truncated[0], seg.truncated[t],
                    "{id} {at}: truncated (native {}, Gymnasium {})",
                    out.truncated[0], seg.truncated[t]
                );
                assert_eq!(seg.truncated[t], t + 1 == limit, "{id} {at}: truncated");
                let row = if out.terminated[0] || out.truncated[0] {
                    &out.final_obs
                } else {
                    &out.obs
                };
                compare_rows(id, &format!("{at} obs"), row, &seg.obs[t], &mut tally);
                tally.steps += 1;
                tally.terminations += usize::from(seg.terminated[t]);
                tally.truncations += usize::from(seg.truncated[t]);
            }
        }
        assert!(tally.steps >= 300);
        tally
    }

    /// (id, keyword arguments) pairs: Gymnasium's defaults and one non-default set per env.
    fn cases() -> Vec<(&'static str, serde_json::Value)> {
        let mut cases: Vec<_> = IDS.iter().map(|&id| (id, json!({}))).collect();
        cases.extend([
            (
                "Hopper-v5",
                json!({"terminate_when_unhealthy": false, "exclude_current_positions_from_observation": false,
                       "ctrl_cost_weight": 0.01, "healthy_z_range": [0.9, "inf"], "reset_noise_scale": 0.05}),
            ),
            (
                "HalfCheetah-v5",
                json!({"forward_reward_weight": 2.0, "ctrl_cost_weight": 0.3, "reset_noise_scale": 0.2,
                       "exclude_current_positions_from_observation": false}),
            ),
            (
                "Walker2d-v5",
                json!({"healthy_angle_range": [-0.5, 0.5], "healthy_reward": 2.0, "frame_skip": 3}),
            ),
            (
                "Ant-v5",
                json!({"include_cfrc_ext_in_observation": false, "main_body": "torso",
                       "contact_cost_weight": 0.001, "healthy_z_range": [0.3, 1.0]}),
            ),
            ("Swimmer-v5", json!({"ctrl_cost_weight": 0.01, "forward_reward_weight": 0.5})),
            ("InvertedPendulum-v5", json!({"reset_noise_scale": 0.05})),
            ("InvertedDoublePendulum-v5", json!({"healthy_reward": 5.0, "reset_noise_scale": 0.2})),
            ("Reacher-v5", json!({"reward_dist_weight": 0.5, "reward_control_weight": 2.0})),
            (
                "Humanoid-v5",
                json!({"include_cinert_in_observation": false, "include_cfrc_ext_in_observation": false,
                       "exclude_current_positions_from_observation": false, "contact_cost_weight": 1e-5,
                       "contact_cost_range": [0.0, 0.5], "healthy_z_range": [0.9, 2.5],
                       "forward_reward_weight": 2.0, "reset_noise_scale": 0.05}),
            ),
            (
                "HumanoidStandup-v5",
                json!({"include_cvel_in_observation": false, "include_qfrc_actuator_in_observation": false,
                       "impact_cost_weight": 1e-5, "impact_cost_range": ["-inf", 0.3],
                       "ctrl_cost_weight": 0.5, "frame_skip": 3}),
            ),
            (
                "Pusher-v5",
                json!({"reward_near_weight": 1.0, "reward_dist_weight": 0.3, "reward_control_weight": 0.5}),
            ),
        ]);
        cases
    }

    #[test]
    fn every_env_replays_gymnasium_episodes() {
        let mut report = Vec::new();
        for (id, kw) in cases() {
            let kw = kwargs(kw);
            let mut total = Tally {
                values: 0,
                exact: 0,
                terminations: 0,
                truncations: 0,
                steps: 0,
            };
            for seed in [0, 1, 2] {
                let t = replay(id, &kw, seed);
                total.values += t.values;
                total.exact += t.exact;
                total.terminations += t.terminations;
                total.truncations += t.truncations;
                total.steps += t.steps;
            }
            let falls = matches!(
                id,
                "Hopper-v5"
                    | "Walker2d-v5"
                    | "Humanoid-v5"
                    | "InvertedPendulum-v5"
                    | "InvertedDoublePendulum-v5"
            ) && kw.get("terminate_when_unhealthy") != Some(&json!(false));
            if falls {
                assert!(total.terminations > 0, "{id} {kw:?}: no episode terminated");
            }
            if id == "Reacher-v5" || id == "Pusher-v5" {
                assert!(
                    total.truncations >= 3,
                    "Reacher-v5: {} truncations",
                    total.truncations
                );
            }
            report.push(format!(
                "{id} {}: {} steps, {} terminations, {} truncations, {}/{} values bit-identical in f32",
                serde_json::to_string(&kw).unwrap(),
                total.steps,
                total.terminations,
                total.truncations,
                total.exact,
                total.values
            ));
        }
        println!("{}", report.join("\n"));
    }

    fn moments(rows: &[Vec<f64>], k: usize) -> (f64, f64) {
        let n = rows.len() as f64;
        let mean = rows.iter().map(|r| r[k]).sum::<f64>() / n;
        let var = rows.iter().map(|r| (r[k] - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var)
    }

    #[test]
    fn reset_distributions_match_gymnasium() {
        const GYM_RESETS: usize = 3000;
        const NATIVE_RESETS: usize = 6000;
        for id in IDS {
            let record = gymnasium(id, &BTreeMap::new(), 0, 0, GYM_RESETS);
            let mut env = MujocoVecEnv::gymnasium(id, 4, &BTreeMap::new()).unwrap();
            let d = env.observation_space().flat_dim();
            let mut obs = vec![0.0; 4 * d];
            let mut native = Vec::with_capacity(NATIVE_RESETS);
            env.reset(Some(42), &mut obs).unwrap();
            while native.len() < NATIVE_RESETS {
                for i in 0..4 {
                    let data = env.data(i).unwrap();
                    native.push([data.qpos(), data.qvel()].concat());
                }
                env.reset(None, &mut obs).unwrap();
            }
            let dims = record.init.len();
            assert_eq!(native[0].len(), dims, "{id}");
            for k in 0..dims {
                let (gm, gv) = moments(&record.resets, k);
                let (nm, nv) = moments(&native, k);
                let what = if k < record.nq { "qpos" } else { "qvel" };
                if gv == 0.0 {
                    // Not perturbed (Reacher's target velocity): exactly the initial value.
                    assert!(
                        native.iter().all(|r| r[k] == record.init[k]),
                        "{id} {what}[{k}] should be constant"
                    );
                    continue;
                }
                let se = (gv / GYM_RESETS as f64 + nv / NATIVE_RESETS as f64).sqrt();
                assert!(
                    (nm - gm).abs() <= 5.0 * se,
                    "{id} {what}[{k}]: mean native {nm}, Gymnasium {gm} (se {se})"
                );
                let ratio = (nv / gv).sqrt();
                assert!(
                    (ratio - 1.0).abs() < 0.08,
                    "{id} {what}[{k}]: std native {}, Gymnasium {}",
                    nv.sqrt(),
                    gv.sqrt()
                );
                // Same support: uniform noise stays inside Gymnasium's range, normal noise
                // reaches beyond it as often.
                let (glo, ghi) = record
                    .resets
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
                        (lo.min(r[k]), hi.max(r[k]))
                    });
                let width = ghi - glo;
                let outside = native
                    .iter()
                    .filter(|r| r[k] < glo - 0.02 * width || r[k] > ghi + 0.02 * width)
                    .count();
                assert!(
                    outside < NATIVE_RESETS / 100,
                    "{id} {what}[{k}]: {outside} native resets outside Gymnasium's range [{glo}, {ghi}]"
                );
            }
        }
    }
}
