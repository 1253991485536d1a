#!/usr/bin/env bash
# Env-stepping throughput of cinder's native envs against Gymnasium's SyncVectorEnv, in one run.
#
#   bash scripts/bench_env.sh
#   GYMNASIUM=1 bash scripts/bench_env.sh    # also Hopper-v5 through the Gymnasium bridge
#
# cinder: `cinder bench env --env ID --num-envs 64 --steps 2000000` (random actions drawn in the
# loop, auto-reset and time limit included), three runs, median.
# Gymnasium 1.4.0: ../shared/bench/peers/env_throughput.py, backend sync64 (SyncVectorEnv of 64
# gym.make envs, actions drawn up front), median of three ~2 s runs, with the .venv Python
# (scripts/setup_python.sh).
# Results: bench-results/env.jsonl and bench-results/env_gymnasium.jsonl; the table printed at
# the end is the one in docs/environments.md. Run nothing else meanwhile: 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cinder-target}"
bin="${CINDER_BIN:-}"
features=""
if [[ "${GYMNASIUM:-0}" == 1 ]]; then features="--features gymnasium"; fi
if [[ -z "$bin" ]]; then
  # shellcheck disable=SC2086
  cargo build --release -p cinder --bin cinder $features
  bin="$CARGO_TARGET_DIR/release/cinder"
fi
PYTHON="$(bash scripts/setup_python.sh)"
envs="${ENVS:-Pendulum-v1 CartPole-v1 Acrobot-v1 MountainCar-v0 MountainCarContinuous-v0}"
mkdir -p bench-results
: > bench-results/env.jsonl
for env in $envs; do
  for run in 1 2 3; do
    "$bin" bench env --env "$env" --num-envs 64 --steps 2000000 --json | tee -a bench-results/env.jsonl
  done
done
: > bench-results/env_gymnasium.jsonl
# shellcheck disable=SC2086
"$PYTHON" ../shared/bench/peers/env_throughput.py --envs $envs --backends sync64 --runs 3 --seconds 2 \
  --out bench-results/env_gymnasium.jsonl
if [[ "${GYMNASIUM:-0}" == 1 ]]; then
  # Hopper-v5 through the Gymnasium bridge vs the same SyncVectorEnv in a Python loop.
  : > bench-results/env_bridge.jsonl
  for run in 1 2 3; do
    "$bin" bench env --env Hopper-v5 --num-envs 8 --steps 40000 --json | tee -a bench-results/env_bridge.jsonl
  done
  "$PYTHON" ../shared/bench/peers/env_throughput.py --envs Hopper-v5 --backends sync8 --runs 3 --seconds 2 \
    --out bench-results/env_gymnasium.jsonl
fi
"$PYTHON" - <<'PY'
import json, statistics
ours = {}
for line in open("bench-results/env.jsonl"):
    r = json.loads(line)
    ours.setdefault(r["env"], []).append(r["steps_per_sec"])
gym = {}
for line in open("bench-results/env_gymnasium.jsonl"):
    r = json.loads(line)
    gym[r["env_id"]] = r["steps_per_s_median"]
print("| env (64 envs) | cinder env-steps/s | Gymnasium SyncVectorEnv env-steps/s | ratio |")
print("|---|---|---|---|")
for env, rates in ours.items():
    m = statistics.median(rates)
    g = gym.get(env)
    ratio = f"{m / g:.0f}×" if g else "–"
    gs = f"{g:,.0f}" if g else "–"
    print(f"| {env} | {m:,.0f} | {gs} | {ratio} |")
import os
if os.path.exists("bench-results/env_bridge.jsonl") and os.path.getsize("bench-results/env_bridge.jsonl"):
    rates = [json.loads(l)["steps_per_sec"] for l in open("bench-results/env_bridge.jsonl")]
    g = [json.loads(l) for l in open("bench-results/env_gymnasium.jsonl")]
    g8 = [r["steps_per_s_median"] for r in g if r["env_id"] == "Hopper-v5" and r["num_envs"] == 8]
    m = statistics.median(rates)
    print(f"| Hopper-v5 (8 envs, bridge) | {m:,.0f} | {g8[-1]:,.0f} | {m / g8[-1]:.2f}× |")
PY
