#!/usr/bin/env python3
"""dynpmnn.torch's FHN module against the raw op it wraps, on a GPU: forward + backward at
bench_fhn's wide shape (batch 4096, 1024 neurons, 100 Euler steps of dt 0.05, initial-state coupling,
frozen a, b, g, I: the gradients bench_fhn's "wide" row computes).

  module: FHN(...)(x) then backward of the output's gradient, through autograd, every buffer
          (output, checkpoints, input gradient) from PyTorch's caching allocator, as a user runs it;
  raw:    the C ABI's forward and backward (dynpmnn_fhn_forward/backward_cuda_f32) on buffers
          allocated once: the kernels and the ctypes call, nothing of autograd.

Both on the current stream, timed with CUDA events, interleaved (raw, module, raw, ...) after a
warm-up, with a 256 MiB write between repeats to flush L2 as bench_fhn does; prints one JSON line
with each median and module / raw (the issue's bound: at most 1.10). The module's output and input
gradient are checked against the raw op's first (bitwise: the same kernels on the same inputs).

Run by bench/device_check.sh (stage torch_module); by hand:
  PYTHONPATH=python DYNPMNN_FHN_LIBRARY=build/python/libdynpmnn_fhn.so python3 bench/bench_torch_module.py
"""
import argparse
import json
import statistics
import sys

import torch

from dynpmnn import _capi
from dynpmnn import torch as dtorch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--neurons", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--dt", type=float, default=0.05)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("bench_torch_module: no CUDA device", file=sys.stderr)
        return 1
    dev = torch.device("cuda")
    B, N = args.batch, args.neurons
    fhn = dtorch.FHN(N, dt=args.dt, t_end=args.dt * args.steps, integrator="euler", coupling="initial",
                     dtype=torch.float32).to(dev)
    gen = torch.Generator(device=dev).manual_seed(0)
    x = (0.5 * torch.randn(B, 2 * N, device=dev, generator=gen)).requires_grad_()
    d_out = torch.randn(B, 2 * N, device=dev, generator=gen)
    a, b, g, current = (t.detach() for t in fhn.physical())
    static = fhn.static
    shape = static.shape(B)
    elems = _capi.checkpoint_elems(shape)
    out = torch.empty(B, 2 * N, device=dev)
    ckv, ckw = torch.empty(elems, device=dev), torch.empty(elems, device=dev)
    d_in = torch.empty_like(x)
    flush = torch.empty(64 * 1024 * 1024, device=dev)  # 256 MiB of floats, above the H200's 60 MB L2
    p = lambda t: t.data_ptr()  # noqa: E731

    def raw():
        stream = torch.cuda.current_stream().cuda_stream
        _capi.forward_cuda_f32(shape, p(x), p(a), p(b), p(g), p(current), p(out), p(ckv), p(ckw), stream)
        _capi.backward_cuda_f32(shape, p(x), p(a), p(b), p(g), p(current), p(ckv), p(ckw), p(d_out), p(d_in),
                                0, 0, 0, 0, 0, stream)

    def module():
        x.grad = None
        y = fhn(x)
        y.backward(d_out)
        return y

    # Correctness before timing: the module runs the very kernels, so the results are the same bits.
    y = module()
    raw()
    torch.cuda.synchronize()
    valid = bool(torch.equal(y.detach(), out) and torch.equal(x.grad, d_in))

    def timed(fn):
        flush.fill_(1.0)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end)

    for _ in range(3):
        timed(raw)
        timed(module)
    raw_ms, module_ms = [], []
    for _ in range(args.repeats):
        raw_ms.append(timed(raw))
        module_ms.append(timed(module))
    r, m = statistics.median(raw_ms), statistics.median(module_ms)
    print(json.dumps({"bench": "torch_module_fwd_bwd", "shape": "wide", "batch": B, "neurons": N,
                      "steps": args.steps, "dt": args.dt, "device": torch.cuda.get_device_name(0),
                      "torch": torch.__version__, "valid": valid, "repeats": args.repeats,
                      "raw_ms_median": r, "module_ms_median": m, "module_over_raw": m / r,
                      "within_10_percent": m / r <= 1.10}))
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main())
