#!/usr/bin/env python3
"""Markdown tables from bench-results/numerics.jsonl (cinder) and bench-results/peers*.jsonl
(PyTorch reference harness), as written by scripts/bench_numerics.sh."""
import json
import os
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "bench-results"


def load(name):
    path = os.path.join(root, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip().startswith("{")]


ours = {}
for r in load("numerics.jsonl"):
    ours[(r["obs_dim"], r["act_dim"], r["batch"], r["backend"], r["method"], r["bench"])] = r["median_ms"]
peers = {}
for tag, name in (("default", "peers.jsonl"), ("tuned", "peers_malloc_tuned.jsonl")):
    for r in load(name):
        if r.get("dtype") != "float32" or r.get("threads") != 2:
            continue
        cg = r["cg"]["median_ms"] + (r["kl_setup"]["median_ms"] if "kl_setup" in r else 0.0)
        peers[(r["obs_dim"], r["act_dim"], r["batch"], tag, r["variant"])] = (r["fvp"]["median_ms"], r["cg"]["median_ms"], cg)

sizes = {(11, 3): "Hopper", (17, 6): "HalfCheetah"}
backends = sorted({k[3] for k in ours})

print("| size | batch | backend | FVP ms GN / DB | DB÷GN | CG10 ms GN / DB |")
print("|---|---|---|---|---|---|")
for (o, a), name in sizes.items():
    for batch in (2048, 5000, 25000):
        for b in backends:
            g = ours.get((o, a, batch, b, "gauss-newton", "fvp"))
            d = ours.get((o, a, batch, b, "double-backprop", "fvp"))
            gc = ours.get((o, a, batch, b, "gauss-newton", "cg"))
            dc = ours.get((o, a, batch, b, "double-backprop", "cg"))
            if g is None:
                continue
            print(f"| {name} | {batch} | {b} | {g:.2f} / {d:.2f} | {d / g:.1f}× | {gc:.1f} / {dc:.1f} |")

if peers:
    print()
    print("| size | batch | cinder CG10 GN (best CPU backend) | PyTorch CG10 pytorch-trpo default / tuned | sb3 style CG10 default / tuned | sb3 CG10 + KL setup default / tuned | cinder ÷ pytorch-trpo (default) | cinder ÷ sb3 CG (default) | cinder ÷ sb3 CG+setup (default) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (o, a), name in sizes.items():
        for batch in (2048, 5000, 25000):
            cands = [(ours[k], k[3]) for k in ours if k[:3] == (o, a, batch) and k[4] == "gauss-newton" and k[5] == "cg"]
            if not cands:
                continue
            best, bname = min(cands)
            ik = [peers.get((o, a, batch, t, "ikostrikov")) for t in ("default", "tuned")]
            sb = [peers.get((o, a, batch, t, "sb3")) for t in ("default", "tuned")]
            if not ik[0] or not sb[0]:
                continue
            fmt = lambda p, i: "n/a" if p is None else f"{p[i]:.1f}"
            print(
                f"| {name} | {batch} | {best:.1f} ({bname}) | {fmt(ik[0], 1)} / {fmt(ik[1], 1)} | "
                f"{fmt(sb[0], 1)} / {fmt(sb[1], 1)} | {fmt(sb[0], 2)} / {fmt(sb[1], 2)} | "
                f"{best / ik[0][1]:.2f} | {best / sb[0][1]:.2f} | {best / sb[0][2]:.2f} |"
            )
