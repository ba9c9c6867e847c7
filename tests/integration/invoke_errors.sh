#!/bin/bash
# Every kind of function failure through one environment, each giving the invoker Lambda's
# error shape, and the environment recovering (re-initialised after a crash or exit):
# thrown errors, custom error names, rejections, non-Error throws, callback errors, uncaught
# exceptions, process.exit(3), a 7 MB response, an init failure. As root and as nobody.
source "$(dirname "$0")/invoke_common.bash"

ERRS=$(image errors)
# Code without the default handler's index.js (a zip packed from the wrong folder).
mkdir -p "$WORK/noindex" && echo '{}' >"$WORK/noindex/package.json"
NOINDEX=$(image noindex "$WORK/noindex")

scenario() {
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
{"mode":"exit","code":0}
{"mode":"big"}
{"mode":"ok"}
')
  inv "$ERRS" --event "$evs" --timeout 10
  expect_rc 3 "a run with function errors"
  [ "$(printf '%s\n' "$OUT" | wc -l)" -eq 14 ] || fail "expected 14 responses: $OUT"
  jqt '.ok and .invocations == 1' 1 || fail "ok: $(sed -n 1p <<<"$OUT")"
  jqt '.errorType == "Error" and .errorMessage == "boom" and (.trace[0] | startswith("Error: boom"))' 2 \
    || fail "throw: $(sed -n 2p <<<"$OUT")"
  jqt '.errorType == "BudgetExhausted" and .errorMessage == "no budget left"' 3 || fail "custom: $(sed -n 3p <<<"$OUT")"
  jqt '.errorType == "TypeError" and .errorMessage == "bad type"' 4 || fail "reject: $(sed -n 4p <<<"$OUT")"
  jqt '. == {errorType:"string",errorMessage:"oops",trace:[]}' 5 || fail "string: $(sed -n 5p <<<"$OUT")"
  jqt '.errorType == "Error" and .errorMessage == "callback error"' 6 || fail "callback: $(sed -n 6p <<<"$OUT")"
  jqt '.ok and .invocations == 7' 7 || fail "handled errors must keep the environment warm: $(sed -n 7p <<<"$OUT")"
  ok "thrown, custom, rejected, non-Error and callback errors; environment stays warm"


  jqt '.errorType == "Error" and .errorMessage == "crash outside the handler"' 8 \
    || fail "uncaught: $(sed -n 8p <<<"$OUT")"
  jqt '.ok and .invocations == 1' 9 || fail "after an uncaught exception the runtime is fresh: $(sed -n 9p <<<"$OUT")"
  ok "uncaught exception, then a fresh runtime"

  id=$(grep '^START' "$WORK/err" | sed -n 10p | awk '{print $3}')
  printf '%s\n' "$OUT" | sed -n 10p | jqe --arg id "$id" \
    '. == {errorMessage:("RequestId: " + $id + " Error: Runtime exited with error: exit status 3"),errorType:"Runtime.ExitError"}' \
    >/dev/null || fail "exit 3: $(sed -n 10p <<<"$OUT") (id $id)"
  grep -q "^RequestId: $id Error: Runtime exited with error: exit status 3$" "$WORK/err" || fail "exit line in the log"
  grep -q '^Runtime.ExitError$' "$WORK/err" || fail "Runtime.ExitError in the log"
  grep -Pq "^REPORT RequestId: $id\t.*\tMax Memory Used: [0-9]+ MB\tStatus: error\tError Type: Runtime\.ExitError$" \
    "$WORK/err" || fail "exit REPORT: $(grep "^REPORT RequestId: $id" "$WORK/err")"
  # The function's own errors leave the environment working: no Status on their REPORT.
  ! grep -q '^REPORT.*Status' <(sed -n '1,/^END RequestId: '"$id"'/p' "$WORK/err" | grep -v "^REPORT RequestId: $id") \
    || fail "a function error's REPORT has a Status"
  jqt '.ok and .invocations == 1' 11 || fail "after exit the runtime is fresh: $(sed -n 11p <<<"$OUT")"
  jqt '.errorType == "Runtime.ExitError" and (.errorMessage | endswith("Error: Runtime exited without providing a reason"))' 12 \
    || fail "exit 0: $(sed -n 12p <<<"$OUT")"
  ok "process.exit(3) and exit(0): Runtime.ExitError, then a fresh runtime"

  jqt '. == {errorMessage:"Response payload size exceeded maximum allowed payload size (6291556 bytes).",errorType:"Function.ResponseSizeTooLarge"}' 13 \
    || fail "7 MB response: $(sed -n 13p <<<"$OUT" | cut -c1-200)"
  jqt '.ok' 14 || fail "after the big response: $(sed -n 14p <<<"$OUT")"
  ok "7 MB response: Function.ResponseSizeTooLarge"

  # An init failure, as Lambda runs and logs it: the init phase fails (INIT_REPORT Phase:
  # init), the invoke initialises again inside itself (the function's init runs twice) and
  # that failure is its answer (INIT_REPORT Phase: invoke before START, the platform's two
  # lines, a REPORT whose Duration is that init, with Status and Error Type). The runtime
  # posts type "Error", which RAPID reports as Runtime.Unknown. Each next invoke does the same
  # inside itself.
  evs=$(event $'{"mode":"ok"}\n{"mode":"ok"}\n')
  inv "$ERRS" --event "$evs" --env FAIL_INIT=1
  expect_rc 3 "init failure"
  jqt '(.errorMessage | contains("refusing to initialise"))' 1 || fail "init error 1: $OUT"
  jqt '(.errorMessage | contains("refusing to initialise"))' 2 || fail "init error 2: $OUT"
  [ "$(grep -c '^START' "$WORK/err")" -eq 2 ] || fail "two START lines"
  [ "$(grep -c 'refusing to initialise' "$WORK/err")" -eq 3 ] \
    || fail "the function's init should have run three times: $ERR"
  local want
  want=$(printf '%s\n' "INIT_REPORT init error Runtime.Unknown" "INIT_REPORT invoke error Runtime.Unknown" \
    START "Unknown application error occurred" Runtime.Unknown END REPORT \
    "INIT_REPORT invoke error Runtime.Unknown" START "Unknown application error occurred" \
    Runtime.Unknown END REPORT)
  [ "$(grep -E '^(INIT_REPORT|START|END|REPORT|Unknown application|Runtime\.)' "$WORK/err" \
      | sed -E 's/^INIT_REPORT Init Duration: [0-9]+\.[0-9]{2} ms\tPhase: ([a-z]+)\tStatus: ([a-z]+)\tError Type: (.*)$/INIT_REPORT \1 \2 \3/; s/^(START|END|REPORT) .*/\1/')" = "$want" ] \
    || fail "init failure log lines: $(grep -E '^(INIT_REPORT|START|END|REPORT)' "$WORK/err")"
  grep -P '^REPORT ' "$WORK/err" | grep -qvP '\tDuration: (?!0\.00 )[0-9]+\.[0-9]{2} ms\t.*\tMax Memory Used: [0-9]+ MB\tStatus: error\tError Type: Runtime\.Unknown$' \
    && fail "init failure REPORT lines: $(grep '^REPORT' "$WORK/err")"
  ok "init failure: retried inside each invoke, the answer and the log lines as on Lambda"

  # --prewarm is the init phase: its failure is logged then, and the first invoke retries.
  inv "$ERRS" --event "$(event '{"mode":"ok"}')" --env FAIL_INIT=1 --prewarm
  expect_rc 3 "init failure with --prewarm"
  jqt '(.errorMessage | contains("refusing to initialise"))' || fail "prewarmed init error: $OUT"
  [ "$(grep -oE '^(START|INIT_REPORT .*Phase: [a-z]+)' "$WORK/err" | grep -oE '[a-z]+$|^START' | tr '\n' ' ')" = "init invoke START " ] \
    || fail "prewarmed init failure lines: $(grep -E '^(INIT_REPORT|START)' "$WORK/err")"
  ok "init failure with --prewarm: logged in the init phase, retried by the first invoke"

  # The runtime repeats the message in its X-Ray cause header: a long one is still the
  # function's own error (RAPID's Go server takes headers up to 1 MB), not a crash.
  inv "$ERRS" --event "$(event '{"mode":"throw","messageBytes":300000}')" --event "$(event '{"mode":"ok"}')"
  expect_rc 3 "an error with a 300 kB message"
  jqt '.errorType == "Error" and (.errorMessage | length) == 300000' 1 \
    || fail "300 kB error message: $(sed -n 1p <<<"$OUT" | cut -c1-200)"
  jqt '.ok and .invocations == 2' 2 || fail "after a long error message: $(sed -n 2p <<<"$OUT")"
  ok "an error message of 300 kB comes back as the function's error; the environment stays warm"

  # Lambda's nodejs16.x/18.x find no module 'index' (their runtime's own entry is index.mjs,
  # which CommonJS resolution skips): Runtime.ImportModuleError. nodejs14.x's entry is
  # /var/runtime/index.js, on NODE_PATH, found in its place: its empty exports have no handler.
  inv "$NOINDEX"
  expect_rc 3 "code without index.js"
  if [ "$TEST_RUNTIME" = nodejs14.x ]; then
    jqt '.errorType == "Runtime.HandlerNotFound" and .errorMessage == "index.handler is undefined or not exported"' \
      || fail "code without index.js: $OUT"
  else
    jqt '.errorType == "Runtime.ImportModuleError" and .errorMessage == "Error: Cannot find module '"'index'"'\nRequire stack:\n- /var/runtime/index.mjs"' \
      || fail "code without index.js: $OUT"
  fi
  ok "code without index.js: the error of $TEST_RUNTIME on Lambda"

  # A successful run exits 0 even after a failed one in another process.
  inv "$ERRS" --event "$(event '{"mode":"ok"}')"
  expect_rc 0 "ok"
}

run_as_each scenario
