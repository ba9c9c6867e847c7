#!/usr/bin/env bash
# Two independent builds of the same inputs give the same image digest; a one-line code
# change changes only the function layer; a warm rebuild reuses every cached layer.
source "$LBOX_SRC/tests/lib/common.sh"

cp -r "$LBOX_SRC/examples/hello" "$T/fn"
build() { "$LBOX" build --runtime nodejs18.x --arch x86_64 --code "$T/fn" --tag repro:test --json "$@"; }

# Independent: each build has its own store and its own layer cache, so every layer is made
# from scratch twice; only the verified downloads are shared.
fresh_cache() {
  mkdir -p "$1/lbox"
  ln -s "$XDG_CACHE_HOME/lbox/blobs" "$1/lbox/blobs"
  ln -s "$XDG_CACHE_HOME/lbox/urls" "$1/lbox/urls"
}
"$LBOX" build --runtime nodejs18.x --arch x86_64 --code "$T/fn" --tag warm:up >/dev/null 2>&1  # downloads
fresh_cache "$T/cache1"; fresh_cache "$T/cache2"
XDG_CACHE_HOME=$T/cache1 XDG_DATA_HOME=$T/store1 build >"$T/a.json"
XDG_CACHE_HOME=$T/cache2 XDG_DATA_HOME=$T/store2 build >"$T/b.json"
check "neither build reused a layer" \
  test "$(jq -s -c '[.[].layers[].cached] | any' "$T/a.json" "$T/b.json")" = false
export XDG_CACHE_HOME=$T/cache1
check "two independent builds give one digest" test "$(jq -r .digest "$T/a.json")" = "$(jq -r .digest "$T/b.json")"
check "a digest is sha256" grep -q '"digest": "sha256:[0-9a-f]\{64\}"' "$T/a.json"

XDG_DATA_HOME=$T/store1 build >"$T/warm.json"
check "a warm rebuild reuses base, node and runtime" \
  test "$(jq -c '[.layers[] | select(.name != "task") | .cached]' "$T/warm.json")" = '[true,true,true]'
check "a warm rebuild of unchanged code gives the same digest" \
  test "$(jq -r .digest "$T/warm.json")" = "$(jq -r .digest "$T/a.json")"

XDG_DATA_HOME=$T/store3 build >"$T/other-store.json"
check "a new store takes cached layers (verified copies) and gives the same digest" \
  test "$(jq -c '[.layers[] | select(.name != "task") | .cached]' "$T/other-store.json")-$(jq -r .digest "$T/other-store.json")" = "[true,true,true]-$(jq -r .digest "$T/a.json")"

# Every entry's mtime is the build's epoch: a layer cached under another SOURCE_DATE_EPOCH is
# another layer, and neither epoch's cache changes the other's digest.
old_entry=$T/cache1/lbox/layers/$(printf '%064d' 0).json
echo '{}' >"$old_entry"  # an entry of an lbox before the epoch was in the name
SOURCE_DATE_EPOCH=1700000000 XDG_DATA_HOME=$T/store4 build >"$T/epoch.json"
check "another SOURCE_DATE_EPOCH makes its own base, node and runtime layers" \
  test "$(jq -c '[.layers[] | select(.name != "task") | .cached]' "$T/epoch.json")" = '[false,false,false]'
check "another SOURCE_DATE_EPOCH gives another digest" test "$(jq -r .digest "$T/epoch.json")" != "$(jq -r .digest "$T/a.json")"
XDG_DATA_HOME=$T/store5 build >"$T/after-epoch.json"
check "after it, a build without SOURCE_DATE_EPOCH gives the first digest" \
  test "$(jq -r .digest "$T/after-epoch.json")" = "$(jq -r .digest "$T/a.json")"
check "the layer cache's entries of older lboxes are swept" test ! -e "$old_entry"

# Touching files (mtime only) must not change anything.
touch -d '2001-01-01' "$T/fn/index.js"
XDG_DATA_HOME=$T/store1 build >"$T/touched.json"
check "mtimes do not change the digest" test "$(jq -r .digest "$T/touched.json")" = "$(jq -r .digest "$T/a.json")"

echo "// one more line" >>"$T/fn/index.js"
XDG_DATA_HOME=$T/store1 build >"$T/c.json"
check "a code change changes the image" test "$(jq -r .digest "$T/c.json")" != "$(jq -r .digest "$T/a.json")"
same=$(jq -s -c '[.[0].layers, .[1].layers] | transpose | map(select(.[0].name != "task") | .[0].digest == .[1].digest) | all' "$T/a.json" "$T/c.json")
check "only the task layer differs" test "$same" = true
check "the task layer differs" test "$(jq -r '.layers[-1].digest' "$T/a.json")" != "$(jq -r '.layers[-1].digest' "$T/c.json")"

# The rebuild moved repro:test, and no other tag names the old image: its own blobs went.
blob() { echo "$T/store1/lbox/store/blobs/sha256/${1#sha256:}"; }
check "the replaced image's manifest is collected" test ! -e "$(blob "$(jq -r .digest "$T/a.json")")"
check "the replaced image's task layer is collected" test ! -e "$(blob "$(jq -r '.layers[-1].digest' "$T/a.json")")"
check "the layers the new image shares stay" test -e "$(blob "$(jq -r '.layers[0].digest' "$T/a.json")")"

finish
