#!/bin/bash
# The function's output reaches stderr whole and in its invoke's block: console records go
# through the telemetry pipe (written synchronously, before the answer), so none is lost,
# late or cut by START/END; raw stdout is passed on in whole lines and, at exit, drained
# while it keeps coming.
source "$(dirname "$0")/invoke_common.bash"

LOGS=$(image logs "$LBOX_SRC/tests/fixtures/code/logs")

# block N: the lines of stderr from the Nth START to its END (inclusive).
block() { awk -v n="$1" '/^START RequestId/ {k++} k == n {print} k == n && /^END RequestId/ {exit}' "$WORK/err"; }

scenario() {
  printf '%s\n' '{"lines":20000}' '{"lines":3,"multiline":true}' >"$WORK/two.jsonl"
  chmod 644 "$WORK/two.jsonl"
  inv "$LOGS" --event "$WORK/two.jsonl"
  expect_rc 0 "two events"
  [ "$(block 1 | grep -c $'\tINFO\tline ')" -eq 20000 ] \
    || fail "block 1 holds $(block 1 | grep -c $'\tINFO\tline ') of 20000 records"
  [ "$(block 2 | grep -c $'\tINFO\tline ')" -eq 3 ] || fail "block 2: $(block 2 | head -5)"
  # Every record is whole: timestamp, request id, level, message, on a line of its own.
  bad=$(grep -a $'\tINFO\tline ' "$WORK/err" | grep -cvE $'^[0-9T:.-]+Z\t[0-9a-f-]{36}\tINFO\tline [0-9]+ x{100}$' || :)
  [ "$bad" -eq 0 ] || fail "$bad records are cut or spliced"
  [ "$(grep -c '^START RequestId' "$WORK/err")" -eq 2 ] && [ "$(grep -c '^END RequestId' "$WORK/err")" -eq 2 ] \
    || fail "START/END lines are not on lines of their own"
  block 2 | grep -q $'\tERROR\tError: first$' && block 2 | grep -qx 'second' \
    || fail "a record with a newline: $(block 2 | grep -A2 ERROR)"
  ok "logs: 20000 records all in their invoke's block, whole; a record's newline kept"

  inv "$LOGS" --event "$(event '{"rawMB":10,"unfinished":"no newline"}')"
  expect_rc 0 "10 MB to stdout"
  n=$(grep -ao '^y*' "$WORK/err" | tr -d '\n' | wc -c)
  [ "$n" -eq 10485760 ] || fail "process.stdout.write of 10 MiB: $n bytes arrived"
  grep -q 'no newline$' "$WORK/err" || fail "the unfinished line is missing"
  ok "logs: 10 MiB of process.stdout.write arrive whole; an unfinished line is shown"

  inv "$LOGS" --event "$(event '{"unfinished":"half a line"}')" --event "$(event '{"lines":1}')"
  expect_rc 0 "an unfinished line before the next invoke"
  grep -q '^half a line$' "$WORK/err" || fail "unfinished line: $(grep -n 'half' "$WORK/err")"
  [ "$(grep -c '^START RequestId' "$WORK/err")" -eq 2 ] || fail "START lost its line: $(grep -n START "$WORK/err")"
  ok "logs: a line the function leaves unfinished ends before lbox's next line"

  # Records while stdout streams a long unfinished line: each record on a line of its own.
  inv "$LOGS" --event "$(event '{"rawMB":2,"spread":200}')"
  expect_rc 0 "records beside a long stdout line"
  [ "$(grep -cE $'^[0-9T:.-]+Z\t[0-9a-f-]{36}\tINFO\tline [0-9]+ x{100}$' "$WORK/err")" -eq 200 ] \
    || fail "records glued to stdout's line: $(grep -ao 'y[0-9T:.-]*Z.\{50\}' "$WORK/err" | head -3)"
  ok "logs: records beside 2 MiB of stdout without a newline each keep a line of their own"

  # A record logged after the answer (a callback's caller going on) is still its invoke's,
  # before END, as on Lambda; with a single event lbox waits for it before exiting.
  inv "$LOGS" --event "$(event '{"afterAnswer":true}')" --event "$(event '{"lines":1}')"
  expect_rc 0 "a record after the answer"
  block 1 | grep -q $'\tINFO\tlogged after the answer$' \
    || fail "the record after the answer is not in its invoke: $(grep -n -e 'after the answer' -e '^END' -e '^START' "$WORK/err")"
  inv "$LOGS" --event "$(event '{"afterAnswer":true}')"
  expect_rc 0 "a record after the answer, one event"
  block 1 | grep -q $'\tINFO\tlogged after the answer$' || fail "one event: $(cat "$WORK/err")"
  [ "$OUT" = '"answered"' ] || fail "the answer: $OUT"
  ok "logs: a record logged after the answer is in its invoke, before END"

  # A fake frame header on fd 3 neither silences stdout nor spoils the next invoke's records.
  inv "$LOGS" --event "$(event '{"fakeFrame":true,"rawMB":1,"lines":2}')" --event "$(event '{"lines":3}')"
  expect_rc 0 "a fake frame on the telemetry fd"
  n=$(grep -ao '^y*' "$WORK/err" | tr -d '\n' | wc -c)
  [ "$n" -eq 1048576 ] || fail "stdout after a fake frame: $n of 1048576 bytes"
  [ "$(block 2 | grep -cE $'^[0-9T:.-]+Z\t[0-9a-f-]{36}\tINFO\tline [0-9]+ x{100}$')" -eq 3 ] \
    || fail "records after a fake frame: $(block 2 | head -5 | cut -c1-120)"
  ok "logs: a fake frame on fd 3 silences nothing and spoils only its own invoke"
}

run_as_each scenario

# On a terminal (script(1) gives lbox one), what the function writes cannot drive it: the
# escape sequences arrive as text. The same bytes to a file arrive as they were written.
# script(1) runs the command with $SHELL; it is bash here because printf %q quotes for bash
# (a reference holding an escape becomes $'...', which sh would pass on literally).
AS=self
SHELL=/bin/bash script -qec "$(printf '%q ' "$LBOX" invoke "$LOGS" --event "$(event '{"escapes":true}')")" \
  /dev/null >"$WORK/tty" </dev/null || fail "lbox invoke on a terminal: $(cat "$WORK/tty")"
grep -q 'REPORT RequestId' "$WORK/tty" || fail "no REPORT on the terminal: $(cat -v "$WORK/tty")"
! grep -q $'\x1b' "$WORK/tty" || fail "an escape reached the terminal: $(cat -v "$WORK/tty" | grep -a '\^\[')"
grep -qF 'INFO	\x1b]0;pwned\x07\x1b[8mhidden' "$WORK/tty" && grep -qF '\x1b]52;c;ZWNobw==\x07\x1b[2J' "$WORK/tty" ||
  fail "escapes not shown as text: $(cat -v "$WORK/tty")"
inv "$LOGS" --event "$(event '{"escapes":true}')"
grep -q $'\x1b]0;pwned\x07' "$WORK/err" || fail "the escapes did not reach a file as written"
ok "logs: on a terminal the function's escape sequences are shown, not obeyed; a file gets them as written"

# lbox's own errors quote what they were given (an image reference, a path): on a terminal
# that is shown too.
SHELL=/bin/bash script -qec "$(printf '%q ' "$LBOX" invoke $'no\e]52;c;ZWNobw==\a:1')" /dev/null >"$WORK/tty" </dev/null || true
grep -qF "no image 'no\x1b]52;c;ZWNobw==\x07:1'" "$WORK/tty" && ! grep -q $'\x1b' "$WORK/tty" &&
  ok "errors: on a terminal a reference's escape sequences are shown, not obeyed" ||
  fail "errors: an escape in a reference reached the terminal: $(cat -v "$WORK/tty")"
