"""cinder's side of the Gymnasium bridge.

A SyncVectorEnv in Gymnasium's same-step autoreset mode (the VecEnv contract of cinder: an env
whose episode ended is reset within the step and its last observation is reported apart),
with every quantity handed over as one array for the whole batch (observations
[num_envs, ...], rewards, flags, and final observations as float32 [num_envs, flat_dim]).
"""
import threading

import numpy as np
import gymnasium as gym
from gymnasium.vector import AutoresetMode


def space_info(space):
    if isinstance(space, gym.spaces.Discrete):
        if int(space.start) != 0:
            raise ValueError(f"cinder needs Discrete spaces that start at 0, this one starts at {space.start}")
        return ("discrete", int(space.n), [], [], [], "int64")
    if isinstance(space, gym.spaces.Box):
        return ("box", 0, [float(x) for x in space.low.reshape(-1)], [float(x) for x in space.high.reshape(-1)],
                [int(d) for d in space.shape], str(space.dtype))
    raise TypeError(f"cinder supports Box and Discrete spaces, this env has {space}")


# gym.make imports an env's module on first use. Two threads importing modules of one package
# at once can meet CPython's import-deadlock avoidance, which hands one of them the package half
# initialised ("cannot import name 'PendulumEnv' from partially initialized module"): making
# CartPole and Pendulum from two Rust threads failed that way about 29 times in 30. Envs are
# therefore made one at a time; the lock releases the GIL while it waits.
_MAKE_LOCK = threading.Lock()


def registered_ids():
    return sorted(gym.registry.keys())


class Bridge:
    def __init__(self, env_id, num_envs, kwargs):
        with _MAKE_LOCK:
            self.env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync",
                                    vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP, "copy": False},
                                    **kwargs)
        self.num_envs = num_envs
        obs_space = self.env.single_observation_space
        act_space = self.env.single_action_space
        self.obs_space = space_info(obs_space)
        self.act_space = space_info(act_space)
        self.obs_dim = 1 if self.obs_space[0] == "discrete" else int(np.prod(obs_space.shape, dtype=np.int64))
        self.act_dtype = act_space.dtype
        self.act_shape = (num_envs,) + tuple(act_space.shape)
        limit = kwargs.get("max_episode_steps")
        if limit is None:
            spec = gym.spec(env_id)
            limit = spec.max_episode_steps
        self.max_episode_steps = limit

    def reset(self, seed):
        obs, _ = self.env.reset(seed=seed)
        return obs

    def reset_one(self, index):
        mask = np.zeros(self.num_envs, dtype=np.bool_)
        mask[index] = True
        obs, _ = self.env.reset(options={"reset_mask": mask})
        return obs[index]

    def step(self, actions):
        # Arrays go back as Gymnasium returns them (here and in reset); Rust converts them to
        # float32 while copying, which saves a Python-side pass per quantity.
        actions = actions.reshape(self.act_shape).astype(self.act_dtype, copy=False)
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        final = None
        mask = info.get("_final_obs")
        if mask is not None and mask.any():
            final = np.zeros((self.num_envs, self.obs_dim), dtype=np.float32)
            for i in np.flatnonzero(mask):
                final[i] = np.asarray(info["final_obs"][i]).reshape(-1)
        return obs, rewards, terminated, truncated, final

    def get_attr(self, name):
        return [np.asarray(v, dtype=np.float64).reshape(-1).tolist() for v in self.env.get_attr(name)]

    def close(self):
        self.env.close()
