#!/bin/bash
# lbox invoke stopped from outside mid-invoke — Ctrl-C (SIGINT to its process group), a
# hang-up, or kill -9 of lbox alone — leaves nothing behind: no process of the sandbox and
# no memory cgroup (a cgroup only a process outside it can remove). As root (cgroup v1
# here) and nobody (no cgroup: the processes).
source "$(dirname "$0")/invoke_common.bash"

SLOW=$(image timeout)

# descendants PID: PID's descendants, one per line.
descendants() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END { for (p in parent) for (q = parent[p]; q > 1; q = parent[q]) if (q == root) { print p; break } }'
}

# gone_within SECONDS TEST...: true once `TEST...` fails, within SECONDS.
gone_within() {
  local until=$((SECONDS + $1)); shift
  while "$@"; do
    [ "$SECONDS" -lt "$until" ] || return 1
    sleep 0.1
  done
}
any_alive() { local p; for p in "$@"; do [ -d "/proc/$p" ] && [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ] && return 0; done; return 1; }

# stop HOW EXPECTED_RC: starts a 20 s invoke, stops it with HOW once the handler runs, and
# checks that its processes and its cgroup go away.
stop() {
  local how=$1 want=$2 pid pids cg node runner
  rm -f "$WORK/err" # the wait below must not read the last run's log
  set -m # its own process group, and SIGINT not ignored (as for a foreground command)
  lbox invoke "$SLOW" --event "$(event '{"ms":20000}')" --timeout 30 >"$WORK/out" 2>"$WORK/err" </dev/null &
  pid=$!
  set +m
  # Polls until the handler logs; lbox ending first (an error) fails at once with its log.
  local until=$((SECONDS + 60))
  until grep -qs 'sleeping 20000 ms' "$WORK/err"; do
    kill -0 "$pid" 2>/dev/null || fail "$how: lbox ended before the handler started"
    [ "$SECONDS" -lt "$until" ] || fail "$how: the handler did not start within 60 s"
    sleep 0.1
  done
  pids=$(descendants "$pid")
  # $pid may be the subshell running the lbox function: the runner is the first "lbox".
  runner=$(for p in $pids; do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = lbox ] && echo "$p"; done | sort -n | head -n1)
  [ -n "$runner" ] || fail "$how: no lbox process under $pid"
  node=$(for p in $pids; do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = node ] && echo "$p"; done | head -n1)
  [ -n "$node" ] || fail "$how: no node process under lbox (pid $pid): $pids"
  # The sandbox's own memory cgroup, when it has one (v1 here; v2 named alike).
  cg=$(awk -F: '$2 == "memory" || $2 == "" {print $3}' "/proc/$node/cgroup" | grep '/lbox-[0-9]*-[0-9]*$' | head -n1 || :)
  if [ -n "$cg" ]; then
    cg=$(ls -d /sys/fs/cgroup/memory"$cg" /sys/fs/cgroup/unified"$cg" /sys/fs/cgroup"$cg" 2>/dev/null | head -n1)
    [ -d "$cg" ] || fail "$how: cannot find the cgroup of node ($node) under /sys/fs/cgroup"
  elif [ "$AS" = self ] && [ "$(id -u)" -eq 0 ] && ! grep -q 'memory limit not enforced' "$WORK/err"; then
    fail "$how: root with an enforced memory limit, but node is in no lbox cgroup"
  fi
  case $how in
    ctrl-c) kill -INT -- "-$pid" ;;
    hangup) kill -HUP -- "-$pid" ;;
    kill-9) kill -9 "$runner" ;;
  esac
  set +e; wait "$pid"; RC=$?; set -e
  expect_rc "$want" "$how"
  gone_within 5 any_alive $pids || fail "$how: sandbox processes left: $(ps -o pid,stat,comm -p "$(echo $pids | tr ' ' ,)" | tail -n +2)"
  if [ -n "$cg" ]; then
    gone_within 5 test -d "$cg" || fail "$how: cgroup $cg left behind"
  fi
  echo "${cg:-no cgroup}"
}

scenario() {
  local cg
  # The first invoke of an image unpacks it into this user's cache, which can take many
  # seconds on a loaded machine: done here, so that the waits above time only the start.
  inv "$SLOW" --event "$(event '{"ms":1}')"
  expect_rc 0 "warm-up invoke"
  cg=$(stop ctrl-c 130); ok "Ctrl-C: exit 130, sandbox and cgroup gone ($cg)"
  cg=$(stop hangup 129); ok "hang-up: exit 129, sandbox and cgroup gone ($cg)"
  cg=$(stop kill-9 137); ok "kill -9: sandbox and cgroup gone ($cg)"
}

run_as_each scenario
