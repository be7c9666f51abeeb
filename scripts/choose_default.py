#!/usr/bin/env python3
"""Chooses the default model (models/presets/default.toml) on the validation splits of every data
set at hand, with the CLI on the CPU, and writes one row per candidate and data set.

    scripts/choose_default.py --bin build/dynpmnn --work /tmp/defaults [--epochs 25] [--jobs 2]
                              [--out docs/defaults/validation.csv] [--test CANDIDATE]

Data sets, written as CSV files under WORK/data (never into the repository):
  california   cal_housing.data with scikit-learn's 8 derived features and MedHouseVal ($100k)
               ($DYNPMNN_DATA, else ../shared/data/ beside the repo, else data/cache/)
  synthetic    scripts/make_synthetic_regression.py: a target of mean ~390 and std ~70
  diabetes     scikit-learn's diabetes (raw features, target 25..346)
  iris, wine, breast_cancer   the classification sets scikit-learn bundles
                              (Debian's python3-sklearn: /usr/lib/python3/dist-packages/sklearn/datasets/data/)
A data set whose source is missing is skipped and said so.

Every candidate trains on every data set with the same budget: --epochs epochs (early stopping
with patience 10 and min_delta 0, the default's rule), seed 0, the CSV split 0.7/0.15/0.15 of
split_seed 42. The score of a run is its validation R^2 (regression, from `dynpmnn eval --split
val`) or validation accuracy (classification, ties by validation cross-entropy); candidates are
ranked per data set and the one with the best mean rank is chosen (ties: fewer parameters). Only
validation figures are read for the choice: train prints test metrics too, but this script records
test figures only for the candidate given with --test, once it has been chosen.

Plain Python; the CSV's header lines record the commit, machine, date and command.
"""
import argparse
import concurrent.futures
import csv
import datetime
import gzip
import json
import math
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKLEARN_DATA = "/usr/lib/python3/dist-packages/sklearn/datasets/data"

# Training shared by every candidate: the default's (models/presets/default.toml).
COMMON = ["model=dynpmnn", "target_scaling=standard", "batch_size=32", "weight_decay=5e-3", "patience=10", "min_delta=0",
          "layernorm=true", "activation=silu", "dt=0.1", "t_end=2", "clip=0"]

# Shapes known to train on California Housing (best-california, wide-california), explicit Euler
# and the semi-implicit scheme, one and two layers, and one learning rate step.
CANDIDATES = {
    "best-euler": ["layers=2", "neurons=44", "coupling=current", "integrator=euler", "lr=5e-4"],
    "best-imex": ["layers=2", "neurons=44", "coupling=current", "integrator=imex", "lr=5e-4"],
    "best-imex-lr1e-3": ["layers=2", "neurons=44", "coupling=current", "integrator=imex", "lr=1e-3"],
    "wide-initial-euler": ["layers=1", "neurons=64", "coupling=initial", "integrator=euler", "lr=5e-4"],
    "wide-current-imex": ["layers=1", "neurons=64", "coupling=current", "integrator=imex", "lr=5e-4"],
}

CALIFORNIA_FEATURES = ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude",
                       "Longitude"]


def write_california(out):
    candidates = [os.environ.get("DYNPMNN_DATA", ""), os.path.join(ROOT, "..", "shared", "data", "cal_housing.data"),
                  os.path.join(ROOT, "data", "cache", "cal_housing.data")]
    src = next((c for c in candidates if c and os.path.isfile(c)), None)
    if src is None:
        return "no cal_housing.data"
    with open(src) as f, open(out, "w") as g:
        g.write(",".join(CALIFORNIA_FEATURES + ["MedHouseVal"]) + "\n")
        for line in f:
            lon, lat, age, rooms, bedrooms, pop, households, income, value = map(float, line.split(","))
            row = [income, age, rooms / households, bedrooms / households, pop, pop / households, lat, lon,
                   value / 100000.0]
            g.write(",".join(repr(v) for v in row) + "\n")
    return None


def write_sklearn_classes(name, out):
    src = os.path.join(SKLEARN_DATA, name + ".csv")
    if not os.path.isfile(src):
        return f"no {src} (apt-get install python3-sklearn)"
    with open(src) as f, open(out, "w") as g:
        first = f.readline().strip().split(",")
        features = int(first[1])
        labels = first[2:]
        g.write(",".join([f"f{j}" for j in range(features)] + ["class"]) + "\n")
        for line in f:
            fields = line.strip().split(",")
            if len(fields) != features + 1:
                continue
            g.write(",".join(fields[:features] + [labels[int(fields[features])]]) + "\n")
    return None


def write_diabetes(out):
    x, y = os.path.join(SKLEARN_DATA, "diabetes_data_raw.csv.gz"), os.path.join(SKLEARN_DATA, "diabetes_target.csv.gz")
    if not (os.path.isfile(x) and os.path.isfile(y)):
        return f"no {x} (apt-get install python3-sklearn)"
    names = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    with gzip.open(x, "rt") as fx, gzip.open(y, "rt") as fy, open(out, "w") as g:
        g.write(",".join(names + ["progression"]) + "\n")
        for row, target in zip(fx, fy):
            g.write(",".join(row.split() + [repr(float(target))]) + "\n")
    return None


def prepare(work):
    data = os.path.join(work, "data")
    os.makedirs(data, exist_ok=True)
    sets, skipped = [], []

    def add(name, target, task, why):
        if why is None:
            sets.append((name, os.path.join(data, name + ".csv"), target, task))
        else:
            skipped.append(f"{name}: {why}")

    add("california", "MedHouseVal", "regression", write_california(os.path.join(data, "california.csv")))
    synthetic = os.path.join(data, "synthetic.csv")
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make_synthetic_regression.py"), synthetic],
                   check=True)
    add("synthetic", "y", "regression", None)
    add("diabetes", "progression", "regression", write_diabetes(os.path.join(data, "diabetes.csv")))
    for name in ["iris", "wine_data", "breast_cancer"]:
        short = name.replace("_data", "")
        add(short, "class", "classification", write_sklearn_classes(name, os.path.join(data, short + ".csv")))
    return sets, skipped


def train_command(args, candidate, data_set):
    name, path, target, task = data_set
    out = os.path.join(args.work, "runs", candidate, name)
    sets = [a for s in COMMON + CANDIDATES[candidate] for a in ("--set", s)]
    return out, [args.bin, "train", "--data", path, "--target", target, "--task", task, "--epochs",
                 str(args.epochs), "--seed", "0", "--device", "cpu", "--quiet", "--out", out] + sets


def run_one(args, candidate, data_set):
    name, _, _, task = data_set
    out, cmd = train_command(args, candidate, data_set)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    final = os.path.join(out, "final.json")
    if not os.path.isfile(final):  # rerunning the script continues where it stopped
        subprocess.run(["rm", "-rf", out], check=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode not in (0, 3):
            raise RuntimeError(f"{' '.join(cmd)}: exit {proc.returncode}\n{proc.stderr}")
    with open(final) as f:
        summary = json.load(f)
    row = {"candidate": candidate, "dataset": name, "task": task, "status": summary["status"],
           "epochs": summary["epochs"], "best_epoch": summary["best_epoch"], "params": summary["params"],
           "epoch_seconds": round(summary["epoch_seconds"], 3)}
    if task == "classification":
        row.update(val_accuracy=summary["val_accuracy"], val_f1=summary["val_f1"], val_loss=summary["val_loss"])
        row["score"] = summary["val_accuracy"]
    else:
        ev = subprocess.run([args.bin, "eval", out, "--split", "val", "--device", "cpu"], capture_output=True,
                            text=True, env=env, check=True)
        val = json.loads(ev.stdout.strip().splitlines()[-1])
        row.update(val_rmse=val["rmse"], val_mae=val["mae"], val_r2=val["r2"])
        row["score"] = val["r2"] if math.isfinite(val["r2"]) else -math.inf
    row["command"] = " ".join(cmd[:1] + [c if " " not in c else repr(c) for c in cmd[1:]]).replace(args.work,
                                                                                                      "$WORK")
    if args.test == candidate:
        if task == "classification":
            row.update(test_accuracy=summary["test_accuracy"], test_f1=summary["test_f1"])
        else:
            row.update(test_rmse=summary["test_rmse"], test_mae=summary["test_mae"], test_r2=summary["test_r2"])
    return row


def git(*args):
    try:
        return subprocess.run(["git", "-C", ROOT] + list(args), capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "dynpmnn"))
    parser.add_argument("--work", required=True, help="folder for the data files and run folders (not the repo)")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "defaults", "validation.csv"))
    parser.add_argument("--test", default="", help="the chosen candidate: record its test figures too")
    parser.add_argument("--only", default="", help="comma-separated candidates (default: all)")
    args = parser.parse_args()
    args.work = os.path.abspath(args.work)
    if args.test and args.test not in CANDIDATES:
        parser.error(f"--test {args.test}: not a candidate ({', '.join(CANDIDATES)})")
    names = args.only.split(",") if args.only else list(CANDIDATES)

    sets, skipped = prepare(args.work)
    for s in skipped:
        print(f"choose_default: skipped {s}", file=sys.stderr)
    jobs = [(c, d) for d in sets for c in names]
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda job: run_one(args, *job), jobs))

    # Rank per data set (1 = best score; classification ties by lower val_loss), then the mean.
    ranks = {c: [] for c in names}
    for name, _, _, _ in sets:
        these = [r for r in rows if r["dataset"] == name]
        these.sort(key=lambda r: (-r["score"], r.get("val_loss", 0.0)))
        for i, r in enumerate(these):
            r["rank"] = i + 1
            ranks[r["candidate"]].append(i + 1)
    params = {r["candidate"]: r["params"] for r in rows if r["dataset"] == sets[0][0]}
    mean_rank = {c: sum(v) / len(v) for c, v in ranks.items()}
    order = sorted(names, key=lambda c: (mean_rank[c], params.get(c, 0)))

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    columns = ["candidate", "dataset", "task", "rank", "val_r2", "val_rmse", "val_mae", "val_accuracy", "val_f1",
               "val_loss", "status", "epochs", "best_epoch", "params", "epoch_seconds", "test_r2", "test_rmse",
               "test_mae", "test_accuracy", "test_f1", "command"]
    with open(args.out, "w", newline="") as f:
        f.write(f"# commit: {git('rev-parse', 'HEAD')}{' (with uncommitted changes)' if git('status', '--porcelain', '--untracked-files=no') else ''}\n")
        f.write(f"# machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
                f"{platform.platform()}\n")
        f.write(f"# date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}\n")
        f.write(f"# command: scripts/choose_default.py {' '.join(sys.argv[1:])}\n".replace(args.work, "$WORK"))
        f.write(f"# common keys: {' '.join(COMMON)}\n")
        for c in names:
            f.write(f"# candidate {c}: {' '.join(CANDIDATES[c])}; mean validation rank {mean_rank[c]:.2f}\n")
        f.write(f"# chosen on validation (best mean rank, ties: fewer parameters): {order[0]}\n")
        for s in skipped:
            f.write(f"# skipped {s}\n")
        w = csv.DictWriter(f, columns, extrasaction="ignore")
        w.writeheader()
        for r in sorted(rows, key=lambda r: ([s[0] for s in sets].index(r["dataset"]), r["rank"])):
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    for c in order:
        print(f"{c:20s} mean rank {mean_rank[c]:.2f}  ranks {ranks[c]}")
    print(f"chosen on validation: {order[0]}; wrote {args.out}")
    # The table of docs/defaults.md: validation R^2 (regression) or accuracy (classification), rank.
    print("\n| candidate | " + " | ".join(f"{s[0]} (val {'R²' if s[3] == 'regression' else 'acc.'})" for s in sets)
          + " | mean rank |")
    print("|---" * (len(sets) + 2) + "|")
    cell = {(r["candidate"], r["dataset"]): r for r in rows}
    for c in order:
        cells = [f"{cell[c, s[0]]['score']:.3f} ({cell[c, s[0]]['rank']})" for s in sets]
        print(f"| {c} | " + " | ".join(cells) + f" | {mean_rank[c]:.2f} |")


if __name__ == "__main__":
    main()
