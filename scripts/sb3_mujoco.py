#!/usr/bin/env python3
"""sb3-contrib TRPO / SB3 PPO on a MuJoCo task with the settings of cinder's presets, for a
side-by-side comparison with `cinder train --env ENV --algo trpo|ppo`.

  /tmp/peers-venv/bin/python scripts/sb3_mujoco.py --env Ant-v5 --algo trpo --seed 0 \
      --env-kwargs '{"include_cfrc_ext_in_observation": false}'

Settings (cinder's preset for the same algorithm, in SB3's names):
- trpo: rl-zoo's MuJoCo TRPO values — 2 envs × 1024 steps, batch 128, 25 CG steps,
  20 critic epochs, lr 1e-3, target_kl 0.01 (0.04 on HalfCheetah), γ 0.99, λ 0.95;
- ppo: CleanRL's ppo_continuous_action — 1 env × 2048 steps, batch 64, 10 epochs,
  lr 3e-4 annealed to 0, clip 0.2, ent 0, vf 0.5, max_grad_norm 0.5, γ 0.99, λ 0.95;
- both: VecNormalize (observations and rewards, clip 10), MlpPolicy 64-64 tanh.
Final policy, deterministic evaluation over --eval-episodes episodes on a fresh env with the
frozen observation statistics. One JSON line on stdout.
"""
import argparse
import json
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--env", default="Ant-v5")
    ap.add_argument("--algo", choices=["trpo", "ppo"], default="trpo")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--eval-episodes", type=int, default=20)
    ap.add_argument("--env-kwargs", default="{}",
                    help='JSON passed to gymnasium.make, e.g. \'{"include_cfrc_ext_in_observation": false}\'')
    ap.add_argument("--log-dir", default=None,
                    help="write SB3's progress.csv (one row per rollout) here")
    a = ap.parse_args()

    import torch
    from sb3_contrib import TRPO
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(int(__import__("os").environ.get("TORCH_THREADS", "2")))
    n_envs = 2 if a.algo == "trpo" else 1
    env_kwargs = json.loads(a.env_kwargs)
    env = VecNormalize(make_vec_env(a.env, n_envs=n_envs, seed=a.seed, env_kwargs=env_kwargs),
                       gamma=0.99)
    if a.algo == "trpo":
        model = TRPO(
            "MlpPolicy", env, n_steps=1024, batch_size=128, cg_max_steps=25,
            n_critic_updates=20, learning_rate=1e-3,
            target_kl=0.04 if a.env.startswith("HalfCheetah") else 0.01,
            gamma=0.99, gae_lambda=0.95, seed=a.seed, device="cpu")
    else:
        model = PPO(
            "MlpPolicy", env, n_steps=2048, batch_size=64, n_epochs=10,
            learning_rate=lambda p: 3e-4 * p, clip_range=0.2, ent_coef=0.0, vf_coef=0.5,
            max_grad_norm=0.5, gamma=0.99, gae_lambda=0.95, seed=a.seed, device="cpu")
    if a.log_dir:
        from stable_baselines3.common.logger import configure
        model.set_logger(configure(a.log_dir, ["csv"]))
    t0 = time.perf_counter()
    model.learn(total_timesteps=a.steps)
    learn_s = time.perf_counter() - t0

    eval_env = VecNormalize(make_vec_env(a.env, n_envs=1, seed=a.seed + 1000,
                                         env_kwargs=env_kwargs),
                            training=False, norm_reward=False)
    eval_env.obs_rms = env.obs_rms
    returns, lengths = evaluate_policy(model, eval_env, n_eval_episodes=a.eval_episodes,
                                       deterministic=True, return_episode_rewards=True)
    print(json.dumps({
        "env": a.env, "env_kwargs": env_kwargs, "algo": a.algo, "seed": a.seed, "steps": int(model.num_timesteps),
        "learn_s": round(learn_s, 1), "eval_mean": float(np.mean(returns)),
        "eval_std": float(np.std(returns)), "eval_mean_length": float(np.mean(lengths)),
        "train_ep_return_last100": float(np.mean([e["r"] for e in model.ep_info_buffer]))
        if model.ep_info_buffer else None,
    }))


if __name__ == "__main__":
    main()
