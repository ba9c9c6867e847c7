#!/usr/bin/env bash
# Runtime client benchmark: warm invoke round trip vs aws-lambda-ric and start-up vs
# `node -e 0`, both under Node 18 against the fake Runtime API. Prints figures only.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
t="$src/tests/runtime-client"
eval "$("$t/fetch-node.sh" | sed 's/^/export /')"
node18_pkg=$(cd "$(dirname "$NODE18")/.." && pwd)
if LBOX_RIC_DIR=$("$t/build-ric.sh" "$node18_pkg"); then export LBOX_RIC_DIR
else echo "(aws-lambda-ric could not be built: its ratios are skipped)" >&2; fi
exec node "$src/bench/runtime-client/bench.js"
