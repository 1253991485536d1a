#!/usr/bin/env bash
# Runs every test of cinder, installing what the tests need first.
#
#   bash scripts/test.sh
#
# - Debian packages (scripts/system_deps.sh): mesa-vulkan-drivers (lavapipe), so the wgpu tests
#   run without a GPU; Mesa's EGL, so MuJoCo renders offscreen on the CPU; MPICH and libclang,
#   so the `mpi` feature builds and its tests run under mpiexec.
# - A Python venv (.venv, scripts/setup_python.sh) with the pinned Gymnasium and MuJoCo; the
#   Gymnasium fixtures the native envs are tested against are regenerated and compared with the
#   committed ones.
# - One `cargo test --release` over the whole workspace with every backend compiled in, so
#   unit, numerical and learning tests share one optimised build; each backend-generic test
#   runs on flex, ndarray and wgpu.
# - scripts/bench_gpu.sh --smoke: the GPU benchmark's rows, small, on lavapipe.
# - The CLI tests (train, eval, kill-and-resume) once more under the default feature set.
# - On wgpu (lavapipe) a few backend-generic tests are #[ignore]d: every GPU kernel is compiled
#   on the CPU there (see backend_tests! in crates/cinder/tests/backends/common). On a machine
#   with a GPU, `bash scripts/test.sh -- --include-ignored` runs them all.
# CARGO_TARGET_DIR defaults to a cache outside the clone (~/.cache/cinder-target) so later
# runs on the same machine reuse the build; from nothing, the first run compiles everything.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/system_deps.sh

echo "== Python venv with pinned Gymnasium/MuJoCo"
PYTHON="$(bash scripts/setup_python.sh)"
echo "== Gymnasium fixtures: regenerate and compare"
"$PYTHON" scripts/record_gymnasium_fixtures.py --check

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cinder-target}"
# lavapipe compiles every GPU kernel with LLVM: the wgpu tests spend most of their time
# compiling and autotuning kernels (one compile thread per device). Minimal autotuning keeps
# that bounded (results are cached under ~/.cache/cubecl for later runs).
export CUBECL_AUTOTUNE_LEVEL="${CUBECL_AUTOTUNE_LEVEL:-minimal}"
# The wgpu tests mostly wait for their device's compile thread; more test threads than cores
# let the CPU-backend tests run meanwhile, and the Fisher tests get a second device on the
# CPU adapter (lavapipe, installed above), so two compile threads keep both cores busy.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
export CINDER_TEST_FISHER_ON_CPU_ADAPTER="${CINDER_TEST_FISHER_ON_CPU_ADAPTER:-1}"
# Mesa warns on every device creation without a runtime dir.
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
  export XDG_RUNTIME_DIR="${TMPDIR:-/tmp}/cinder-xdg-$(id -u)"
  mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
fi
# Every optional feature the tests cover (.ci/run lints the same set).
FEATURES="cinder/ndarray,cinder/wgpu,cinder/gymnasium,cinder/mujoco,cinder/mpi,cinder-env/burn-rl"
# Libraries, binaries and tests; not the examples, whose optimised build took 7 minutes of
# CPU and tested nothing (.ci/run's clippy --all-targets type-checks them and the benches).
TARGETS=(--lib --bins --tests)
echo "== cargo test (release; backends flex, ndarray, wgpu/lavapipe; target dir $CARGO_TARGET_DIR)"
# --no-fail-fast: one CI run reports every failing test binary, not only the first.
cargo test --release --no-fail-fast --workspace "${TARGETS[@]}" --features "$FEATURES" "$@"
# The GPU benchmark script, end to end at small sizes on lavapipe, with the binary the tests
# just built (every test feature): bundle, run step, every row checked (about 2 minutes).
echo "== scripts/bench_gpu.sh --smoke"
bash scripts/bench_gpu.sh --smoke --bin "$CARGO_TARGET_DIR/release/cinder"
# Feature unification can hide a bug of the default build (the binary the README's first
# command makes): a dependency feature switched on only by the all-features build once made
# resume inexact there alone. So what users rely on first — the CLI, exact resume through it
# (the kill-and-resume test), train and eval — runs again under the default feature set
# (flex alone). Only the CLI tests: the backend-generic test binary would add minutes of
# compilation to CI for the flex tests the CLI already drives.
echo "== cargo test, default features (the README's train command's build): CLI"
cargo test --release --no-fail-fast -p cinder --test cli "$@"
