#!/usr/bin/env bash
# Native MuJoCo env throughput against its two references, in one run:
#   - the bare mj_step loop of the same model (frame skip, random controls, same mean episode
#     length, one thread; `cinder bench env --mj-step-loop`),
#   - Gymnasium's single env (`../shared/bench/peers/env_throughput.py --backends gym1`, the
#     .venv's gymnasium 1.4.0 + mujoco 3.17.0, the same libmujoco).
#
#   bash scripts/bench_mujoco.sh
#   ENVS="Hopper-v5 Ant-v5" RUNS=5 bash scripts/bench_mujoco.sh
#   ENVS="Humanoid-v5" STEPS=50000 bash scripts/bench_mujoco.sh   # slower tasks: fewer steps
#
# cinder: `cinder bench env --env ID --num-envs 64 --steps STEPS --threads 1|2 --json` (STEPS
# default 200000), RUNS runs each (default 3), median. Results: bench-results/mujoco.jsonl and
# bench-results/mujoco_gymnasium.jsonl; the table printed at the end is the one in
# docs/environments.md. Run nothing else meanwhile: 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cinder-target}"
PYTHON="$(bash scripts/setup_python.sh)"
bin="${CINDER_BIN:-}"
if [[ -z "$bin" ]]; then
  cargo build --release -p cinder --bin cinder --features mujoco
  bin="$CARGO_TARGET_DIR/release/cinder"
fi
envs="${ENVS:-Hopper-v5 HalfCheetah-v5 Walker2d-v5}"
runs="${RUNS:-3}"
steps="${STEPS:-200000}"
mkdir -p bench-results
: > bench-results/mujoco.jsonl
for env in $envs; do
  for run in $(seq "$runs"); do
    "$bin" bench env --env "$env" --num-envs 64 --steps "$steps" --threads 1 --mj-step-loop --json \
      2>/dev/null | tee -a bench-results/mujoco.jsonl
    "$bin" bench env --env "$env" --num-envs 64 --steps "$steps" --threads 2 --json \
      2>/dev/null | tee -a bench-results/mujoco.jsonl
  done
done
: > bench-results/mujoco_gymnasium.jsonl
# shellcheck disable=SC2086
"$PYTHON" ../shared/bench/peers/env_throughput.py --envs $envs --backends gym1 --runs "$runs" \
  --seconds 2 --out bench-results/mujoco_gymnasium.jsonl 2>/dev/null
"$PYTHON" - <<'PY'
import json, statistics
rows = {}
for line in open("bench-results/mujoco.jsonl"):
    r = json.loads(line)
    d = rows.setdefault(r["env"], {"1": [], "2": [], "raw": []})
    d[str(r["threads"])].append(r["steps_per_sec"])
    if "mj_step_loop_steps_per_sec" in r:
        d["raw"].append(r["mj_step_loop_steps_per_sec"])
gym = {}
for line in open("bench-results/mujoco_gymnasium.jsonl"):
    r = json.loads(line)
    gym[r["env_id"]] = r["steps_per_s_median"]
med = statistics.median
print("| env (64 envs) | cinder 1 thread | bare mj_step loop | ratio | Gymnasium single env | ratio | cinder 2 threads | 2 / 1 thread |")
print("|---|---|---|---|---|---|---|---|")
for env, d in rows.items():
    one, two, raw, g = med(d["1"]), med(d["2"]), med(d["raw"]), gym[env]
    print(f"| {env} | {one:,.0f} | {raw:,.0f} | {one / raw:.2f}× | {g:,.0f} | {one / g:.2f}× | {two:,.0f} | {two / one:.2f}× |")
PY
