#!/usr/bin/env python3
"""End-to-end training benchmark: our trainer against the PyTorch peer, in one invocation.

Runs `dynpmnn train` and ../shared/peers/pmnn_torch.py on the same configuration, each
single-threaded on the CPU (OMP/OpenBLAS threads = 1) or on the GPU with --device cuda, and prints
epochs per second of both and the ratio. Results go to stdout as a table and, with --json, to a file.

  bench/bench_train.py [--device cpu|cuda] [--epochs 3] [--repeats 3] [--configs paper-clip,wide,wide256]
                       [--json out.json]

Each configuration runs `--repeats` times interleaved (ours, peer, ours, peer, ...), so that a slow
spell of the machine falls on both; a run's figure is its median epoch, and the table gives the
median over the repeats of each side and the ratio of those medians (the JSON keeps every run's).

Configurations (the paper's is timed with the authors' clip at 20, because without it both
implementations only compute NaN after the first step — ours stops there, the peer carries on):
  paper-clip  N=1, dt 20, t_end 500 (25 steps), batch 32, clip 20
  wide        N=64, dt 0.1, t_end 2 (20 steps), batch 32
  wide256     N=256, dt 0.1, t_end 2 (20 steps), batch 32: where our cost (N·T per sample) has grown
              and the peer's per-op overhead no longer hides its own
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from provenance import provenance  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = {
    "paper-clip": {"neurons": 1, "dt": 20.0, "t_end": 500.0, "batch_size": 32, "clip": 20.0},
    "wide": {"neurons": 64, "dt": 0.1, "t_end": 2.0, "batch_size": 32, "clip": None},
    "wide256": {"neurons": 256, "dt": 0.1, "t_end": 2.0, "batch_size": 32, "clip": None},
}


def find_peer():
    for p in (os.path.join(ROOT, "..", "shared", "peers", "pmnn_torch.py"),
              os.path.join(ROOT, ".device-shared", "peers", "pmnn_torch.py")):
        if os.path.exists(p):
            return os.path.abspath(p)
    sys.exit("bench_train: the peer pmnn_torch.py is not in ../shared/peers or .device-shared/peers")


def find_python():
    for py in ("/usr/bin/python3", sys.executable, "python3"):
        exe = shutil.which(py) or (py if os.path.exists(py) else None)
        if exe and subprocess.run([exe, "-c", "import torch"], capture_output=True).returncode == 0:
            return exe
    sys.exit("bench_train: no python3 with torch (scripts/bootstrap --with-peer installs Debian's)")


def last_json(out):
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError("no JSON line in output:\n" + out[-2000:])


def run(cmd, env):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode not in (0, 3):
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return last_json(proc.stdout)


def ours(binary, name, device, epochs, data=None, env=None):
    """`dynpmnn train` on configuration `name`; its final JSON line plus epoch_s_median, the median
    epoch as the peer reports it (the first epoch carries one-off start-up costs)."""
    c = CONFIGS[name]
    with tempfile.TemporaryDirectory() as tmp:
        # On top of the paper preset, as the peer: a run without a preset trains the default model.
        cmd = [binary, "train", "--preset", "paper-california", "--device", device, "--epochs", str(epochs),
               "--out", os.path.join(tmp, "run"),
               "--quiet", "--set", "patience=0", "--set", f"neurons={c['neurons']}", "--set", f"dt={c['dt']}",
               "--set", f"t_end={c['t_end']}", "--set", f"batch_size={c['batch_size']}",
               "--set", f"clip={c['clip'] or 0}"]
        if data:
            cmd += ["--data", data]
        result = run(cmd, env)
        with open(os.path.join(tmp, "run", "metrics.jsonl")) as f:
            result["epoch_s_median"] = statistics.median(json.loads(l)["seconds"] for l in f if l.strip())
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved runs of each side per configuration")
    ap.add_argument("--configs", default="paper-clip,wide,wide256")
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "dynpmnn"))
    ap.add_argument("--data", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--peer-compile", action="store_true", help="also time the peer under torch.compile")
    args = ap.parse_args()

    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    peer, python = find_peer(), find_python()
    results = []
    for name in args.configs.split(","):
        c = CONFIGS[name]
        peer_cmd = [python, peer, "train", "--epochs", str(args.epochs), "--device", args.device,
                    "--neurons", str(c["neurons"]), "--dt", str(c["dt"]), "--t-end", str(c["t_end"]),
                    "--batch-size", str(c["batch_size"])]
        if c["clip"]:
            peer_cmd += ["--clip", str(c["clip"])]
        if args.data:
            peer_cmd += ["--data", args.data]
        modes = {"eager": peer_cmd}
        if args.peer_compile:
            modes["compile"] = peer_cmd + ["--compile"]
        mine_runs, peer_runs = [], {mode: [] for mode in modes}
        for _ in range(args.repeats):
            mine_runs.append(ours(args.binary, name, args.device, args.epochs, args.data, env))
            for mode, cmd in modes.items():
                peer_runs[mode].append(run(cmd, env))
        ours_s = statistics.median(m["epoch_s_median"] for m in mine_runs)
        mine = mine_runs[-1]
        for mode, runs in peer_runs.items():
            # The peer's median epoch excludes validation, like our epoch_seconds (training pass only).
            peer_s = statistics.median(p["epoch_s_median"] for p in runs)
            p = runs[-1]
            row = {"config": name, "device": args.device, "peer_mode": mode, "epochs": args.epochs,
                   "repeats": args.repeats, "ours_epoch_s": ours_s,
                   "ours_epoch_s_runs": [m["epoch_s_median"] for m in mine_runs],
                   "ours_epoch_s_mean": mine["epoch_seconds"],
                   "peer_epoch_s": peer_s, "peer_epoch_s_runs": [q["epoch_s_median"] for q in runs],
                   "ours_epochs_per_s": 1.0 / ours_s, "peer_epochs_per_s": 1.0 / peer_s,
                   "speedup": peer_s / ours_s,
                   "ours_test_rmse": mine["test_rmse"], "peer_test_rmse": p["rmse_test"],
                   "ours_status": mine["status"], "ours_backend": mine.get("backend"),
                   "cpu_isa": os.environ.get("DYNPMNN_CPU_ISA", "auto"),
                   "peer_threads": p.get("threads"), "torch": p.get("torch")}
            results.append(row)

    print(f"{'config':<11} {'device':<6} {'peer':<8} {'ours ep/s':>10} {'peer ep/s':>10} {'speedup':>9}"
          f" {'ours rmse':>10} {'peer rmse':>10}")
    for r in results:
        print(f"{r['config']:<11} {r['device']:<6} {r['peer_mode']:<8} {r['ours_epochs_per_s']:>10.2f}"
              f" {r['peer_epochs_per_s']:>10.3f} {r['speedup']:>8.1f}x {r['ours_test_rmse']:>10.4f}"
              f" {r['peer_test_rmse']:>10.4f}")
    if args.json:
        # Every row says what measured it, so a committed JSON backs a figure on its own.
        made = dict(provenance("bench/bench_train.py", sys.argv[1:]), binary=args.binary)
        for r in results:
            r.update(made)
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
