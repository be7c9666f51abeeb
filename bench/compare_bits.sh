#!/usr/bin/env bash
# Bit-for-bit comparison of two dynpmnn binaries on the CPU: a refactor must not change a number.
#
#   bench/compare_bits.sh OLD_BIN NEW_BIN [OUTDIR]
#
# Trains every preset in models/presets/*.toml (not sweeps/ or tables/) for 2 epochs with
# --device cpu, once with each binary, the old one first and the new one right after on the same
# machine, into the same run-folder path (so that paths stored in configs and checkpoints agree),
# then runs eval and predict (a few raw rows of the data file) on each run folder.
# bench/compare_runs.py then compares the two: exit codes, final.json, metrics.jsonl, best_params.json,
# checkpoint.bin and best.bin parsed field by field, eval, predict, config.toml, the loss plot and
# train's stderr, leaving out only what depends on the clock (per-epoch seconds, epoch_seconds,
# run_dir). One line per preset: "identical" or "DIFFERENT: <first differing field>"; exits 1 if any
# preset differs, 2 on a usage error. A preset that diverges by design (paper-california exits 3)
# is compared like the others: its exit code is part of the comparison.
#
# Stored golden values are not portable (OpenBLAS picks its kernels per CPU), which is why both
# binaries run here, now. Takes 2 × (the presets' two epochs, single-threaded BLAS): 80 s on this
# 2-core machine, 150 s while other builds ran beside it; over half of it the Neural ODE.
#
# Environment: DYNPMNN_DATA (cal_housing.data; default: ../shared/data/ beside the repo, then
# data/cache/), COMPARE_EPOCHS (default 2), COMPARE_PRESETS (space-separated names; default all),
# COMPARE_OLD_ARGS / COMPARE_NEW_ARGS (extra train arguments for one side only, e.g. "--seed 1" to
# see the comparison fail), COMPARE_ADDED_KEYS (configuration lines of keys added since the old
# binary, with their old behaviour's value, e.g. 'target_scaling = "none"': bench/compare_runs.py),
# COMPARE_RENAMED_VALUES (values the new binary spells differently for the same run, e.g.
# 'split = "0.7,0.15,0.15" => split = "paper"'). Against 1b67f8f both are needed since issue 12.
# OUTDIR (default: a new folder under /tmp) keeps both sides' outputs.
set -uo pipefail

if (($# < 2 || $# > 3)); then
  sed -n '2,27p' "$0" >&2
  exit 2
fi
old_bin=$(realpath "$1")
new_bin=$(realpath "$2")
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${3:-$(mktemp -d /tmp/compare_bits.XXXXXX)}
mkdir -p "$out"
out=$(realpath "$out")
for b in "$old_bin" "$new_bin"; do
  [ -x "$b" ] || { echo "compare_bits: $b is not an executable" >&2; exit 2; }
done

data=${DYNPMNN_DATA:-}
if [ -z "$data" ]; then
  for candidate in "$root/../shared/data/cal_housing.data" "$root/data/cache/cal_housing.data"; do
    [ -f "$candidate" ] && data=$(realpath "$candidate") && break
  done
fi
[ -f "$data" ] || { echo "compare_bits: no cal_housing.data (set DYNPMNN_DATA)" >&2; exit 2; }
export DYNPMNN_DATA=$data
epochs=${COMPARE_EPOCHS:-2}
read -ra old_args <<<"${COMPARE_OLD_ARGS:-}"
read -ra new_args <<<"${COMPARE_NEW_ARGS:-}"

if [ -n "${COMPARE_PRESETS:-}" ]; then
  read -ra presets <<<"$COMPARE_PRESETS"
else
  presets=()
  for f in "$root"/models/presets/*.toml; do presets+=("$(basename "$f" .toml)"); done
fi

# Raw rows in the data file's column order (its last column, the target, is ignored by predict):
# the first three, a middle one and the last.
rows="$out/rows.csv"
{ sed -n '1,3p' "$data"; sed -n '10000p' "$data"; tail -n 1 "$data"; } >"$rows"

# side NAME BIN PRESET ARGS...: train, eval and predict with one binary; everything it writes goes
# to $out/PRESET/NAME, the run folder last (it is trained at $out/run, the same path for both).
side() {
  local name=$1 bin=$2 preset=$3
  shift 3
  local dir="$out/$preset/$name" run="$out/run"
  rm -rf "$dir" "$run"
  mkdir -p "$dir"
  local t0=$SECONDS train_rc eval_rc predict_rc
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$bin" train --preset "$preset" --device cpu --epochs "$epochs" \
    --data "$data" --out "$run" --quiet "$@" >"$dir/train.out" 2>"$dir/train.err"
  train_rc=$?
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$bin" eval "$run" --device cpu --data "$data" \
    >"$dir/eval.json" 2>"$dir/eval.err"
  eval_rc=$?
  OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "$bin" predict "$run" --device cpu --input "$rows" \
    --output "$dir/predict.csv" >/dev/null 2>"$dir/predict.err"
  predict_rc=$?
  printf '{"train": %d, "eval": %d, "predict": %d}\n' "$train_rc" "$eval_rc" "$predict_rc" >"$dir/status.json"
  mv "$run" "$dir/run" 2>/dev/null
  echo $((SECONDS - t0))
}

start=$SECONDS
differ=0
printf '%-26s %-6s %-6s %s\n' preset "old s" "new s" result
for preset in "${presets[@]}"; do
  t_old=$(side old "$old_bin" "$preset" "${old_args[@]}")
  t_new=$(side new "$new_bin" "$preset" "${new_args[@]}")
  result=$(python3 "$root/bench/compare_runs.py" "$out/$preset/old" "$out/$preset/new") || differ=1
  rc_note=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["train"])' "$out/$preset/old/status.json")
  [ "$rc_note" != 0 ] && result="$result (train exit $rc_note)"
  printf '%-26s %-6s %-6s %s\n' "$preset" "$t_old" "$t_new" "$result"
done
echo "compare_bits: ${#presets[@]} presets, $((SECONDS - start)) s; outputs in $out"
exit $differ
