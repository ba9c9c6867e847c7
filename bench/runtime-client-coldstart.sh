#!/usr/bin/env bash
# End-to-end cold start of the runtime client at a git revision vs the working tree:
# builds examples/hello for nodejs18.x twice (the runtime folder taken from REV, then from
# this tree), then runs `lbox invoke` cold RUNS times each, interleaved, and prints the
# medians of the REPORT line's Init Duration, Duration and their sum, and the least sum
# (on a shared machine the noise only adds, so the minimum moves least).
# usage: LBOX=path/to/lbox bench/runtime-client-coldstart.sh [REV (default HEAD)] [RUNS (default 30)]
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
rev=${1:-HEAD}
runs=${2:-30}
: "${LBOX:?set LBOX to the lbox binary}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The "before" data dir: this tree's recipes with REV's runtime client.
cp -r "$src/base-images" "$work/data-before"
rm -rf "$work/data-before/runtime"
git -C "$src" archive "$rev" base-images/runtime | tar -x -C "$work"
mv "$work/base-images/runtime" "$work/data-before/runtime"
echo '{"name":"bench"}' > "$work/event.json"

LBOX_DATA_DIR="$work/data-before" "$LBOX" build --runtime nodejs18.x --arch x86_64 \
  --code "$src/examples/hello" --tag lbox-bench-rc-before >/dev/null
"$LBOX" build --runtime nodejs18.x --arch x86_64 --code "$src/examples/hello" --tag lbox-bench-rc-after >/dev/null

report() {  # prints "init duration" of one cold invoke of image $1
  "$LBOX" invoke "$1" --event "$work/event.json" 2>&1 >/dev/null |
    sed -n 's/^REPORT.*Duration: \([0-9.]*\) ms.*Billed.*Init Duration: \([0-9.]*\) ms.*/\2 \1/p'
}
for _ in $(seq "$runs"); do
  report lbox-bench-rc-before >> "$work/before"
  report lbox-bench-rc-after >> "$work/after"
done
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for which in before after; do
  f="$work/$which"
  [ "$(wc -l < "$f")" -eq "$runs" ] || { echo "runtime-client-coldstart: missing REPORT lines for $which" >&2; exit 1; }
  printf '%-7s init %8s ms   duration %7s ms   init+duration %8s ms (min %8s)   medians of %d\n' "$which" \
    "$(awk '{ print $1 }' "$f" | median)" "$(awk '{ print $2 }' "$f" | median)" \
    "$(awk '{ print $1 + $2 }' "$f" | median)" "$(awk '{ print $1 + $2 }' "$f" | sort -n | head -1)" "$runs"
done
"$LBOX" rm lbox-bench-rc-before lbox-bench-rc-after >/dev/null 2>&1 || :
