#!/usr/bin/env bash
# Installs the Debian packages the tests need, when missing (scripts/test.sh and .ci/run call
# it; it needs root or sudo only when something is missing):
# - mesa-vulkan-drivers (lavapipe): the wgpu tests without a GPU;
# - Mesa's EGL (libegl1, libegl-mesa0, libgl1-mesa-dri): MuJoCo renders offscreen on the CPU;
# - MPICH (mpich, libmpich-dev) and libclang-dev: the `mpi` feature (rsmpi generates its
#   bindings with bindgen at build time) and the tests that run under mpiexec.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
  echo "== installing mesa-vulkan-drivers (lavapipe) for the wgpu tests"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq mesa-vulkan-drivers >/dev/null
fi

# MuJoCo renders offscreen through EGL: Mesa's EGL draws on the CPU with no display or GPU
# (the video tests, and Gymnasium's frames they are compared with).
if ! ls /usr/lib/*/libEGL_mesa.so.0 >/dev/null 2>&1 || ! ls /usr/lib/*/libEGL.so.1 >/dev/null 2>&1; then
  echo "== installing Mesa's EGL (libegl1, libegl-mesa0, libgl1-mesa-dri) for offscreen MuJoCo rendering"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq libegl1 libegl-mesa0 libgl1-mesa-dri >/dev/null
fi

# Whether any file matches the glob.
have() { compgen -G "$1" >/dev/null; }
if ! command -v mpiexec >/dev/null 2>&1 || ! have "/usr/include/*/mpich/mpi.h" \
  || ! have "/usr/lib/llvm-*/lib/libclang.so*"; then
  echo "== installing MPICH and libclang for the mpi feature"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends mpich libmpich-dev libclang-dev >/dev/null
fi
