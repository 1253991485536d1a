#!/usr/bin/env bash
# Learner overhead (issue 16): each MuJoCo preset run against its envs stepped alone, and the
# CG solve at Hopper sizes against the PyTorch reference harness, in one run. Run nothing else
# meanwhile: 2 cores.
#
#   bash scripts/bench_overhead.sh                       # builds cinder with `mujoco`
#   CINDER_BIN=path/to/cinder bash scripts/bench_overhead.sh
#   BEFORE=bench-results/overhead_old.jsonl bash scripts/bench_overhead.sh   # adds "before" columns
#   EXTRA=--burn-ops bash scripts/bench_overhead.sh      # extra `bench overhead` arguments
#
# Rows: `cinder bench overhead --env ENV --algo ALGO --steps $STEPS` (default 200000) for TRPO,
# NPG and PPO on Hopper-v5, HalfCheetah-v5 and Walker2d-v5 (each env's preset, flex, one thread
# per core). CG: `cinder bench cg --iters 10` at batch 2048 and 5000, `--iters 25` at 2048
# (the MuJoCo presets' solve), then ../shared/bench/peers/trpo_update.py at the same sizes
# (f32, 2 threads) when the peers venv exists (bash ../shared/bench/peers/setup.sh).
# Results: bench-results/overhead.jsonl, bench-results/overhead_cg.jsonl; the tables printed
# at the end are the ones in docs/architecture.md#where-the-time-goes.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cinder-target}"
PEERS_PY="${PEERS_PY:-/tmp/peers-venv/bin/python}"
STEPS="${STEPS:-200000}"
bin="${CINDER_BIN:-}"
if [[ -z "$bin" ]]; then
  bash scripts/setup_python.sh > /dev/null
  cargo build --release -p cinder --bin cinder --features mujoco
  bin="$CARGO_TARGET_DIR/release/cinder"
fi
mkdir -p bench-results
out=bench-results/overhead.jsonl
cg=bench-results/overhead_cg.jsonl
: > "$out"
: > "$cg"
for algo in trpo npg ppo; do
  for env in Hopper-v5 HalfCheetah-v5 Walker2d-v5; do
    echo "== $algo $env" >&2
    # shellcheck disable=SC2086
    "$bin" bench overhead --env "$env" --algo "$algo" --steps "$STEPS" ${EXTRA:-} 2>/dev/null >> "$out"
  done
done
for args in "--batch 2048 --iters 10" "--batch 5000 --iters 10" "--batch 2048 --iters 25"; do
  # shellcheck disable=SC2086
  "$bin" bench cg --obs-dim 11 --act-dim 3 $args --reps 20 --json >> "$cg"
done
if [[ -x "$PEERS_PY" ]]; then
  "$PEERS_PY" ../shared/bench/peers/trpo_update.py --batch 2048 5000 --dtype float32 \
    --threads 2 --reps 10 --json --out bench-results/overhead_torch_all.jsonl \
    | grep '^{' >> "$cg" || true
else
  echo "no peers venv at $PEERS_PY: PyTorch columns left out" >&2
fi
python3 - "$out" "$cg" "${BEFORE:-}" <<'EOF'
import json, sys
out, cg, before = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [json.loads(l) for l in open(out)]
old = {}
if before:
    old = {(r["algo"], r["env"]): r for r in map(json.loads, open(before))}
def cell(r):
    return f"{r['train_s']:.1f} / {r['env_alone_s']:.1f} / {r['ratio']:.2f}"
def split(r):
    c, _, p, v = r["time_split"]
    return f"{c:.1f} / {p:.1f} / " + (f"{v:.1f}" if v > 0 else "—")
head = "| algo | task | train / env alone / ratio | collect / policy step / critic fit, s | final eval |"
if old:
    head = ("| algo | task | before: train / env alone / ratio | after: train / env alone / ratio "
            "| after: collect / policy step / critic fit, s (before) | final eval before / after |")
print(head)
print("|" + "---|" * (head.count("|") - 1))
for r in rows:
    k = (r["algo"], r["env"])
    if old and k in old:
        b = old[k]
        print(f"| {r['algo'].upper()} | {r['env']} | {cell(b)} | {cell(r)} | {split(r)} ({split(b)}) "
              f"| {b['final_eval_mean']:.1f} / {r['final_eval_mean']:.1f} |")
    else:
        print(f"| {r['algo'].upper()} | {r['env']} | {cell(r)} | {split(r)} | {r['final_eval_mean']:.1f} |")
print()
ours = {}
torch = {}
for l in open(cg):
    r = json.loads(l)
    if r.get("bench") == "cg":
        ours[(r["batch"], r["iters"])] = r["median_ms"]
    elif "variant" in r:
        torch[(r["variant"], r["batch"])] = r
print("| CG | cinder (flex) | pytorch-trpo style | sb3 style (+ its KL setup) | cinder ÷ pytorch-trpo | cinder ÷ sb3 (+ setup) |")
print("|---|---|---|---|---|---|")
for (batch, iters), ms in sorted(ours.items()):
    ik, sb = torch.get(("ikostrikov", batch)), torch.get(("sb3", batch))
    if iters != 10 or not (ik and sb):
        print(f"| batch {batch}, {iters} iterations | {ms:.1f} ms | | | | |")
        continue
    ikm, sbm, setup = ik["cg_median_ms"], sb["cg_median_ms"], sb.get("kl_setup_median_ms") or 0.0
    print(f"| batch {batch}, 10 iterations | {ms:.1f} ms | {ikm:.1f} ms | {sbm:.1f} ({sbm + setup:.1f}) ms "
          f"| {ms / ikm:.2f} | {ms / sbm:.2f} ({ms / (sbm + setup):.2f}) |")
EOF
