#!/usr/bin/env bash
# Looks inside the FHN layer kernels on a lent GPU, for speed work (bench/device_check.sh is the
# full check): builds bench_fhn in variants that differ only by compile-time switches of
# kernels/fhn.cu and kernels/fhn_math.h, times the wide shape with each, dumps the SASS of the
# Euler kernels, and profiles them with Nsight Compute where it can read the counters.
# Usage: bench/profile_fhn.sh [NAME=FLAGS ...]   (default: the variants below). Writes under $OUT.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
OUT=${OUT:-$root/.device-out}
mkdir -p "$OUT"
export PATH="$PATH:/usr/local/cuda/bin"
variants=("$@")
((${#variants[@]})) || variants=("default=" "bwd_euler_3_blocks=-DDYNPMNN_FHN_BWD_EULER_MIN_BLOCKS=3"
  "no_full_block_path=-DDYNPMNN_FHN_FULL_BLOCKS=0 -DDYNPMNN_FHN_BWD_EULER_GRADS_MIN_BLOCKS=2")
work=$(mktemp -d /tmp/profile_fhn.XXXXXX)
summarise='
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    if d.get("bench") == "fhn_layer_fwd_bwd":
        print("  %-12s total %.4f ms  fwd %.4f  bwd %.4f  %.1f%% FP32  valid=%s" % (d["shape"], d["ms_median"],
              d["fwd_ms_median"], d["bwd_ms_median"], d["pct_fp32_peak"], d["valid"]))'
for v in "${variants[@]}"; do
  name=${v%%=*} flags=${v#*=}
  # shellcheck disable=SC2086
  nvcc -O3 -arch=sm_90 --expt-relaxed-constexpr -std=c++20 -lineinfo -I. -DDYNPMNN_HAVE_CUDA=1 $flags \
    -Xptxas -v bench/bench_fhn.cu kernels/fhn.cu kernels/fhn.cpp -o "$work/bench_$name" >"$work/build_$name.log" 2>&1 &
done
wait
{
  for v in "${variants[@]}"; do
    name=${v%%=*}
    echo "== $name: ${v#*=}"
    grep -A3 "fhn_\(forward\|backward\)_kernelILNS_8CouplingE0ELNS_10IntegratorE0E" "$work/build_$name.log" |
      grep -o "Used [0-9]* registers\|[0-9]* bytes spill stores" | paste -sd' ' - | cut -c1-200
    if [ -x "$work/bench_$name" ]; then
      "$work/bench_$name" --shapes wide --repeats 30 | grep '^{' | python3 -c "$summarise"
    else
      echo "  build failed:"; tail -5 "$work/build_$name.log"
    fi
  done
} 2>&1 | tee "$OUT/variants.txt"
first=${variants[0]%%=*}
cuobjdump --dump-sass "$work/bench_$first" 2>/dev/null | awk '/Function : .*fhn_(forward|backward)_kernelILNS_8CouplingE0ELNS_10IntegratorE0E/{p=1} /Function : /&&!/IntegratorE0E/{p=0} p' \
  >"$OUT/sass_euler.txt"
if command -v ncu >/dev/null; then
  timeout 120 ncu --clock-control none -k 'regex:fhn_(forward|backward)_kernel' --launch-skip 8 -c 2 \
    --section SpeedOfLight --section Occupancy --section WarpStateStats --section SchedulerStats \
    --section InstructionStats --section LaunchStats --section MemoryWorkloadAnalysis \
    "$work/bench_$first" --shapes wide --repeats 20 >"$OUT/ncu.txt" 2>&1 || echo "ncu exit $?" >>"$OUT/ncu.txt"
fi
ls -la "$OUT"
