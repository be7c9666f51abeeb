#!/usr/bin/env bash
# The CMake package end to end: install BUILD_DIR into a fresh prefix, check that no path of the
# source or build tree is compiled into the installed library, build examples/consumer against the
# prefix, run it (train + predict through the embedding API), then move the prefix elsewhere and
# check that the installed CLI still finds its presets there (share/dynpmnn beside bin/) and predicts
# what the consumer printed. CTest runs it as cmake_package_consumer.
# Usage: examples/consumer/check.sh BUILD_DIR WORK_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
work=$2
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
rm -rf "$work"
mkdir -p "$work"
work=$(cd "$work" && pwd)
unset DYNPMNN_SHARE_DIR

cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
lib=$(find "$work/prefix" -name libdynpmnn_core.a)
for tree in "$src" "$build"; do
  if grep -a -F -q "$tree" "$lib" "$work/prefix/bin/dynpmnn"; then
    echo "FAIL: the installed library or CLI holds the path $tree:" >&2
    grep -a -o -F "$tree[^[:cntrl:]]*" "$lib" "$work/prefix/bin/dynpmnn" | sort -u | head >&2
    exit 1
  fi
done

generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
cmake -S "$src/examples/consumer" -B "$work/consumer" "${generator[@]}" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_BUILD_TYPE=Release > "$work/consumer-configure.log"
cmake --build "$work/consumer" > "$work/consumer-build.log"

# A small regression set: y from three features, rows from a fixed linear congruential sequence.
awk 'BEGIN { s = 12345; print "a,b,c,y";
  for (i = 0; i < 160; ++i) { for (j = 0; j < 3; ++j) { s = (s * 1103515245 + 12345) % 2147483648; x[j] = s / 2147483648 * 4 - 2 }
    printf "%.6f,%.6f,%.6f,%.6f\n", x[0], x[1], x[2], x[0] * x[1] - x[2] * x[2] + 0.5 * x[1] } }' > "$work/train.csv"
head -n 21 "$work/train.csv" > "$work/input.csv"

"$work/consumer/dynpmnn_consumer" "$work/train.csv" y "$work/run" "$work/input.csv" > "$work/consumer.txt"
[ "$(wc -l < "$work/consumer.txt")" -eq 20 ] || { echo "FAIL: the consumer printed $(wc -l < "$work/consumer.txt") predictions, expected 20" >&2; exit 1; }

mv "$work/prefix" "$work/moved"
# The installed CLI, moved: it finds default.toml in moved/share/dynpmnn (train without --preset
# starts from it) and predicts with the run the consumer trained.
"$work/moved/bin/dynpmnn" train --data "$work/train.csv" --target y --epochs 1 --device cpu --quiet \
  --out "$work/cli-run" > /dev/null
"$work/moved/bin/dynpmnn" predict "$work/run" --input "$work/input.csv" --output "$work/cli.csv" > /dev/null
tail -n +2 "$work/cli.csv" | paste -d, - "$work/consumer.txt" | awk -F, '
  { d = $1 - $2; if (d < 0) d = -d; s = $1 < 0 ? -$1 : $1; if (d > 1e-12 * (1 + s)) { bad++; print "row " NR ": cli " $1 ", consumer " $2 } }
  END { if (NR != 20 || bad) { print "FAIL: " bad + 0 " of " NR " predictions differ"; exit 1 } }' >&2
echo "cmake package: installed, no build path inside, consumer built and run, 20 predictions equal to the CLI's"
