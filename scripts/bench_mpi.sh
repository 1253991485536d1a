#!/usr/bin/env bash
# Data-parallel throughput (docs/distributed.md): TRPO on Hopper-v5 for 200k steps, one process
# with one thread against `mpiexec -n 2` with one thread per rank, same per-rank settings,
# twice each, one after the other. Prints wall-clock, steps/s and the per-update split.
#
#   bash scripts/bench_mpi.sh            # builds cinder with --features mujoco,mpi first
#   BIN=path/to/cinder bash scripts/bench_mpi.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cinder-target}"
if [ -z "${BIN:-}" ]; then
  cargo build --release -p cinder --features mujoco,mpi >&2
  BIN="$(mktemp -d)/cinder"
  cp "$CARGO_TARGET_DIR/release/cinder" "$BIN"
fi
ENV="${ENV:-Hopper-v5}"
STEPS="${STEPS:-200000}"
OUT="$(mktemp -d)"
for rep in 1 2; do
  "$BIN" train --env "$ENV" --algo trpo --steps "$STEPS" --threads 1 --out "$OUT/one-$rep" --quiet
  mpiexec -n 2 "$BIN" train --env "$ENV" --algo trpo --steps "$STEPS" --threads 1 --out "$OUT/two-$rep" --quiet
done
python3 - "$OUT" <<'PY'
import csv, json, sys
out = sys.argv[1]
sps = {}
for rep in (1, 2):
    for tag, k in (("one", 1), ("two", 2)):
        d = f"{out}/{tag}-{rep}"
        s = json.load(open(d + "/summary.json"))
        rows = list(csv.DictReader(open(d + "/metrics.csv")))
        per = lambda c: 1000 * sum(float(r[c]) for r in rows if r.get(c)) / len(rows)
        sps[(k, rep)] = s["steps"] / s["wall_s"]
        print(f"run {rep}, {k} process(es): wall {s['wall_s']:.2f} s, {sps[(k, rep)]:.0f} steps/s, "
              f"{len(rows)} updates; per update collect {per('time/collect_s'):.0f} ms, "
              f"policy {per('time/policy_s'):.0f} ms, critic {per('time/value_s'):.0f} ms, "
              f"comm {per('time/comm_s'):.1f} ms; final eval {s['final_eval_mean']:.1f}")
for rep in (1, 2):
    print(f"run {rep}: speed-up {sps[(2, rep)] / sps[(1, rep)]:.2f}x")
PY
