#!/usr/bin/env bash
# Two independent builds of the same inputs give the same image digest; a one-line code
# change changes only the function layer; a warm rebuild reuses every cached layer.
source "$LBOX_SRC/tests/lib/common.sh"

cp -r "$LBOX_SRC/examples/hello" "$T/fn"
build() { "$LBOX" build --runtime nodejs18.x --arch x86_64 --code "$T/fn" --tag repro:test --json "$@"; }

XDG_DATA_HOME=$T/store1 build >"$T/a.json"
XDG_DATA_HOME=$T/store2 build >"$T/b.json"
check "two independent builds give one digest" test "$(jq -r .digest "$T/a.json")" = "$(jq -r .digest "$T/b.json")"
check "a digest is sha256" grep -q '"digest": "sha256:[0-9a-f]\{64\}"' "$T/a.json"

XDG_DATA_HOME=$T/store1 build >"$T/warm.json"
check "a warm rebuild reuses base, node and runtime" \
  test "$(jq -c '[.layers[] | select(.name != "task") | .cached]' "$T/warm.json")" = '[true,true,true]'
check "a warm rebuild of unchanged code gives the same digest" \
  test "$(jq -r .digest "$T/warm.json")" = "$(jq -r .digest "$T/a.json")"

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

finish
