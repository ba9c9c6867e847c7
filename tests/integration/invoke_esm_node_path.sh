#!/bin/bash
# import searches NODE_PATH on nodejs18.x, as on Lambda ("The Node.js 18.x runtime for
# Lambda searches the folders listed in NODE_PATH when loading ES modules"): an ES module
# handler imports the AWS SDK the runtime ships and packages from layers, with NODE_PATH's
# order (nodejs/node18/node_modules over nodejs/node_modules over the SDK) for import and
# require alike. nodejs16.x does not (Lambda's did not either). See builder/esm_links.h.
source "$(dirname "$0")/invoke_common.bash"

# A layer: an ES module package in nodejs/node_modules, and in nodejs/node18/node_modules a
# stand-in for @aws-sdk/client-s3 that shadows the runtime's (CommonJS and ESM entries).
L=$WORK/layer
mkdir -p "$L/nodejs/node_modules/greetpkg" "$L/nodejs/node18/node_modules/@aws-sdk/client-s3"
echo '{"name":"greetpkg","version":"1.0.0","type":"module","exports":"./index.js"}' \
  >"$L/nodejs/node_modules/greetpkg/package.json"
# It imports the SDK itself, which NODE_PATH gives it from the node18 folder.
cat >"$L/nodejs/node_modules/greetpkg/index.js" <<'JS'
import { S3Client } from '@aws-sdk/client-s3';
export const greet = (n) => `hi ${n}`;
export const sdk = S3Client.name;
JS
echo '{"name":"@aws-sdk/client-s3","version":"0.0.0-layer","main":"index.js"}' \
  >"$L/nodejs/node18/node_modules/@aws-sdk/client-s3/package.json"
echo 'exports.S3Client = class LayerS3Client {};' \
  >"$L/nodejs/node18/node_modules/@aws-sdk/client-s3/index.js"
(cd "$L" && zip -qr "$WORK/layer.zip" nodejs)

# Functions: the runtime's SDK by import; a layer's package by import; the shadowed SDK by
# import and by require.
mkdir -p "$WORK/sdk" "$WORK/greet" "$WORK/shadow"
cat >"$WORK/sdk/index.mjs" <<'JS'
import { S3Client } from '@aws-sdk/client-s3';
export const handler = async () => ({ client: new S3Client({ region: 'us-east-1' }).constructor.name });
JS
cat >"$WORK/greet/index.mjs" <<'JS'
import { greet, sdk } from 'greetpkg';
export const handler = async () => ({ greeting: greet('lbox'), sdk });
JS
cat >"$WORK/shadow/index.mjs" <<'JS'
import { createRequire } from 'node:module';
import { S3Client } from '@aws-sdk/client-s3';
const required = createRequire(import.meta.url)('@aws-sdk/client-s3').S3Client;
export const handler = async () => ({ imported: S3Client.name, required: required.name });
JS

build() { # build TAG RUNTIME CODE [--layer ZIP]
  local tag=$1 runtime=$2 code=$3
  shift 3
  "$LBOX" build --runtime "$runtime" --arch x86_64 --code "$code" --tag "$tag" "$@" \
    >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log" >&2; fail "building $tag"; }
}

build esm-sdk nodejs18.x "$WORK/sdk"
inv esm-sdk
expect_rc 0 "import of the runtime's SDK"
jqt '.client == "S3Client"' || fail "import of the runtime's SDK: $OUT"
ok "nodejs18.x: an ES module imports the AWS SDK the runtime ships"

build esm-greet nodejs18.x "$WORK/greet" --layer "$WORK/layer.zip"
inv esm-greet
expect_rc 0 "import from a layer"
jqt '.greeting == "hi lbox" and .sdk == "LayerS3Client"' || fail "import from a layer: $OUT"
build esm-shadow nodejs18.x "$WORK/shadow" --layer "$WORK/layer.zip"
inv esm-shadow
expect_rc 0 "a layer's package over the runtime's"
jqt '.imported == "LayerS3Client" and .required == "LayerS3Client"' ||
  fail "nodejs/node18/node_modules must win over the runtime's SDK, for import and require: $OUT"
ok "nodejs18.x: import finds layers' packages (from the function and from a layer's package), in NODE_PATH's order, as require does"

build esm-greet16 nodejs16.x "$WORK/greet" --layer "$WORK/layer.zip"
inv esm-greet16
jqt '.errorMessage | test("Cannot find package .greetpkg.")' ||
  fail "nodejs16.x imported a layer's package, which Lambda's nodejs16.x cannot: $OUT"
ok "nodejs16.x: import does not search NODE_PATH, as on Lambda"
