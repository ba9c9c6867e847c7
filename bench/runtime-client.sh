#!/usr/bin/env bash
# Runtime client benchmark: warm invoke round trip vs aws-lambda-ric, start-up vs
# `node -e 0`, and cold start to the first answer vs a bare-node client, all under Node 18
# against the fake Runtime API. Prints figures only.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
t="$src/tests/runtime-client"
eval "$("$t/fetch-node.sh" | sed 's/^/export /')"
node18_pkg=$(cd "$(dirname "$NODE18")/.." && pwd)
if LBOX_RIC_DIR=$("$t/build-ric.sh" "$node18_pkg"); then export LBOX_RIC_DIR
else echo "(aws-lambda-ric could not be built: its ratios are skipped)" >&2; fi
node "$src/bench/runtime-client/bench.js"
# Cold start to the first answer beside the floor: a bare node that requires the handler,
# GETs the event and POSTs the answer (bench/runtime-client/baseline-client.js).
echo "cold start, median of 15 (node 18; 'inside' leaves out node's boot)"
exec node "$src/bench/runtime-client/coldstart.js" --probe 15 "$NODE18" "$src/base-images/runtime/lib/main.js" baseline
