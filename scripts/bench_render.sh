#!/usr/bin/env bash
# Rendering speed: frames/s of cinder's `render` against Gymnasium's `render()` (rgb_array),
# same env, size and frame count, in one run. Each loop steps with random actions and times
# the drawing alone.
#
#   bash scripts/bench_render.sh                      # Hopper-v5, HalfCheetah-v5, CartPole-v1
#   ENVS="Humanoid-v5" FRAMES=300 bash scripts/bench_render.sh
#   BIN=path/to/cinder bash scripts/bench_render.sh   # a binary built with --features mujoco
#
# MuJoCo renders offscreen through EGL on both sides (MUJOCO_GL=egl for Gymnasium); on a
# machine without a GPU that is Mesa's llvmpipe on the CPU.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ENVS="${ENVS:-Hopper-v5 HalfCheetah-v5 CartPole-v1}"
FRAMES="${FRAMES:-200}"
PYTHON="$(bash scripts/setup_python.sh)"
BIN="${BIN:-}"
if [[ -z "$BIN" ]]; then
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cinder-target}"
  cargo build --release -q -p cinder --features mujoco
  BIN="$CARGO_TARGET_DIR/release/cinder"
fi
echo "| env | size | cinder frames/s | Gymnasium frames/s | ratio |"
echo "|---|---|---|---|---|"
for env in $ENVS; do
  ours="$("$BIN" bench render --env "$env" --frames "$FRAMES" --json)"
  theirs="$(MUJOCO_GL=egl SDL_VIDEODRIVER=dummy PYGAME_HIDE_SUPPORT_PROMPT=1 "$PYTHON" - "$env" "$FRAMES" <<'PY'
import json, sys, time
import gymnasium as gym
env_id, frames = sys.argv[1], int(sys.argv[2])
env = gym.make(env_id, render_mode="rgb_array")
env.reset(seed=0)
env.action_space.seed(0)
first = env.render()
seconds = 0.0
for _ in range(frames):
    _, _, term, trunc, _ = env.step(env.action_space.sample())
    if term or trunc:
        env.reset()
    t = time.perf_counter()
    env.render()
    seconds += time.perf_counter() - t
print(json.dumps({"frames_per_sec": frames / seconds, "size": [first.shape[1], first.shape[0]]}), flush=True)
import os
os._exit(0)  # skip the EGL context's noisy teardown at exit
PY
)"
  "$PYTHON" - "$env" "$ours" "$theirs" <<'PY'
import json, sys
env, ours, theirs = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
a, b = ours["frames_per_sec"], theirs["frames_per_sec"]
print(f"| {env} | {ours['size'][0]}×{ours['size'][1]} | {a:.1f} | {b:.1f} | {a / b:.2f}× |")
PY
done
