#!/usr/bin/env bash
# The GPU benchmark, in two steps: prepare a bundle here, run it on the GPU machine.
#
#   bash scripts/bench_gpu.sh --prepare        # here: build and gather into gpu-bundle/
#   bash scripts/bench_gpu.sh                  # there: the rows, one JSON object per line
#   bash scripts/bench_gpu.sh --smoke          # here: the same rows, small, on lavapipe
#
# Rows (`cinder bench suite`, one process per backend so kernels compile once): FVP (both
# products) and CG10 at batch 2k/20k/200k for hidden 64-64 and 256-256 (Hopper's 11→3
# policy), then TRPO on Hopper-v5 for 100k steps (steps/s) and its median update time, once
# per actor placement (natively in plain Rust — the default — and on the device itself). Every row runs on flex
# and on each GPU backend of the bundle (wgpu, cuda). Meant to fit in 5 minutes on an
# H100-class machine: each backend's FVP/CG rows have a 60 s budget (smallest batch first; a
# row that would not fit prints as "skipped" with the reason), then its training rows run
# (100k Hopper steps: seconds on a GPU); a backend process is killed after 240 s.
#
# --prepare builds a stripped binary with wgpu, cuda and mujoco (no Python inside) and copies
# what it loads at run time into one ignored folder under 64 MiB: MuJoCo's library, Gymnasium's
# MuJoCo model files, the Vulkan loader. The run step needs only that folder and the GPU
# driver; every missing piece is one line saying what is missing, never a silent fallback
# (wgpu is pinned to the NVIDIA Vulkan driver, so it cannot end up on lavapipe unnoticed).
#
# Options:
#   --dir DIR   the bundle (default: gpu-bundle at the repo root; --smoke: a temp folder)
#   --bin PATH  --prepare: bundle this cinder binary instead of building one
#   --out FILE  also append the rows to FILE (default: bench-results/gpu.jsonl)
#
# --smoke (run by scripts/test.sh, so the script cannot rot): --prepare with the test build's
# binary (--bin, or $CARGO_TARGET_DIR/release/cinder), then the run step at batch 64, one
# hidden layer of 16, 256 training steps, wgpu on lavapipe (about 2 minutes, nearly all of it
# lavapipe compiling kernels); fails unless every row of flex and wgpu has a time and every
# other backend says why it did not run.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=run
dir=""
bin=""
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --prepare) mode=prepare ;;
    --smoke) mode=smoke ;;
    --dir) dir="$2"; shift ;;
    --bin) bin="$2"; shift ;;
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "bench_gpu.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "bench_gpu: $*" >&2; }
die() { say "$*"; exit 1; }
limit_mib=64

prepare() {
  local dir="$1" bin="$2"
  if [[ -z "$bin" ]]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cinder-target}"
    # The venv gives the build MuJoCo's library and model files (.cargo/config.toml).
    bash scripts/setup_python.sh >/dev/null
    say "building cinder with wgpu, cuda and mujoco (release)"
    cargo build --release -p cinder --features wgpu,cuda,mujoco --bin cinder
    bin="$CARGO_TARGET_DIR/release/cinder"
  fi
  [[ -x "$bin" ]] || die "no cinder binary at $bin"
  rm -rf "$dir"
  mkdir -p "$dir/bin" "$dir/lib" "$dir/mujoco-assets"
  strip -o "$dir/bin/cinder" "$bin" 2>/dev/null || cp "$bin" "$dir/bin/cinder"
  # MuJoCo's library, as the binary was linked against it.
  local mj
  mj=$(ldd "$bin" | awk '/libmujoco/ {print $3; exit}')
  if [[ -n "$mj" && -f "$mj" ]]; then
    cp -L "$mj" "$dir/lib/$(basename "$mj")"
  else
    say "the binary does not load MuJoCo (built without the mujoco feature?): no Hopper rows"
  fi
  # Gymnasium's MuJoCo model files.
  local assets="${CINDER_MUJOCO_ASSETS:-}"
  if [[ -z "$assets" ]]; then
    assets=$(ls -d .venv/lib/python3*/site-packages/gymnasium/envs/mujoco/assets 2>/dev/null | head -1 || true)
  fi
  [[ -f "$assets/hopper.xml" ]] || die "Gymnasium's MuJoCo model files not found: run bash scripts/setup_python.sh or set CINDER_MUJOCO_ASSETS"
  cp -r "$assets/." "$dir/mujoco-assets/"
  # The Vulkan loader wgpu opens (the GPU machine may lack Debian's libvulkan1); the driver
  # (ICD) comes with the NVIDIA driver there.
  local vk
  vk=$(ldconfig -p 2>/dev/null | awk '/libvulkan\.so\.1 / {print $NF; exit}')
  [[ -z "$vk" && -f /usr/lib/x86_64-linux-gnu/libvulkan.so.1 ]] && vk=/usr/lib/x86_64-linux-gnu/libvulkan.so.1
  if [[ -n "$vk" ]]; then
    cp -L "$vk" "$dir/lib/libvulkan.so.1"
  else
    say "no Vulkan loader here (apt-get install libvulkan1): the bundle relies on the GPU machine's"
  fi
  cat > "$dir/MANIFEST.json" <<EOF
{"commit": "$(git rev-parse HEAD 2>/dev/null || echo unknown)", "built": "$(date -u +%FT%TZ)", "cinder": "$("$dir/bin/cinder" --version 2>/dev/null || echo unknown)", "source_binary": "$bin"}
EOF
  local mib
  mib=$(( $(du -sb "$dir" | cut -f1) / 1048576 ))
  say "bundle $dir: ${mib} MiB ($(du -sh "$dir/bin/cinder" | cut -f1) binary)"
  (( mib < limit_mib )) || die "bundle is ${mib} MiB, over the ${limit_mib} MiB a device run carries"
}

# The run step: the rows, from the bundle alone.
run_rows() {
  local dir="$1" smoke="$2" out="$3"
  [[ -x "$dir/bin/cinder" ]] || die "missing: $dir/bin/cinder (run bash scripts/bench_gpu.sh --prepare here first, then carry $dir along)"
  export LD_LIBRARY_PATH="$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export CINDER_MUJOCO_ASSETS="$dir/mujoco-assets"
  export CUBECL_AUTOTUNE_LEVEL="${CUBECL_AUTOTUNE_LEVEL:-minimal}"
  if [[ -z "${XDG_RUNTIME_DIR:-}" ]]; then
    export XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/cinder-xdg-$(id -u)"
    mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
  fi
  local cinder="$dir/bin/cinder"
  if ldd "$cinder" | grep -q "not found"; then
    die "missing libraries: $(ldd "$cinder" | awk '/not found/ {print $1}' | tr '\n' ' ')(the bundle's lib/ should hold them: prepare again)"
  fi
  "$cinder" --version >/dev/null || die "$cinder does not run on this machine"
  local train_env=Hopper-v5
  [[ -f "$CINDER_MUJOCO_ASSETS/hopper.xml" ]] || die "missing: $CINDER_MUJOCO_ASSETS/hopper.xml (prepare again)"

  # Sizes and budgets (seconds per backend process).
  local -a sizes
  local budget timeout_s
  if [[ "$smoke" == 1 ]]; then
    # lavapipe compiles every kernel on the CPU, about a minute for the first FVP of a
    # process and more for each new layer shape: one hidden layer keeps that in bounds.
    sizes=(--batches 64 --hiddens 16 --reps 2 --row-s 1 --train-steps 256
           --set n_steps=64 --set batch_size=64 --set n_critic_updates=1 --set cg_max_steps=5
           --set policy_hidden=[16] --set value_hidden=[16])
    budget=600; timeout_s=600
  else
    sizes=(--batches 2048,20000,200000 --hiddens 64x64,256x256 --reps 20 --row-s 2
           --train-steps 100000)
    budget=60; timeout_s=240
  fi

  # Which GPU each backend would use. wgpu is pinned to one Vulkan driver: NVIDIA's on the
  # GPU machine, lavapipe for --smoke.
  local icd="" icd_dirs="/usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d"
  find_icd() {
    local d f
    for d in $icd_dirs; do
      for f in "$d/$1"*.json; do [[ -f "$f" ]] && { echo "$f"; return 0; }; done
    done
    return 0
  }
  if [[ "$smoke" == 1 ]]; then
    icd=$(find_icd lvp_icd)
    [[ -n "$icd" ]] || say "missing: lavapipe's Vulkan driver (apt-get install mesa-vulkan-drivers); no wgpu rows"
  else
    icd=$(find_icd nvidia_icd)
    [[ -n "$icd" ]] || say "missing: the NVIDIA Vulkan driver (nvidia_icd.json in $icd_dirs); wgpu would run on the CPU, so its rows are not run"
  fi
  local gpu="none"
  if command -v nvidia-smi >/dev/null; then
    gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1 || echo "nvidia-smi failed")
  else
    [[ "$smoke" == 1 ]] || say "missing: nvidia-smi (no NVIDIA driver?): cuda rows will say why they fail"
  fi
  local machine
  machine=$(printf '{"bench":"machine","date":"%s","cpu":"%s","cores":%s,"gpu":"%s","vulkan_icd":"%s","smoke":%s,"manifest":%s}' \
    "$(date -u +%FT%TZ)" "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" "$(nproc)" \
    "$gpu" "$icd" "$([[ $smoke == 1 ]] && echo true || echo false)" "$(tr -d '\n' < "$dir/MANIFEST.json" 2>/dev/null || echo null)")
  echo "$machine" | tee -a "$out"

  local backend rc
  for backend in flex wgpu cuda; do
    local -a env_vars=()
    if [[ "$backend" == wgpu ]]; then
      if [[ -z "$icd" ]]; then
        echo "{\"bench\":\"suite\",\"backend\":\"wgpu\",\"error\":\"no Vulkan driver to pin wgpu to\"}" | tee -a "$out"
        continue
      fi
      env_vars=(VK_ICD_FILENAMES="$icd")
    fi
    say "$backend: running (budget ${budget} s)"
    local log
    log=$(mktemp)
    set +e
    env "${env_vars[@]}" timeout "$timeout_s" "$cinder" bench suite --backend "$backend" \
      --train-env "$train_env" --budget-s "$budget" "${sizes[@]}" 2>"$log" | tee -a "$out"
    rc=${PIPESTATUS[0]}
    set -e
    if [[ $rc -ne 0 ]]; then
      local why
      why=$(grep -v '^\s*$' "$log" | tail -1 | sed 's/"/\\"/g' || true)
      [[ $rc == 124 ]] && why="timed out after ${timeout_s} s; ${why}"
      say "$backend: did not finish: ${why:-exit $rc}"
      echo "{\"bench\":\"suite\",\"backend\":\"$backend\",\"exit\":$rc,\"error\":\"${why:-exit $rc}\"}" | tee -a "$out"
    fi
    rm -f "$log"
  done
}

# --smoke's check: every row of flex and wgpu measured, every other backend explained.
check_smoke() {
  python3 - "$1" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
want = {("fvp", "gauss-newton"), ("fvp", "double-backprop"), ("cg", "gauss-newton"),
        ("cg", "double-backprop"), ("train", "auto"), ("train", "same"),
        ("trpo_update", "auto"), ("trpo_update", "same")}
bad = []
for backend in ("flex", "wgpu"):
    got = {}
    for r in rows:
        if r.get("backend") == backend and r["bench"] in ("fvp", "cg", "train", "trpo_update"):
            got[(r["bench"], r.get("method") or r.get("actor"))] = r
    # `auto` acts natively (plain Rust), `same` on the learner: two placements everywhere.
    need = want
    for key in sorted(need):
        r = got.get(key)
        value = None if r is None else r.get("steps_per_sec" if key[0] == "train" else "median_ms")
        if not isinstance(value, (int, float)) or value <= 0:
            bad.append(f"{backend} {key}: {r}")
for r in rows:
    if r["bench"] == "suite" and r.get("backend") in ("flex", "wgpu"):
        bad.append(f"{r['backend']} failed: {r}")
    if r["bench"] == "suite" and not r.get("error"):
        bad.append(f"a failure without its reason: {r}")
if bad:
    sys.exit("bench_gpu --smoke: rows missing or empty:\n  " + "\n  ".join(bad))
print(f"bench_gpu --smoke: {len(rows)} rows, flex and wgpu complete")
EOF
}

case "$mode" in
  prepare)
    prepare "${dir:-gpu-bundle}" "$bin"
    ;;
  run)
    mkdir -p bench-results
    out="${out:-bench-results/gpu.jsonl}"
    run_rows "${dir:-gpu-bundle}" 0 "$out"
    say "rows appended to $out"
    ;;
  smoke)
    start=$(date +%s)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    bin="${bin:-${CARGO_TARGET_DIR:-$HOME/.cache/cinder-target}/release/cinder}"
    prepare "${dir:-$tmp/bundle}" "$bin"
    out="${out:-$tmp/rows.jsonl}"
    run_rows "${dir:-$tmp/bundle}" 1 "$out"
    check_smoke "$out"
    say "smoke done in $(( $(date +%s) - start )) s"
    ;;
esac
