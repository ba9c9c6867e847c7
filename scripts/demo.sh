#!/usr/bin/env bash
# make demo: build examples/hello for this machine's architecture, show it, invoke it.
set -euo pipefail
lbox=${1:-build/lbox}
cd "$(dirname "$0")/.."

echo "== lbox build (nodejs18.x, $(uname -m))"
"$lbox" build --runtime nodejs18.x --code examples/hello --tag hello:demo
echo
echo "== lbox images"
"$lbox" images
echo
echo "== lbox inspect hello:demo"
"$lbox" inspect hello:demo
if "$lbox" --help | grep -q '^  invoke'; then
  echo
  echo "== lbox invoke hello:demo --event examples/hello/event.json"
  "$lbox" invoke hello:demo --event examples/hello/event.json
  echo
fi
