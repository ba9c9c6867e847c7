#!/bin/bash
# Foreign-architecture cost: examples/hello (nodejs18.x) as an arm64 image under QEMU vs
# the same function as a native x86_64 image, both measured in this run:
#  - cold start: the whole `lbox invoke` process and REPORT's Init Duration (median of RUNS);
#  - warm invoke: p50/p99 of REPORT's Duration over EVENTS events in one environment.
# Usage: bench/qemu.sh [path/to/lbox]   (env: RUNS=5 EVENTS=200)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
LBOX=${1:-${LBOX:-$src/build/lbox}}
RUNS=${RUNS:-5}
EVENTS=${EVENTS:-200}
export XDG_DATA_HOME=${LBOX_BENCH_DATA:-$(dirname "$LBOX")/bench-data}
export XDG_CACHE_HOME=${XDG_CACHE_HOME:-$(dirname "$LBOX")/test-cache}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ "$(uname -m)" = x86_64 ] || { echo "run on an x86_64 host (emulates arm64)" >&2; exit 1; }

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
pct() { sort -g | awk -v p="$1" '{a[NR]=$1} END {i=int(NR*p/100+0.999); if (i<1) i=1; print a[i]}'; }
# "\t" + name: "Duration" alone would also match Billed and Init Duration.
field() { grep -oP "\t$1: \K[0-9.]+" ; }

# Always (re)build: cached layers make it cheap, and the images must be this tree's.
for a in x86_64 arm64; do
  "$LBOX" build --runtime nodejs18.x --arch "$a" --code "$src/examples/hello" \
    --tag "bench-qemu-hello:$a" >/dev/null
  "$LBOX" invoke "bench-qemu-hello:$a" --timeout 60 >/dev/null 2>&1 # unpack once
done
echo '{"name":"bench"}' >"$work/e.json"
for i in $(seq "$EVENTS"); do echo '{"name":"bench"}'; done >"$work/many.jsonl"

declare -A cold init p50 p99
for a in x86_64 arm64; do
  : >"$work/cold.$a"; : >"$work/init.$a"
  for i in $(seq "$RUNS"); do
    t0=$(now)
    "$LBOX" invoke "bench-qemu-hello:$a" --event "$work/e.json" --timeout 60 >/dev/null 2>"$work/err"
    t1=$(now)
    echo "($t1 - $t0) * 1000" | bc -l >>"$work/cold.$a"
    grep '^REPORT' "$work/err" | field 'Init Duration' >>"$work/init.$a"
  done
  cold[$a]=$(median <"$work/cold.$a")
  init[$a]=$(median <"$work/init.$a")
  "$LBOX" invoke "bench-qemu-hello:$a" --event "$work/many.jsonl" --timeout 60 >/dev/null 2>"$work/err"
  grep '^REPORT' "$work/err" | tail -n +2 | field 'Duration' >"$work/warm.$a"
  p50[$a]=$(pct 50 <"$work/warm.$a")
  p99[$a]=$(pct 99 <"$work/warm.$a")
done

ratio() { echo "scale=1; $1 / $2" | bc -l; }
printf '%-28s %12s %12s %8s\n' "examples/hello nodejs18.x" "x86_64" "arm64/QEMU" "ratio"
printf '%-28s %9.0f ms %9.0f ms %7sx\n' "cold invoke (whole process)" "${cold[x86_64]}" "${cold[arm64]}" "$(ratio "${cold[arm64]}" "${cold[x86_64]}")"
printf '%-28s %9.0f ms %9.0f ms %7sx\n' "Init Duration" "${init[x86_64]}" "${init[arm64]}" "$(ratio "${init[arm64]}" "${init[x86_64]}")"
printf '%-28s %9.2f ms %9.2f ms %7sx\n' "warm Duration p50" "${p50[x86_64]}" "${p50[arm64]}" "$(ratio "${p50[arm64]}" "${p50[x86_64]}")"
printf '%-28s %9.2f ms %9.2f ms %7sx\n' "warm Duration p99" "${p99[x86_64]}" "${p99[arm64]}" "$(ratio "${p99[arm64]}" "${p99[x86_64]}")"
echo "target: warm invoke under QEMU <= 10 ms p50 -> $(echo "${p50[arm64]} <= 10" | bc -l | sed 's/1/met/;s/0/not met/')"
