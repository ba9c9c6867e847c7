#!/bin/bash
# A function that eats memory past --memory is killed (cgroup, or the sandbox's RSS watch
# when no cgroup is usable): Runtime.ExitError "signal: killed", a measured Max Memory Used
# near the limit (not an echo of it), and a fresh runtime for the next event. Root and nobody.
source "$(dirname "$0")/invoke_common.bash"

ERRS=$(image errors)

scenario() {
  inv "$ERRS" --event "$(event $'{"mode":"oom"}\n{"mode":"ok"}\n{"mode":"ok"}\n')" --memory 128 --timeout 60
  expect_rc 3 "out of memory"
  id=$(grep '^START' "$WORK/err" | sed -n 1p | awk '{print $3}')
  printf '%s\n' "$OUT" | sed -n 1p | jq -e --arg id "$id" \
    '. == {errorMessage:("RequestId: " + $id + " Error: Runtime exited with error: signal: killed"),errorType:"Runtime.ExitError"}' \
    >/dev/null || fail "OOM body: $(sed -n 1p <<<"$OUT")"
  used=$(grep -P "^REPORT RequestId: $id\t" "$WORK/err" | grep -o 'Max Memory Used: [0-9]*' | grep -o '[0-9]*$')
  [ -n "$used" ] && [ "$used" -ge 100 ] || fail "Max Memory Used after OOM: '$used'"
  jqt '.ok and .invocations == 1' 2 || fail "after OOM: $(sed -n 2p <<<"$OUT")"
  used2=$(grep '^REPORT' "$WORK/err" | sed -n 3p | grep -o 'Max Memory Used: [0-9]*' | grep -o '[0-9]*$')
  [ "$used2" -lt 100 ] || fail "a small invoke reports $used2 MB: memory is echoed, not measured"
  ok "OOM: signal: killed, measured memory, fresh runtime next"
}

run_as_each scenario
