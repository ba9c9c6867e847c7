#!/usr/bin/env bash
# The examples/ functions build and answer as their READMEs say: ESM with top-level await,
# callback style with warm state, the bundled AWS SDK (v2 on nodejs16.x, v3 on nodejs18.x),
# and a function that loads a module from a layer zip.
source "$LBOX_SRC/tests/lib/common.sh"
ex=$LBOX_SRC/examples

build() { "$LBOX" build --arch x86_64 "$@" >"$T/build.log" 2>&1 || { cat "$T/build.log"; return 1; }; }
invoke() { "$LBOX" invoke "$@" 2>"$T/err"; }

build --runtime nodejs18.x --code "$ex/esm" --tag ex:esm
out=$(invoke ex:esm --event "$ex/hello/event.json")
check "esm: top-level await finished before the first invoke" jqe '.module == "esm" and .initialised and .echo.name == "lbox"' <<<"$out"

build --runtime nodejs18.x --code "$ex/callback" --tag ex:callback
printf '{}\n{}\n' >"$T/two.jsonl"
out=$(invoke ex:callback --event "$T/two.jsonl")
check "callback: answered after the event loop drained, state kept warm" \
  test "$(jq -s -c 'map(.invocations)' <<<"$out")" = "[1,2]"

build --runtime nodejs18.x --code "$ex/sdk" --tag ex:sdk18
out=$(invoke ex:sdk18)
check "sdk on nodejs18.x: @aws-sdk v3 from /var/runtime" jqe '.sdk == "v3" and .client == "S3Client"' <<<"$out"
build --runtime nodejs16.x --code "$ex/sdk" --tag ex:sdk16
out=$(invoke ex:sdk16)
check "sdk on nodejs16.x: aws-sdk v2 2.1083.0" jqe '.sdk == "v2" and .version == "2.1083.0"' <<<"$out"

(cd "$ex/layer/layer" && zip -qr "$T/greeting-layer.zip" nodejs)
build --runtime nodejs18.x --code "$ex/layer/fn" --layer "$T/greeting-layer.zip" --tag ex:layer
out=$(invoke ex:layer --event "$ex/hello/event.json")
check "layer: the module in /opt/nodejs/node_modules is found" \
  jqe '.greeting == "greetings from a layer, lbox"' <<<"$out"
finish
