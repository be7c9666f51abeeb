#!/usr/bin/env python3
"""Old tree against new tree, same machine, same call: is our own speed unchanged (within 3 %)?

  bench/old_new.py build REV DIR [CMAKE_ARGS...]
      The tree of commit REV (git archive, so the repository is not touched) into DIR/src, configured
      with CMAKE_ARGS (the caller's own, so both trees are built alike; tests off) into DIR/build.
  bench/old_new.py time --old OLD_BUILD --new NEW_BUILD [--rounds 3] [--device cuda] [--epochs 8]
                        [--configs paper-clip] [--repeats 50] [--data FILE] [--json OUT.jsonl] [--md OUT.md]
      Interleaved, round after round (old, then new): bench_fhn on its wide shape (the median of
      --repeats repeats, with and without the parameter gradients) and the training benchmark of
      bench/bench_train.py (the median epoch of `dynpmnn train` on each --configs configuration).
      Then the median over the rounds of each side, new / old, and a verdict: "within 3 %" when
      |new / old - 1| <= 0.03. One JSON line per row (stdout and --json), a markdown table (--md).
      Exits 0 when every row is within 3 %, 1 otherwise (slower, faster or not measured).

bench/device_check.sh runs both on the GPU machine (DEVICE_CHECK_BASE_REV, default 0f2afb4).
A benchmark that fails on one side shows as such in its row; the verdict then says so.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_train  # noqa: E402  (the training benchmark's own measurement, shared)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOLERANCE = 0.03


def build(rev, dest, cmake_args):
    src, bld = os.path.join(dest, "src"), os.path.join(dest, "build")
    os.makedirs(src, exist_ok=True)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--verify", rev + "^{commit}"], capture_output=True,
                            text=True)
    if commit.returncode != 0:
        sys.exit(f"old_new: {rev} is not a commit of this repository's .git ({commit.stderr.strip()})")
    print(f"old_new: building {rev} = {commit.stdout.strip()} in {bld}", flush=True)
    archive = subprocess.Popen(["git", "-C", ROOT, "archive", "--format=tar", commit.stdout.strip()],
                               stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", src], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        sys.exit("old_new: git archive failed")
    subprocess.run(["cmake", "-S", src, "-B", bld, *cmake_args, "-DDYNPMNN_BUILD_TESTS=OFF"], check=True)
    jobs = os.environ.get("DEVICE_CHECK_JOBS", str(os.cpu_count() or 2))
    subprocess.run(["cmake", "--build", bld, "-j", jobs], check=True)


def fhn_wide(build_dir, repeats):
    """{"fhn <shape>": ms_median} of bench_fhn's wide shape (with and without +params), or {"error": why}."""
    exe = os.path.join(build_dir, "bench", "bench_fhn")
    if not os.path.exists(exe):
        return {"error": f"{exe} not built"}
    proc = subprocess.run([exe, "--shapes", "wide", "--repeats", str(repeats)], capture_output=True, text=True)
    out = {}
    for line in proc.stdout.splitlines():
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if d.get("bench") == "fhn_layer_fwd_bwd" and d.get("valid"):
            out["fhn " + d["shape"]] = d["ms_median"]
    if proc.returncode != 0 or not out:
        return {"error": f"bench_fhn exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-300:]}"}
    return out


def train_epoch(build_dir, name, device, epochs, data, env):
    try:
        r = bench_train.ours(os.path.join(build_dir, "dynpmnn"), name, device, epochs, data, env)
    except (RuntimeError, OSError, ValueError, KeyError) as e:
        return {"error": str(e)[-300:]}
    return {f"train {name}": r["epoch_s_median"] * 1e3}


def time_both(args):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    samples = {"old": {}, "new": {}}  # side -> row -> [ms per round]
    errors = {"old": {}, "new": {}}
    builds = {"old": args.old, "new": args.new}
    configs = [c for c in args.configs.split(",") if c]

    def record(side, row_prefix, result):
        if "error" in result:
            errors[side][row_prefix] = result["error"]
            return
        for row, ms in result.items():
            samples[side].setdefault(row, []).append(ms)

    for r in range(1, args.rounds + 1):
        for side in ("old", "new"):
            if not args.skip_fhn:
                record(side, "fhn wide", fhn_wide(builds[side], args.repeats))
            for name in configs:
                record(side, f"train {name}", train_epoch(builds[side], name, args.device, args.epochs, args.data, env))
        print(f"old_new: round {r}/{args.rounds} done", file=sys.stderr, flush=True)

    rows = []
    names = list(dict.fromkeys(list(samples["old"]) + list(samples["new"]) +
                               list(errors["old"]) + list(errors["new"])))
    for row in names:
        old, new = samples["old"].get(row, []), samples["new"].get(row, [])
        d = {"bench": "old_new", "row": row, "unit": "ms (median)", "rounds": args.rounds,
             "old_ms": old, "new_ms": new}
        if len(old) == args.rounds and len(new) == args.rounds:
            d["old_median_ms"], d["new_median_ms"] = statistics.median(old), statistics.median(new)
            d["ratio_new_over_old"] = d["new_median_ms"] / d["old_median_ms"]
            change = d["ratio_new_over_old"] - 1
            d["verdict"] = ("within 3 %" if abs(change) <= TOLERANCE else
                            f"NOT within 3 %: new {'slower' if change > 0 else 'faster'} by {abs(change) * 100:.1f} %")
        else:
            why = "; ".join(f"{s}: {errors[s][k]}" for s in ("old", "new") for k in errors[s]
                            if row.startswith(k) or k.startswith(row))
            d["verdict"] = f"not measured ({why or 'missing rounds'})"
        rows.append(d)
    return rows


def markdown(rows, args):
    lines = [f"## Old tree against new tree ({args.rounds} rounds, interleaved old/new, device {args.device})", "",
             f"Old: `{args.old}`, new: `{args.new}`. bench_fhn: median of {args.repeats} repeats per run "
             f"(CUDA events); training: the median epoch of `dynpmnn train --epochs {args.epochs}` (bench_train.py's "
             "measurement). Each cell: the median over the rounds.", "",
             "| benchmark | old ms | new ms | new / old | verdict |", "| --- | --- | --- | --- | --- |"]
    for d in rows:
        if "ratio_new_over_old" in d:
            lines.append(f"| {d['row']} | {d['old_median_ms']:.4f} | {d['new_median_ms']:.4f} | "
                         f"{d['ratio_new_over_old']:.4f} | {d['verdict']} |")
        else:
            lines.append(f"| {d['row']} | | | | {d['verdict']} |")
    ok = rows and all(d["verdict"] == "within 3 %" for d in rows)
    lines += ["", f"Overall: {'within 3 %' if ok else 'NOT within 3 % (or not measured): see the rows'}.", ""]
    return "\n".join(lines)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "build":
        if len(sys.argv) < 4:
            sys.exit(__doc__)
        build(sys.argv[2], sys.argv[3], sys.argv[4:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["time"])
    ap.add_argument("--old", required=True, help="the old tree's build folder")
    ap.add_argument("--new", required=True, help="the new tree's build folder")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--configs", default="paper-clip", help="bench_train.py configurations, comma-separated")
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--skip-fhn", action="store_true", help="no bench_fhn (CPU builds have none)")
    ap.add_argument("--data", default=None)
    ap.add_argument("--json", default=None, help="append the rows as JSON lines to this file")
    ap.add_argument("--md", default=None, help="write the markdown table to this file")
    args = ap.parse_args()
    args.old, args.new = os.path.abspath(args.old), os.path.abspath(args.new)
    if args.rounds < 3:
        ap.error("--rounds must be at least 3")
    rows = time_both(args)
    for d in rows:
        print(json.dumps(d))
    if args.json:
        with open(args.json, "a") as f:
            for d in rows:
                f.write(json.dumps(d) + "\n")
    md = markdown(rows, args)
    if args.md:
        with open(args.md, "w") as f:
            f.write(md)
    print(md)
    ok = rows and all(d["verdict"] == "within 3 %" for d in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
