#!/bin/bash
# AWS's own runtime client (aws-lambda-ric 3.3.0 from the npm registry, built by
# tests/runtime-client/build-ric.sh) as the runtime of a nodejs18.x x86_64 image, against
# lbox's Runtime API: it must give the same answers as lbox's client for the same events
# (error stack traces aside). AWS_LAMBDA_EXEC_WRAPPER swaps the client in.
source "$(dirname "$0")/invoke_common.bash"

rc_dir="$LBOX_SRC/tests/runtime-client"
eval "$("$rc_dir/fetch-node.sh" | sed 's/^/export /')"
node18_pkg=$(cd "$(dirname "$NODE18")/.." && pwd)
ric=$("$rc_dir/build-ric.sh" "$node18_pkg") || fail "building aws-lambda-ric"

code="$WORK/ric-code"
mkdir -p "$code/node_modules/aws-lambda-ric"
cp "$LBOX_SRC/examples/errors/index.js" "$code/"
cp -a "$ric/package.json" "$ric/bin" "$ric/dist" "$code/node_modules/aws-lambda-ric/"
cat >"$code/ric-bootstrap" <<'SH'
#!/bin/sh
# Runs AWS's runtime client instead of lbox's (the bootstrap's node flags are dropped).
exec /var/lang/bin/node /var/task/node_modules/aws-lambda-ric/bin/index.mjs "$_HANDLER"
SH
chmod 755 "$code/ric-bootstrap"
RIC_IMAGE=$(image ric "$code")
OURS=$(image errors)

evs=$(event '{"mode":"ok"}
{"mode":"throw"}
{"mode":"custom"}
{"mode":"reject"}
{"mode":"string"}
{"mode":"callback"}
{"mode":"ok"}
{"mode":"uncaught"}
{"mode":"ok"}
{"mode":"exit","code":3}
{"mode":"ok"}
{"mode":"big"}
{"mode":"ok"}
')
# Stack traces name each client's own files; request ids differ per run.
normalise() { jq -c 'if type == "object" then del(.trace) else . end
                     | if .errorMessage? then .errorMessage |= sub("^RequestId: [0-9a-f-]+ "; "RequestId: ID ") else . end'; }

scenario() {
  inv "$OURS" --event "$evs" --timeout 10
  expect_rc 3 "lbox's client"
  printf '%s\n' "$OUT" | normalise >"$WORK/ours.$AS"
  inv "$RIC_IMAGE" --event "$evs" --timeout 10 --env AWS_LAMBDA_EXEC_WRAPPER=/var/task/ric-bootstrap
  expect_rc 3 "aws-lambda-ric"
  grep -q 'aws-lambda-ric' "$WORK/err" || fail "the image did not run aws-lambda-ric"
  printf '%s\n' "$OUT" | normalise >"$WORK/ric.$AS"
  [ "$(wc -l <"$WORK/ric.$AS")" -eq 13 ] || fail "aws-lambda-ric gave $(wc -l <"$WORK/ric.$AS") answers"
  diff -u "$WORK/ric.$AS" "$WORK/ours.$AS" >&2 || fail "aws-lambda-ric and lbox's client answer differently"
  ok "aws-lambda-ric runs against lbox's Runtime API and answers like lbox's client"
}

run_as_each scenario
