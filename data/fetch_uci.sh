#!/usr/bin/env bash
# Downloads the paper's small UCI classification datasets and writes them as CSV files with a
# header row, ready for `dynpmnn train --data FILE --target COLUMN --task classification`:
#   data/cache/uci/iris.csv           sepal_length,sepal_width,petal_length,petal_width,species
#   data/cache/uci/banknote.csv       variance,skewness,curtosis,entropy,class
#   data/cache/uci/breast_cancer.csv  diagnosis (M/B) and the 30 WDBC features (the id column dropped)
# docs/datasets.md has the train commands. Nothing is committed: data/cache/ is git-ignored.
#
# Usage: data/fetch_uci.sh [--from DIR] [--force] [iris] [banknote] [breast_cancer]
#   --from DIR  convert files already downloaded into DIR (iris.data,
#               data_banknote_authentication.txt, wdbc.data) instead of downloading them
#   --force     rewrite a CSV that exists
#   names       which datasets (default: all three)
set -euo pipefail

readonly UCI="https://archive.ics.uci.edu/ml/machine-learning-databases"
readonly IRIS_URL="$UCI/iris/iris.data"
readonly BANKNOTE_URL="$UCI/00267/data_banknote_authentication.txt"
readonly WDBC_URL="$UCI/breast-cancer-wisconsin/wdbc.data"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="$repo_root/data/cache/uci"

die() { echo "fetch_uci.sh: $*" >&2; exit 1; }
usage() { sed -n '9,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

from=""
force=0
names=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --from) [[ $# -ge 2 ]] || die "--from needs a DIR"; from="$2"; shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) usage; exit 0 ;;
    iris|banknote|breast_cancer) names+=("$1"); shift ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[[ ${#names[@]} -gt 0 ]] || names=(iris banknote breast_cancer)

mkdir -p "$out_dir"
# Work beside the output so the final mv is a rename: a reader never sees a half-written file.
work="$(mktemp -d "$out_dir/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# get URL FILE: $from/FILE if --from, else a download, into $work/FILE with LF line endings.
get() {
  local url="$1" file="$2"
  if [[ -n "$from" ]]; then
    [[ -f "$from/$file" ]] || die "--from $from: no file $file"
    cp "$from/$file" "$work/$file.raw"
  elif command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 3 -o "$work/$file.raw" "$url" || die "cannot download $url"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$work/$file.raw" "$url" || die "cannot download $url"
  else
    die "neither curl nor wget is installed; download $url by hand and use --from"
  fi
  tr -d '\r' < "$work/$file.raw" > "$work/$file"
  echo "fetch_uci.sh: $file sha256 $(sha256sum "$work/$file" | cut -d' ' -f1) (from ${from:-$url})"
}

# finish NAME HEADER FILE EXPECTED_ROWS AWK_PROGRAM: header + converted non-blank rows, the column
# and row counts checked, then renamed into place.
finish() {
  local name="$1" header="$2" file="$3" rows="$4" program="$5"
  local csv="$work/$name.csv"
  { echo "$header"; awk -F, "NF > 0 { $program }" "$work/$file"; } > "$csv"
  local columns got
  columns=$(awk -F, 'NR == 1 { print NF }' "$csv")
  awk -F, -v n="$columns" 'NF != n { bad = 1; print "fetch_uci.sh: '"$name"': line " NR " has " NF " fields, the header " n > "/dev/stderr" } END { exit bad }' "$csv" \
    || die "$name: the converted file is malformed; nothing was written"
  got=$(( $(wc -l < "$csv") - 1 ))
  [[ "$got" -eq "$rows" ]] || die "$name: $got rows, expected $rows; nothing was written"
  mv "$csv" "$out_dir/$name.csv"
  echo "fetch_uci.sh: wrote $out_dir/$name.csv ($rows rows)"
}

for name in "${names[@]}"; do
  if [[ $force -eq 0 && -f "$out_dir/$name.csv" ]]; then
    echo "fetch_uci.sh: $out_dir/$name.csv exists (--force rewrites it)"
    continue
  fi
  case "$name" in
    iris)
      get "$IRIS_URL" iris.data
      finish iris "sepal_length,sepal_width,petal_length,petal_width,species" iris.data 150 'print' ;;
    banknote)
      get "$BANKNOTE_URL" data_banknote_authentication.txt
      finish banknote "variance,skewness,curtosis,entropy,class" data_banknote_authentication.txt 1372 'print' ;;
    breast_cancer)
      get "$WDBC_URL" wdbc.data
      header="diagnosis"
      for stat in mean se worst; do
        for f in radius texture perimeter area smoothness compactness concavity concave_points symmetry \
                 fractal_dimension; do
          header+=",${f}_${stat}"
        done
      done
      # Drop column 1 (the patient id, not a feature).
      finish breast_cancer "$header" wdbc.data 569 'sub(/^[^,]*,/, ""); print' ;;
  esac
done
