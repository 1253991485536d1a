#!/usr/bin/env python3
"""Record Gymnasium trajectories that cinder's native environments are tested against.

For every native env id, a few episodes are played with `gymnasium.make(id)` (so with
Gymnasium's TimeLimit) under fixed seeds: random actions, and simple controllers that reach
the goal, so that the fixtures hold episodes that terminate and episodes that truncate;
continuous actions include out-of-range values, which Gymnasium clips. Each episode stores the
state right after reset (`env.unwrapped.state`), the actions, and what every step returned.

The Rust test `crates/cinder-env/tests/gymnasium_fixtures.rs` puts its envs in the recorded
initial states, replays the actions and compares observations, rewards (≤ 1e-5 relative) and
flags (exactly).

    python scripts/record_gymnasium_fixtures.py            # rewrite the fixtures
    python scripts/record_gymnasium_fixtures.py --check    # regenerate, compare with the committed ones
"""
import argparse
import json
import math
import os
import sys

import gymnasium as gym
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "crates", "cinder-env", "tests", "fixtures", "gymnasium")
GYMNASIUM_VERSION = "1.4.0"


def f32(x):
    """Shortest decimal that reads back as the same float32 (observations)."""
    return float(np.format_float_positional(np.float32(x), unique=True, trim="-"))


# policy(obs, rng, action_space) -> action ------------------------------------------------------

def random_policy(obs, rng, space):
    return space.sample()


def wide_random(scale):
    """Uniform actions over `scale` times the action box: exercises Gymnasium's clipping."""
    def policy(obs, rng, space):
        return rng.uniform(space.low * scale, space.high * scale).astype(np.float32)
    return policy


def cartpole_balance(obs, rng, space):
    if rng.random() < 0.1:
        return int(rng.integers(2))
    return int(obs[2] + 0.5 * obs[3] + 0.01 * obs[1] > 0)


def acrobot_pump(obs, rng, space):
    if rng.random() < 0.1:
        return int(rng.integers(3))
    return 2 if obs[4] + obs[5] > 0 else 0


def mountain_car_pump(obs, rng, space):
    if rng.random() < 0.1:
        return int(rng.integers(3))
    return 2 if obs[1] > 0 else 0


def continuous_mountain_car_pump(obs, rng, space):
    push = 1.0 if obs[1] >= 0 else -1.0
    return np.array([push * rng.uniform(0.6, 1.6)], dtype=np.float32)


EPISODES = {
    "CartPole-v1": [(0, random_policy), (1, random_policy), (7, cartpole_balance), (12, cartpole_balance)],
    "Acrobot-v1": [(0, random_policy), (3, acrobot_pump), (5, acrobot_pump)],
    "MountainCar-v0": [(0, random_policy), (2, mountain_car_pump), (4, mountain_car_pump)],
    "MountainCarContinuous-v0": [(0, random_policy), (1, continuous_mountain_car_pump), (6, continuous_mountain_car_pump)],
    "Pendulum-v1": [(0, random_policy), (1, wide_random(1.5)), (9, wide_random(3.0))],
}


def action_to_json(a):
    if isinstance(a, np.ndarray):
        return [float(v) for v in a]  # exact value of each float32
    return int(a)


def record_episode(env_id, seed, policy):
    env = gym.make(env_id)
    env.action_space.seed(seed)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    episode = {
        "seed": seed,
        "policy": policy.__name__ if hasattr(policy, "__name__") else "policy",
        "initial_state": [float(x) for x in np.asarray(env.unwrapped.state, dtype=np.float64)],
        "reset_obs": [f32(x) for x in obs],
        "actions": [], "obs": [], "rewards": [], "terminated": [], "truncated": [],
    }
    while True:
        action = policy(obs, rng, env.action_space)
        obs, reward, terminated, truncated, _ = env.step(action)
        episode["actions"].append(action_to_json(action))
        episode["obs"].append([f32(x) for x in obs])
        episode["rewards"].append(float(reward))
        episode["terminated"].append(bool(terminated))
        episode["truncated"].append(bool(truncated))
        if terminated or truncated:
            break
    env.close()
    return episode


def record(env_id):
    episodes = []
    for seed, policy in EPISODES[env_id]:
        ep = record_episode(env_id, seed, policy)
        if policy is not random_policy:
            ep["policy"] = {cartpole_balance: "balance", acrobot_pump: "pump", mountain_car_pump: "pump",
                            continuous_mountain_car_pump: "pump"}.get(policy, "wide_random")
        else:
            ep["policy"] = "random"
        episodes.append(ep)
    return {
        "env_id": env_id,
        "gymnasium": gym.__version__,
        "max_episode_steps": gym.spec(env_id).max_episode_steps,
        "episodes": episodes,
    }


def summary(data):
    parts = []
    for ep in data["episodes"]:
        end = "terminated" if ep["terminated"][-1] else "truncated"
        parts.append(f"{ep['policy']}/{len(ep['actions'])}/{end}")
    return ", ".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="compare with the files in --out instead of writing")
    args = ap.parse_args()
    if gym.__version__ != GYMNASIUM_VERSION:
        sys.exit(f"fixtures are recorded with gymnasium=={GYMNASIUM_VERSION}, this is {gym.__version__}")
    os.makedirs(args.out, exist_ok=True)
    failed = False
    for env_id in EPISODES:
        data = record(env_id)
        path = os.path.join(args.out, f"{env_id}.json")
        if args.check:
            with open(path) as f:
                committed = json.load(f)
            same = committed == json.loads(json.dumps(data))
            print(f"{env_id:26s} {'same as committed' if same else 'DIFFERS from committed'} ({summary(data)})")
            failed |= not same
        else:
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(data, f, separators=(",", ":"))
                f.write("\n")
            os.replace(tmp, path)
            print(f"{env_id:26s} {os.path.getsize(path) // 1024} KiB ({summary(data)})")
    if failed:
        sys.exit("regenerated fixtures differ from the committed ones")


if __name__ == "__main__":
    main()
