#!/usr/bin/env python3
"""Sweep throughput over MPI ranks against one process, measured in the same invocation.

The same grid of CPU-bound points (8 runs of a DynPMNN of 32 neurons, ~4 s each) is swept three
times into fresh folders, interleaved over --rounds rounds:
  one      one process, --jobs 1
  jobs     one process, --jobs K
  ranks    mpirun -np K, --jobs 1 per rank
and the medians give the speed-ups of `jobs` and `ranks` over `one`, and their ratio (the issue's
target: ranks' speed-up >= 0.95 x jobs' speed-up). Results go to stdout and, with --json, to a file
that records the commit, machine, date and command.

  bench/bench_mpi_sweep.py [--ranks 2] [--rounds 3] [--json docs/cluster/sweep-scaling.json]
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpi_bench import mpi_bench_args, mpirun_prefix, single_thread_env  # noqa: E402
from provenance import write_result  # noqa: E402

GRID = """preset = "wide-california"
seeds = [0, 1, 2, 3]
[base]
neurons = 32
epochs = 10
patience = 0
t_end = 4.0
[grid]
dt = [0.1, 0.2]
"""


def timed(cmd, env):
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench_mpi_sweep: {' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return seconds


def main():
    args = mpi_bench_args(__doc__)
    env = single_thread_env()
    k = args.ranks
    times = {"one": [], "jobs": [], "ranks": []}
    with tempfile.TemporaryDirectory() as tmp:
        grid = os.path.join(tmp, "grid.toml")
        with open(grid, "w") as f:
            f.write(GRID)
        sweep = [args.binary, "sweep", grid, "--device", "cpu"]
        for r in range(args.rounds):
            for name, cmd in (
                    ("one", sweep + ["--jobs", "1"]),
                    ("jobs", sweep + ["--jobs", str(k)]),
                    ("ranks", mpirun_prefix(args.mpirun, k) + sweep + ["--jobs", "1"])):
                out = os.path.join(tmp, f"{name}-{r}")
                times[name].append(timed(cmd + ["--out", out], env))
    med = {name: statistics.median(v) for name, v in times.items()}
    result = {"ranks": k, "rounds": args.rounds, "runs": 8, "seconds": times, "median_s": med,
              "speedup_jobs": med["one"] / med["jobs"], "speedup_ranks": med["one"] / med["ranks"],
              "ranks_over_jobs": (med["one"] / med["ranks"]) / (med["one"] / med["jobs"])}
    print(f"one process --jobs 1: {med['one']:.2f} s; --jobs {k}: {med['jobs']:.2f} s "
          f"(x{result['speedup_jobs']:.2f}); {k} ranks: {med['ranks']:.2f} s (x{result['speedup_ranks']:.2f}); "
          f"ranks / jobs speed-up {result['ranks_over_jobs']:.3f}")
    if args.json:
        write_result(args.json, result, "bench/bench_mpi_sweep.py", sys.argv[1:])


if __name__ == "__main__":
    main()
