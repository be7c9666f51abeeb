#!/usr/bin/env python3
"""One paper-config run's training epoch on the GPU against our CPU backend, in one invocation
(issue 11's target: the GPU epoch faster than the CPU's on the same host).

Runs `dynpmnn train` on bench_train.py's paper-clip configuration (one FitzHugh-Nagumo neuron,
dt 20, t_end 500, batch 32, clip 20; the preset paper-california otherwise) three ways, interleaved
`--repeats` times so that a slow spell of the machine falls on all of them:
  cuda-fused   --device cuda: the fused population kernel (a population of one, one launch an epoch)
  cuda-fused-step  the same kernel launched once per minibatch (DYNPMNN_FUSED=step): which form wins
  cuda-layers  --device cuda with DYNPMNN_FUSED=0: the layer-by-layer CUDA backend (a captured graph
               of the step's kernels per minibatch)
  cpu          --device cpu, single-threaded
A run's figure is its median epoch (metrics.jsonl's seconds: the training pass, without validation);
the table gives the median over the repeats and the ratios against the CPU.

  bench/bench_paper_epoch.py [--epochs 6] [--repeats 3] [--json out.json] [--print-json]
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_train import ROOT, ours  # noqa: E402
from provenance import provenance  # noqa: E402

MODES = {
    "cuda-fused": ("cuda", {}),
    "cuda-fused-step": ("cuda", {"DYNPMNN_FUSED": "step"}),
    "cuda-layers": ("cuda", {"DYNPMNN_FUSED": "0"}),
    "cpu": ("cpu", {}),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "dynpmnn"))
    ap.add_argument("--data", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--print-json", action="store_true", help="also print the result as one JSON line")
    args = ap.parse_args()

    modes = args.modes.split(",")
    runs = {m: [] for m in modes}
    base = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for _ in range(args.repeats):
        for m in modes:
            device, extra = MODES[m]
            runs[m].append(ours(args.binary, "paper-clip", device, args.epochs, args.data, dict(base, **extra)))
    result = dict(provenance("bench/bench_paper_epoch.py", sys.argv[1:]), binary=args.binary, config="paper-clip",
                  epochs=args.epochs, repeats=args.repeats, modes={})
    for m in modes:
        med = statistics.median(r["epoch_s_median"] for r in runs[m])
        result["modes"][m] = {"epoch_s": med, "epoch_s_runs": [r["epoch_s_median"] for r in runs[m]],
                              "backend": runs[m][-1].get("backend"), "status": runs[m][-1].get("status"),
                              "val_mse": runs[m][-1].get("val_mse")}
    if "cpu" in result["modes"]:
        cpu = result["modes"]["cpu"]["epoch_s"]
        for m, r in result["modes"].items():
            r["cpu_over_this"] = cpu / r["epoch_s"]
    print(f"{'mode':<12} {'epoch ms':>9} {'cpu/this':>9}  backend")
    for m, r in result["modes"].items():
        print(f"{m:<12} {1e3 * r['epoch_s']:>9.2f} {r.get('cpu_over_this', float('nan')):>8.2f}x  {r['backend']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
    if args.print_json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
