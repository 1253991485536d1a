#!/usr/bin/env bash
# Soak check: trains one long run and samples its resident memory and open file handles.
#
#   bash scripts/soak.sh [CINDER_BIN] [-- extra `cinder train` arguments]
#
# Default: Hopper-v5, TRPO preset, 1M steps (the binary needs `--features mujoco`).
# Every 2 s it records VmRSS (KiB) and the number of entries in /proc/PID/fd. At the end it
# prints the RSS after warm-up (first sample past 10% of the run's duration), the last RSS,
# their ratio, the peak, and the fd counts seen — the run should keep a flat RSS (≤ 5% growth)
# and a constant fd count.
set -euo pipefail
BIN="${1:-${CARGO_TARGET_DIR:-$HOME/.cache/cinder-target}/release/cinder}"
shift || true
[ "${1:-}" = "--" ] && shift
OUT="$(mktemp -d "${TMPDIR:-/tmp}/cinder-soak.XXXXXX")"
ARGS=(train --env Hopper-v5 --algo trpo --steps 1000000 --seed 0 --quiet --out "$OUT/run")
[ $# -gt 0 ] && ARGS+=("$@")

"$BIN" "${ARGS[@]}" &
pid=$!
start=$(date +%s.%N)
echo "t_s,rss_kib,fds" > "$OUT/samples.csv"
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l || true)
  [ -n "$rss" ] && echo "$(echo "$(date +%s.%N) - $start" | bc),$rss,$fds" >> "$OUT/samples.csv"
  sleep 2
done
wait "$pid"
python3 - "$OUT/samples.csv" <<'EOF'
import csv, sys
rows = [(float(r["t_s"]), int(r["rss_kib"]), int(r["fds"])) for r in csv.DictReader(open(sys.argv[1]))]
end = rows[-1][0]
warm = next(r for r in rows if r[0] >= 0.1 * end)
last = rows[-1]
print(f"samples {len(rows)} over {end:.0f} s")
print(f"rss after warm-up {warm[1] / 1024:.1f} MiB (t={warm[0]:.0f} s), last {last[1] / 1024:.1f} MiB, "
      f"growth {100 * (last[1] / warm[1] - 1):+.2f}%, peak {max(r[1] for r in rows) / 1024:.1f} MiB")
print(f"open fds: {sorted(set(r[2] for r in rows[1:]))}")
EOF
echo "run folder and samples: $OUT"
