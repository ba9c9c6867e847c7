#!/bin/bash
# A hostile function, each attempt failing or contained while the environment keeps serving:
# mount, unshare, clone into a new namespace, setns, ptrace of a host pid, kexec, bpf,
# keyctl, io_uring, mknod, Linux AIO, the OOM score, core dumps, ptys, a fork bomb, reading
# a host file, writing the rootfs, filling /tmp, a gigabyte of stdout, broken requests to
# the Runtime API, and reaching another environment's Runtime API (or the host's
# view of it). As root and as nobody.
source "$(dirname "$0")/invoke_common.bash"

mkdir -p "$WORK/abuse-code"
cp "$LBOX_SRC/examples/abuse/index.js" "$WORK/abuse-code/"
gcc -static -O2 -o "$WORK/abuse-code/abuse" "$LBOX_SRC/examples/abuse/abuse.c" || fail "building the abuse helper"
ABUSE=$(image abuse "$WORK/abuse-code")
echo "host secret" >"$WORK/host-secret"

# hold CASE FILTER: the function takes all it can of CASE and holds it for 4 s; meanwhile the
# invoking user takes its own, which must not be none. FILTER checks the function's count.
hold() {
  rm -f "$WORK/hold.out" "$WORK/hold.err"
  lbox invoke "$ABUSE" --event "$(event "{\"case\":\"$1\",\"arg\":4000}")" --timeout 30 \
    >"$WORK/hold.out" 2>"$WORK/hold.err" </dev/null &
  local pid=$! host
  for _ in $(seq 1 150); do grep -q 'holding' "$WORK/hold.err" 2>/dev/null && break; sleep 0.1; done
  grep -q 'holding' "$WORK/hold.err" || fail "$1: the function did not start: $(cat "$WORK/hold.err")"
  if [ "$AS" = nobody ]; then
    host=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$WORK/abuse-code/abuse" "$1" 2>/dev/null)
  else
    host=$("$WORK/abuse-code/abuse" "$1" 2>/dev/null)
  fi
  wait "$pid" || fail "$1: the function failed (status $?): $(cat "$WORK/hold.err")"
  jqe "$2" <"$WORK/hold.out" >/dev/null || fail "$1: not capped: $(cat "$WORK/hold.out")"
  jqe '.taken > 0' >/dev/null <<<"$host" || fail "$1: the function took all of the host user's: $host"
}

scenario() {
  local ev="$WORK/abuse-events.$AS"
  {
    for c in mount unshare clone-newnet setns kexec bpf keyctl io_uring mknod; do
      printf '{"case":"%s"}\n' "$c"
    done
    printf '{"case":"ptrace","arg":%d}\n' "$$"
    printf '{"case":"read-host","path":"%s"}\n' "$WORK/host-secret"
    printf '{"case":"read-host","path":"%s"}\n' "$LBOX_SRC/CMakeLists.txt"
    printf '{"case":"write-rootfs"}\n'
    printf '{"case":"fill-tmp"}\n'
    printf '{"case":"forkbomb"}\n'
    printf '{"case":"sleep","ms":10}\n'
  } >"$ev"
  chmod 644 "$ev"
  # tmpfs pages and 1024 processes are charged to the memory limit: give them room, so what
  # stops them is the /tmp size and the process limit.
  inv "$ABUSE" --event "$ev" --timeout 60 --tmp-size 512 --memory 2048
  n=$(printf '%s\n' "$OUT" | wc -l)
  [ "$n" -eq 16 ] || fail "expected 16 responses, got $n: $OUT"
  for i in $(seq 1 10); do
    line=$(sed -n "${i}p" <<<"$OUT")
    jqe '.result != "ok" and (.errorType | not)' >/dev/null <<<"$line" || fail "not refused: $line"
  done
  for i in 1 2 3 9; do # mount, unshare, clone(CLONE_NEWNET), mknod: the filter says EPERM
    jqe '.result == "EPERM"' >/dev/null <<<"$(sed -n "${i}p" <<<"$OUT")" || fail "expected EPERM: $(sed -n "${i}p" <<<"$OUT")"
  done
  ok "mount, unshare, clone/setns, ptrace, kexec, bpf, keyctl, io_uring, mknod refused"
  jqt '.result == "ENOENT"' 11 || fail "host file readable: $(sed -n 11p <<<"$OUT")"
  jqt '.result == "ENOENT"' 12 || fail "host source tree readable: $(sed -n 12p <<<"$OUT")"
  jqt '[.results[]] | all(. == "EROFS")' 13 || fail "rootfs writable: $(sed -n 13p <<<"$OUT")"
  jqt '.result == "ENOSPC" and .writtenMB <= 512 and .writtenMB >= 400' 14 || fail "fill /tmp: $(sed -n 14p <<<"$OUT")"
  ok "host files invisible, rootfs read-only, /tmp stops at its size"
  jqt '.result == "EAGAIN" and .forked <= 1024' 15 || fail "fork bomb: $(sed -n 15p <<<"$OUT")"
  jqt '.result == "ok"' 16 || fail "environment not serving after the abuse: $(sed -n 17p <<<"$OUT")"
  ok "fork bomb stops at 1024 processes; the environment keeps serving"

  # What the host shares with everyone: Linux AIO contexts (one host-wide counter) are not
  # offered, the OOM killer's exemption cannot be claimed (as root, a -1000 given to pid 1
  # would have let its children claim it too), core dumps stay off, and the sandbox's ptys
  # are capped (every devpts instance draws from one pool).
  printf '{"case":"aio"}\n{"case":"oom-score"}\n{"case":"core-limit"}\n{"case":"ptys"}\n' >"$ev"
  inv "$ABUSE" --event "$ev" --timeout 30
  jqt '.result == "ENOSYS"' 1 || fail "io_setup: $(sed -n 1p <<<"$OUT")"
  jqt '.result == "EACCES"' 2 || fail "oom_score_adj -1000: $(sed -n 2p <<<"$OUT")"
  jqt '.result == "EPERM"' 3 || fail "RLIMIT_CORE raised: $(sed -n 3p <<<"$OUT")"
  jqt '.result == "ENOSPC" and .taken == 64' 4 || fail "ptys: $(sed -n 4p <<<"$OUT")"
  ok "no Linux AIO, no OOM exemption, no core dumps, 64 ptys"

  # inotify, queued signals and POSIX message queues are charged to the user who ran lbox:
  # a function holding all it can get must leave that user some (the sandbox's share).
  hold inotify '.taken <= 32 and .result == "EMFILE"'
  hold sigqueue "(.taken | . > 0 and . <= $(($(ulimit -i) / 4))) and .result == \"EAGAIN\""
  hold mqueue '.taken > 0 and .result == "EMFILE"'
  inv "$ABUSE" --event "$(event '{"case":"inotify-watches"}')" --timeout 60
  jqt '.watches == 8192 and .result == "ENOSPC"' || fail "inotify watches not capped at 8192: $OUT"
  ok "inotify capped at 32 instances and 8192 watches; queued signals and message queues at a quarter; the host user keeps the rest"

  # A gigabyte on stdout: forwarded (here to /dev/null) without stopping the next event.
  ev=$(event $'{"case":"stdout","mb":1024}\n{"case":"sleep","ms":10}\n')
  set +e
  lbox invoke "$ABUSE" --event "$ev" --timeout 30 >"$WORK/out" 2>/dev/null </dev/null
  RC=$?
  set -e
  OUT=$(cat "$WORK/out")
  [ "$RC" -eq 0 ] || [ "$RC" -eq 4 ] || fail "a gigabyte of stdout: exit status $RC"
  jqt '.result == "ok"' 2 || fail "after a gigabyte of stdout: $OUT"
  ok "a gigabyte of stdout"

  # Output without end: the timeout still fires, and the next event is served.
  ev=$(event $'{"case":"stdout","mb":100000000}\n{"case":"sleep","ms":10}\n')
  set +e
  lbox invoke "$ABUSE" --event "$ev" --timeout 2 >"$WORK/out" 2>/dev/null </dev/null
  RC=$?
  set -e
  OUT=$(cat "$WORK/out")
  expect_rc 4 "endless stdout"
  jqt '.errorType == "Sandbox.Timedout"' 1 || fail "endless stdout: $(sed -n 1p <<<"$OUT")"
  jqt '.result == "ok"' 2 || fail "after endless stdout: $OUT"
  ok "endless stdout still times out"

  # Two environments at once: B waits; A posts a response for B's request id to
  # 127.0.0.1:9001, which inside A is A's own Runtime API, which does not know that id.
  # (b.err may still hold the previous user's run until B's shell truncates it.)
  rm -f "$WORK/b.out" "$WORK/b.err"
  set +e
  lbox invoke "$ABUSE" --event "$(event '{"case":"sleep","ms":4000}')" --timeout 30 \
    >"$WORK/b.out" 2>"$WORK/b.err" </dev/null &
  bpid=$!
  set -e
  for _ in $(seq 1 100); do grep -q '^START' "$WORK/b.err" 2>/dev/null && break; sleep 0.1; done
  bid=$(grep '^START' "$WORK/b.err" | awk '{print $3}' || true)
  [ -n "$bid" ] || fail "environment B did not start"
  if command -v curl >/dev/null; then
    ! curl -s -m 2 "http://127.0.0.1:9001/2018-06-01/ping" >/dev/null \
      || fail "the host reaches a Runtime API at 127.0.0.1:9001"
  fi
  inv "$ABUSE" --event "$(event "{\"case\":\"hijack\",\"id\":\"$bid\"}")" --timeout 10
  expect_rc 0 "hijack attempt"
  jqt '.status == 400 and (.body | fromjson | .errorType == "InvalidRequestID")' \
    || fail "hijack reached something else: $OUT"
  wait "$bpid" || fail "environment B failed (status $?)"
  jqe '.case == "sleep" and .result == "ok"' <"$WORK/b.out" >/dev/null || fail "B's response was hijacked: $(cat "$WORK/b.out")"
  ok "another environment's Runtime API is unreachable"

  # The Runtime API, from inside. 4 x 33 connections that promise a 6.2 MB body, send half
  # and go away, then a crash: the API still serves the runtime and its successor (such
  # connections stayed in CLOSE-WAIT for good, holding the body budget and every slot).
  printf '{"case":"half-bodies"}\n%.0s' 1 2 3 4 >"$ev"
  printf '{"case":"sleep","ms":10}\n{"case":"exit"}\n{"case":"sleep","ms":10}\n' >>"$ev"
  inv "$ABUSE" --event "$ev" --timeout 10
  [ "$(printf '%s\n' "$OUT" | wc -l)" -eq 7 ] || fail "half bodies: expected 7 responses: $OUT"
  jqt '.result == "ok"' 5 || fail "the Runtime API after half-sent bodies: $(sed -n 5p <<<"$OUT")"
  jqt '.errorType == "Runtime.ExitError"' 6 || fail "exit after half-sent bodies: $(sed -n 6p <<<"$OUT")"
  jqt '.result == "ok"' 7 || fail "a new runtime after half-sent bodies: $(sed -n 7p <<<"$OUT")"
  # A runtime that answers and never asks for the next event is reset at its invoke's
  # deadline, so the next event gets a new one (it waited a timeout and then timed out).
  printf '{"case":"answer-and-hang"}\n{"case":"sleep","ms":10}\n' >"$ev"
  inv "$ABUSE" --event "$ev" --timeout 3
  jqt '.case == "answer-and-hang" and .result == "ok"' 1 || fail "answer and hang: $OUT"
  jqt '.case == "sleep" and .result == "ok"' 2 || fail "the event after an answer and a hang: $OUT"
  # A stream cut by its timeout, with a slow reader of stdout: nothing of it comes after
  # the timeout's error, which is on a line of its own.
  printf '{"case":"stream-forever"}\n{"case":"sleep","ms":10}\n' >"$ev"
  set +e
  lbox invoke "$ABUSE" --event "$ev" --timeout 2 2>"$WORK/err" </dev/null | (sleep 4; cat) >"$WORK/out"
  set -e
  grep -n -v '^S*$' "$WORK/out" | cut -c1-200 >"$WORK/out.tail"
  [ "$(cut -d: -f1 "$WORK/out.tail" | tr '\n' ' ')" = "$(($(wc -l <"$WORK/out") - 1)) $(wc -l <"$WORK/out") " ] \
    || fail "stream bytes after the timeout: $(cat "$WORK/out.tail")"
  grep -q '^[0-9]*:{"errorMessage":.*"errorType":"Sandbox.Timedout"}$' "$WORK/out.tail" &&
    grep -q '"case":"sleep","result":"ok"' "$WORK/out.tail" \
    || fail "a stream cut by its timeout: $(cat "$WORK/out.tail")"
  ok "Runtime API: half-sent bodies, an answer without a next, a stream past its timeout"
}

run_as_each scenario
