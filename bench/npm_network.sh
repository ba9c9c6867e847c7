#!/usr/bin/env bash
# What npm's own network (slirp4netns, the default) costs a --npm-install build, as a ratio
# to the same build in the host's network (LBOX_NPM_NETWORK=host), both in one run.
# Each build downloads the packages again (npm's cache is the sandbox's /tmp).
#   bench/npm_network.sh LBOX [RUNS]    (RUNS alternations, default 5; needs the registry)
set -euo pipefail
lbox=$(realpath "${1:?usage: bench/npm_network.sh path/to/lbox [RUNS]}")
runs=${2:-5}
command -v hyperfine >/dev/null || { echo "needs hyperfine (scripts/install-deps.sh)" >&2; exit 1; }
work=$(mktemp -d /tmp/lbox-bench-npm.XXXXXX)
trap 'rm -rf "$work"' EXIT
export XDG_DATA_HOME=$work/data
mkdir -p "$work/fn"
# About 7 MB of tarballs in ~1,800 files: a typical small function's dependencies.
echo '{"name": "fn", "version": "1.0.0", "dependencies":
  {"lodash": "4.17.21", "moment": "2.29.4", "rxjs": "7.8.1"}}' >"$work/fn/package.json"
echo 'exports.handler = async () => 1;' >"$work/fn/index.js"
b="$lbox build --runtime nodejs18.x --arch $(uname -m | sed s/aarch64/arm64/) --code $work/fn --npm-install --tag bench:npm"
# One build first, so the build environment and Node.js are cached for both.
$b >/dev/null
hyperfine -N -w 1 -r "$runs" --export-json "$work/h.json" \
  -n host "env LBOX_NPM_NETWORK=host $b" -n nat "env LBOX_NPM_NETWORK=nat $b" 2>&1 |
  sed -n '/Summary/,$p'
jq -r '[.results[] | {(.command): .median}] | add
  | "host network \(.host * 100 | round / 100) s, own network (slirp4netns) \(.nat * 100 | round / 100) s: nat/host = \(.nat / .host * 100 | round / 100)x (medians)"' \
  "$work/h.json"
