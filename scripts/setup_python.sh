#!/usr/bin/env bash
# Creates (or updates) the Python venv that cinder's Gymnasium fixtures, tests and bridge use:
# gymnasium==1.4.0, mujoco==3.17.0 and numpy from PyPI, pinned in requirements-gymnasium.txt.
#
#   bash scripts/setup_python.sh              # venv at ./.venv
#   CINDER_VENV=/path bash scripts/setup_python.sh
#   CINDER_PYTHON_BIN=/usr/bin/python3.12 bash scripts/setup_python.sh   # choose the interpreter
#
# Also links MuJoCo's shared library from the wheel into $VENV/mujoco-lib (libmujoco.so and
# libmujoco.so.3.17.0), the folder the `mujoco` feature links against and finds at run time
# (MUJOCO_DYNAMIC_LINK_DIR in .cargo/config.toml, rpaths set by the build scripts).
#
# Prints the venv's python on the last line.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CINDER_VENV:-$ROOT/.venv}"
REQ="$ROOT/scripts/requirements-gymnasium.txt"

if [[ ! -x "$VENV/bin/python" ]]; then
  PY="${CINDER_PYTHON_BIN:-}"
  if [[ -z "$PY" ]]; then
    # numpy 2.5 needs CPython >= 3.12; pyenv's interpreters count too.
    PYENV_DIR="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
    for cand in python3.12 "$PYENV_DIR"/versions/3.12*/bin/python3.12 python3.13 \
                "$PYENV_DIR"/versions/3.13*/bin/python3.13 python3; do
      if command -v "$cand" >/dev/null 2>&1 \
         && "$cand" -c 'import sys, venv, ssl; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
        PY="$(command -v "$cand")"; break
      fi
    done
  fi
  if [[ -z "$PY" ]]; then
    echo "setup_python: no CPython >= 3.12 with venv and ssl found; install one (e.g. apt-get install python3.12-venv) or set CINDER_PYTHON_BIN" >&2
    exit 1
  fi
  echo "[setup_python] creating $VENV with $PY" >&2
  "$PY" -m venv "$VENV"
fi

# Reinstall only when the pins changed.
STAMP="$VENV/.cinder-requirements"
if ! cmp -s "$REQ" "$STAMP" 2>/dev/null; then
  echo "[setup_python] installing $(grep -c '==' "$REQ") pinned packages into $VENV" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: --no-deps -r "$REQ" >&2
  "$VENV/bin/python" -c 'import gymnasium, mujoco, numpy' >&2
  cp "$REQ" "$STAMP"
fi
# The unversioned link mujoco-rs's build script wants, next to the versioned soname the
# binaries load.
LIBDIR="$VENV/mujoco-lib"
SO="$("$VENV/bin/python" -c 'import mujoco, os; print(os.path.join(os.path.dirname(mujoco.__file__), "libmujoco.so." + mujoco.__version__))')"
if [[ ! -f "$SO" ]]; then
  echo "setup_python: the mujoco wheel has no $SO" >&2
  exit 1
fi
mkdir -p "$LIBDIR"
ln -sfn "$SO" "$LIBDIR/$(basename "$SO")"
ln -sfn "$SO" "$LIBDIR/libmujoco.so"
echo "$VENV/bin/python"
