#!/usr/bin/env bash
# End-to-end training wall clock of cinder against Stable-Baselines3 with the same
# hyperparameters, in one run (run nothing else meanwhile: 2 cores).
#
#   bash scripts/bench_train.sh          # needs the peers venv: bash ../shared/bench/peers/setup.sh
#   GYMNASIUM=1 bash scripts/bench_train.sh   # adds Hopper-v5 (MuJoCo) through the Gymnasium bridge
#   MUJOCO=1 bash scripts/bench_train.sh      # adds Hopper-v5 with cinder's native MuJoCo envs
#
# Rows (seed 0, one env, SB3 defaults on both sides, deterministic 10-episode evaluation):
# - sb3-contrib TRPO vs `cinder train --algo trpo` on Pendulum-v1, 100k steps
#   (n_steps 2048, γ 0.99, 10 critic epochs: sb3-contrib's defaults);
# - SB3 PPO vs `cinder train --algo ppo` on CartPole-v1, 100k steps (SB3's defaults: no
#   learning-rate annealing, no value clipping).
# - with GYMNASIUM=1 or MUJOCO=1: sb3-contrib TRPO and SB3 PPO on Hopper-v5, 200k steps, same
#   defaults (no normalisation), cinder stepping Hopper through its Gymnasium bridge (.venv) or,
#   with MUJOCO=1, natively (feature `mujoco`). sb3-contrib averages the Gaussian KL over
#   Hopper's 3 action dimensions, so its defaults δ 0.01, λ 0.1 are cinder's 0.03 and 0.3
#   (docs/faq-sb3.md); cinder gets the converted values. Before 2026-11-30 it got 0.01 and 0.1.
# SB3 runs through ../shared/bench/peers/sb3_trpo_train.py (learn time, model construction
# excluded). Results: bench-results/train_sb3.jsonl, bench-results/train_cinder.jsonl; the
# table printed at the end is the one in docs/algorithms.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cinder-target}"
PEERS_PY="${PEERS_PY:-/tmp/peers-venv/bin/python}"
if [[ ! -x "$PEERS_PY" ]]; then
  echo "no peers venv at $PEERS_PY: run bash ../shared/bench/peers/setup.sh" >&2
  exit 1
fi
bin="${CINDER_BIN:-}"
features=""
hopper=0
if [[ "${GYMNASIUM:-0}" == 1 ]]; then
  bash scripts/setup_python.sh > /dev/null
  features="--features gymnasium"
  hopper=1
fi
if [[ "${MUJOCO:-0}" == 1 ]]; then
  bash scripts/setup_python.sh > /dev/null
  features="--features mujoco"
  hopper=1
fi
if [[ -z "$bin" ]]; then
  # shellcheck disable=SC2086
  cargo build --release -p cinder --bin cinder $features
  bin="$CARGO_TARGET_DIR/release/cinder"
fi
mkdir -p bench-results
: > bench-results/train_sb3.jsonl
: > bench-results/train_cinder.jsonl
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

run_cinder() { # name env algo steps args...
  local name="$1" env="$2" algo="$3" steps="$4"
  shift 4
  "$bin" train --env "$env" --algo "$algo" --num-envs 1 --seed 0 --steps "$steps" \
    --out "$work/$name" --quiet "$@"
  python3 - "$work/$name/summary.json" "$name" >> bench-results/train_cinder.jsonl <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
s["name"] = sys.argv[2]
print(json.dumps(s))
EOF
}

"$PEERS_PY" ../shared/bench/peers/sb3_trpo_train.py --algo trpo --env Pendulum-v1 --steps 100000 \
  --seed 0 --note cinder-bench --out bench-results/train_sb3.jsonl
run_cinder trpo-pendulum Pendulum-v1 trpo 100000 --set n_steps=2048 --set gamma=0.99 \
  --set n_critic_updates=10
"$PEERS_PY" ../shared/bench/peers/sb3_trpo_train.py --algo ppo --env CartPole-v1 --steps 100000 \
  --seed 0 --note cinder-bench --out bench-results/train_sb3.jsonl
run_cinder ppo-cartpole CartPole-v1 ppo 100000 --set n_steps=2048 --set gamma=0.99 --set gae_lambda=0.95 \
  --set batch_size=64 --set n_epochs=10 --set learning_rate=0.0003 --set anneal_lr=false \
  --set clip_range_vf=null
if [[ "$hopper" == 1 ]]; then
  "$PEERS_PY" ../shared/bench/peers/sb3_trpo_train.py --algo trpo --env Hopper-v5 --steps 200000 \
    --seed 0 --note cinder-bench --out bench-results/train_sb3.jsonl
  run_cinder trpo-hopper Hopper-v5 trpo 200000 --set n_steps=2048 --set batch_size=128 \
    --set cg_max_steps=15 --set n_critic_updates=10 --set normalize_observation=false \
    --set normalize_reward=false --set target_kl=0.03 --set cg_damping=0.3
  "$PEERS_PY" ../shared/bench/peers/sb3_trpo_train.py --algo ppo --env Hopper-v5 --steps 200000 \
    --seed 0 --note cinder-bench --out bench-results/train_sb3.jsonl
  run_cinder ppo-hopper Hopper-v5 ppo 200000 --set n_steps=2048 --set batch_size=64 \
    --set n_epochs=10 --set learning_rate=0.0003 --set anneal_lr=false --set clip_range_vf=null \
    --set normalize_observation=false --set normalize_reward=false
fi

python3 - <<'EOF'
import json
sb3 = [json.loads(l) for l in open("bench-results/train_sb3.jsonl")]
ours = [json.loads(l) for l in open("bench-results/train_cinder.jsonl")]
print("| run | steps | SB3 learn s | cinder wall s | speed-up | SB3 eval | cinder eval |")
print("|---|---|---|---|---|---|---|")
for s, c in zip(sb3, ours):
    print(f"| {s['algo']} {s['env_id']} | {c['steps']:,} | {s['learn_s']:.1f} | {c['wall_s']:.1f} | "
          f"{s['learn_s'] / c['wall_s']:.1f}× | {s['eval_mean_return']:.1f} ± {s['eval_std_return']:.1f} | "
          f"{c['final_eval_mean']:.1f} ± {c['final_eval_std']:.1f} |")
EOF
