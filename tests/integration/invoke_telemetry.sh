#!/bin/bash
# The Telemetry API (PUT /2022-07-01/telemetry) and the Logs API (PUT /2020-08-15/logs): three
# extensions of a layer subscribe, one with an HTTP listener on sandbox.localdomain (platform,
# function and extension events), one with a TCP one (platform events, newline-delimited
# JSON), and one to the Logs API (schema 2021-03-18, a listener that takes PUT); the function
# reads back what they got. Checked: the refused subscriptions and their answers, the init's
# events given to a subscriber that came after them, every event's record against the
# invokes' START and REPORT lines, that what is left is delivered before the extensions'
# SHUTDOWN, and the Logs API's own events (a crash's platform.fault among them).
source "$(dirname "$0")/invoke_common.bash"

SRC=$LBOX_SRC/tests/fixtures/code/telemetry
tag="lbox-test-telemetry:$(content_hash "$SRC" "$LBOX_SRC/base-images/runtime")"
if ! "$LBOX" inspect "$tag" >/dev/null 2>&1; then
  (cd "$SRC/layer" && zip -qr -X "$WORK/layer.zip" .)
  "$LBOX" build --runtime nodejs18.x --arch x86_64 --code "$SRC/fn" --layer "$WORK/layer.zip" \
    --tag "$tag" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log" >&2; fail "building"; }
  "$LBOX" images --json | jq -r --arg t "$tag" \
    '.[].ref | select(startswith("lbox-test-telemetry:") and . != $t)' | xargs -r "$LBOX" rm >/dev/null 2>&1 || :
fi

request_id() { grep '^START' "$WORK/err" | sed -n "${1}p" | awk '{print $3}'; }
report_field() { # N FIELD: a figure of the Nth REPORT line
  grep '^REPORT' "$WORK/err" | sed -n "${1}p" | tr '\t' '\n' | sed -n "s/^$2: \([0-9.]*\).*/\1/p"
}
# has KIND FILTER: an event the HTTP (or TCP) subscriber received satisfies the filter.
has() { jqe --arg r1 "$R1" --arg r2 "$R2" "[.$1[] | select($2)] | length > 0" >/dev/null <<<"$OUT"; }

scenario() {
  inv "$tag" --event "$(event $'{"n":1,"long":100000}\n{"n":2,"fail":true}\n{"n":3,"read":true}\n')"
  expect_rc 3 "three invokes, the second failing"
  # The listeners' answers are read by lbox, never written to its stdout.
  [ "$(grep -c '' "$WORK/out")" -eq 3 ] || fail "stdout holds the three responses only: $OUT"
  OUT=$(printf '%s\n' "$OUT" | tail -n 1)
  R1=$(request_id 1) R2=$(request_id 2)

  # Subscriptions Lambda refuses, and who may subscribe when.
  for what in not-json bad-host no-port few-items bad-type old-schema; do
    grep -q "^\[tel-http\] subscribe $what: 400 ValidationError$" "$WORK/err" || fail "subscribe $what"
  done
  grep -q '^\[tel-http\] subscribe unknown-id: 403 Extension.UnknownExtensionIdentifier$' "$WORK/err" \
    || fail "subscribe with an unknown identifier"
  grep -q '^\[tel-http\] subscribe: 200 "OK"$' "$WORK/err" || fail "subscribe"
  grep -q '^\[tel-tcp\] subscribe: 200 "OK"$' "$WORK/err" || fail "subscribe over TCP"
  [ "$(grep -c '^\[tel-http\] late subscribe: 403 Telemetry.SubscriptionClosed$' "$WORK/err")" -eq 3 ] \
    || fail "subscribing after the init"
  jqt '.runtime == "403 Extension.MissingExtensionIdentifier"' || fail "the runtime subscribes: $OUT"
  ok "subscriptions: six refused with ValidationError, unknown and runtime 403, after init closed"

  # The init, given to a subscriber that came after its start.
  has http '.type == "platform.initStart" and .record.phase == "init" and
    .record.initializationType == "on-demand" and (.record.functionName | length > 0) and
    (.record.runtimeVersion | test("^nodejs:[0-9]+[.][0-9]+[.][0-9]+$")) and
    (.record.runtimeVersionArn | test("^arn:aws:lambda:[a-z0-9-]+::runtime:[0-9a-f]{64}$"))' \
    || fail "platform.initStart: $OUT"
  has http '.type == "extension" and .record == "[tel-http] subscribe not-json: 400 ValidationError"' \
    || fail "the extension's log line from before its subscription: $OUT"
  has http '.type == "platform.telemetrySubscription" and .record.name == "tel-http" and
    .record.state == "Subscribed" and .record.types == ["platform", "function", "extension"]' \
    || fail "platform.telemetrySubscription: $OUT"
  has http '.type == "platform.initRuntimeDone" and .record.status == "success"' \
    || fail "platform.initRuntimeDone: $OUT"
  has http '.type == "platform.extension" and .record.name == "tel-tcp" and .record.state == "Ready"
    and .record.events == ["INVOKE"]' || fail "platform.extension: $OUT"
  has http '.type == "platform.initReport" and .record.status == "success" and
    .record.metrics.durationMs > 0' || fail "platform.initReport: $OUT"
  ok "init: initStart, the extensions' earlier lines, subscription, initRuntimeDone, extension, initReport"

  # The invokes, as START and REPORT say them.
  has http '.type == "platform.start" and .record.requestId == $r1 and .record.version == "$LATEST"
    and .record.tracing.type == "X-Amzn-Trace-Id"' || fail "platform.start: $OUT"
  has http ".type == \"function\" and (.record | test(\"\\t\" + \$r1 + \"\\tINFO\\tfn says hi 1\$\"))" \
    || fail "the function's log line: $OUT"
  has http ".type == \"function\" and (.record | test(\"\\t\" + \$r1 + \"\\tERROR\\ttwo\\nlines 1\$\"))" \
    || fail "a console record of two lines is one event: $OUT"
  jqe '[.http[] | select(.type == "function" and (.record | test("^x+$"))) | .record | length]
    == [65536, 34464]' >/dev/null <<<"$OUT" || fail "a 100,000-byte line in 64 KiB pieces"
  has http '.type == "platform.runtimeDone" and .record.requestId == $r1 and
    .record.status == "success" and .record.metrics.producedBytes == 7' || fail "platform.runtimeDone: $OUT"
  # Its spans: the event's hand-over to the answer's first byte, then to its last.
  has http '.type == "platform.runtimeDone" and .record.requestId == $r1 and
    ([.record.spans[].name] == ["responseLatency", "responseDuration"]) and
    .record.spans[0].durationMs > 0 and .record.spans[1].start >= .record.spans[0].start and
    .record.spans[0].durationMs + .record.spans[1].durationMs <= .record.metrics.durationMs + 1' \
    || fail "platform.runtimeDone's spans: $OUT"
  local billed mem
  billed=$(report_field 1 'Billed Duration') mem=$(report_field 1 'Max Memory Used')
  has http ".type == \"platform.report\" and .record.requestId == \$r1 and .record.status == \"success\"
    and .record.metrics.billedDurationMs == $billed and .record.metrics.maxMemoryUsedMB == $mem and
    .record.metrics.memorySizeMB == 128 and .record.metrics.initDurationMs > 0" \
    || fail "platform.report (billed $billed, memory $mem): $OUT"
  has http '.type == "platform.runtimeDone" and .record.requestId == $r2 and .record.status == "error"
    and .record.errorType == "Error"' || fail "platform.runtimeDone of the failed invoke: $OUT"
  has http '.type == "platform.report" and .record.requestId == $r2 and
    (.record.metrics | has("initDurationMs") | not)' || fail "a warm platform.report: $OUT"
  jqe '[.http[] | select(.path != "/telemetry" or .host != "sandbox.localdomain:4243")] | length == 0' \
    >/dev/null <<<"$OUT" || fail "POSTs to the subscribed URI's path with its Host: $OUT"
  ok "invokes: start, the function's records (two lines in one), runtimeDone with spans, report as REPORT says"

  # TCP: platform events only, one JSON object per line.
  has tcp '.type == "platform.start" and .record.requestId == $r1' || fail "TCP: platform.start: $OUT"
  jqe '[.tcp[] | select(.type | startswith("platform.") | not)] | length == 0' >/dev/null <<<"$OUT" \
    || fail "TCP: only platform events: $OUT"
  ok "TCP destination: newline-delimited platform events"

  # The Logs API: its answers, and its own events, as text records with their newline.
  grep -q '^\[logs-http\] subscribe bad-schema: 400 Logs.ValidationError$' "$WORK/err" \
    || fail "Logs API: a Telemetry API schema version"
  grep -q '^\[logs-http\] subscribe: 200 "OK"$' "$WORK/err" || fail "Logs API: subscribe"
  grep -q '^\[logs-http\] telemetry too: 400 ValidationError$' "$WORK/err" \
    || fail "Logs API: then the Telemetry API as well"
  [ "$(grep -c '^\[logs-http\] late subscribe: 403 Logs.SubscriptionClosed$' "$WORK/err")" -eq 3 ] \
    || fail "Logs API: subscribing after the init"
  has logs '.type == "platform.logsSubscription" and .record.name == "logs-http" and
    .record.state == "Subscribed" and .record.types == ["platform", "function"]' \
    || fail "platform.logsSubscription: $OUT"
  has logs '.type == "platform.extension" and .record.name == "tel-tcp" and .record.state == "Ready"' \
    || fail "Logs API: platform.extension: $OUT"
  has logs '.type == "platform.start" and .record == {requestId: $r1, version: "$LATEST"}' \
    || fail "Logs API: platform.start: $OUT"
  has logs ".type == \"function\" and (.record | test(\"\\t\" + \$r1 + \"\\tINFO\\tfn says hi 1\\n\$\"))" \
    || fail "Logs API: the function's record with its newline: $OUT"
  has logs '.type == "platform.runtimeDone" and .record == {requestId: $r1, status: "success"}' \
    || fail "Logs API: platform.runtimeDone: $OUT"
  has logs '.type == "platform.runtimeDone" and .record == {requestId: $r2, status: "failure"}' \
    || fail "Logs API: platform.runtimeDone of the failed invoke: $OUT"
  has logs '.type == "platform.end" and .record == {requestId: $r1}' || fail "platform.end: $OUT"
  has logs ".type == \"platform.report\" and .record.requestId == \$r1 and
    .record.metrics.durationMs == $(report_field 1 Duration) and
    .record.metrics.billedDurationMs == $billed and .record.metrics.maxMemoryUsedMB == $mem and
    .record.metrics.initDurationMs > 0 and (.record | has(\"status\") | not)" \
    || fail "Logs API: platform.report: $OUT"
  jqe '[.logs[] | select(.method != "PUT" or (.type | IN("platform.initStart",
    "platform.initReport", "platform.telemetrySubscription", "extension")))] | length == 0' \
    >/dev/null <<<"$OUT" || fail "Logs API: its own events only, PUT as asked: $OUT"
  ok "Logs API: its answers, logsSubscription, start, function records, runtimeDone, end, report"

  # What was still buffered went out before SHUTDOWN: the last invoke's report.
  grep -q "^\[tel-http\] SHUTDOWN: last platform.report $(request_id 3)\$" "$WORK/err" \
    || fail "flush before SHUTDOWN"
  ok "the last report is delivered before SHUTDOWN"

  # A listener that refuses a batch three times loses it, and is told in its next batch; the
  # other subscriber, whose buffer lost nothing, is not.
  inv "$tag" --event "$(event $'{"n":1}\n{"n":2,"read":true,"until":"platform.logsDropped","wait":8000}\n')" \
    --env TEL_HTTP_REFUSE=3 --timeout 10
  expect_rc 0 "a listener that refuses"
  OUT=$(printf '%s\n' "$OUT" | tail -n 1)
  has http '.type == "platform.logsDropped" and
    .record.reason == "could not send events: the listener answered HTTP 500" and
    .record.droppedRecords > 0 and .record.droppedBytes > 0' || fail "platform.logsDropped: $OUT"
  jqe '[.tcp[] | select(.type == "platform.logsDropped")] | length == 0' >/dev/null <<<"$OUT" \
    || fail "platform.logsDropped only to the subscriber that lost events: $OUT"
  ok "a batch refused three times is dropped, and said in that subscriber's platform.logsDropped"

  # A timeout resets the environment: its end reaches the subscriber before its SHUTDOWN,
  # and the extensions started again subscribe anew and get the new init's events.
  inv "$tag" --event "$(event $'{"n":1,"sleep":5000}\n{"n":2,"read":true,"wait":300}\n')" --timeout 1
  expect_rc 4 "a timeout, then a read"
  OUT=$(printf '%s\n' "$OUT" | tail -n 1)
  R1=$(request_id 1)
  has http '.type == "platform.runtimeDone" and .record.requestId == $r1 and
    .record.status == "timeout" and .record.spans == []' \
    || fail "the timed-out invoke's platform.runtimeDone: $OUT"
  has http '.type == "platform.report" and .record.requestId == $r1 and .record.status == "timeout"
    and .record.metrics.billedDurationMs == 1000' || fail "the timed-out invoke's report: $OUT"
  has http '.type == "platform.initStart" and .record.phase == "invoke"' \
    || fail "the init inside the next invoke: $OUT"
  jqe '[.http[] | select(.type == "platform.telemetrySubscription" and .record.name == "tel-http")
    | .record.state] == ["Subscribed", "Subscribed"]' >/dev/null <<<"$OUT" \
    || fail "subscribed again after the reset: $OUT"
  ok "a reset: the timeout's report before SHUTDOWN, a new subscription, the new init's events"

  # A runtime that dies in an invoke: the Logs API's platform.fault, in Lambda's words.
  inv "$tag" --event "$(event $'{"n":1,"exit":true}\n{"n":2,"read":true,"wait":300}\n')"
  expect_rc 3 "an exit, then a read"
  OUT=$(printf '%s\n' "$OUT" | tail -n 1)
  R1=$(request_id 1)
  has logs '.type == "platform.fault" and
    .record == "RequestId: \($r1) Process exited before completing request"' \
    || fail "platform.fault: $OUT"
  has logs '.type == "platform.runtimeDone" and .record == {requestId: $r1, status: "failure"}' \
    || fail "the crashed invoke's platform.runtimeDone: $OUT"
  ok "Logs API: a runtime that exits in an invoke is a platform.fault"
}

run_as_each scenario
