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
  sed -n 2p <<<"$OUT" | jq -e '.errorType == "Error" and .errorMessage == "stream broke at chunk 2"' >/dev/null \
    || fail "stream error: $OUT"
  ok "streaming: chunks pass through; a mid-stream error becomes a function error"
}

run_as_each scenario
