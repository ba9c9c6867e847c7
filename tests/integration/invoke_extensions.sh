#!/bin/bash
# External extensions (a layer's /opt/extensions executables) and internal ones (registered by
# the runtime process) through Lambda's lifecycle (reference §1.8; RAPID's rapid/shutdown.go):
# INVOKE per event, SHUTDOWN at the end, and the resets after a timeout or a failure, when the
# runtime gets SIGTERM first, extensions get SHUTDOWN with 2 s to exit, and the next invoke
# starts them all again.
source "$(dirname "$0")/invoke_common.bash"

# layered_image NAME CODE_DIR LAYER_DIR: the function in CODE_DIR with LAYER_DIR's contents
# as its one layer, tagged lbox-test-NAME:<hash of both and the runtime client> unless that
# tag exists; earlier builds of NAME are untagged (their unpacked rootfs leave the cache).
layered_image() {
  local zip="$WORK/$1-layer.zip" prefix="lbox-test-$1:"
  local tag="$prefix$(content_hash "$2" "$3" "$LBOX_SRC/base-images/runtime")"
  if ! "$LBOX" inspect "$tag" >/dev/null 2>&1; then
    (cd "$3" && zip -qr -X "$zip" .)
    "$LBOX" build --runtime nodejs18.x --arch x86_64 --code "$2" --layer "$zip" --tag "$tag" \
      >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log" >&2; fail "building $1"; }
    "$LBOX" images --json | jq -r --arg p "$prefix" --arg t "$tag" \
      '.[].ref | select(startswith($p) and . != $t)' | xargs -r "$LBOX" rm >/dev/null 2>&1 || :
  fi
  echo "$tag"
}

tag=$(layered_image extension "$LBOX_SRC/examples/extension/fn" "$LBOX_SRC/examples/extension/layer")
# The probe (tests/fixtures/code/ext-lifecycle): its extension misbehaves as PROBE_EXT says,
# its function as each event says; and the same function without the layer, which has only
# the internal extension it may register itself.
PROBE_SRC=$LBOX_SRC/tests/fixtures/code/ext-lifecycle
probe=$(layered_image ext-lifecycle "$PROBE_SRC/fn" "$PROBE_SRC/layer")
internal=$(image ext-lifecycle-fn "$PROBE_SRC/fn")
# An extension that cannot even be started (its interpreter is missing).
broken=$(layered_image ext-lifecycle-broken "$PROBE_SRC/fn" "$PROBE_SRC/broken-layer")
# Layers made here: the probe beside a file that is not executable; eleven extensions; the
# probe beside a copy of itself (ext-quiet) that can subscribe to INVOKE only.
mkdir -p "$WORK/noexec/extensions" "$WORK/many/extensions" "$WORK/mixed/extensions"
cp "$PROBE_SRC/layer/extensions/ext-probe" "$WORK/noexec/extensions/"
echo "not a program" >"$WORK/noexec/extensions/notes.txt"
chmod 644 "$WORK/noexec/extensions/notes.txt"
for i in $(seq -w 1 11); do
  printf '#!/bin/bash\n# extension %s of eleven\nsleep 60\n' "$i" >"$WORK/many/extensions/ext-$i"
  chmod 755 "$WORK/many/extensions/ext-$i"
done
cp "$PROBE_SRC/layer/extensions/ext-probe" "$WORK/mixed/extensions/ext-probe"
cp "$PROBE_SRC/layer/extensions/ext-probe" "$WORK/mixed/extensions/ext-quiet"
noexec=$(layered_image ext-lifecycle-noexec "$PROBE_SRC/fn" "$WORK/noexec")
many=$(layered_image ext-lifecycle-many "$PROBE_SRC/fn" "$WORK/many")
mixed=$(layered_image ext-lifecycle-mixed "$PROBE_SRC/fn" "$WORK/mixed")

# tinv ARGS...: inv, also setting MS to how long it took.
tinv() {
  local start
  start=$(date +%s%N)
  inv "$@"
  MS=$((($(date +%s%N) - start) / 1000000))
}

# line_of REGEX: the number of the first log line matching (grep -E), 0 when none.
line_of() {
  local n
  n=$(grep -nE -m1 -- "$1" "$WORK/err" | cut -d: -f1)
  echo "${n:-0}"
}

# before A B: the first log line matching A comes before the first matching B.
before() {
  local a b
  a=$(line_of "$1")
  b=$(line_of "$2")
  [ "$a" -gt 0 ] && [ "$b" -gt 0 ] && [ "$a" -lt "$b" ]
}

# shutdown_ok REASON: the probe's extension got SHUTDOWN with that reason and a deadline at
# most 2 s away.
shutdown_ok() {
  local left
  left=$(grep -aoE "^\[ext-probe\] SHUTDOWN $1 -?[0-9]+$" "$WORK/err" | head -1 | awk '{print $4}')
  [ -n "$left" ] && [ "$left" -gt 0 ] && [ "$left" -le 2000 ]
}

request_id() { grep '^START' "$WORK/err" | sed -n "${1}p" | awk '{print $3}'; }
registrations() { grep -c '^\[ext-probe\] registered 200$' "$WORK/err" || :; }

scenario() {
  inv "$tag" --event "$(event $'{}\n{}\n')"
  expect_rc 0 "invoke with an extension"
  grep -q '^\[lbox-demo-extension\] registered for lbox-test-extension$' "$WORK/err" || fail "registration"
  for i in 1 2; do
    id=$(printf '%s\n' "$OUT" | sed -n "${i}p" | jq -r .requestId)
    grep -q "^\[lbox-demo-extension\] INVOKE $id$" "$WORK/err" || fail "INVOKE event for $id"
  done
  grep -q '^\[lbox-demo-extension\] SHUTDOWN spindown$' "$WORK/err" || fail "SHUTDOWN event"
  # Lambda's line once the init is over, before the first START.
  before '^EXTENSION	Name: lbox-demo-extension	State: Ready	Events: \[INVOKE, SHUTDOWN\]$' '^START ' \
    || fail "EXTENSION line before START"
  ok "extension: register, INVOKE per event, SHUTDOWN at the end"

  # Spindown: SIGTERM to the runtime (lbox may signal into the sandbox as any user), then
  # SHUTDOWN.
  inv "$probe" --event "$(event '{}')" --env PROBE_SIGTERM=1
  expect_rc 0 "spindown"
  before 'INFO	\[runtime\] SIGTERM$' '^\[ext-probe\] SHUTDOWN spindown' || fail "SIGTERM to the runtime before SHUTDOWN"
  shutdown_ok spindown || fail "SHUTDOWN spindown with its deadline"
  ok "spindown: SIGTERM to the runtime, then SHUTDOWN"
}

run_as_each scenario

# The rest as the current user only.

# A timeout resets the environment: SIGTERM, SHUTDOWN "timeout" before END and REPORT, and
# the next invoke starts the extension again.
inv "$probe" --event "$(event $'{"sleep":3000}\n{}\n')" --timeout 1 --env PROBE_SIGTERM=1
expect_rc 4 "timeout"
id1=$(request_id 1)
id2=$(request_id 2)
jqt '.errorType == "Sandbox.Timedout"' 1 || fail "timeout: $OUT"
jqt ".requestId == \"$id2\"" 2 || fail "after the timeout: $OUT"
before 'INFO	\[runtime\] SIGTERM$' '^\[ext-probe\] SHUTDOWN timeout' || fail "SIGTERM before SHUTDOWN timeout"
shutdown_ok timeout || fail "SHUTDOWN timeout with its deadline"
before '^\[ext-probe\] SHUTDOWN timeout' "^END RequestId: $id1\$" || fail "SHUTDOWN timeout before END"
before "^END RequestId: $id1\$" "^REPORT RequestId: $id1	" || fail "END before REPORT"
[ "$(registrations)" -eq 2 ] || fail "the extension starts again after the timeout"
grep -q "^\[ext-probe\] INVOKE $id2$" "$WORK/err" || fail "INVOKE after the reset"
shutdown_ok spindown || fail "SHUTDOWN spindown at the end"
ok "timeout: SIGTERM, SHUTDOWN timeout, the extension restarted with the runtime"

# An extension that exits on SHUTDOWN costs no wait: the 2 s are a limit, not a pause. (Its
# image is unpacked by now, which the first invoke may take seconds for.)
tinv "$probe" --event "$(event '{}')"
expect_rc 0 "spindown"
shutdown_ok spindown || fail "SHUTDOWN spindown"
[ "$MS" -lt 1500 ] || fail "spindown waited ${MS} ms for an extension that had exited"
ok "spindown: no wait once the extension is gone"

# An extension that ignores SHUTDOWN is killed at its deadline: lbox does not hang.
tinv "$probe" --event "$(event '{}')" --env PROBE_EXT=hang-on-shutdown
expect_rc 0 "unresponsive extension"
shutdown_ok spindown || fail "SHUTDOWN to the unresponsive extension"
[ "$MS" -ge 1800 ] && [ "$MS" -lt 5000 ] || fail "unresponsive extension: lbox took ${MS} ms, expected the 2 s budget"
ok "spindown: an unresponsive extension is killed after 2 s"

# Only the extensions subscribed to SHUTDOWN are waited for: RAPID kills the others when it
# sends SHUTDOWN (rapid/shutdown.go), so one that gets INVOKE only costs no wait either.
for _ in 1 2; do # (timed the second time: the first unpacks the image)
  tinv "$mixed" --event "$(event '{}')" --env PROBE_EXT_ext_quiet=invoke-only
  expect_rc 0 "mixed subscriptions"
done
grep -q "^\[ext-quiet\] INVOKE $(request_id 1)$" "$WORK/err" || fail "mixed: INVOKE to the INVOKE-only extension"
shutdown_ok spindown || fail "mixed: SHUTDOWN to the subscribed extension"
! grep -q '^\[ext-quiet\] SHUTDOWN' "$WORK/err" || fail "mixed: SHUTDOWN to an extension that did not subscribe"
grep -q '^EXTENSION	Name: ext-quiet	State: Ready	Events: \[INVOKE\]$' "$WORK/err" || fail "mixed: EXTENSION line of the INVOKE-only extension"
[ "$MS" -lt 1500 ] || fail "mixed: spindown waited ${MS} ms for an extension not subscribed to SHUTDOWN"
ok "spindown: an extension without SHUTDOWN is killed, not waited for"

# The runtime dies mid-invoke: Runtime.ExitError, SHUTDOWN "failure", a fresh init next.
inv "$probe" --event "$(event $'{"exit":2}\n{}\n')"
expect_rc 3 "runtime crash"
id1=$(request_id 1)
jqt '.errorType == "Runtime.ExitError"' 1 || fail "crash: $OUT"
jqt '.requestId' 2 || fail "after the crash: $OUT"
shutdown_ok failure || fail "SHUTDOWN failure after the crash"
before '^\[ext-probe\] SHUTDOWN failure' "^END RequestId: $id1\$" || fail "SHUTDOWN failure before END"
[ "$(registrations)" -eq 2 ] || fail "the extension starts again after the crash"
ok "runtime crash: SHUTDOWN failure, extension and runtime started again"

# An uncaught exception: the runtime posts the error, then exits instead of asking for the
# next event, which fails this invoke's environment (Lambda's invoke ends at that /next): the
# invoker gets the function's error (not Runtime.ExitError, even while the extension is still
# busy with INVOKE), the extension SHUTDOWN "failure" before END.
for mode in ok slow-invoke; do
  inv "$probe" --event "$(event '{"throwLater":true,"sleep":200}')" --env PROBE_EXT=$mode
  expect_rc 3 "uncaught exception ($mode)"
  jqt '.errorType == "Error" and .errorMessage == "uncaught"' || fail "uncaught exception ($mode): $OUT"
  shutdown_ok failure || fail "SHUTDOWN failure after the uncaught exception ($mode)"
  before '^\[ext-probe\] SHUTDOWN failure' "^END RequestId: $(request_id 1)\$" || fail "SHUTDOWN failure before END ($mode)"
done
ok "uncaught exception: the function's error, SHUTDOWN failure within the invoke"

# An extension that exits during init fails it at once with Extension.Crash (it used to wait
# for the 10 s init limit and answer Sandbox.Timedout), its message how it ended, as RAPID
# says it (the probe exits 3 before registering, 4 after).
for mode in exit-before-register:3 exit-after-register:4; do
  tinv "$probe" --event "$(event $'{}\n{}\n')" --env PROBE_EXT=${mode%:*} --timeout 2
  expect_rc 3 "$mode"
  jqt ".errorType == \"Extension.Crash\" and .errorMessage == \"RequestId: $(request_id 1) Error: exit status ${mode#*:}\"" 1 \
    || fail "$mode: $OUT"
  jqt '.errorType == "Extension.Crash"' 2 || fail "$mode, init again: $OUT"
  [ "$MS" -lt 5000 ] || fail "$mode took ${MS} ms"
done
ok "extension crash during init: Extension.Crash at once (exit status N), init again next invoke"

# An extension that cannot be started fails the init with Extension.LaunchError, an error of
# the function's for the invoker (it used to stop lbox itself, exit status 1).
# Its message is Go's exec error, as RAPID's supervisor gives it.
inv "$broken" --event "$(event $'{}\n{}\n')"
expect_rc 3 "extension launch error"
jqt ".errorType == \"Extension.LaunchError\" and .errorMessage == \"RequestId: $(request_id 1) Error: fork/exec /opt/extensions/ext-broken: no such file or directory\"" 1 \
  && jqt '.errorType == "Extension.LaunchError"' 2 || fail "extension launch error: $OUT"
grep -q '^EXTENSION	Name: ext-broken	State: LaunchError	Events: \[\]$' "$WORK/err" || fail "EXTENSION line of the launch error"
ok "extension that cannot start: Extension.LaunchError for each invoke"

# RAPID starts every file in /opt/extensions: one that is not executable fails the init (on
# Lambda too), rather than being skipped.
inv "$noexec" --event "$(event '{}')"
expect_rc 3 "file that is not executable"
jqt ".errorType == \"Extension.LaunchError\" and .errorMessage == \"RequestId: $(request_id 1) Error: fork/exec /opt/extensions/notes.txt: permission denied\"" \
  || fail "file that is not executable: $OUT"
ok "a file in /opt/extensions that is not executable: Extension.LaunchError"

# Lambda allows 10 extensions: RAPID starts ten, then fails the init on the eleventh.
for _ in 1 2; do # (timed the second time: the first unpacks the image)
  tinv "$many" --event "$(event '{}')"
  expect_rc 3 "eleven extensions"
done
jqt ".errorType == \"Extension.LaunchError\" and .errorMessage == \"RequestId: $(request_id 1) Error: ErrTooManyExtensions\"" \
  || fail "eleven extensions: $OUT"
[ "$MS" -lt 5000 ] || fail "eleven extensions: ${MS} ms"
ok "eleven extensions: Extension.LaunchError ErrTooManyExtensions"

# An extension that exits during an invoke (crash, or after /extension/exit/error) fails it
# before the function's answer; the runtime is reset (SIGTERM).
for mode in crash-on-invoke exit-error-on-invoke; do
  tinv "$probe" --event "$(event '{"sleep":3000}')" --env PROBE_EXT=$mode --env PROBE_SIGTERM=1 --timeout 5
  expect_rc 3 "$mode"
  # RAPID names the exit of an extension that posted /exit/error Extension.ExitError.
  want="Extension.Crash exit status 5"
  [ "$mode" = exit-error-on-invoke ] && want="Extension.ExitError exit code 0"
  jqt ".errorType == \"${want%% *}\" and .errorMessage == \"RequestId: $(request_id 1) Error: ${want#* }\"" \
    || fail "$mode: want $want: $OUT"
  grep -q 'INFO	\[runtime\] SIGTERM$' "$WORK/err" || fail "$mode: the runtime is reset"
  [ "$MS" -lt 2500 ] || fail "$mode: the invoke waited ${MS} ms for the function"
done
ok "extension exit during an invoke: Extension.Crash or .ExitError at once, runtime reset"

# /extension/init/error, then the extension's exit (0), fails the init with
# Extension.InitError, said by how it ended. As on Lambda, the first invoke retries the init
# inside itself and the next one inits again: three registrations for two invokes.
inv "$probe" --event "$(event $'{}\n{}\n')" --env PROBE_EXT=init-error
expect_rc 3 "init error"
jqt ".errorType == \"Extension.InitError\" and .errorMessage == \"RequestId: $(request_id 1) Error: exit code 0\"" 1 \
  && jqt '.errorType == "Extension.InitError"' 2 || fail "init error: $OUT"
grep -q '^EXTENSION	Name: ext-probe	State: InitError	Events: \[INVOKE, SHUTDOWN\]$' "$WORK/err" || fail "EXTENSION line of the init error"
[ "$(registrations)" -eq 3 ] || fail "init error: init again"
[ "$(grep -c '^INIT_REPORT Init Duration: [0-9.]* ms	Phase: invoke	Status: error	Error Type: Extension.InitError$' "$WORK/err")" -eq 2 ] \
  || fail "init error: INIT_REPORT of each invoke's init"
ok "extension init error: Extension.InitError, init again in each invoke"

# An extension that never asks for an event keeps init from finishing: it ends at the 10 s
# limit, is retried within the invoke's timeout, and the invoker gets Sandbox.Timedout.
tinv "$probe" --event "$(event '{}')" --env PROBE_EXT=no-next --timeout 1
expect_rc 4 "extension never calls next"
jqt '.errorType == "Sandbox.Timedout" and (.errorMessage | test("after 1\\.[0-9]{2} seconds$"))' \
  || fail "extension never calls next: $OUT"
[ "$MS" -lt 20000 ] || fail "extension never calls next: ${MS} ms"
ok "extension that never calls next: init limit, suppressed init, Sandbox.Timedout"

# Internal extensions (the runtime's own) get INVOKE but no SHUTDOWN; having one still makes
# Lambda SIGTERM the runtime at shutdown. Without any extension the runtime is just killed.
inv "$internal" --event "$(event $'{}\n{}\n')" --env PROBE_INTERNAL=1 --env PROBE_SIGTERM=1
expect_rc 0 "internal extension"
for i in 1 2; do
  grep -q "INFO	\[internal-probe\] INVOKE $(request_id $i)$" "$WORK/err" || fail "internal extension: INVOKE $i"
done
grep -q 'INFO	\[runtime\] SIGTERM$' "$WORK/err" || fail "internal extension: SIGTERM at shutdown"
grep -q '^EXTENSION	Name: internal-probe	State: Ready	Events: \[INVOKE\]$' "$WORK/err" || fail "internal extension: EXTENSION line"
inv "$internal" --event "$(event '{}')" --env PROBE_SIGTERM=1
expect_rc 0 "no extension"
! grep -q '\[runtime\] SIGTERM' "$WORK/err" || fail "no extension: the runtime is killed, not asked"
ok "internal extension: INVOKE events, SIGTERM to the runtime at shutdown; none: SIGKILL"
