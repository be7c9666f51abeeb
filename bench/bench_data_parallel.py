#!/usr/bin/env python3
"""When data-parallel training pays on CPUs: one process against `mpirun -np K train --data-parallel`.

For each model (the paper's 1-neuron model; wide-california at several widths) and batch size,
trains the same run three ways, interleaved over --rounds rounds, and reads each run's mean epoch
time (final.json's epoch_seconds, the training pass alone):
  one      one process, the minibatch whole (data_shards = 1): what data parallelism must beat
  sharded  one process, data_shards = K (the ranks' arithmetic on one core: the cost of the cut)
  ranks    mpirun -np K ... --data-parallel (one core each)
The per-step exchange is what the ranks add: each step gathers K x (P + 2) doubles (P the model's
parameters) with MPI_Allgather. The medians give the speed-up of the ranks per configuration; the
break-even is the smallest model where it exceeds 1. Results go to stdout and, with --json, to a file
that records the commit, machine, date and command.

  bench/bench_data_parallel.py [--ranks 2] [--rounds 3] [--json docs/cluster/data-parallel.json]
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mpi_bench import mpi_bench_args, mpirun_prefix, single_thread_env  # noqa: E402
from provenance import write_result  # noqa: E402

TRAIN_ROWS = 14448  # California Housing's paper split

# (label, preset, extra keys): the paper's model, then the wide model at growing widths.
MODELS = [("paper (1 neuron, imex, 25 steps)", "paper-california-stable", [])] + [
    (f"wide {n} neurons (20 steps)", "wide-california", [f"neurons={n}"]) for n in (8, 32, 64, 128, 256)]
BATCHES = (32, 256)


def epoch_seconds(cmd, env, out):
    proc = subprocess.run(cmd + ["--out", out], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"bench_data_parallel: {' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    with open(os.path.join(out, "final.json")) as f:
        final = json.load(f)
    return final["epoch_seconds"], final["params"]


def main():
    args = mpi_bench_args(__doc__, epochs=2)
    env = single_thread_env()
    k = args.ranks
    mpirun = mpirun_prefix(args.mpirun, k)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, preset, keys in MODELS:
            for batch in BATCHES:
                sets = []
                for kv in keys + [f"batch_size={batch}", f"epochs={args.epochs}", "patience=0"]:
                    sets += ["--set", kv]
                train = [args.binary, "train", "--preset", preset, "--device", "cpu", "-q"] + sets
                times = {"one": [], "sharded": [], "ranks": []}
                params = 0
                for r in range(args.rounds):
                    for name, cmd in (("one", train), ("sharded", train + ["--set", f"data_shards={k}"]),
                                      ("ranks", mpirun + train + ["--data-parallel"])):
                        s, params = epoch_seconds(cmd, env, os.path.join(tmp, f"{len(rows)}-{name}-{r}"))
                        times[name].append(s)
                med = {name: statistics.median(v) for name, v in times.items()}
                steps = -(-TRAIN_ROWS // batch)
                row = {"model": label, "preset": preset, "keys": keys, "batch_size": batch, "params": params,
                       "steps_per_epoch": steps, "epoch_seconds": times, "median_epoch_s": med,
                       "step_us_one": 1e6 * med["one"] / steps, "step_us_sharded": 1e6 * med["sharded"] / steps,
                       "step_us_ranks": 1e6 * med["ranks"] / steps,
                       "gather_bytes_per_step": k * (params + 2) * 8, "speedup": med["one"] / med["ranks"]}
                rows.append(row)
                print(f"{label:34s} batch {batch:4d} P {params:6d}: one {row['step_us_one']:9.1f} us/step, "
                      f"sharded {row['step_us_sharded']:9.1f}, {k} ranks {row['step_us_ranks']:9.1f}, "
                      f"speed-up x{row['speedup']:.2f}", flush=True)
    result = {"ranks": k, "rounds": args.rounds, "epochs": args.epochs, "rows": rows}
    for batch in BATCHES:
        paying = [r for r in rows if r["batch_size"] == batch and r["speedup"] > 1.0]
        result[f"break_even_batch{batch}"] = min(paying, key=lambda r: r["params"])["model"] if paying else None
    if args.json:
        write_result(args.json, result, "bench/bench_data_parallel.py", sys.argv[1:])


if __name__ == "__main__":
    main()
