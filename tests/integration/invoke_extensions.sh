#!/bin/bash
# An external extension from a layer (/opt/extensions): it registers, receives an INVOKE
# event for every invoke (with the request id) and SHUTDOWN when the environment ends.
source "$(dirname "$0")/invoke_common.bash"

(cd "$LBOX_SRC/examples/extension/layer" && zip -qr -X "$WORK/ext-layer.zip" extensions)
tag="lbox-test-extension:$(content_hash "$LBOX_SRC/examples/extension" "$LBOX_SRC/base-images/runtime")"
if ! "$LBOX" inspect "$tag" >/dev/null 2>&1; then
  "$LBOX" build --runtime nodejs18.x --arch x86_64 --code "$LBOX_SRC/examples/extension/fn" \
    --layer "$WORK/ext-layer.zip" --tag "$tag" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; fail "build"; }
fi

scenario() {
  inv "$tag" --event "$(event $'{}\n{}\n')"
  expect_rc 0 "invoke with an extension"
  grep -q '^\[lbox-demo-extension\] registered for lbox-test-extension$' "$WORK/err" || fail "registration"
  for i in 1 2; do
    id=$(printf '%s\n' "$OUT" | sed -n "${i}p" | jq -r .requestId)
    grep -q "^\[lbox-demo-extension\] INVOKE $id$" "$WORK/err" || fail "INVOKE event for $id"
  done
  grep -q '^\[lbox-demo-extension\] SHUTDOWN spindown$' "$WORK/err" || fail "SHUTDOWN event"
  ok "extension: register, INVOKE per event, SHUTDOWN at the end"
}

run_as_each scenario
