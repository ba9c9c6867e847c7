#!/bin/bash
# QEMU's own memory is not counted against --memory: the SDK example, which needs 62 MB on
# native x86_64 and 170 MB under QEMU, runs at the default 128 MB as it would on Lambda's
# arm64, and a function that really eats memory is still stopped.
LBOX_TEST_ARCH=arm64
source "$(dirname "$0")/invoke_common.bash"

SDK=$(image sdk)
ERRS=$(image errors)

scenario() {
  inv "$SDK" --timeout 120
  expect_rc 0 "the SDK example under QEMU at the default --memory 128"
  jqt '.sdk == "v3" and .client == "S3Client"' || fail "sdk: $OUT"
  ok "arm64 under QEMU: examples/sdk runs at --memory 128"

  inv "$ERRS" --event "$(event '{"mode":"oom"}')" --memory 128 --timeout 120
  expect_rc 3 "out of memory under QEMU"
  grep -q 'Runtime exited with error: signal: killed' "$WORK/err" || fail "no OOM kill under QEMU"
  ok "arm64 under QEMU: a function eating memory is still killed"
}

LBOX_TEST_ONLY_SELF=1 run_as_each scenario
