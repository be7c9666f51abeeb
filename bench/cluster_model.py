#!/usr/bin/env python3
"""Expected scaling past one machine, worked out from measured costs (docs/cluster.md).

Sweeps: the per-run costs of a committed sweep (a results.csv with epochs and epoch_seconds, as
`dynpmnn table` and `dynpmnn sweep` write them; default the equal-budget California table, 200 runs
measured on the 2-core VM) are scheduled as rank 0 hands them out, longest expected cost first, each
to the worker that frees up first, over W = N nodes x workers per node. The wall time is that
schedule's makespan plus the hand-out's messages (3 small messages per run: request, answer, and
the rank's final done) at an assumed network latency, plus one launch per rank. Nothing is assumed
about balance: the schedule shows where the longest run becomes the floor.

Data-parallel training: per step each of K ranks sends its shard's gradient (P + 2 doubles) to all
others (MPI_Allgather; ring algorithm: (K - 1) messages of (P + 2) x 8 bytes per rank) and computes
1/K of the minibatch. With the measured single-process step time t1 (bench_data_parallel.py's JSON)
and an assumed latency a and bandwidth b, the step over K ranks takes about
  t1 / K + (K - 1) (a + (P + 2) 8 / b) + K (P + 2) / 1e9 s (the rank-order sum, ~1 ns per value)
and pays where that is below t1.

  bench/cluster_model.py [--runs docs/results/results.csv] [--dp docs/cluster/data-parallel.json]
                         [--json docs/cluster/scaling-model.json]
"""
import argparse
import csv
import heapq
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from provenance import write_result  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Assumed networks (not measured here): (name, one-way latency s, bandwidth bytes/s).
NETWORKS = [("InfiniBand HDR", 2e-6, 25e9), ("10 GbE TCP", 30e-6, 1.1e9)]
LAUNCH_S = 0.4  # one rank's start and data load, measured on this VM (docs/cluster.md)


def makespan(costs, workers):
    """Longest first, each run to the worker that frees up first (rank 0's hand-out)."""
    free = [0.0] * workers
    heapq.heapify(free)
    for c in sorted(costs, reverse=True):
        heapq.heappush(free, heapq.heappop(free) + c)
    return max(free)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default=os.path.join(ROOT, "docs", "results", "results.csv"))
    ap.add_argument("--dp", default=os.path.join(ROOT, "docs", "cluster", "data-parallel.json"))
    ap.add_argument("--workers-per-node", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    with open(args.runs) as f:
        costs = [float(r["epochs"]) * float(r["epoch_seconds"]) for r in csv.DictReader(f)
                 if r["epochs"] and r["epoch_seconds"]]
    total = sum(costs)
    sweep = {"runs_file": os.path.relpath(args.runs, ROOT), "runs": len(costs), "total_s": total,
             "longest_s": max(costs), "workers_per_node": args.workers_per_node, "nodes": []}
    print(f"sweep: {len(costs)} runs, {total:.1f} s in all (one worker), longest {max(costs):.1f} s")
    for nodes in (1, 2, 4, 8, 16, 32):
        w = nodes * args.workers_per_node
        span = makespan(costs, w)
        row = {"nodes": nodes, "workers": w, "makespan_s": span}
        for name, lat, _ in NETWORKS:
            row[f"wall_s_{name}"] = span + 3 * len(costs) * lat + LAUNCH_S
        row["speedup_over_one_node"] = makespan(costs, args.workers_per_node) / span
        sweep["nodes"].append(row)
        print(f"  {nodes:2d} nodes x {args.workers_per_node} workers: {span:7.2f} s "
              f"(x{row['speedup_over_one_node']:.2f} over one node)")

    result = {"sweep": sweep, "networks": [{"name": n, "latency_s": a, "bandwidth_Bps": b} for n, a, b in NETWORKS],
              "launch_s": LAUNCH_S}
    if os.path.exists(args.dp):
        with open(args.dp) as f:
            dp = json.load(f)
        rows = []
        for r in dp["rows"]:
            t1 = r["step_us_one"] * 1e-6  # one process, the minibatch whole
            P = r["params"]
            for name, lat, bw in NETWORKS:
                best = None
                for k in (2, 4, 8, 16, 32, 64):
                    step = t1 / k + (k - 1) * (lat + (P + 2) * 8 / bw) + k * (P + 2) * 1e-9
                    if step < t1 and (best is None or step < best[1]):
                        best = (k, step)
                rows.append({"model": r["model"], "batch_size": r["batch_size"], "params": P,
                             "step_s_one": t1, "network": name,
                             "best_ranks": best[0] if best else 1, "best_speedup": t1 / best[1] if best else 1.0})
                print(f"data-parallel {r['model']:34s} batch {r['batch_size']:4d} on {name:15s}: "
                      + (f"best {best[0]} ranks, x{t1 / best[1]:.2f}" if best else "never pays"))
        result["data_parallel"] = {"measured_file": os.path.relpath(args.dp, ROOT), "rows": rows}
    if args.json:
        write_result(args.json, result, "bench/cluster_model.py", sys.argv[1:])


if __name__ == "__main__":
    main()
