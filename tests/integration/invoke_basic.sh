#!/bin/bash
# lbox invoke on real images: a response on stdout and Lambda's lines on stderr; warm reuse
# over several events; /tmp kept and the rest read-only; the user, environment variables and
# context Lambda gives; env files; flags validated like Lambda. As root and as nobody.
source "$(dirname "$0")/invoke_common.bash"

HELLO=$(image hello)
LIFE=$(image lifecycle)

uuid='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'

scenario() {
  # One event: response on stdout, START/END/REPORT in order with Init Duration (cold).
  inv "$HELLO" --event "$(event '{"name":"lbox"}')"
  expect_rc 0 "hello"
  jqt '.message == "hello, lbox" and .runtime == "AWS_Lambda_'"$TEST_RUNTIME"'"' || fail "hello response: $OUT"
  id=$(printf '%s\n' "$OUT" | jq -r .requestId)
  [[ $id =~ ^$uuid$ ]] || fail "request id '$id'"
  grep -q "^START RequestId: $id Version: \$LATEST$" "$WORK/err" || fail "START line"
  grep -q "^END RequestId: $id$" "$WORK/err" || fail "END line"
  grep -Pq "^REPORT RequestId: $id\tDuration: [0-9]+\.[0-9]{2} ms\tBilled Duration: [0-9]+ ms\tMemory Size: 128 MB\tMax Memory Used: [0-9]+ MB\tInit Duration: [0-9]+\.[0-9]{2} ms\t$" \
    "$WORK/err" || fail "REPORT line format"
  [ "$(grep -n -e '^INIT_START' -e '^START' -e '^END' -e '^REPORT' "$WORK/err" | cut -d: -f2 | cut -c1-3 | tr -d '\n')" = "INISTAENDREP" ] \
    || fail "platform lines out of order"
  # INIT_START names the node that ran (the response's process.version) and the runtime's
  # layers; lifecycle's image, another function on the same runtime, has the same ARN.
  node=$(printf '%s\n' "$OUT" | jq -r .node)
  grep -Pq "^INIT_START Runtime Version: nodejs:${node#v}\tRuntime Version ARN: arn:aws:lambda:[a-z0-9-]+::runtime:[0-9a-f]{64}$" \
    "$WORK/err" || fail "INIT_START line: $(grep INIT_START "$WORK/err")"
  runtime_arn=$(grep -o 'arn:aws:lambda:[a-z0-9-]*::runtime:[0-9a-f]*' "$WORK/err")
  ok "hello: response, INIT_START/START/END/REPORT with Init Duration"

  # Three events through one environment: counter grows, /tmp kept, Init Duration once.
  evs=$(event $'{"n":1}\n{"n":2}\n{"n":3}\n')
  inv "$LIFE" --event "$evs" --memory 256 --timeout 7
  expect_rc 0 "lifecycle"
  [ "$(printf '%s\n' "$OUT" | wc -l)" -eq 3 ] || fail "expected 3 responses, got: $OUT"
  jqt '.invocations == 1 and .tmpBefore == null' 1 || fail "first invoke: $OUT"
  jqt '.invocations == 3 and .tmpBefore == "2"' 3 || fail "third invoke is not warm: $OUT"
  [ "$(grep -c 'Init Duration' "$WORK/err")" -eq 1 ] || fail "Init Duration must appear once"
  [ "$(grep -c '^INIT_START' "$WORK/err")" -eq 1 ] || fail "INIT_START must appear once"
  grep -q "Runtime Version ARN: $runtime_arn$" "$WORK/err" \
    || fail "another function on the same runtime has another runtime ARN: $(grep INIT_START "$WORK/err")"
  [ "$(grep -c '^REPORT' "$WORK/err")" -eq 3 ] || fail "3 REPORT lines"
  grep -q $'\tlifecycle invoke 2$' "$WORK/err" || grep -q 'INFO.lifecycle invoke 2' "$WORK/err" || fail "function log on stderr"
  ok "warm reuse: counter 1..3, /tmp kept, one cold start"

  # Read-only everywhere but /tmp; uid/gid 993/990; cwd /var/task.
  jqt '.writes == {tmp:"written",task:"EROFS",opt:"EROFS",root:"EROFS",runtime:"EROFS",etc:"EROFS"}' 1 \
    || fail "writes: $(printf '%s\n' "$OUT" | head -1 | jq -c .writes)"
  jqt '.uid == 993 and .gid == 990 and .cwd == "/var/task"' 1 || fail "uid/gid/cwd"
  # The host's name stays outside; Lambda's are the environment's link-local address.
  jqt '.hostname == "169.254.100.1"' 1 || fail "hostname: $(sed -n 1p <<<"$OUT" | jqe .hostname)"
  ok "EROFS outside /tmp, uid 993, cwd /var/task, hostname 169.254.100.1"

  # Environment variables and the context object.
  jqt '.env.AWS_LAMBDA_FUNCTION_NAME == "lbox-test-lifecycle"
       and .env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE == "256"
       and .env.AWS_LAMBDA_FUNCTION_VERSION == "$LATEST"
       and .env.AWS_LAMBDA_RUNTIME_API == "127.0.0.1:9001"
       and .env.LAMBDA_TASK_ROOT == "/var/task" and .env.LAMBDA_RUNTIME_DIR == "/var/runtime"
       and .env._HANDLER == "index.handler" and .env.AWS_EXECUTION_ENV == "AWS_Lambda_'"$TEST_RUNTIME"'"
       and .env.AWS_LAMBDA_LOG_GROUP_NAME == "/aws/lambda/lbox-test-lifecycle"
       and (.env.AWS_LAMBDA_LOG_STREAM_NAME | test("^[0-9]{4}/[0-9]{2}/[0-9]{2}/\\[\\$LATEST\\][0-9a-f]{32}$"))
       and (.env.PATH | startswith("/var/lang/bin"))
       and (.env.AWS_REGION | length > 0)
       and (.env | has("HOME") | not) and (.env | has("LBOX_SECRET_FROM_HOST") | not)' 1 \
    || fail "env: $(printf '%s\n' "$OUT" | head -1 | jq -c .env)"
  jqt '.context.functionName == "lbox-test-lifecycle" and .context.memoryLimitInMB == "256"
       and (.context.invokedFunctionArn | test("^arn:aws:lambda:[a-z0-9-]+:[0-9]{12}:function:lbox-test-lifecycle$"))
       and .context.remaining > 5000 and .context.remaining <= 7000
       and .context.logGroupName == "/aws/lambda/lbox-test-lifecycle"' 1 \
    || fail "context: $(printf '%s\n' "$OUT" | head -1 | jq -c .context)"
  ok "environment variables and context"

  # User variables (--env wins over the env file), SAM env-file format, caller credentials.
  envf=$(event '{"Parameters":{"COLOR":"blue","SIZE":"1"},"lbox-test-lifecycle":{"SIZE":"2"},"other":{"SIZE":"3"}}')
  set +e
  lbox_out=$(AWS_ACCESS_KEY_ID=AKIDLBOXTEST AWS_SECRET_ACCESS_KEY=s3cr3t AWS_REGION=eu-west-3 \
    LBOX_SECRET_FROM_HOST=1 lbox invoke "$LIFE" --env-file "$envf" --env COLOR=green 2>"$WORK/err")
  RC=$?
  set -e
  OUT=$lbox_out
  expect_rc 0 "env file"
  if [ "$AS" = self ]; then
    jqt '.env.AWS_ACCESS_KEY_ID == "AKIDLBOXTEST" and .env.AWS_SECRET_ACCESS_KEY == "s3cr3t"
         and .env.AWS_REGION == "eu-west-3" and .env.AWS_DEFAULT_REGION == "eu-west-3"' \
      || fail "caller credentials: $(jq -c .env <<<"$OUT")"
  fi
  jqt '.env.COLOR == "green" and .env.SIZE == "2" and (.env | has("LBOX_SECRET_FROM_HOST") | not)' \
    || fail "env file: $(jq -c .env <<<"$OUT")"
  ok "--env, SAM env file, caller's AWS credentials"

  # Reserved names are refused, like Lambda: on the command line a bad argument (2), in an
  # env file bad content (1); both before any sandbox starts.
  inv "$LIFE" --env AWS_REGION=mars-1
  expect_rc 2 "reserved variable"
  grep -q 'AWS_REGION is reserved' "$WORK/err" || fail "reserved message"
  inv "$LIFE" --env _HANDLER=other.handler
  expect_rc 2 "reserved _HANDLER"
  grep -q "lbox invoke: --env '_HANDLER=other.handler': environment variable _HANDLER is reserved by Lambda .*lbox build --handler" \
    "$WORK/err" || fail "reserved _HANDLER message: $ERR"
  printf '{"Parameters":{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE":"4096"}}' >"$WORK/reserved.json"
  inv "$LIFE" --env-file "$WORK/reserved.json"
  expect_rc 1 "reserved variable in an env file"
  grep -q 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE is reserved' "$WORK/err" || fail "reserved message (env file)"
  ! grep -q '^START' "$WORK/err" || fail "a sandbox started for a reserved variable"
  # Events from stdin.
  set +e
  OUT=$(printf '{"name":"stdin"}' | lbox invoke "$HELLO" --event - 2>"$WORK/err"); RC=$?
  set -e
  expect_rc 0 "stdin event"
  jqt '.message == "hello, stdin"' || fail "stdin event: $OUT"
  # --prewarm: init before the first event, so no Init Duration on it.
  inv "$HELLO" --prewarm
  expect_rc 0 "prewarm"
  ! grep -q 'Init Duration' "$WORK/err" || fail "prewarmed invoke reported a cold start"
  ok "reserved names refused, stdin events, --prewarm"
}

# Bad input: checked before any sandbox starts (no START line).
bad_input() {
  for args in "--timeout 0" "--timeout 901" "--memory 64" "--memory 10241" "--tmp-size 100" \
              "--tmp-size 20000" "--network bridge" "--timeout 3s"; do
    # shellcheck disable=SC2086
    inv "$HELLO" $args
    expect_rc 2 "invoke $args"
    grep -q 'lbox invoke: --' "$WORK/err" || fail "no clear message for $args"
  done
  inv "$HELLO" --event "$(event '{not json')"
  expect_rc 1 "bad JSON event"
  grep -q 'not valid JSON' "$WORK/err" || fail "bad JSON message"
  big="$WORK/big.json"
  node -e 'process.stdout.write(JSON.stringify("x".repeat(6291456)))' >"$big"
  chmod 644 "$big"
  inv "$HELLO" --event "$big"
  expect_rc 1 "oversized event"
  grep -q 'Request must be smaller than 6291456 bytes' "$WORK/err" || fail "oversized message"
  ! grep -q '^START' "$WORK/err" || fail "oversized event reached the function"
  # Out of memory (a small ulimit -v, a 100 MB event file): said, not a bare abort.
  head -c 100000000 /dev/zero | tr '\0' ' ' >"$big"
  set +e
  (ulimit -v 150000; exec "$LBOX" invoke "$HELLO" --event "$big") >/dev/null 2>"$WORK/err"
  RC=$?
  set -e
  rm -f "$big"
  expect_rc 134 "out of memory reading an event"
  grep -q '^lbox: out of memory (asking for [0-9]* bytes); free some memory or raise the limit' \
    "$WORK/err" || fail "out-of-memory message"
  # --env's form and --function-name are the command line's (exit 2), named in the message.
  inv "$HELLO" --env NOEQ
  expect_rc 2 "--env NOEQ"
  grep -q "lbox invoke: --env 'NOEQ'" "$WORK/err" || fail "--env NOEQ message"
  inv "$HELLO" --env 1A=x
  expect_rc 2 "--env 1A=x"
  grep -q "lbox invoke: --env '1A=x'" "$WORK/err" || fail "--env 1A=x message"
  for name in 'my fn/../x' '' "$(printf 'f%.0s' {1..65})"; do
    inv "$HELLO" --function-name "$name"
    expect_rc 2 "--function-name '$name'"
    grep -q "function name '$name' is not valid" "$WORK/err" || fail "--function-name '$name' message"
  done
  # A pretty-printed event with a mistake: the error is where the mistake is.
  inv "$HELLO" --event "$(event $'{\n  "id": 1,\n}\n')"
  expect_rc 1 "pretty-printed bad event"
  grep -q 'is not valid JSON (line 3, column 1:' "$WORK/err" || fail "pretty-printed event message"
  ! grep -q '^START' "$WORK/err" || fail "bad event reached the function"
  inv no-such-image:latest
  expect_rc 1 "missing image"
  inv
  expect_rc 2 "no image"
  ok "flags validated like Lambda, bad events refused up front"
}

# Valid JSON that a C JSON library cannot hold in its values still reaches the function, as
# written; SAM env-file values become the text SAM gives them.
json_edges() {
  inv "$HELLO" --event "$(event '{"name":"a\u0000b","n":1e400,"big":123456789012345678901234567890}')"
  expect_rc 0 "event with \u0000, 1e400 and a big integer"
  jqt '.message == "hello, a\u0000b"' || fail "edge event: $OUT"
  envf=$(event '{"Parameters":{"PI":3.14159265358979,"PORT":8080.0,"BIG":1e16,"NUM":7,"NUL":null,"OBJ":{"Ref":"T"},"ARR":[1],"ON":true}}')
  inv "$LIFE" --env-file "$envf"
  expect_rc 0 "SAM env-file values"
  jqt '.env.PI == "3.14159265358979" and .env.PORT == "8080.0" and .env.BIG == "1e+16"
       and .env.NUM == "7" and .env.NUL == "" and .env.OBJ == "" and .env.ARR == "" and .env.ON == "true"' \
    || fail "env-file values: $(jq -c .env <<<"$OUT")"
  ok "JSON edge cases reach the function; env-file values as SAM gives them"
}

# Where the responses cannot go: stdout closed or full is said, and nothing lands in lbox's
# own files; a SAM env file that has nothing for the function says so, and one whose
# entries are not all objects is refused.
output_and_env_files() {
  local lock=$XDG_DATA_HOME/lbox/store/gc.lock before
  before=$(stat -c %s "$lock")
  set +e
  "$LBOX" invoke "$HELLO" >&- 2>"$WORK/err"; RC=$?
  set -e
  expect_rc 1 "stdout closed"
  grep -q 'lbox invoke: cannot write the responses to stdout: Bad file descriptor' "$WORK/err" \
    || fail "stdout closed: $(tail -n 2 "$WORK/err")"
  [ "$(stat -c %s "$lock")" = "$before" ] || fail "the response went into the store's lock file"
  set +e
  "$LBOX" invoke "$HELLO" >/dev/full 2>"$WORK/err"; RC=$?
  set -e
  expect_rc 1 "stdout full"
  grep -q 'cannot write the responses to stdout: No space left on device' "$WORK/err" \
    || fail "stdout full: $(tail -n 2 "$WORK/err")"
  set +e
  OUT=$("$LBOX" invoke "$HELLO" 2>&-); RC=$?
  set -e
  expect_rc 0 "stderr closed"
  jqt '.message == "hello, world"' || fail "stderr closed: $OUT"
  [ "$(stat -c %s "$lock")" = "$before" ] || fail "the logs went into the store's lock file"

  inv "$HELLO" --event - --event -
  expect_rc 2 "--event - twice"
  grep -q 'lbox invoke: --event - is given twice' "$WORK/err" || fail "--event - twice: $ERR"
  inv "$HELLO" "$(event '{}')"
  expect_rc 2 "an event without --event"
  grep -q "lbox invoke: unexpected '.*' after the image: one IMAGE, and events go with --event FILE" \
    "$WORK/err" || fail "an event without --event: $ERR"
  inv "$HELLO" --bogus
  expect_rc 2 "an unknown option"
  grep -q "^lbox invoke: unrecognized option '--bogus'" "$WORK/err" || fail "unknown option: $ERR"

  inv "$LIFE" --env-file "$(event '{"HelloWorldFunction":{"COLOR":"red"}}')"
  expect_rc 0 "an env file for another function"
  grep -q 'lbox invoke: warning: env file .* has no "Parameters" and nothing for the function "lbox-test-lifecycle" (it has "HelloWorldFunction")' \
    "$WORK/err" || fail "no warning for an env file that has nothing for the function: $ERR"
  jqt '(.env | has("COLOR") | not)' || fail "another function's variables applied: $OUT"
  inv "$LIFE" --env-file "$(event '{"HelloWorldFunction":{"COLOR":"red"}}')" \
    --function-name HelloWorldFunction
  expect_rc 0 "--function-name picks the env file's entry"
  jqt '.env.COLOR == "red"' || fail "--function-name with an env file: $OUT"
  inv "$LIFE" --env-file "$(event '{"FLAT":"1","lbox-test-lifecycle":{"COLOR":"red"}}')"
  expect_rc 1 "a mixed env file"
  grep -q '"FLAT" is not an object, though other entries are' "$WORK/err" || fail "mixed env file: $ERR"
  inv "$LIFE" --env-file "$(event '{"Parameters":{"COLOR":"red","SIZE":"1"}}')" \
    --env-file "$(event '{"Parameters":{"COLOR":"blue"}}')"
  expect_rc 0 "two env files"
  jqt '.env.COLOR == "blue" and .env.SIZE == "1"' || fail "two env files, the later wins: $OUT"
  # Credentials the function will not get are said.
  set +e
  env -u AWS_SECRET_ACCESS_KEY AWS_ACCESS_KEY_ID=AKIDLBOXTEST "$LBOX" invoke "$HELLO" >/dev/null 2>"$WORK/err"
  set -e
  grep -q 'lbox invoke: warning: AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY' "$WORK/err" \
    || fail "a key without its secret: $(head -n 2 "$WORK/err")"
  ok "stdout closed or full is an error, nothing in lbox's files; env files and credentials noted"
}

run_as_each scenario
bad_input
json_edges
output_and_env_files
