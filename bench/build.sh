#!/usr/bin/env bash
# Build benchmark. Prints, as ratios to `cp -a` of the resulting rootfs measured in the same
# run (this machine is noisy; absolute times are shown but the ratio is the figure):
#   - a warm-cache build of examples/hello (nodejs18.x, x86_64), nothing changed
#   - the rebuild after a one-line code change
#   - the first invoke of that rebuilt image, which unpacks it: linked from the cached base
#     of its lower layers (builder/rootfs_base.c), and with no base cached (made first)
# and the image size against the sum of its parts.
# usage: bench/build.sh [path/to/lbox] [runs]
set -euo pipefail
lbox=$(realpath "${1:-build/lbox}")
runs=${2:-5}
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_DATA_HOME=$work/data
# The downloads and built layers stay warm (shared); unpacked images go to a cache of this
# run's own, which the run empties of bases as it pleases and deletes at the end.
shared=${XDG_CACHE_HOME:-$HOME/.cache}/lbox
mkdir -p "$shared/blobs" "$shared/urls" "$shared/layers" "$work/cache/lbox"
for d in blobs urls layers; do ln -s "$shared/$d" "$work/cache/lbox/$d"; done
export XDG_CACHE_HOME=$work/cache

cp -r "$src/examples/hello" "$work/fn"
build() { "$lbox" build --runtime nodejs18.x --arch x86_64 --code "$work/fn" --tag bench:hello "$@" >/dev/null 2>&1; }
build  # warm every cache
build -o "$work/rootfs" --format rootfs

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_ns() { local t0 t1; t0=$(now); "$@"; t1=$(now); echo $((t1 - t0)); }

echo '{}' >"$work/event.json"
invoke() { "$lbox" invoke bench:hello --event "$work/event.json" >/dev/null 2>&1; }
rootfs_cache=$XDG_CACHE_HOME/lbox/rootfs
invoke # the base of its lower layers, cached

cp_runs=() warm_runs=() change_runs=() linked_runs=() nobase_runs=()
for i in $(seq "$runs"); do
  rm -rf "$work/copy"; sync
  cp_runs+=("$(time_ns cp -a "$work/rootfs" "$work/copy")")
  warm_runs+=("$(time_ns build)")
  echo "// change $i" >>"$work/fn/index.js"
  change_runs+=("$(time_ns build)")
  sync
  linked_runs+=("$(time_ns invoke)")
  echo "// change $i again" >>"$work/fn/index.js"
  build
  rm -rf "$rootfs_cache"/base-*; sync
  nobase_runs+=("$(time_ns invoke)")
done
cp_ns=$(printf '%s\n' "${cp_runs[@]}" | median)
warm_ns=$(printf '%s\n' "${warm_runs[@]}" | median)
change_ns=$(printf '%s\n' "${change_runs[@]}" | median)
linked_ns=$(printf '%s\n' "${linked_runs[@]}" | median)
nobase_ns=$(printf '%s\n' "${nobase_runs[@]}" | median)
ms() { awk -v n="$1" 'BEGIN {printf "%.1f ms", n / 1e6}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3fx", a / b}'; }

rootfs_bytes=$(du -sb "$work/rootfs" | cut -f1)
layers=$("$lbox" inspect bench:hello --json | jq '[.manifest.layers[].size] | add')
echo "lbox build benchmark ($runs runs, medians; baseline: cp -a of the $((rootfs_bytes / 1000000)) MB rootfs)"
printf '%-36s %12s %10s\n' "what" "time" "ratio"
printf '%-36s %12s %10s\n' "cp -a rootfs (baseline)" "$(ms "$cp_ns")" "1.00x"
printf '%-36s %12s %10s\n' "warm build, nothing changed" "$(ms "$warm_ns")" "$(ratio "$warm_ns" "$cp_ns")"
printf '%-36s %12s %10s\n' "rebuild after a one-line change" "$(ms "$change_ns")" "$(ratio "$change_ns" "$cp_ns")"
printf '%-36s %12s %10s\n' "its first invoke (base cached)" "$(ms "$linked_ns")" "$(ratio "$linked_ns" "$cp_ns")"
printf '%-36s %12s %10s\n' "its first invoke, no base cached" "$(ms "$nobase_ns")" "$(ratio "$nobase_ns" "$cp_ns")"
echo
echo "image size (compressed layers) vs the sum of its parts (unpacked rootfs):"
"$lbox" inspect bench:hello --json | jq -r '.manifest.layers[] | "  layer \(.digest[7:19])  \(.size) bytes"'
printf '  image %d bytes / rootfs %d bytes = %s\n' "$layers" "$rootfs_bytes" "$(ratio "$layers" "$rootfs_bytes")"
