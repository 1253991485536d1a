//! The Gymnasium bridge (feature `gymnasium`): Pendulum and CartPole through Gymnasium equal
//! the native envs step for step; MuJoCo envs keep their spaces, flags and final observations;
//! Python errors arrive as Rust errors and leave the bridge usable.
#![cfg(feature = "gymnasium")]

use std::collections::BTreeMap;

use cinder_env::gymnasium::{GymnasiumVecEnv, registered_ids, run_python};
use cinder_env::native::{CartPole, Dynamics, EnvRng, NativeVecEnv, Pendulum};
use cinder_env::wrappers::TimeLimit;
use cinder_env::{
    ActionBuffer, Actions, DType, EnvError, Space, StepBatch, VecEnv, check_env, make,
};
use rand::SeedableRng;

fn no_kwargs() -> BTreeMap<String, serde_json::Value> {
    BTreeMap::new()
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-5 * b.abs() + 1e-6
}

/// Steps the bridge and a native batch with the same actions; the native envs are put in the
/// Gymnasium envs' states after every reset (the random numbers of a reset differ, the
/// dynamics must not).
fn bridge_equals_native<D: Dynamics>(dynamics: D, steps: usize, action_scale: f32) {
    let n = 4;
    let mut gym = GymnasiumVecEnv::new(D::ID, n, None, &no_kwargs()).unwrap();
    assert_eq!(gym.max_episode_steps(), Some(D::MAX_EPISODE_STEPS));
    assert_eq!(gym.observation_space(), &dynamics.observation_space());
    assert_eq!(gym.action_space(), &dynamics.action_space());
    let mut native = TimeLimit::new(
        NativeVecEnv::new(dynamics, n).unwrap(),
        D::MAX_EPISODE_STEPS,
    )
    .unwrap();
    let d = gym.observation_space().flat_dim();
    let (mut gym_obs, mut native_obs) = (vec![0.0; n * d], vec![0.0; n * d]);
    gym.reset(Some(11), &mut gym_obs).unwrap();
    native.reset(Some(11), &mut native_obs).unwrap();
    let sync = |gym: &GymnasiumVecEnv,
                native: &mut TimeLimit<NativeVecEnv<D>>,
                i: usize,
                obs: &mut [f32]| {
        let state = D::state_from_slice(&gym.get_attr("state").unwrap()[i]).unwrap();
        native.inner_mut().set_state(i, state, obs).unwrap();
    };
    for i in 0..n {
        sync(&gym, &mut native, i, &mut native_obs[i * d..(i + 1) * d]);
    }
    assert!(gym_obs.iter().zip(&native_obs).all(|(a, b)| close(*a, *b)));
    let space = gym.action_space().clone();
    let mut rng = EnvRng::seed_from_u64(3);
    let (mut gym_out, mut native_out) = (StepBatch::for_env(&gym), StepBatch::for_env(&native));
    let mut ended = 0;
    for t in 0..steps {
        let mut actions = space.action_buffer(n);
        space.sample_into(&mut rng, actions.as_mut());
        if let ActionBuffer::Continuous(a) = &mut actions {
            a.iter_mut().for_each(|x| *x *= action_scale); // out of range: both must clip alike
        }
        gym.step(actions.as_actions(), &mut gym_out).unwrap();
        native.step(actions.as_actions(), &mut native_out).unwrap();
        assert_eq!(gym_out.terminated, native_out.terminated, "step {t}");
        assert_eq!(gym_out.truncated, native_out.truncated, "step {t}");
        for i in 0..n {
            assert!(
                close(gym_out.rewards[i], native_out.rewards[i]),
                "step {t} env {i} reward"
            );
            let (g, nat) = if gym_out.done(i) {
                (gym_out.final_obs_row(i), native_out.final_obs_row(i))
            } else {
                (gym_out.obs_row(i), native_out.obs_row(i))
            };
            assert!(
                g.iter().zip(nat).all(|(a, b)| close(*a, *b)),
                "step {t} env {i}: {g:?} vs {nat:?}"
            );
            if gym_out.done(i) {
                ended += 1;
                sync(
                    &gym,
                    &mut native,
                    i,
                    &mut native_out.obs[i * d..(i + 1) * d],
                );
                assert_eq!(
                    gym_out.obs_row(i),
                    native_out.obs_row(i),
                    "reset observation"
                );
            }
        }
    }
    assert!(
        ended >= n,
        "{}: episodes must end during the comparison ({ended})",
        D::ID
    );
}

#[test]
fn pendulum_through_gymnasium_equals_native() {
    // 450 steps: two truncations per env, actions up to 3× the torque limit.
    bridge_equals_native(Pendulum::default(), 450, 3.0);
}

#[test]
fn cartpole_through_gymnasium_equals_native() {
    bridge_equals_native(CartPole::default(), 300, 1.0);
}

#[test]
fn mujoco_envs_keep_spaces_flags_and_final_observations() {
    // Hopper falls after about 20 random steps: a 20-step limit gives both endings.
    for (id, obs_dim, act_dim, limit) in [("Hopper-v5", 11, 3, 20), ("HalfCheetah-v5", 17, 6, 40)] {
        let n = 3;
        let mut kwargs = no_kwargs();
        kwargs.insert("max_episode_steps".into(), serde_json::json!(limit));
        let mut env = GymnasiumVecEnv::new(id, n, None, &kwargs).unwrap();
        let Space::Box(obs) = env.observation_space().clone() else {
            panic!("{id}: Box observations")
        };
        assert_eq!((obs.dim(), obs.dtype), (obs_dim, DType::F64), "{id}");
        assert!(obs.low.iter().all(|l| l.is_infinite()));
        let Space::Box(act) = env.action_space().clone() else {
            panic!("{id}: Box actions")
        };
        assert_eq!((act.dim(), act.dtype), (act_dim, DType::F32), "{id}");
        assert!(act.low.iter().all(|&l| l == -1.0) && act.high.iter().all(|&h| h == 1.0));
        assert_eq!(env.max_episode_steps(), Some(limit));

        let actions: Vec<ActionBuffer> = {
            let mut rng = EnvRng::seed_from_u64(1);
            (0..120)
                .map(|_| {
                    let mut a = env.action_space().action_buffer(n);
                    env.action_space().sample_into(&mut rng, a.as_mut());
                    a
                })
                .collect()
        };
        let run = |env: &mut GymnasiumVecEnv| {
            let mut obs = vec![0.0; n * obs_dim];
            env.reset(Some(5), &mut obs).unwrap();
            let mut out = StepBatch::for_env(env);
            let mut record = vec![obs];
            let (mut terminated, mut truncated) = (0, 0);
            for a in &actions {
                env.step(a.as_actions(), &mut out).unwrap();
                for i in 0..n {
                    terminated += out.terminated[i] as usize;
                    truncated += (out.truncated[i] && !out.terminated[i]) as usize;
                    if out.done(i) {
                        assert!(out.final_obs_row(i).iter().all(|x| x.is_finite()));
                        assert_ne!(
                            out.final_obs_row(i),
                            out.obs_row(i),
                            "final observation ≠ reset observation"
                        );
                    }
                }
                record.push(out.obs.clone());
                record.push(
                    out.final_obs
                        .iter()
                        .zip(0..)
                        .map(|(x, j)| if out.done(j / obs_dim) { *x } else { 0.0 })
                        .collect(),
                );
            }
            (record, terminated, truncated)
        };
        let (first, terminated, truncated) = run(&mut env);
        assert!(truncated > 0, "{id}: the {limit}-step limit truncates");
        if id == "Hopper-v5" {
            assert!(terminated > 0, "Hopper falls under random actions");
        } else {
            assert_eq!(terminated, 0, "HalfCheetah never terminates");
        }
        let mut again = GymnasiumVecEnv::new(id, n, None, &kwargs).unwrap();
        assert_eq!(
            run(&mut again).0,
            first,
            "{id}: same seed and actions, same run"
        );
    }
}

#[test]
fn bridge_passes_check_env_and_make_falls_back_to_it() {
    // No native env for the v4 tasks (the v5 ones are native with the `mujoco` feature).
    let mut env = make("Humanoid-v4", 2, Some(0)).unwrap();
    assert_eq!(env.observation_space().flat_dim(), 376);
    let mut fresh = GymnasiumVecEnv::new("CartPole-v1", 2, None, &no_kwargs()).unwrap();
    check_env(&mut fresh, 1, 60).unwrap();
    let mut obs = vec![0.0; 2 * 376];
    env.reset(Some(0), &mut obs).unwrap();
    let mut row = vec![0.0; 376];
    env.reset_env(1, &mut row).unwrap();
    assert!(
        registered_ids()
            .unwrap()
            .iter()
            .any(|id| id == "Walker2d-v5")
    );
}

#[test]
fn python_errors_become_rust_errors_and_the_bridge_stays_usable() {
    // Unknown id: suggestions from the native and the Gymnasium registries.
    let err = make("Hoper-v5", 1, None).err().unwrap();
    assert!(err.to_string().contains("did you mean Hopper-v5"), "{err}");
    // Bad keyword argument: Gymnasium's TypeError with its traceback.
    let mut kwargs = no_kwargs();
    kwargs.insert("gravity".into(), serde_json::json!(3.0));
    let err = GymnasiumVecEnv::new("Pendulum-v1", 1, None, &kwargs).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, EnvError::Python(_)));
    assert!(
        msg.contains("Traceback") && msg.contains("TypeError") && msg.contains("gravity"),
        "{msg}"
    );
    // An env that fails mid-episode.
    run_python(
        r#"
import gymnasium as gym
import numpy as np

class FailsOnThirdStep(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}
    def step(self, action):
        self.t += 1
        if self.t == 3:
            raise RuntimeError("the simulator lost its footing")
        return np.full(2, 0.1 * self.t, np.float32), 1.0, False, False, {}

gym.register("CinderFailsOnThirdStep-v0", entry_point=FailsOnThirdStep, max_episode_steps=50)
"#,
    )
    .unwrap();
    let mut env = make("CinderFailsOnThirdStep-v0", 2, Some(0)).unwrap();
    let mut obs = vec![0.0; 4];
    let mut out = StepBatch::for_env(&*env);
    for round in 0..2 {
        env.reset(Some(round), &mut obs).unwrap();
        env.step(Actions::Discrete(&[0, 1]), &mut out).unwrap();
        env.step(Actions::Discrete(&[1, 0]), &mut out).unwrap();
        assert!((out.obs[0] - 0.2).abs() < 1e-6);
        let err = env.step(Actions::Discrete(&[0, 0]), &mut out).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("RuntimeError: the simulator lost its footing") && msg.contains("line"),
            "{msg}"
        );
        assert_eq!(
            env.step(Actions::Discrete(&[0, 0]), &mut out),
            Err(EnvError::NotReset)
        );
    }
    // Invalid actions are caught before Python sees them.
    env.reset(Some(0), &mut obs).unwrap();
    assert!(matches!(
        env.step(Actions::Discrete(&[0, 2]), &mut out),
        Err(EnvError::ActionOutOfRange {
            env: 1,
            action: 2,
            n: 2
        })
    ));
    // Python code errors too.
    let err = run_python("raise ValueError('nope')").unwrap_err();
    assert!(err.to_string().contains("ValueError: nope"), "{err}");
}

/// cinder's normalisers against Gymnasium's own vector wrappers on recorded data: native
/// CartPole batches (reset observations, then every step's returned observations, rewards
/// and flags) are replayed in Python through `gymnasium.wrappers.vector.NormalizeObservation`
/// and `NormalizeReward` (the same-step autoreset mode cinder's envs follow: the return is
/// restarted as soon as an episode ends), and every normalised value must match.
#[test]
fn normalisers_match_gymnasiums_wrappers_on_recorded_data() {
    use cinder_env::wrappers::{NormalizeObservation, NormalizeReward};
    let (n, steps, gamma) = (4, 150, 0.95);
    let make_raw = || make("CartPole-v1", n, None).unwrap();
    let mut raw = make_raw();
    let mut wrapped = NormalizeReward::new(
        NormalizeObservation::new(make_raw(), 1e-8, None).unwrap(),
        gamma,
        1e-8,
        None,
    )
    .unwrap();
    let mut rng = EnvRng::seed_from_u64(8);
    let mut obs0 = vec![0.0; n * 4];
    raw.reset(Some(3), &mut obs0).unwrap();
    let mut norm_obs0 = vec![0.0; n * 4];
    wrapped.reset(Some(3), &mut norm_obs0).unwrap();
    let (mut out, mut raw_out) = (StepBatch::new(n, 4), StepBatch::new(n, 4));
    let mut record = serde_json::json!({"n": n, "gamma": gamma, "obs0": obs0, "obs": [],
        "rewards": [], "terminated": [], "truncated": []});
    let mut ours_obs = vec![];
    let mut ours_rewards = vec![];
    let mut terminations = 0;
    for _ in 0..steps {
        let mut a = raw.action_space().action_buffer(n);
        raw.action_space().sample_into(&mut rng, a.as_mut());
        raw.step(a.as_actions(), &mut raw_out).unwrap();
        wrapped.step(a.as_actions(), &mut out).unwrap();
        terminations += raw_out.terminated.iter().filter(|&&t| t).count();
        for (key, value) in [
            ("obs", serde_json::json!(raw_out.obs)),
            ("rewards", serde_json::json!(raw_out.rewards)),
            ("terminated", serde_json::json!(raw_out.terminated)),
            ("truncated", serde_json::json!(raw_out.truncated)),
        ] {
            record[key].as_array_mut().unwrap().push(value);
        }
        ours_obs.push(out.obs.clone());
        ours_rewards.push(out.rewards.clone());
    }
    assert!(terminations >= 10, "episodes end inside the record");
    let dir = std::env::temp_dir().join(format!("cinder-norm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (input, output) = (dir.join("record.json"), dir.join("gymnasium.json"));
    std::fs::write(&input, record.to_string()).unwrap();
    run_python(&format!(
        r#"
import json
import numpy as np
import gymnasium as gym
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from gymnasium.wrappers.vector import NormalizeObservation, NormalizeReward

d = json.load(open({input:?}))
n = d["n"]

class Replay(VectorEnv):
    def __init__(self, mode):
        self.metadata = {{"autoreset_mode": mode}}
        self.num_envs = n
        self.single_observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
        self.observation_space = batch_space(self.single_observation_space, n)
        self.single_action_space = gym.spaces.Discrete(2)
        self.action_space = batch_space(self.single_action_space, n)
        self.t = 0
    def reset(self, *, seed=None, options=None):
        self.t = 0
        return np.array(d["obs0"], np.float32).reshape(n, 4), {{}}
    def step(self, actions):
        t, self.t = self.t, self.t + 1
        return (np.array(d["obs"][t], np.float32).reshape(n, 4),
                np.array(d["rewards"][t], np.float64),
                np.array(d["terminated"][t], bool),
                np.array(d["truncated"][t], bool), {{}})

# The observation wrapper sees a stream of batches (it ignores the flags); Gymnasium asks its
# input to declare next-step autoreset. The reward wrapper follows the flags: same-step.
obs_env = NormalizeObservation(Replay(AutoresetMode.NEXT_STEP), epsilon=1e-8)
rew_env = NormalizeReward(Replay(AutoresetMode.SAME_STEP), gamma=d["gamma"], epsilon=1e-8)
o0, _ = obs_env.reset()
rew_env.reset()
out = {{"obs0": o0.ravel().tolist(), "obs": [], "rewards": []}}
for _ in d["obs"]:
    o = obs_env.step(np.zeros(n, np.int64))[0]
    r = rew_env.step(np.zeros(n, np.int64))[1]
    out["obs"].append(o.ravel().tolist())
    out["rewards"].append(np.asarray(r).ravel().tolist())
json.dump(out, open({output:?}, "w"))
"#
    ))
    .unwrap();
    let theirs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    // Gymnasium keeps the observation statistics in float32, cinder in f64.
    let near = |a: f32, b: f32| (a - b).abs() <= 2e-5 * b.abs().max(1.0);
    let them0 = floats(&theirs["obs0"]);
    assert!(
        norm_obs0.iter().zip(&them0).all(|(a, b)| near(*a, *b)),
        "reset: {norm_obs0:?} vs {them0:?}"
    );
    for t in 0..steps {
        let them = floats(&theirs["obs"][t]);
        for (k, (a, b)) in ours_obs[t].iter().zip(&them).enumerate() {
            assert!(near(*a, *b), "step {t} obs {k}: cinder {a}, Gymnasium {b}");
        }
        let them = floats(&theirs["rewards"][t]);
        for (i, (a, b)) in ours_rewards[t].iter().zip(&them).enumerate() {
            assert!(
                near(*a, *b),
                "step {t} reward {i}: cinder {a}, Gymnasium {b}"
            );
        }
    }
}

/// Set in the child processes of `envs_made_from_several_threads_at_once`.
const FRESH_PROCESS: &str = "CINDER_TEST_BRIDGE_FRESH_PROCESS";

/// Four threads make four classic-control envs at once, in a process whose Python has not
/// imported them yet (a child process of this test binary, three times): the first `gym.make`
/// of each imports its module, and concurrent imports of one package once handed a thread the
/// package half initialised (`ImportError ... partially initialized module`).
#[test]
fn envs_made_from_several_threads_at_once() {
    let ids = [
        "CartPole-v1",
        "Pendulum-v1",
        "Acrobot-v1",
        "MountainCarContinuous-v0",
    ];
    if std::env::var_os(FRESH_PROCESS).is_some() {
        let barrier = std::sync::Barrier::new(ids.len());
        std::thread::scope(|s| {
            let handles: Vec<_> = ids
                .iter()
                .map(|id| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        barrier.wait();
                        GymnasiumVecEnv::new(id, 2, Some(0), &no_kwargs()).map(|_| ())
                    })
                })
                .collect();
            for (id, h) in ids.iter().zip(handles) {
                if let Err(e) = h.join().unwrap() {
                    panic!("making {id} beside three other threads failed: {e}");
                }
            }
        });
        return;
    }
    let exe = std::env::current_exe().unwrap();
    for round in 0..3 {
        let out = std::process::Command::new(&exe)
            .args([
                "envs_made_from_several_threads_at_once",
                "--exact",
                "--test-threads=1",
            ])
            .env(FRESH_PROCESS, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "round {round}: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
