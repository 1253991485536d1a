#!/usr/bin/env python3
"""Records one sb3-contrib TRPO policy step as a fixture for cinder's reference test
(`crates/cinder-algo/tests/trainer.rs::trpo_step_equals_sb3_contrib_s_on_recorded_data`).

  /tmp/peers-venv/bin/python scripts/sb3_trpo_step.py \
      > crates/cinder-algo/tests/fixtures/sb3_trpo_step.json

A Gaussian MLP policy (5 observations, 16-16 tanh, 4 actions, log σ = -0.3) with SB3's
orthogonal init; a batch of 256 synthetic observations, actions sampled from the policy and
advantages that reward actions near a fixed target; then `TRPO.train()` itself, with enough
CG iterations to converge. Written out: the batch, the policy parameters before and after in
cinder's flattening order (each Linear weight transposed to [in, out], then its bias; the
mean head; log σ) and the step's settings.

sb3-contrib averages the Gaussian KL over action dimensions (`th.distributions.kl_divergence`
without a sum), so its `target_kl` and `cg_damping` are cinder's divided by the action
dimension: the test checks exactly that conversion.
"""
import json

import numpy as np


def main():
    import gymnasium as gym
    import torch as th
    from sb3_contrib import TRPO
    from stable_baselines3.common.logger import Logger
    from stable_baselines3.common.vec_env import DummyVecEnv

    obs_dim, act_dim, m = 5, 4, 256
    th.manual_seed(0)
    rng = np.random.default_rng(0)

    class Spaces(gym.Env):
        observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
        action_space = gym.spaces.Box(-1.0, 1.0, (act_dim,), np.float32)

    model = TRPO(
        "MlpPolicy", DummyVecEnv([Spaces]), n_steps=m, batch_size=m, target_kl=0.01,
        cg_damping=0.1, cg_max_steps=200, n_critic_updates=1, seed=0, device="cpu",
        policy_kwargs=dict(net_arch=dict(pi=[16, 16], vf=[16]), log_std_init=-0.3))
    model.set_logger(Logger(None, []))
    policy = model.policy

    obs = rng.normal(size=(m, obs_dim)).astype(np.float32)
    with th.no_grad():
        dist = policy.get_distribution(th.as_tensor(obs))
        actions = dist.sample()
        log_probs = dist.log_prob(actions)
    target = np.linspace(-0.5, 0.5, act_dim, dtype=np.float32)
    advantages = (-((actions.numpy() - target) ** 2).sum(1)
                  + 0.1 * rng.normal(size=m)).astype(np.float32)

    buf = model.rollout_buffer
    buf.reset()
    buf.observations[:] = obs[:, None, :]
    buf.actions[:] = actions.numpy()[:, None, :]
    buf.log_probs[:] = log_probs.numpy()[:, None]
    buf.advantages[:] = advantages[:, None]
    buf.returns[:] = advantages[:, None]
    buf.values[:] = 0.0
    buf.full = True

    def params():
        net = policy.mlp_extractor.policy_net
        out = []
        for layer in [net[0], net[2], policy.action_net]:
            out += layer.weight.detach().numpy().T.ravel().tolist()
            out += layer.bias.detach().numpy().ravel().tolist()
        return out + policy.log_std.detach().numpy().ravel().tolist()

    before = params()
    model.train()
    after = params()
    logged = model.logger.name_to_value
    json.dump({
        "obs_dim": obs_dim, "act_dim": act_dim, "hidden": [16, 16], "samples": m,
        "sb3_target_kl": 0.01, "sb3_cg_damping": 0.1, "cg_max_steps": 200,
        "sb3_kl": float(logged["train/kl_divergence_loss"]),
        "line_search_success": bool(logged["train/is_line_search_success"]),
        "obs": obs.ravel().tolist(), "actions": actions.numpy().ravel().tolist(),
        "old_log_probs": log_probs.numpy().tolist(), "advantages": advantages.tolist(),
        "params_before": before, "params_after": after,
    }, __import__("sys").stdout)


if __name__ == "__main__":
    main()
