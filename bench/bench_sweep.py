#!/usr/bin/env python3
"""Sweep benchmark (issue 11): a grid trained with populations against the same points one at a time,
in one invocation, with runs per second and the ratio.

  bench/bench_sweep.py --device cpu  [--subset cpu64]            # the CPU target: 64 points, auto vs off
  bench/bench_sweep.py --device cuda --grid paper-full [--jobs 1,16,1:layers,16:layers]

Stages (each its own `dynpmnn sweep` in a fresh folder, timed by the wall clock around it):
  populations  the points with --population auto (--jobs J_pop), measured in full
  alone        a fixed subset of them (--subset: every point, or the named subset, which holds the
               grid's longest points) with --population off at each --jobs value; the best is the
               one-at-a-time figure. On cuda a lone run of the paper's model is a fused population of
               one; J:layers times it with DYNPMNN_FUSED=0, the layer-by-layer CUDA backend. Where the subset is not the whole grid, the one-at-a-time time of
               the whole grid is extrapolated: each point's time alone is fitted as
               a * epochs * minibatches + b * epochs * minibatches * steps (least squares over the
               subset's points, their epochs as they ran), summed over the whole grid with each point's
               epochs from the population run, and divided by the best --jobs (the JSON says so).
Both stages' rows must agree (status, epochs, best epoch and the metrics, to the digit on the CPU; on
the GPU a population member is not bit for bit its lone run, and only the agreement is reported).

Writes one JSON (--json) with provenance and every figure; prints a short table.
"""
import argparse
import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from provenance import write_result  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Named subsets of the paper's full grid (paper-full, paper-full-imex): axis values to keep.
SUBSETS = {
    # The CPU target: 64 points (2 dt x 2 t_end x 4 batch sizes x 4 learning rates), 5 to 50 steps,
    # time steps at which the paper's explicit Euler trains rather than diverging at once (dt 5 and
    # 20 do), so that the points train for their epochs and the comparison is of training.
    "cpu64": {"dt": ["1", "2"], "t_end": ["10", "50"], "batch_size": ["32", "64", "128", "256"],
              "lr": ["0.0001", "0.001", "0.01", "0.1"]},
    # The one-at-a-time sample of the full grid on a GPU: the longest points (dt 1, t_end 10000, the
    # sequential floor at batch 32) and short ones, every batch size, three learning rates: 48 points.
    "gpu48": {"dt": ["1", "20"], "t_end": ["100", "10000"], "batch_size": ["32", "64", "128", "256"],
              "lr": ["0.0001", "0.001", "0.01"]},
}


def grid_file(name):
    return os.path.join(ROOT, "models", "presets", "sweeps", name + "-grid.toml")


def read_grid(path):
    """The grid file's lines before [grid], and its axes as {key: [values as text]} (one line each)."""
    head, axes, in_grid = [], {}, False
    with open(path) as f:
        for line in f:
            stripped = line.strip()
            if stripped == "[grid]":
                in_grid = True
                continue
            if in_grid and "=" in stripped and not stripped.startswith("#"):
                key, values = stripped.split("=", 1)
                axes[key.strip()] = [v.strip() for v in values.strip().strip("[]").split(",")]
            elif not in_grid:
                head.append(line)
    return head, axes


def write_grid(path, head, axes, base_extra):
    """The grid file again, with base_extra's "key = value" lines in [base] (replacing the key's own)."""
    replaced = {line.split("=", 1)[0].strip() for line in base_extra}
    head = [line for line in head if line.split("=", 1)[0].strip() not in replaced or line.lstrip().startswith("#")]
    with open(path, "w") as f:
        f.writelines(head)
        for line in base_extra:
            f.write(line + "\n")
        f.write("[grid]\n")
        for key, values in axes.items():
            f.write(f"{key} = [{', '.join(values)}]\n")


def subset_axes(axes, subset):
    if subset == "all":
        return axes
    keep = SUBSETS[subset]
    out = {}
    for key, values in axes.items():
        if key in keep:
            chosen = [v for v in values if float(v) in {float(k) for k in keep[key]}]
            if len(chosen) != len(keep[key]):
                sys.exit(f"bench_sweep: subset {subset}: {key} values {keep[key]} not all in the grid's {values}")
            out[key] = chosen
        else:
            out[key] = values
    return out


def sweep(binary, grid, out, device, population, jobs, data, env):
    cmd = [binary, "sweep", grid, "--device", device, "--out", out, "--population", population, "--jobs", str(jobs)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    with open(os.path.join(out, "results.csv")) as f:
        rows = {r["run"]: r for r in csv.DictReader(f)}
    return seconds, summary, rows


def comparable(row):
    return {k: v for k, v in row.items() if k != "epoch_seconds"}


def trained(rows):
    return {k: r for k, r in rows.items() if not r["status"].startswith("skipped")}


def point_features(row, train_rows):
    """(epochs x minibatches, epochs x minibatches x steps) of a finished row."""
    epochs = int(row["epochs"] or 0)
    batch = int(float(row["batch_size"]))
    steps = round(float(row["t_end"]) / float(row["dt"]))
    minibatches = math.ceil(train_rows / batch)
    return epochs * minibatches, epochs * minibatches * steps


def fit_two(xs, ys):
    """Least squares y = a x0 + b x1 (no intercept), a and b >= 0."""
    s00 = sum(x[0] * x[0] for x in xs)
    s01 = sum(x[0] * x[1] for x in xs)
    s11 = sum(x[1] * x[1] for x in xs)
    t0 = sum(x[0] * y for x, y in zip(xs, ys))
    t1 = sum(x[1] * y for x, y in zip(xs, ys))
    det = s00 * s11 - s01 * s01
    if det <= 0:
        return (t0 / s00 if s00 else 0.0), 0.0
    a = (t0 * s11 - t1 * s01) / det
    b = (s00 * t1 - s01 * t0) / det
    if a < 0:
        return 0.0, t1 / s11
    if b < 0:
        return t0 / s00, 0.0
    return a, b


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--grid", default="paper-full", help="a preset grid (models/presets/sweeps/NAME-grid.toml)")
    ap.add_argument("--points", default=None,
                    help="the points the population stage trains: 'all', or a subset name (default: cpu64 on the "
                         "CPU, all on cuda)")
    ap.add_argument("--subset", default=None,
                    help="the points trained one at a time: a subset name or 'all' (default: the --points)")
    ap.add_argument("--epochs", type=int, default=None, help="override the grid's epochs (quick checks)")
    ap.add_argument("--jobs", default=None,
                    help="--jobs values of the one-at-a-time stage (default: 1,<cores>); J:layers runs it with "
                         "DYNPMNN_FUSED=0, the layer-by-layer CUDA backend instead of a fused population of one")
    ap.add_argument("--pop-jobs", type=int, default=None, help="--jobs of the population stage (default: the cores)")
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "dynpmnn"))
    ap.add_argument("--data", default=None, help="cal_housing.data (default: the binary's look-up)")
    ap.add_argument("--train-rows", type=int, default=14448, help="training rows (California's paper split)")
    ap.add_argument("--keep", default=None, help="keep the sweep folders here")
    ap.add_argument("--repeats", type=int, default=1, help="interleaved repeats of every stage (medians reported)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--print-json", action="store_true", help="also print the result as one JSON line")
    args = ap.parse_args()

    cores = os.cpu_count() or 1
    points = args.points or ("cpu64" if args.device == "cpu" else "all")
    subset = args.subset or points
    # Each one-at-a-time configuration: its label, --jobs and environment.
    alone_cfgs = []
    for item in (args.jobs or f"1,{cores}").split(","):
        j, _, kernel = item.partition(":")
        alone_cfgs.append({"label": item, "jobs": int(j), "kernel": kernel or "default",
                           "env": {"DYNPMNN_FUSED": "0"} if kernel == "layers" else {}})
    jobs_list = [c["label"] for c in alone_cfgs]
    pop_jobs = args.pop_jobs or cores
    head, axes = read_grid(grid_file(args.grid))
    extra = []
    if args.data:
        extra.append(f'data = "{os.path.abspath(args.data)}"')
    if args.epochs is not None:
        extra.append(f"epochs = {args.epochs}")
    if extra:
        if not any(line.strip() == "[base]" for line in head):
            head.append("[base]\n")
    work = args.keep or tempfile.mkdtemp(prefix="bench_sweep.")
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")

    pop_grid = os.path.join(work, "points.toml")
    write_grid(pop_grid, head, subset_axes(axes, points), extra)
    alone_grid = os.path.join(work, "alone.toml")
    write_grid(alone_grid, head, subset_axes(axes, subset), extra)
    # Repeats interleave the stages (populations, then each --jobs alone, again), each in a fresh
    # folder, so that a machine's drift falls on both; the medians are reported.
    pop_times, alone_times = [], {j: [] for j in jobs_list}
    alone_last = {}
    for r in range(args.repeats):
        out = os.path.join(work, f"populations-{r}")
        s_pop, pop_summary, pop_rows = sweep(args.binary, pop_grid, out, args.device, "auto", pop_jobs, args.data, env)
        pop_times.append(s_pop)
        if r + 1 < args.repeats and not args.keep:
            shutil.rmtree(out, ignore_errors=True)
        for c in alone_cfgs:
            jobs = c["label"]
            out = os.path.join(work, f"alone-j{jobs.replace(':', '-')}-{r}")
            s_alone, summary, rows = sweep(args.binary, alone_grid, out, args.device, "off", c["jobs"], args.data,
                                           dict(env, **c["env"]))
            alone_times[jobs].append(s_alone)
            alone_last[jobs] = rows
            if not args.keep:
                shutil.rmtree(out, ignore_errors=True)
    pop_s = statistics.median(pop_times)
    n_pop = len(trained(pop_rows))
    result = {"device": args.device, "grid": args.grid, "points": points, "points_total": len(pop_rows),
              "points_trained": n_pop, "repeats": args.repeats,
              "populations": {"jobs": pop_jobs, "seconds": pop_s, "seconds_each": pop_times,
                              "runs_per_second": n_pop / pop_s, "summary": pop_summary}}
    alone = []
    for c in alone_cfgs:
        jobs = c["label"]
        rows = alone_last[jobs]
        s_alone = statistics.median(alone_times[jobs])
        agree = sum(1 for k, r in rows.items() if k in pop_rows and comparable(r) == comparable(pop_rows[k]))
        alone.append({"jobs": c["jobs"], "kernel": c["kernel"], "label": jobs, "seconds": s_alone, "seconds_each": alone_times[jobs],
                      "points_trained": len(trained(rows)), "runs_per_second": len(trained(rows)) / s_alone,
                      "rows_equal_to_population_rows": agree, "rows": len(rows),
                      "per_point_seconds": {k: float(r["epoch_seconds"] or 0) * int(r["epochs"] or 0)
                                            for k, r in trained(rows).items()}})
    best = min(alone, key=lambda a: a["seconds"])
    result["alone"] = [{k: v for k, v in a.items() if k != "per_point_seconds"} for a in alone]
    result["alone_best_jobs"] = best["jobs"]
    result["alone_best"] = best["label"]
    if subset == points:
        result["alone_full_seconds"] = best["seconds"]
        result["alone_full_method"] = "measured: the same points one at a time"
    else:
        # Per point alone, with --jobs 1 where measured (its training seconds as final.json has them).
        one = next((a for a in alone if a["jobs"] == 1 and a["kernel"] == best["kernel"]), best)
        xs, ys = [], []
        for k, sec in one["per_point_seconds"].items():
            xs.append(point_features(pop_rows.get(k) or {}, args.train_rows) if k in pop_rows else (0, 0))
            ys.append(sec)
        a, b = fit_two(xs, ys)
        total = sum(a * f[0] + b * f[1] for f in (point_features(r, args.train_rows)
                                                 for r in trained(pop_rows).values()))
        overhead = best["seconds"] / max(1e-9, sum(ys) / max(1, best["jobs"]))
        result["alone_full_seconds"] = total / best["jobs"] * overhead
        result["alone_full_method"] = (
            f"extrapolated from the {subset} subset: time alone per point fitted as a*epochs*minibatches + "
            f"b*epochs*minibatches*steps (a = {a:.3g} s, b = {b:.3g} s; --jobs 1 training seconds), summed over "
            f"the population run's {n_pop} trained points with their epochs, divided by the best --jobs "
            f"({best['jobs']}) and multiplied by that run's measured wall/training-time ratio ({overhead:.3f})")
    result["speedup_vs_best_alone"] = result["alone_full_seconds"] / pop_s
    result["epochs"] = args.epochs
    write_result(args.json, result, "bench/bench_sweep.py", sys.argv[1:]) if args.json else None
    if args.print_json:
        print(json.dumps(result))
    print(f"populations: {n_pop} points in {pop_s:.1f} s ({n_pop / pop_s:.2f} runs/s, --jobs {pop_jobs})")
    for a in alone:
        print(f"alone --jobs {a['label']}: {a['points_trained']} points in {a['seconds']:.1f} s "
              f"({a['runs_per_second']:.2f} runs/s); rows equal to the population's: "
              f"{a['rows_equal_to_population_rows']}/{a['rows']}")
    print(f"one at a time, whole: {result['alone_full_seconds']:.1f} s ({result['alone_full_method']})")
    print(f"ratio: {result['speedup_vs_best_alone']:.2f}x")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
