#!/bin/bash
# Benchmarks of `lbox invoke`, each as a ratio to a baseline measured in the same run:
#  - cold invoke of examples/hello (nodejs18.x, x86_64), whole `lbox invoke` process, vs the
#    same handler run by the same node binary outside any sandbox;
#  - warm invokes: p50/p99 of REPORT's Duration and invokes per second over many events in
#    one environment, vs the bare node loop calling the handler directly;
#  - the runner's memory (RSS of the lbox process) per environment.
# Usage: bench/invoke.sh [path/to/lbox]   (env: RUNS=15 EVENTS=2000)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
LBOX=${1:-${LBOX:-$src/build/lbox}}
RUNS=${RUNS:-15}
EVENTS=${EVENTS:-2000}
export XDG_DATA_HOME=${LBOX_BENCH_DATA:-$(dirname "$LBOX")/bench-data}
export XDG_CACHE_HOME=${XDG_CACHE_HOME:-$(dirname "$LBOX")/test-cache}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# Always (re)build: cached layers make it cheap, and the image must be this tree's.
"$LBOX" build --runtime nodejs18.x --arch x86_64 --code "$src/examples/hello" --tag bench-hello >/dev/null
"$LBOX" build --runtime nodejs18.x --arch x86_64 --code "$src/examples/timeout" --tag bench-timeout >/dev/null
"$LBOX" invoke bench-hello >/dev/null 2>&1 # unpacks the rootfs once (cached)

# The image's own node binary, run on the host.
node_bin=$("$LBOX" inspect bench-hello --json | jq -r .digest | sed "s|^sha256:|$XDG_CACHE_HOME/lbox/rootfs/|")/var/lang/bin/node
[ -x "$node_bin" ] || { echo "cannot find the image's node under $XDG_CACHE_HOME/lbox/rootfs" >&2; exit 1; }

echo '{"name":"bench"}' >"$work/e.json"
cat >"$work/bare.js" <<'JS'
const h = require(process.argv[2]).handler;
const n = Number(process.argv[3] || 1);
(async () => {
  const d = [];
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    await h({ name: 'bench' }, { awsRequestId: String(i) });
    d.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  if (n > 1) console.log(JSON.stringify(d));
  else console.log(JSON.stringify(await h({ name: 'bench' }, { awsRequestId: 'x' })));
})();
JS

# Cold: whole process, first event. The three commands take turns in every round, so a
# slow spell of this (noisy, shared) machine hits them alike; medians over the rounds.
#  - lbox: `lbox invoke`, from exec to exit (sandbox set-up and teardown included);
#  - bare: the image's node runs the handler outside any sandbox with a clean environment;
#  - bare-lambda: the same node as Lambda's bootstrap starts it (its flags and
#    NODE_EXTRA_CA_CERTS, with which node 18 builds its whole root store at start, as it
#    also does on Lambda): the gap to this one is what the sandbox and the runner cost;
#  - lbox-noca: `lbox invoke --env NODE_EXTRA_CA_CERTS=` (lbox's bootstrap keeps an empty
#    value, and node then loads no extra certificates): against the clean bare node, the
#    same node start on both sides.
rootfs=$(dirname "$(dirname "$(dirname "$(dirname "$node_bin")")")")
: >"$work/cold"; : >"$work/cold-noca"; : >"$work/bare"; : >"$work/bare-lambda"; : >"$work/init"; : >"$work/outside"
for _ in $(seq "$RUNS"); do
  t0=$(now); "$LBOX" invoke bench-hello --event "$work/e.json" >/dev/null 2>"$work/cold.err"; t1=$(now)
  echo "$t1 - $t0" | bc >>"$work/cold"
  init_ms=$(grep -oP 'Init Duration: \K[0-9.]+' "$work/cold.err" || echo 0)
  dur_ms=$(grep -oP '\tDuration: \K[0-9.]+' "$work/cold.err" || echo 0)
  echo "$init_ms" >>"$work/init"
  # Neither the runtime's init nor the invoke: lbox's start, the sandbox, the bootstrap
  # script, the Runtime API round trips and the exit.
  echo "($t1 - $t0) * 1000 - $init_ms - $dur_ms" | bc >>"$work/outside"
  t0=$(now)
  "$LBOX" invoke bench-hello --event "$work/e.json" --env NODE_EXTRA_CA_CERTS= >/dev/null 2>&1
  t1=$(now)
  echo "$t1 - $t0" | bc >>"$work/cold-noca"
  t0=$(now); env -i "$node_bin" "$work/bare.js" "$src/examples/hello/index.js" >/dev/null; t1=$(now)
  echo "$t1 - $t0" | bc >>"$work/bare"
  t0=$(now)
  env -i NODE_EXTRA_CA_CERTS="$rootfs/var/runtime/ca-cert.pem" "$node_bin" --expose-gc \
    --max-http-header-size 81920 --max-semi-space-size=6 --max-old-space-size=116 \
    "$work/bare.js" "$src/examples/hello/index.js" >/dev/null
  t1=$(now)
  echo "$t1 - $t0" | bc >>"$work/bare-lambda"
done
cold=$(median <"$work/cold"); bare=$(median <"$work/bare"); bare_l=$(median <"$work/bare-lambda")
init=$(median <"$work/init")
printf 'cold invoke (lbox invoke, one event, median of %d):  %.1f ms\n' "$RUNS" "$(echo "$cold * 1000" | bc)"
printf '  vs bare node, clean environment:                        %.1f ms   ratio %.2fx\n' \
  "$(echo "$bare * 1000" | bc)" "$(echo "$cold / $bare" | bc -l)"
printf '  vs bare node with the bootstrap flags and NODE_EXTRA_CA_CERTS: %.1f ms   ratio %.2fx\n' \
  "$(echo "$bare_l * 1000" | bc)" "$(echo "$cold / $bare_l" | bc -l)"
printf '  of which Init Duration (bootstrap exec to first GET next): %.1f ms; outside Init and Duration: %.1f ms\n' \
  "$init" "$(median <"$work/outside")"
# Ratios taken within each round, then their median: steadier when the machine drifts.
paired() { paste "$1" "$2" | awk '{print $1 / $2}' | median; }
printf '  per-round ratios (median): %.2fx vs clean bare node, %.2fx vs bare node as the bootstrap starts it\n' \
  "$(paired "$work/cold" "$work/bare")" "$(paired "$work/cold" "$work/bare-lambda")"
printf 'cold invoke with --env NODE_EXTRA_CA_CERTS= (no extra certificates, as the clean bare node): %.1f ms\n' \
  "$(echo "$(median <"$work/cold-noca") * 1000" | bc)"
printf '  vs bare node, clean environment: ratio %.2fx (per round %.2fx)\n' \
  "$(echo "$(median <"$work/cold-noca") / $bare" | bc -l)" "$(paired "$work/cold-noca" "$work/bare")"

# Warm: many events through one environment.
for _ in $(seq "$EVENTS"); do echo '{"name":"bench"}'; done >"$work/many.jsonl"
t0=$(now)
"$LBOX" invoke bench-hello --event "$work/many.jsonl" >/dev/null 2>"$work/many.err"
t1=$(now)
# The first REPORT is the cold one; the rest are warm. (Not "Billed Duration".)
grep '^REPORT' "$work/many.err" | tail -n +2 | grep -oP '\tDuration: \K[0-9.]+' | sort -g >"$work/durations"
n=$(wc -l <"$work/durations")
p50=$(awk -v n="$n" 'NR==int(n*0.50)+1' "$work/durations")
p99=$(awk -v n="$n" 'NR==int(n*0.99)+1' "$work/durations")
total=$(echo "$t1 - $t0 - $cold" | bc -l)
rate=$(echo "($EVENTS - 1) / $total" | bc -l)
"$node_bin" "$work/bare.js" "$src/examples/hello/index.js" "$EVENTS" | tr -d '[]' | tr ',' '\n' | sort -g >"$work/bare-d"
bp50=$(awk -v n="$EVENTS" 'NR==int(n*0.50)+1' "$work/bare-d")
printf 'warm invoke over %d events: p50 %.2f ms  p99 %.2f ms  %.0f invokes/s   (bare handler call p50 %.3f ms)\n' \
  "$EVENTS" "$p50" "$p99" "$rate" "$bp50"

# Runner memory: RSS of the lbox process while one environment is busy.
echo '{"ms":1500}' >"$work/sleep.json"
"$LBOX" invoke bench-timeout --event "$work/sleep.json" --timeout 10 >/dev/null 2>&1 &
pid=$!
sleep 1
rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
wait "$pid" || true
self=$(awk '/^VmRSS/ {print $2}' /proc/self/status)
printf 'runner memory per environment: %d kB RSS (lbox process; for scale, this awk: %d kB)\n' "$rss" "$self"
