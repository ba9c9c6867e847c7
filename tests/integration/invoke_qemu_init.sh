#!/bin/bash
# Under QEMU an init takes seconds, so an init retried inside an invoke (Lambda retries a
# failed init there) has the emulated init limit instead of the function's timeout: a broken
# init under a 1 s timeout still answers with its own error, not Sandbox.Timedout.
LBOX_TEST_ARCH=arm64
source "$(dirname "$0")/invoke_common.bash"

ERRS=$(image errors)

scenario() {
  inv "$ERRS" --event "$(event '{"mode":"ok"}')" --env FAIL_INIT=1 --timeout 1
  expect_rc 3 "a failing init under QEMU with --timeout 1"
  jqt '(.errorMessage | contains("refusing to initialise"))' || fail "init error under QEMU: $OUT"
  grep -Pq '^INIT_REPORT Init Duration: [0-9.]+ ms\tPhase: invoke\tStatus: error\tError Type: Runtime\.Unknown$' \
    "$WORK/err" || fail "no INIT_REPORT of the retried init: $ERR"
  ok "arm64 under QEMU: a failing init's retry is not cut by a 1 s timeout"
}

LBOX_TEST_ONLY_SELF=1 run_as_each scenario
