#!/usr/bin/env python3
"""The grid report of the paper's full grid, both presets, in one command (issue 11): each grid swept
(with populations, resumable: rerunning continues an interrupted sweep) and `dynpmnn report` over
both, the top runs by validation MSE and a heatmap of the best validation MSE over dt x t_end.

  bench/grid_report.py --device cuda                          # the full grids (2 x 2304 points)
  bench/grid_report.py --device cpu --points report           # a CPU-sized subset, named in the report

--points report: every dt and every t_end up to 1000, batch size 256, learning rates 1e-3 and 1e-2
(112 points per preset); 'all': the whole grid. The sweeps go to --sweeps (default sweeps/), the
report to --doc (default docs/grid-report.md, its figures and data in docs/grid-report/).
"""
import argparse
import os
import subprocess
import time
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_sweep import ROOT, SUBSETS, grid_file, read_grid, subset_axes, write_grid  # noqa: E402
from provenance import write_result  # noqa: E402

SUBSETS = dict(SUBSETS, report={"t_end": ["10", "20", "50", "100", "200", "500", "1000"], "batch_size": ["256"],
                                "lr": ["0.001", "0.01"]})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--points", default="all", help="'all' or a subset name (report)")
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "dynpmnn"))
    ap.add_argument("--data", default=None, help="cal_housing.data (default: the binary's look-up)")
    ap.add_argument("--sweeps", default="sweeps", help="folder of the two sweeps")
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "grid-report.md"))
    ap.add_argument("--grids", default="paper-full,paper-full-imex",
                    help="the presets to sweep and report (the device check times each in its own stage)")
    args = ap.parse_args()

    import bench_sweep
    bench_sweep.SUBSETS.update(SUBSETS)
    os.makedirs(args.sweeps, exist_ok=True)
    folders, seconds = [], {}
    for grid in args.grids.split(","):
        name = grid if args.points == "all" else f"{grid}-{args.points}"
        head, axes = read_grid(grid_file(grid))
        extra = [f'data = "{os.path.abspath(args.data)}"'] if args.data else []
        if extra and not any(line.strip() == "[base]" for line in head):
            head.append("[base]\n")
        path = os.path.join(args.sweeps, name + ".toml")
        write_grid(path, head, subset_axes(axes, args.points), extra)
        out = os.path.join(args.sweeps, name)
        cmd = [args.binary, "sweep", path, "--device", args.device, "--out", out]
        if args.jobs:
            cmd += ["--jobs", str(args.jobs)]
        print(" ".join(cmd), flush=True)
        t0 = time.monotonic()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        # The sweep's wall time as this command ran it (a rerun over finished runs only reads them back).
        seconds[name] = round(time.monotonic() - t0, 1)
        print(f"{name}: {seconds[name]} s", flush=True)
        folders.append(out)
    what = ("the whole of each grid" if args.points == "all" else
            f"the subset `{args.points}` of each grid: " + ", ".join(f"{k} in {{{', '.join(v)}}}"
                                                              for k, v in SUBSETS[args.points].items()) +
            ", every other axis whole")
    note = (f"Points: {what}. Regenerate: `bench/grid_report.py {' '.join(sys.argv[1:])}` "
            f"(the sweeps on --device {args.device}, with populations; rerunning continues them).")
    subprocess.run([args.binary, "report", *folders, "--doc", args.doc, "--note", note], check=True)
    # What trained the sweeps behind the figures: commit, machine, date and this command.
    summaries = {}
    for out in folders:
        import csv
        with open(os.path.join(out, "results.csv")) as f:
            rows = list(csv.DictReader(f))
        summaries[os.path.basename(out)] = {s: sum(1 for r in rows if r["status"] == s)
                                            for s in ("ok", "early_stopped", "diverged")}
        summaries[os.path.basename(out)]["skipped"] = sum(1 for r in rows if r["status"].startswith("skipped"))
    assets = os.path.join(os.path.dirname(args.doc), os.path.splitext(os.path.basename(args.doc))[0])
    write_result(os.path.join(assets, "provenance.json"), {"points": args.points, "device": args.device,
                                                           "sweeps": summaries, "sweep_seconds": seconds},
                 "bench/grid_report.py", sys.argv[1:])


if __name__ == "__main__":
    main()
