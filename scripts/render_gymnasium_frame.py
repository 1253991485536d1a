"""Draws one frame of a Gymnasium env in a given state, for cinder's render tests.

    python scripts/render_gymnasium_frame.py ENV_ID OUT.rgb STATE [QVEL]

STATE is comma-separated: qpos for a MuJoCo task (QVEL its velocities), the state vector of a
classic-control env (`env.unwrapped.state`). The frame comes from
`gymnasium.make(ENV_ID, render_mode="rgb_array").render()` right after `reset(seed=0)` and
the state is set (`set_state` for MuJoCo). OUT.rgb gets a `height width` line, then the
height*width*3 bytes of the image, row by row from the top.

MuJoCo renders through EGL (MUJOCO_GL=egl unless set), classic control through pygame
without a display (SDL_VIDEODRIVER=dummy).
"""

import os
import sys

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402


def main() -> None:
    env_id, out, state = sys.argv[1], sys.argv[2], sys.argv[3]
    values = np.array([float(v) for v in state.split(",")])
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    u = env.unwrapped
    if hasattr(u, "set_state") and hasattr(u, "data"):
        qvel = np.array([float(v) for v in sys.argv[4].split(",")])
        u.set_state(values, qvel)
    else:
        u.state = values
    frame = env.render()
    height, width, _ = frame.shape
    with open(out, "wb") as f:
        f.write(f"{height} {width}\n".encode())
        f.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
    env.close()


if __name__ == "__main__":
    main()
