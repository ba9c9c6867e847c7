#!/bin/bash
# --network host: the function reaches the host's loopback (a server this test starts),
# while without it the same address is the sandbox's own, empty loopback. Two host-network
# environments at once both run: the second one's Runtime API takes a free port (9001 is
# the first one's) and AWS_LAMBDA_RUNTIME_API says which; neither can use the other's.
source "$(dirname "$0")/invoke_common.bash"

ABUSE=$(image abuse)
# Abstract UNIX sockets: a static helper, on the host and in the function.
ABS=$(helper_image abstract abs)

# A one-line HTTP server on the host's loopback, on a port the kernel picks.
node -e '
  const s = require("http").createServer((q, r) => r.end("host-says-hi"));
  s.listen(0, "127.0.0.1", () => require("fs").writeFileSync(process.argv[1], String(s.address().port)));
' "$WORK/port" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; cleanup' EXIT
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
PORT=$(cat "$WORK/port")
[ -n "$PORT" ] || fail "the host's test server did not start"

scenario() {
  inv "$ABUSE" --event "$(event "{\"case\":\"connect-host\",\"port\":$PORT}")"
  expect_rc 0 "connect without --network host"
  jqt '.result == "ECONNREFUSED"' || fail "the sandbox reached the host's loopback: $OUT"

  inv "$ABUSE" --network host --event "$(event "{\"case\":\"connect-host\",\"port\":$PORT}")"
  expect_rc 0 "connect with --network host"
  jqt '.status == 200 and .body == "host-says-hi"' || fail "--network host: $OUT"

  # Two at once: the first holds 9001 while the second starts.
  local sleep_ev connect_ev
  sleep_ev=$(event '{"case":"sleep","ms":3000}')
  connect_ev=$(event "{\"case\":\"connect-host\",\"port\":$PORT}")
  rm -f "$WORK/first.out" "$WORK/first.err"
  lbox invoke "$ABUSE" --network host --timeout 10 --event "$sleep_ev" >"$WORK/first.out" 2>"$WORK/first.err" &
  local first=$!
  # START: its Runtime API is up (on 9001) and the function is sleeping.
  for _ in $(seq 1 100); do grep -q '^START' "$WORK/first.err" 2>/dev/null && break; sleep 0.1; done
  grep -q '^START' "$WORK/first.err" || fail "the first host-network environment did not start"
  inv "$ABUSE" --network host --event "$connect_ev"
  wait "$first" || fail "the first host-network environment failed: $(tail -3 "$WORK/first.err")"
  expect_rc 0 "a second host-network environment"
  jqt '.body == "host-says-hi" and (.runtimeApi | startswith("127.0.0.1:")) and .runtimeApi != "127.0.0.1:9001"' \
    || fail "second host-network environment: $OUT"
  ok "--network host: host loopback reachable, two environments at once on different ports"

  # On the host's loopback the Runtime API takes only its own sandbox's connections: the
  # second environment, posting to the first one's request id on 9001, and this shell, are
  # both refused, and the first one's answer is its own.
  rm -f "$WORK/first.out" "$WORK/first.err"
  lbox invoke "$ABUSE" --network host --timeout 20 --event "$(event '{"case":"sleep","ms":4000}')" \
    >"$WORK/first.out" 2>"$WORK/first.err" &
  first=$!
  for _ in $(seq 1 100); do grep -q '^START' "$WORK/first.err" 2>/dev/null && break; sleep 0.1; done
  local fid
  fid=$(grep '^START' "$WORK/first.err" | awk '{print $3}' || true)
  [ -n "$fid" ] || fail "the first host-network environment did not start"
  ! curl -s -m 2 "http://127.0.0.1:9001/2018-06-01/ping" >/dev/null ||
    fail "a host process reached a host-network environment's Runtime API"
  inv "$ABUSE" --network host --event "$(event "{\"case\":\"hijack\",\"id\":\"$fid\"}")" --timeout 10
  expect_rc 0 "hijack attempt on the host's loopback"
  jqt '.result == "ECONNRESET"' || fail "hijack on the host's loopback: $OUT"
  wait "$first" || fail "the first host-network environment failed: $(tail -3 "$WORK/first.err")"
  jqe '.case == "sleep" and .result == "ok"' <"$WORK/first.out" >/dev/null ||
    fail "the first environment's answer was hijacked: $(cat "$WORK/first.out")"
  ok "--network host: another environment and a host process cannot reach the Runtime API"

  # The host's abstract sockets (an X server, a container shim) stay out of reach even on
  # the host's network; the sandbox's own still work among its processes.
  local name="lbox-test-$$-$AS"
  "$WORK/abstract/abs" listen "$name" >"$WORK/abs-host.out" &
  local listener=$!
  for _ in $(seq 50); do grep -q listening "$WORK/abs-host.out" 2>/dev/null && break; sleep 0.05; done
  inv "$ABS" --network host --event "$(event "{\"mode\":\"connect\",\"name\":\"$name\"}")"
  expect_rc 0 "connect to the host's abstract socket"
  jqt '.result == "EPERM"' || fail "the sandbox reached a host abstract socket: $OUT"
  # ... so this kernel has Landlock scopes, and the warning for kernels without is not given.
  ! grep -q 'no Landlock scopes' "$WORK/err" || fail "a warning of missing Landlock scopes: $ERR"
  "$WORK/abstract/abs" connect "$name" >/dev/null # lets the listener end
  wait "$listener" 2>/dev/null || true
  inv "$ABS" --network host --event "$(event '{"mode":"self","name":"lbox-inside"}')"
  jqt '.result == "connected"' || fail "abstract sockets inside the sandbox: $OUT"
  ok "--network host: the host's abstract sockets unreachable, the sandbox's own usable"
}

run_as_each scenario
