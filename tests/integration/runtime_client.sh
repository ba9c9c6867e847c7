#!/usr/bin/env bash
# The runtime client's own suite (tests/runtime-client/*.test.js) with node's test runner
# on the host's node, each case spawning the client under Node 14, 16 and 18 (from
# NODE14/NODE16/NODE18, else the official binaries packed from the npm registry).
set -euo pipefail
src="${LBOX_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}"
dir="$src/tests/runtime-client"

eval "$("$dir/fetch-node.sh" | sed 's/^/export /')"
for v in 14 16 18; do
  var="NODE$v"; want=$(case $v in 14) echo v14.;; 16) echo v16.;; 18) echo v18.;; esac)
  got=$("${!var}" --version)
  [[ $got == "$want"* ]] || { echo "runtime_client: $var=${!var} is $got, expected $want*" >&2; exit 1; }
done
command -v bwrap >/dev/null || { echo "runtime_client: bubblewrap is missing; run scripts/install-deps.sh" >&2; exit 1; }

exec node --test "$dir/client.test.js" "$dir/transport.test.js" "$dir/bootstrap.test.js"
