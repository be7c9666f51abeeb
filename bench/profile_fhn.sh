#!/usr/bin/env bash
# Looks inside the FHN layer kernels on a lent GPU, for speed work (bench/device_check.sh is the
# full check): builds bench_fhn in variants that differ only by compile-time switches of
# kernels/fhn.cu and kernels/neurons/fhn.h, times the wide shape with each, dumps the SASS of the
# Euler kernels, and profiles them with Nsight Compute where it can read the counters.
# Usage: bench/profile_fhn.sh [NAME=FLAGS ...]   (default: the variants below). Writes under $OUT.
# PROFILE_BASE_DIR=DIR also builds and times, as variant "base", the sources under DIR (an earlier
# commit's common/, kernels/, bench/, host/: `git archive REV common kernels bench host | tar -x -C DIR`), so a
# change is compared with what it replaces on the same card in the same call.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
OUT=${OUT:-$root/.device-out}
mkdir -p "$OUT"
export PATH="$PATH:/usr/local/cuda/bin"
variants=("$@")
((${#variants[@]})) || variants=("default=" "fwd_8_blocks=-DDYNPMNN_FHN_FWD_MIN_BLOCKS=8"
  "bwd_euler_3_blocks=-DDYNPMNN_FHN_BWD_EULER_MIN_BLOCKS=3")
work=$(mktemp -d /tmp/profile_fhn.XXXXXX)
summarise='
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    if d.get("bench") == "fhn_layer_fwd_bwd":
        print("  %-12s total %.4f ms  fwd %.4f  bwd %.4f  %.1f%% FP32  valid=%s" % (d["shape"], d["ms_median"],
              d["fwd_ms_median"], d["bwd_ms_median"], d["pct_fp32_peak"], d["valid"]))'
nvcc_bench() {  # OUTPUT LOG [FLAGS...], in the current directory
  local output=$1 log=$2
  shift 2
  nvcc -O3 -arch=sm_90 --expt-relaxed-constexpr -std=c++20 -lineinfo -I. -DDYNPMNN_HAVE_CUDA=1 "$@" \
    -Xptxas -v bench/bench_fhn.cu kernels/fhn.cu kernels/fhn.cpp -o "$output" >"$log" 2>&1
}
base=${PROFILE_BASE_DIR:-}
if [ -n "$base" ]; then
  (cd "$base" && nvcc_bench "$work/bench_base" "$work/build_base.log") &
  variants=("base=(the tree under $base)" "${variants[@]}")
fi
for v in "${variants[@]}"; do
  name=${v%%=*} flags=${v#*=}
  [ "$name" = base ] && continue
  # shellcheck disable=SC2086
  nvcc_bench "$work/bench_$name" "$work/build_$name.log" $flags &
done
wait
{
  for v in "${variants[@]}"; do
    name=${v%%=*}
    echo "== $name: ${v#*=}"
    # Registers and spills of the Euler kernels with initial-condition coupling (all of them, clamp
    # and parameter gradients on and off: the template flags are in the names).
    awk '/Compiling entry function/ {n = $0} /spill stores/ {sp = $0} /Used [0-9]+ registers/ {print n " | " sp " | " $0}' \
      "$work/build_$name.log" | grep "CouplingE0ELNS_10IntegratorE0E" |
      sed -E 's/.*(fhn_[a-z]+_kernel)ILNS_8CouplingE0ELNS_10IntegratorE0E([^v]*)v.*( [0-9]+ bytes spill stores).*(Used [0-9]+ registers).*/  \1 \2: \4,\3/'
    if [ -x "$work/bench_$name" ]; then
      "$work/bench_$name" --shapes wide --repeats 30 | grep '^{' | python3 -c "$summarise"
    else
      echo "  build failed:"; tail -5 "$work/build_$name.log"
    fi
  done
} 2>&1 | tee "$OUT/variants.txt"
first=${variants[0]%%=*}
[ "$first" = base ] && first=${variants[1]%%=*}
cuobjdump --dump-sass "$work/bench_$first" 2>/dev/null |
  awk '/Function : .*fhn_(forward|backward)_kernelILNS_8CouplingE0ELNS_10IntegratorE0E/{p=1} /Function : /&&!/IntegratorE0E/{p=0} p' \
  >"$OUT/sass_euler.txt"
# Instruction mix of each Euler kernel, from its SASS: how many of each opcode.
awk '/Function : /{f=$3} /^ +\/\*[0-9a-f]+\*\/ /{op=$2; if (op ~ /^@/) op=$3; sub(/\..*/, "", op); c[f" "op]++}
     END {for (k in c) print c[k], k}' "$OUT/sass_euler.txt" | sort -k2,2 -k1,1nr >"$OUT/sass_mix.txt"
if command -v ncu >/dev/null; then
  timeout 150 ncu --clock-control none -k 'regex:fhn_(forward|backward)_kernel' --launch-skip 8 -c 2 \
    --section SpeedOfLight --section Occupancy --section WarpStateStats --section SchedulerStats \
    --section InstructionStats --section LaunchStats --section MemoryWorkloadAnalysis --section SourceCounters \
    --export "$work/fhn" "$work/bench_$first" --shapes wide --repeats 20 >"$OUT/ncu_log.txt" 2>&1 ||
    echo "ncu exit $?" >>"$OUT/ncu_log.txt"
  if [ -f "$work/fhn.ncu-rep" ]; then
    ncu --import "$work/fhn.ncu-rep" --page details >"$OUT/ncu.txt" 2>&1
    # Every metric the sections collected, the warp stall reasons among them.
    ncu --import "$work/fhn.ncu-rep" --page raw --csv >"$OUT/ncu_raw.csv" 2>&1
  fi
fi
ls -la "$OUT"
