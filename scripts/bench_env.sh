#!/usr/bin/env bash
# Env-stepping throughput of cinder's native envs against Gymnasium's SyncVectorEnv, in one run.
#
#   bash scripts/bench_env.sh
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
if [[ -z "$bin" ]]; then
  cargo build --release -p cinder --bin cinder
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
PY
