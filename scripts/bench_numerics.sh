#!/usr/bin/env bash
# Measures cinder's FVP and CG against the PyTorch reference harness, in one run.
#
#   bash scripts/bench_numerics.sh            # cinder matrix + PyTorch (if the peers venv exists)
#
# cinder: `cinder bench fvp|cg` for both methods, Hopper (11→3) and HalfCheetah (17→6)
# sizes, batch 2048/5000/25000, on flex and ndarray (and wgpu with WGPU=1).
# PyTorch: ../shared/bench/peers/trpo_update.py (pytorch-trpo and sb3-contrib styles), f32,
# 2 threads, default allocator and malloc-tuned; its venv is made by
# ../shared/bench/peers/setup.sh (VENV, default /tmp/peers-venv).
# Results: bench-results/numerics.jsonl (cinder) and bench-results/peers*.jsonl (PyTorch);
# docs/numerics.md shows the table. Run nothing else meanwhile: 2 cores.
# CINDER_BIN=path uses an already built binary (it must have the backends' features).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cinder-target}"
features=ndarray
backends="flex ndarray"
if [[ "${WGPU:-0}" == 1 ]]; then features=ndarray,wgpu; backends="flex ndarray wgpu"; fi
bin="${CINDER_BIN:-}"
if [[ -z "$bin" ]]; then
  cargo build --release -p cinder --features "$features" --bin cinder
  bin="$CARGO_TARGET_DIR/release/cinder"
fi
mkdir -p bench-results
out=bench-results/numerics.jsonl
: > "$out"
for size in "11 3" "17 6"; do
  set -- $size
  for batch in 2048 5000 25000; do
    reps=20; [[ $batch == 25000 ]] && reps=8
    for backend in $backends; do
      for method in gauss-newton double-backprop; do
        "$bin" bench fvp --method $method --obs-dim $1 --act-dim $2 --batch $batch --backend $backend --reps $reps --json | tee -a "$out"
        "$bin" bench cg --method $method --iters 10 --obs-dim $1 --act-dim $2 --batch $batch --backend $backend --reps $reps --json | tee -a "$out"
      done
    done
  done
done

peers=../shared/bench/peers
py="${VENV:-/tmp/peers-venv}/bin/python"
if [[ -x "$py" && -f "$peers/trpo_update.py" ]]; then
  for tuned in 0 1; do
    file=bench-results/peers.jsonl
    if [[ $tuned == 1 ]]; then
      file=bench-results/peers_malloc_tuned.jsonl
      export GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=2147483648
    fi
    : > "$file"
    "$py" "$peers/trpo_update.py" --obs-dim 11 --act-dim 3 --batch 2048 5000 25000 --dtype float32 --threads 2 --reps 20 --label hopper --out "$file" >/dev/null
    "$py" "$peers/trpo_update.py" --obs-dim 17 --act-dim 6 --batch 2048 5000 25000 --dtype float32 --threads 2 --reps 20 --label halfcheetah --out "$file" >/dev/null
    unset GLIBC_TUNABLES
  done
  echo "PyTorch results in bench-results/peers*.jsonl"
else
  echo "no peers venv at $py: run bash $peers/setup.sh to compare with PyTorch" >&2
fi
