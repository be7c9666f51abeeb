#!/usr/bin/env python3
"""The largest stable time step of every neuron model and scheme, measured by integration, into the
committed file behind docs/neuron-models.md's stability table.

  bench/neuron_stability.py [--build build] [--t-end 10] [--out docs/neuron-models/stable-dt.json]

Runs BUILD/bench/bench_neuron_stability (its header says what "stable" means), adds the commit,
machine, date and command, writes OUT and prints the table as markdown.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from provenance import write_result  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--t-end", type=float, default=10.0)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "neuron-models", "stable-dt.json"))
    args = ap.parse_args()
    exe = os.path.join(args.build, "bench", "bench_neuron_stability")
    out = subprocess.run([exe, str(args.t_end)], check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    write_result(args.out, {"t_end": args.t_end, "rows": rows}, "bench/neuron_stability.py", sys.argv[1:])
    schemes = ["euler", "imex", "heun", "rk4"]
    models = sorted({r["model"] for r in rows})
    print("| model | " + " | ".join(schemes) + " |")
    print("| --- |" + " --- |" * len(schemes))
    for m in models:
        cells = []
        for s in schemes:
            hit = [r for r in rows if r["model"] == m and r["scheme"] == s]
            if not hit:
                cells.append("—")
            elif hit[0]["stable_dt"] >= hit[0]["grid_top"]:
                cells.append(f"≥ {hit[0]['grid_top']:g}")
            else:
                cells.append(f"{hit[0]['stable_dt']:.3g}")
        print(f"| {m} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
