#!/usr/bin/env bash
# The example functions' behaviour suite (invoke_basic, invoke_errors) on arm64 images of
# nodejs14.x, 16.x and 18.x, run through QEMU user emulation on this x86_64 host. The
# unprivileged case under QEMU is covered by qemu_node_version.sh; here the suite runs once
# per runtime as the current user to keep the emulated run's time down.
set -euo pipefail
here=$(dirname "$0")
status=0
passed=0 failed=0
for rt in nodejs14.x nodejs16.x nodejs18.x; do
  for t in invoke_basic invoke_errors; do
    if LBOX_TEST_RUNTIME=$rt LBOX_TEST_ARCH=arm64 LBOX_TEST_ONLY_SELF=1 bash "$here/$t.sh"; then
      passed=$((passed + 1)); echo "ok - $t on $rt arm64"
    else
      failed=$((failed + 1)); status=1; echo "not ok - $t on $rt arm64"
    fi
  done
done
echo "$passed passed, $failed failed"
exit $status
