#!/usr/bin/env bash
# The one script run on a lent GPU machine (H100/H200): build, every test with the GPU required,
# compute-sanitizer memcheck and racecheck, the FHN layer benchmark against the PyTorch peer, and
# the end-to-end training benchmark; and our own speed against a base commit's tree (bench/old_new.py:
# bench_fhn's wide shape and the paper-config training epoch, old and new interleaved, the medians'
# ratio and whether it is within 3 %); the populations' figures (issue 11): the sweep benchmark, one
# paper-config epoch fused / layer by layer / on the CPU, and each full grid with its report.
# Writes $OUT/summary.md, the logs and the reports, and prints the summary last. It stops starting stages when its time budget (DEVICE_CHECK_BUDGET_S,
# default 450 s) runs out, so that it ends inside one 8-minute device call, build included.
#
# Expects, beside the working tree (the caller copies them, see docs/cuda.md):
#   .deps/                          bench/pack_deps.sh's header and googletest copies
#   .device-shared/peers/pmnn_torch.py, .device-shared/data/cal_housing.data
#   .device-shared/COMMIT           optional: the commit, where .git does not travel
#
# DEVICE_CHECK_BASE_REV (default 0f2afb4, the tree before the neuron-model interface, whose FHN kernels
# must keep their speed within 3 %; 1b67f8f is the one before the layer-unit refactor; "none" skips it):
# the commit whose tree is built beside ours (from .git, with git archive; the same CMake settings,
# tests off) while the tests run, and timed against ours (DEVICE_CHECK_OLD_NEW_ROUNDS rounds, >= 3).
# DEVICE_CHECK_SKIP="stage ..." leaves those stages out (e.g. "train_bench torch_module" where the
# GPU paths they time did not change since the last check); DEVICE_CHECK_SKIP_COMPILE=1 leaves out
# the torch.compile peers.
# DEVICE_CHECK_DRY_RUN=1 logs each stage's command instead of running it (and takes every program
# as built): the script's own flow, checked where there is no GPU.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
OUT=${OUT:-$root/.device-out}
mkdir -p "$OUT"
work=$(mktemp -d /tmp/device_check.XXXXXX)
budget=${DEVICE_CHECK_BUDGET_S:-450}
start_s=$SECONDS
build=${DEVICE_CHECK_BUILD_DIR:-build-device}
stages="$work/stages.tsv"
: >"$stages"

left() { echo $((budget - (SECONDS - start_s))); }
dry_run=${DEVICE_CHECK_DRY_RUN:-}
built() { [ -n "$dry_run" ] || [ -x "$1" ]; }

# stage NAME MAX_SECONDS MIN_SECONDS LOG COMMAND...: runs COMMAND under `timeout` for at most
# MAX_SECONDS or what is left of the budget, appending its output to LOG; skips it when less than
# MIN_SECONDS are left. Records status and time in $stages.
stage() {
  local name=$1 max=$2 min=$3 log=$4
  shift 4
  local avail
  avail=$(left)
  # DEVICE_CHECK_SKIP="name ...": stages already measured on this card at an unchanged tree, left
  # out to keep the call inside what is left of a session's device time.
  if [[ " ${DEVICE_CHECK_SKIP:-} " == *" $name "* ]]; then
    printf '%s\tskipped (DEVICE_CHECK_SKIP)\t0\n' "$name" >>"$stages"
    return 0
  fi
  if ((avail < min)); then
    printf '%s\tskipped (time budget)\t0\n' "$name" >>"$stages"
    echo "== $name: skipped, ${avail}s left of the budget" | tee -a "$log"
    return 0
  fi
  local limit=$((avail < max ? avail : max))
  echo "== $name (limit ${limit}s): $*" >>"$log"
  local t0=$SECONDS rc
  if [ -n "$dry_run" ]; then
    printf '%q ' "$@" >>"$log"
    echo >>"$log"
    rc=0
  else
    timeout -k 10 "$limit" "$@" >>"$log" 2>&1
    rc=$?
  fi
  local status=ok
  ((rc == 124 || rc == 137)) && status="TIMEOUT after ${limit}s"
  ((rc != 0 && rc != 124 && rc != 137)) && status="FAILED (exit $rc)"
  printf '%s\t%s\t%s\n' "$name" "$status" $((SECONDS - t0)) >>"$stages"
  echo "== $name: $status in $((SECONDS - t0))s" | tee -a "$log"
  return 0
}

# --- environment ------------------------------------------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  # The caller's COMMIT first: the .git that travels to the device can be a stale copy.
  commit=$(cat .device-shared/COMMIT 2>/dev/null || git rev-parse HEAD 2>/dev/null || echo unknown)
  echo "commit: $commit"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.sm,power.limit --format=csv 2>&1
  nvcc --version 2>&1 | tail -1 || /usr/local/cuda/bin/nvcc --version 2>&1 | tail -1
  cmake --version | head -1
  python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name(0))' 2>&1
  echo "cpus: $(nproc)"
} >"$work/env.txt" 2>&1
cat "$work/env.txt" >"$OUT/build.log"

peer=.device-shared/peers/pmnn_torch.py
data=.device-shared/data/cal_housing.data
[ -f "$data" ] && export DYNPMNN_DATA="$root/$data"
deps_arg=()
[ -d .deps ] && deps_arg=(-DDYNPMNN_DEPS_DIR="$root/.deps")
export PATH="$PATH:/usr/local/cuda/bin"
# NCCL for the data-parallel GPU test (GpuDataParallel.*): the toolkit's, else the image's pip wheel
# nvidia-nccl-cu13 (include/ and lib/libnccl.so.2), found through NCCL_HOME.
if [ -z "${NCCL_HOME:-}" ] && [ ! -f /usr/local/cuda/include/nccl.h ]; then
  nccl_home=$(python3 -c 'import nvidia.nccl, os; print(list(nvidia.nccl.__path__)[0])' 2>/dev/null || true)
  [ -n "$nccl_home" ] && [ -f "$nccl_home/include/nccl.h" ] && export NCCL_HOME="$nccl_home"
fi

# --- build ------------------------------------------------------------------------------------
# CMake before 3.26 does not know C++20 for nvcc; the two definitions teach it (newer CMake
# ignores them).
read -ra extra_args <<<"${DEVICE_CHECK_CMAKE_ARGS:-}"
configure=(cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDYNPMNN_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90
  "${deps_arg[@]}" -DCMAKE_CUDA20_STANDARD_COMPILE_OPTION=-std=c++20
  -DCMAKE_CUDA20_EXTENSION_COMPILE_OPTION=-std=c++20 "${extra_args[@]}")
stage configure 90 30 "$OUT/build.log" "${configure[@]}"
# googletest's own CMakeLists defines GTest::gtest; a Dependencies.cmake that aliases it again
# fails to configure. Then install the carried googletest and let find_package(GTest) find it.
if grep -q 'ALIAS target "GTest::gtest"' "$OUT/build.log" && [ -d .deps/googletest ]; then
  gtest_prefix="$work/gtest"
  stage gtest_install 120 30 "$OUT/build.log" bash -c "cmake -S .deps/googletest -B '$work/gtest-build' -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX='$gtest_prefix' && cmake --build '$work/gtest-build' -j 16 \
    && cmake --install '$work/gtest-build'"
  rm -rf "$build"
  stage configure_again 90 30 "$OUT/build.log" "${configure[@]}" -DCMAKE_PREFIX_PATH="$gtest_prefix"
fi
stage build 300 60 "$OUT/build.log" cmake --build "$build" -j "${DEVICE_CHECK_JOBS:-16}"

# --- the base commit's tree, for old against new: built while the tests below run (nothing is
# timed until it is done), with our configure arguments less the source and build folders ----------
base_rev=${DEVICE_CHECK_BASE_REV:-0f2afb4}
base_dir="$work/base"
if [ "$base_rev" = none ]; then
  printf 'base_build\tskipped (DEVICE_CHECK_BASE_REV=none)\t0\n' >>"$stages"
else
  stage base_build 300 60 "$work/base_build.log" \
    nice -n 10 python3 bench/old_new.py build "$base_rev" "$base_dir" "${configure[@]:5}" &
  base_pid=$!
fi

# --- correctness: all tests, and the sanitizers, side by side (none of them is timed) ------------
export DYNPMNN_REQUIRE_GPU=1
gpu_tests="$build/tests/dynpmnn_gpu_tests"
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
# Small shapes only: the sanitizers slow kernels down by orders of magnitude.
memcheck_filter='Shapes/FhnGpu.*/N7_*:Shapes/FhnGpu.*/N5_*:Shapes/FhnGpu.*/N1_B31_*:Shapes/FhnGpu.*/N3_B31_*:Shapes/FhnGpu.*/N37_*:Shapes/FhnGpu.*/N33_*:Shapes/FhnGpu.*/*frozen*:FhnGpuFlag.*:FhnGpuChecks.*:Shapes/DenseGpu.*/B31_*:Shapes/DenseGpu.*/B37_*:Shapes/LayerNormGpu.*/B33_D33:Shapes/LayerNormGpu.*/B17_D2048:ActivationGpu.*:MseGpu.*:ColumnSumsGpu.*:NonFiniteCheckGpu.*:AdamGpu.*:GatherGpu.*:EpochOrderGpuTest.*:CudaBackend.DivergenceMatchesCpuBackendInSecondLayer:CudaBackend.UsageErrorsThrow:CfcGpu.*:SoftmaxCrossEntropyGpu.*:FhnParamMapGpu.*:EveryKind/GpuLayerUnits.*euler_initial_x2:Registered/GpuNeuronPopulation.*/fhn:FusedPopulation.KernelMatchesItsCpuReference:BatchedPopulation.ThreeEpochsWithARestingModel'
racecheck_filter='Shapes/FhnGpu.*/N7_*:Shapes/FhnGpu.*/N1_B31_*:Shapes/FhnGpu.*/N37_*:Shapes/FhnGpu.*/N33_*:Shapes/DenseGpu.*/B37_*:Shapes/LayerNormGpu.*/B33_D33:MseGpu.*:ColumnSumsGpu.*:SoftmaxCrossEntropyGpu.*:FusedPopulation.KernelMatchesItsCpuReference'
if built "$gpu_tests"; then
  stage memcheck 240 30 "$work/memcheck.log" "$sanitizer" --tool memcheck --error-exitcode 99 \
    "$gpu_tests" --gtest_filter="$memcheck_filter" &
  mc_pid=$!
  stage racecheck 240 30 "$work/racecheck.log" "$sanitizer" --tool racecheck --error-exitcode 99 \
    "$gpu_tests" --gtest_filter="$racecheck_filter" &
  rc_pid=$!
else
  printf 'memcheck\tskipped (no GPU test binary)\t0\nracecheck\tskipped (no GPU test binary)\t0\n' >>"$stages"
fi
stage ctest 240 30 "$OUT/ctest.log" ctest --test-dir "$build" -j 12 --timeout 200 --output-on-failure
[ -n "${mc_pid:-}" ] && wait "$mc_pid"
[ -n "${rc_pid:-}" ] && wait "$rc_pid"
cat "$work/memcheck.log" "$work/racecheck.log" >"$OUT/sanitizer.log" 2>/dev/null
[ -n "${base_pid:-}" ] && wait "$base_pid"
cat "$work/base_build.log" >>"$OUT/build.log" 2>/dev/null

# --- timing: one thing at a time on the GPU ---------------------------------------------------
unset DYNPMNN_REQUIRE_GPU
bench_json="$work/bench.jsonl"
: >"$bench_json"
# run_json NAME MAX MIN COMMAND...: like stage, and tags each JSON line the command prints.
run_json() {
  local name=$1 max=$2 min=$3
  shift 3
  stage "$name" "$max" "$min" "$work/$name.out" "$@"
  grep '^{' "$work/$name.out" 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        d = json.loads(line)
    except ValueError:
        continue
    d["run"] = sys.argv[1]
    print(json.dumps(d))' "$name" >>"$bench_json"
  cat "$work/$name.out" >>"$OUT/bench.log" 2>/dev/null
}
if built "$build/bench/bench_fhn"; then
  run_json bench_fhn 90 20 "$build/bench/bench_fhn" --repeats 30
else
  printf 'bench_fhn\tskipped (not built)\t0\n' >>"$stages"
fi
# Old against new: our own speed only (no peer), interleaved in this one call on this one card.
if built "$base_dir/build/dynpmnn" && built "$build/dynpmnn"; then
  data_arg=()
  [ -f "$data" ] && data_arg=(--data "$root/$data")
  run_json old_new 180 40 python3 bench/old_new.py time --old "$base_dir/build" --new "$build" \
    --rounds "${DEVICE_CHECK_OLD_NEW_ROUNDS:-3}" --device cuda --configs paper-clip --epochs 8 \
    --md "$work/old_new.md" "${data_arg[@]}"
elif [ "$base_rev" != none ]; then
  printf 'old_new\tskipped (base tree %s or ours not built)\t0\n' "$base_rev" >>"$stages"
fi
# The PyTorch module over our kernels against the raw op (python/, issue 15): the C-ABI library
# the device build made (python/CMakeLists.txt), loaded by dynpmnn.torch.
if built "$build/python/libdynpmnn_fhn.so"; then
  run_json torch_module 90 20 env PYTHONPATH="$root/python" DYNPMNN_FHN_LIBRARY="$root/$build/python/libdynpmnn_fhn.so" \
    python3 bench/bench_torch_module.py --repeats 30
else
  printf 'torch_module\tskipped (%s not built)\t0\n' "$build/python/libdynpmnn_fhn.so" >>"$stages"
fi
if [ -f "$peer" ]; then
  export PYTHONUNBUFFERED=1
  run_json peer_wide_eager 60 20 python3 "$peer" layer --batch 4096 --neurons 1024 --steps 100 --device cuda
  run_json peer_paper_eager 60 20 python3 "$peer" layer --batch 32 --neurons 1 --steps 25 --device cuda
  if [ -z "${DEVICE_CHECK_SKIP_COMPILE:-}" ]; then
    run_json peer_wide_compile 150 60 python3 "$peer" layer --batch 4096 --neurons 1024 --steps 100 --device cuda --compile
  else
    printf 'peer_wide_compile\tskipped (DEVICE_CHECK_SKIP_COMPILE)\t0\n' >>"$stages"
  fi
else
  printf 'peer\tskipped (%s missing)\t0\n' "$peer" >>"$stages"
fi
if [ -x bench/bench_train.sh ]; then
  stage train_bench 150 60 "$OUT/train.log" bench/bench_train.sh --device cuda --out "$OUT/train.json"
elif [ -f bench/bench_train.py ]; then
  stage train_bench 150 60 "$OUT/train.log" python3 bench/bench_train.py --device cuda --epochs 4 \
    --binary "$build/dynpmnn" --data "$root/$data" --json "$OUT/train.json"
else
  printf 'train_bench\tskipped (no bench/bench_train.sh or .py)\t0\n' >>"$stages"
fi
# Populations against one at a time on a 48-point sample of the paper's full grid (its longest points
# included), a few epochs each: the sweep benchmark's GPU figures (bench/bench_sweep.py, issue 11).
if built "$build/dynpmnn" && [ -f "$data" ]; then
  run_json sweep_bench "${DEVICE_CHECK_SWEEP_S:-150}" 40 python3 bench/bench_sweep.py --device cuda --grid paper-full \
    --points gpu48 --subset gpu48 --epochs "${DEVICE_CHECK_SWEEP_EPOCHS:-3}" --jobs 1,16,16:layers --pop-jobs 16 \
    --binary "$build/dynpmnn" --data "$root/$data" --print-json
else
  printf 'sweep_bench\tskipped (no dynpmnn or no data)\t0\n' >>"$stages"
fi
# The batched population (models the fused kernels do not take): the default model, 2 x 44 neurons,
# over 8 seeds and 4 learning rates (32 runs, one population) against the same runs one at a time.
if built "$build/dynpmnn" && [ -f "$data" ]; then
  run_json sweep_default "${DEVICE_CHECK_SWEEP_DEFAULT_S:-150}" 40 python3 bench/bench_sweep.py --device cuda \
    --grid default-seeds --points all --subset all --epochs "${DEVICE_CHECK_SWEEP_EPOCHS:-3}" --jobs 1,16 \
    --pop-jobs 16 --binary "$build/dynpmnn" --data "$root/$data" --print-json
else
  printf 'sweep_default\tskipped (no dynpmnn or no data)\t0\n' >>"$stages"
fi
# Kernel launches per minibatch step of a population at P = 1 and 256, counted by CUPTI.
if built "$build/bench/bench_population_launches"; then
  run_json launches 60 20 "$build/bench/bench_population_launches"
else
  printf 'launches\tskipped (not built: no CUPTI)\t0\n' >>"$stages"
fi
# One paper-config run's epoch: the fused kernel (a population of one) against the layer-by-layer
# CUDA backend and our CPU backend on this host (bench/bench_paper_epoch.py, issue 11).
if built "$build/dynpmnn" && [ -f "$data" ]; then
  run_json paper_epoch 120 40 python3 bench/bench_paper_epoch.py --binary "$build/dynpmnn" --data "$root/$data" \
    --json "$OUT/paper_epoch.json" --print-json
else
  printf 'paper_epoch\tskipped (no dynpmnn or no data)\t0\n' >>"$stages"
fi
# The paper's full grids, each in full with populations (fused on this GPU), each in its own stage
# and time cap (the target: 5 minutes each), with the grid report of what finished in $OUT.
for grid in paper-full paper-full-imex; do
  if built "$build/dynpmnn" && [ -f "$data" ]; then
    stage "grid_$grid" "${DEVICE_CHECK_GRID_S:-330}" 90 "$work/grid_$grid.log" python3 bench/grid_report.py \
      --device cuda --grids "$grid" --sweeps "$work/grids" --doc "$OUT/grid-report-$grid.md" \
      --binary "$build/dynpmnn" --data "$root/$data"
    cat "$work/grid_$grid.log" >>"$OUT/bench.log" 2>/dev/null
  else
    printf 'grid_%s\tskipped (no dynpmnn or no data)\t0\n' "$grid" >>"$stages"
  fi
done
if [ -f "$peer" ] && [ -z "${DEVICE_CHECK_SKIP_COMPILE:-}" ]; then
  run_json peer_paper_compile 90 45 python3 "$peer" layer --batch 32 --neurons 1 --steps 25 --device cuda --compile
fi
cp "$bench_json" "$OUT/bench.jsonl"

# --- summary ----------------------------------------------------------------------------------
python3 - "$work" "$OUT" "$((SECONDS - start_s))" <<'PY'
import json, os, re, sys
work, out, total = sys.argv[1], sys.argv[2], sys.argv[3]
def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""
env = read(os.path.join(work, "env.txt")).strip()
stages = [l.split("\t") for l in read(os.path.join(work, "stages.tsv")).splitlines() if l.strip()]
ctest = read(os.path.join(out, "ctest.log"))
# CTest 3.x: "100% tests passed, 0 tests failed out of 192"; CTest 4: "100% tests passed out of 192".
m = re.search(r"(\d+)% tests passed, (\d+) tests? failed out of (\d+)", ctest)
m4 = re.search(r"(\d+)% tests passed out of (\d+)", ctest)
tests = (f"{int(m.group(3)) - int(m.group(2))}/{m.group(3)} passed" if m else
         f"{m4.group(2)}/{m4.group(2)} passed" if m4 else "no ctest summary")
# Test names may carry gtest's "  # GetParam() = ..." comment; the status is the last "(...)".
status_line = re.compile(r"^\s*\d+ - (.*) \(([^()]*)\)\s*$", re.M)
skipped = sum(1 for _, why in status_line.findall(ctest) if why == "Skipped")
failed_part = ctest.split("The following tests FAILED:", 1)[1] if "The following tests FAILED:" in ctest else ""
failed = [f"{n.split('  #')[0]} ({why})" for n, why in status_line.findall(failed_part)]
def sanitizer_errors(name):
    text = read(os.path.join(work, name + ".log"))
    m = re.search(r"ERROR SUMMARY: (\d+) error", text) or re.search(r"RACECHECK SUMMARY: (\d+) hazard", text)
    passed = re.search(r"\[  PASSED  \] (\d+) test", text)
    fails = re.search(r"\[  FAILED  \] (\d+) test", text)
    s = f"{m.group(1)} errors" if m else "no summary line"
    s += f", {passed.group(1) if passed else 0} tests passed"
    if fails: s += f", {fails.group(1)} FAILED"
    return s
old_new = read(os.path.join(work, "old_new.md"))
module = next((b for b in [json.loads(l) for l in read(os.path.join(work, "bench.jsonl")).splitlines() if l.strip()]
               if b.get("bench") == "torch_module_fwd_bwd"), None)
m_on = re.search(r"^Overall: (.*)$", old_new, re.M)
notes = {"ctest": f"{tests}, {skipped} skipped" + (f"; failed: {', '.join(failed[:20])}" if failed else ""),
         "memcheck": sanitizer_errors("memcheck"), "racecheck": sanitizer_errors("racecheck"),
         "old_new": m_on.group(1) if m_on else "no table"}
if any(s[0] == "gtest_install" for s in stages):
    notes["configure"] = "GTest::gtest alias clash in cmake/Dependencies.cmake (guard it with if(NOT TARGET))"
    notes["gtest_install"] = "workaround: the carried googletest installed and found by find_package"
bench = []
for l in read(os.path.join(work, "bench.jsonl")).splitlines():
    try: bench.append(json.loads(l))
    except ValueError: pass
ours = {b["shape"]: b for b in bench if b.get("bench") == "fhn_layer_fwd_bwd" and b.get("valid")}
peaks = next((b for b in bench if b.get("bench") == "device_peaks"), None)
peer = {b["run"]: b for b in bench if b.get("peer") == "pytorch"}
lines = ["# Device check", "", "```", env, "```", "", f"Total {total} s.", "",
         "| stage | status | seconds | notes |", "| --- | --- | --- | --- |"]
for s in stages:
    name, status, secs = (s + ["", "", ""])[:3]
    lines.append(f"| {name} | {status} | {secs} | {notes.get(name, '')} |")
lines += ["", "## FHN layer forward + backward (bench_fhn) against the PyTorch peer (`pmnn_torch.py layer`)", ""]
if peaks:
    lines.append(f"Measured ceilings on {peaks['device']}: FP32 FMA {peaks['fp32_fma_gflops']:.0f} GFLOP/s, "
                 f"device-to-device copy {peaks['d2d_copy_gbs']:.0f} GB/s (read + write).")
    lines.append("")
lines += ["| shape | ours ms (median) | GFLOP/s (% FP32 peak) | GB/s (% copy bw) | peer eager ms | ratio | peer compile ms | ratio |",
          "| --- | --- | --- | --- | --- | --- | --- | --- |"]
for shape in ("paper", "wide", "paper+params", "wide+params"):
    o = ours.get(shape)
    if not o:
        bad = [b for b in bench if b.get("shape") == shape and b.get("valid") is False]
        lines.append(f"| {shape} | {'INVALID: ' + bad[0].get('detail', '') if bad else 'not run'} | | | | | | |")
        continue
    row = f"| {shape} (B {o['batch']}, N {o['neurons']}, {o['steps']} steps) | {o['ms_median']:.4f} | " \
          f"{o['gflops']:.0f} ({o['pct_fp32_peak']:.1f}%) | {o['gbs']:.0f} ({o['pct_d2d_bw']:.1f}%) |"
    for mode in ("eager", "compile"):
        p = peer.get(f"peer_{shape}_{mode}") if "+" not in shape else None
        row += f" {p['layer_ms_median']:.3f} | {p['layer_ms_median'] / o['ms_median']:.1f}x |" if p else " not run | |"
    lines.append(row)
lines += ["", "Rows without +params compute what the peer's `layer` benchmark computes (gradients of the initial",
          "state only); +params also reduces the a, b, g, I gradients over the batch (training with trainable FHN",
          "parameters), which the peer does not do, so it has no ratio.",
          "", "Ratio: the peer's median time divided by ours (higher is better for us). Our time is CUDA events around",
          "the kernels with L2 flushed before each repeat; the peer's is a host clock around forward + backward with",
          "synchronisation, as pmnn_torch.py measures it.", ""]
if module:
    lines += ["## dynpmnn.torch's FHN module against the raw op (bench/bench_torch_module.py)", "",
              f"Wide shape, forward + backward, torch {module['torch']}: module {module['module_ms_median']:.4f} ms, "
              f"raw op {module['raw_ms_median']:.4f} ms, module / raw {module['module_over_raw']:.3f} "
              f"({'within' if module['within_10_percent'] else 'ABOVE'} the 10 % bound; outputs "
              f"{'identical' if module['valid'] else 'DIFFERENT'}).", ""]
if old_new.strip():
    lines += [old_new.strip(), ""]
for run in ("sweep_bench", "sweep_default"):
    sweep = next((b for b in bench if b.get("run") == run and "populations" in b), None)
    if not sweep:
        continue
    lines += [f"## Sweep benchmark, {run} (bench/bench_sweep.py)", "",
              f"{sweep['points_trained']} points of {sweep['grid']} ({sweep['points']}), "
              f"{sweep.get('epochs', '')} epochs: populations (--jobs {sweep['populations']['jobs']}) "
              f"{sweep['populations']['seconds']:.1f} s ({sweep['populations']['runs_per_second']:.2f} runs/s)."]
    for a in sweep["alone"]:
        lines.append(f"One at a time, --jobs {a.get('label', a['jobs'])}: {a['seconds']:.1f} s ({a['runs_per_second']:.2f} runs/s), "
                     f"rows equal to the population's: {a['rows_equal_to_population_rows']}/{a['rows']}.")
    lines += [f"Ratio to the best one-at-a-time: {sweep['speedup_vs_best_alone']:.2f}x ({sweep['alone_full_method']}).", ""]
launch_rows = [b for b in bench if b.get("bench") == "population_launches"]
if launch_rows:
    lines += ["## Kernel launches per minibatch step (bench_population_launches, CUPTI)", "",
              "| form | models | runtime launches | driver launches | graph launches | per step |",
              "| --- | --- | --- | --- | --- | --- |"]
    for b in launch_rows:
        lines.append(f"| {b['form']} | {b['models']} | {b['runtime_kernel_launches']} | {b['driver_kernel_launches']} | "
                     f"{b['graph_launches']} | {b['launches_per_step']:.3f} |")
    lines.append("")
paper = next((b for b in bench if b.get("run") == "paper_epoch" and "modes" in b), None)
if paper:
    lines += ["## One paper-config run's epoch (bench/bench_paper_epoch.py)", "",
              "| mode | epoch ms (median) | CPU epoch / this | backend |", "| --- | --- | --- | --- |"]
    for mode, r in paper["modes"].items():
        lines.append(f"| {mode} | {1e3 * r['epoch_s']:.2f} | {r.get('cpu_over_this', float('nan')):.2f}x | {r['backend']} |")
    lines.append("")
for grid in ("paper-full", "paper-full-imex"):
    prov = read(os.path.join(out, f"grid-report-{grid}", "provenance.json"))
    if prov.strip():
        p = json.loads(prov)
        lines += [f"## The full grid {grid} (bench/grid_report.py --device cuda --points all)", "",
                  f"Sweep wall time {p.get('sweep_seconds')} s; outcomes {p.get('sweeps')}; report "
                  f"grid-report-{grid}.md.", ""]
train = read(os.path.join(out, "train.json"))
if train.strip():
    lines += ["## End-to-end training (bench/bench_train)", "", "```", train.strip()[:3000], "```", ""]
summary = "\n".join(lines) + "\n"
with open(os.path.join(out, "summary.md"), "w") as f:
    f.write(summary)
print(summary)
PY
ls -la "$OUT"
rm -rf "$work"
