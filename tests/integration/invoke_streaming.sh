#!/bin/bash
# Response streaming carried through to stdout: the runtime's chunked body as it comes, and
# an error after the first bytes (sent by the runtime in HTTP trailers) as a function error.
source "$(dirname "$0")/invoke_common.bash"

STREAM=$(image streaming)

scenario() {
  inv "$STREAM" --event "$(event '{"chunks":3}')"
  expect_rc 0 "streamed response"
  [ "$OUT" = $'chunk 1\nchunk 2\nchunk 3' ] || fail "streamed body: $OUT"
  inv "$STREAM" --event "$(event '{"chunks":3,"failAfter":1}')"
  expect_rc 3 "stream error"
  [ "$(sed -n 1p <<<"$OUT")" = "chunk 1" ] || fail "bytes before the error: $OUT"
  sed -n 2p <<<"$OUT" | jqe '.errorType == "Error" and .errorMessage == "stream broke at chunk 2"' >/dev/null \
    || fail "stream error: $OUT"
  ok "streaming: chunks pass through; a mid-stream error becomes a function error"
  inv "$STREAM" --event "$(event '{"chunks":3,"failAfter":1,"unterminated":true}')"
  expect_rc 3 "stream error after an unfinished line"
  [ "$(sed -n 1p <<<"$OUT")" = "chunk 1" ] &&
    sed -n 2p <<<"$OUT" | jqe '.errorMessage == "stream broke at chunk 2"' >/dev/null ||
    fail "a stream's error after an unfinished line is not on a line of its own: $OUT"
  ok "streaming: the error of a stream cut mid-line starts a line of its own"

  # --json: one line per event, however many lines the responses hold.
  inv "$STREAM" --json --event "$(event '{"chunks":3}')" --event "$(event '{"chunks":3,"failAfter":1}')"
  expect_rc 3 "two events with --json"
  [ "$(printf '%s\n' "$OUT" | wc -l)" -eq 2 ] || fail "--json: not one line per event: $OUT"
  jqt '.status == "success" and .payload == "chunk 1\nchunk 2\nchunk 3\n" and
    (.requestId | test("^[0-9a-f-]{36}$")) and .initDurationMs > 0 and .maxMemoryUsedMB > 0' 1 ||
    fail "--json, streamed response: $(sed -n 1p <<<"$OUT")"
  jqt '.status == "error" and .errorType == "Error" and .streamed == "chunk 1\n" and
    (.payload | fromjson | .errorMessage == "stream broke at chunk 2") and (has("initDurationMs") | not)' 2 ||
    fail "--json, stream error: $(sed -n 2p <<<"$OUT")"
  ok "streaming: --json gives one line per event, the stream's bytes and its error in it"

  # Lambda's 20 MB streaming limit: the first 20 MiB go out, then the invoke fails.
  inv "$STREAM" --event "$(event '{"bytes":20971520}')"
  expect_rc 0 "a stream of exactly 20 MiB"
  [ "${#OUT}" -eq 20971520 ] || fail "20 MiB stream came out as ${#OUT} bytes"
  inv "$STREAM" --event "$(event '{"bytes":23068672}')"
  expect_rc 3 "a stream over 20 MiB"
  [ "$(head -c 20971520 <<<"$OUT" | tr -d x | wc -c)" -eq 0 ] || fail "the first 20 MiB are not the stream"
  tail -c +20971521 <<<"$OUT" | jqe '.errorType == "Function.ResponseSizeTooLarge" and
    (.errorMessage | test("20971520 bytes"))' >/dev/null \
    || fail "over 20 MiB: $(tail -c +20971521 <<<"$OUT" | head -c 300)"
  ok "streaming: 20 MiB pass, more is cut there and fails with Function.ResponseSizeTooLarge"
}

run_as_each scenario
