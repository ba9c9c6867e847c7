#!/usr/bin/env bash
# With --network host the Runtime API is on the host's loopback, where any local process can
# connect; the runner turns strangers away (sandbox/peer.c). This measures what a flood of
# such connections costs the environment they target, as a ratio in the same run: the
# invokes that re-initialise after a crash (each opens a new connection to the Runtime API),
# their longest Duration (one dropped connection costs the runtime a second or more, so the
# worst case is what shows the harm), alone and while a second --network host environment floods the first's
# port with 200 reconnecting loops (for 6 s before the first crash: the flood's closed
# connections pile up in the host's TCP table meanwhile, as they would in a longer attack).
#   bench/host_network_flood.sh [path/to/lbox]   (env: ROUNDS=8)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
LBOX=${1:-$src/build/lbox}
ROUNDS=${ROUNDS:-8}
export XDG_DATA_HOME=${LBOX_BENCH_DATA:-$(dirname "$LBOX")/bench-data}
export XDG_CACHE_HOME=${XDG_CACHE_HOME:-$(dirname "$LBOX")/test-cache}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
"$LBOX" build --runtime nodejs18.x --arch x86_64 --code "$src/bench/flood" --tag bench-flood >/dev/null
echo '{"crash":true}' >"$work/crash.json"; echo '{}' >"$work/reply.json"
echo '{"sleep":6000}' >"$work/sleep.json"
events=(--event "$work/sleep.json"); for _ in $(seq "$ROUNDS"); do events+=(--event "$work/crash.json" --event "$work/reply.json"); done

# Prints the longest Duration of the invokes right after a crash (the re-initialising ones).
reinit_max() {
  grep -oP '^REPORT.*?\tDuration: \K[0-9.]+' "$1" | awk 'NR > 1 && NR % 2 == 1' | sort -g | tail -n 1
}
target() { # the flooded environment: it must own port 9001
  "$LBOX" invoke bench-flood --network host --timeout 10 "${events[@]}" >/dev/null 2>"$1" || true
}

target "$work/alone"
target "$work/flooded" &
tpid=$!
sleep 0.5
echo "{\"flood\":$((6000 + ROUNDS * 2000)),\"port\":9001}" >"$work/flood.json"
"$LBOX" invoke bench-flood --network host --timeout 60 --event "$work/flood.json" \
  >"$work/flood.out" 2>/dev/null &
fpid=$!
wait "$tpid"
kill "$fpid" 2>/dev/null || true; wait "$fpid" 2>/dev/null || true
alone=$(reinit_max "$work/alone"); flooded=$(reinit_max "$work/flooded")
echo "re-initialising invoke, longest of $ROUNDS: alone $alone ms, under a flood from another environment $flooded ms: ratio $(echo "scale=2; $flooded / $alone" | bc)x"
