#!/bin/bash
# The memory limit on a cgroup v2 machine, the common case today (this host has v1's
# controllers, so the v2 path runs in a VM: tests/vm/). On v2 a cgroup that holds processes
# cannot give its children a memory controller, and lbox's own cgroup holds lbox: lbox must
# put the sandbox's cgroup where it may (see sandbox/cgroup.c, place_v2). The guest checks,
# for nobody in a terminal's scope, nobody alone in a delegated scope, nobody in a root-owned
# login scope (no cgroup: lbox says so and falls back; with systemd on the user's bus, a
# stand-in here, lbox gets a delegated scope from it: sandbox/systemd_scope.c) and root in a
# service, where the cgroup went, that it held the function to 128 MB and that it went away
# with lbox; and that /tmp does not count as memory there, as on Lambda (memwatch.c).
source "$(dirname "$0")/invoke_common.bash"
source "$LBOX_SRC/tests/vm/vm.bash"

[ "$(id -u)" -eq 0 ] || fail "needs root: the guest's unprivileged cases run on a store owned by uid 65534"
command -v qemu-system-x86_64 >/dev/null || fail "needs qemu-system-x86_64 (scripts/install-deps.sh)"
vm_prepare "$LBOX_BUILD/vm" || fail "cannot prepare the VM's kernel and initramfs"

ERRS=$(image errors)
TMO=$(image timeout)
LIFE=$(image lifecycle)
SHM=$(helper_image shmhog hog)
gcc -O2 -Wall -o "$WORK/systemd_standin" "$LBOX_SRC/tests/vm/systemd_standin.c" -lsystemd ||
  fail "cannot build tests/vm/systemd_standin.c (libsystemd-dev: scripts/install-deps.sh)"
prepare_nobody
# The guest runs nobody's store and cache as they are: unpack both images now, on the host.
AS=nobody inv "$ERRS"
expect_rc 0 "errors example on the host"
AS=nobody inv "$TMO" --event "$(event '{"ms":1}')"
expect_rc 0 "timeout example on the host"
AS=nobody inv "$LIFE"
expect_rc 0 "lifecycle example on the host"
AS=nobody inv "$SHM" --event "$(event '{"mb":1}')"
expect_rc 0 "shmhog fixture on the host"
printf '{"mode":"oom"}' >"$WORK/oom.json"
printf '{"ms":600000}' >"$WORK/sleep.json"
printf '{"tmpMB":300}' >"$WORK/tmp300.json"
printf '{"mode":"oom","tmpMB":400}\n{"mode":"ok"}\n' >"$WORK/oomtmp.jsonl"
printf '{"mb":400}' >"$WORK/shm400.json"
chmod 644 "$WORK"/*.json

cat >"$WORK/vm-run" <<RUN
export LBOX='$LBOX' DATA='$WORK/nobody/data' CACHE='$NOBODY_CACHE' ERRS='$ERRS' TMO='$TMO'
export LIFE='$LIFE' SHM='$SHM' EVDIR='$WORK' STANDIN='$WORK/systemd_standin'
exec bash '$LBOX_SRC/tests/vm/cgroup_v2_guest.sh'
RUN
# boot_guest INIT CHECKS: boots the VM (INIT: sh, or the host's systemd), shows the guest's
# results and fails unless all CHECKS passed.
boot_guest() {
  local init=$1 want=$2 rc n
  set +e
  vm_boot "$WORK" "$WORK/console.$init.log" "$init"
  rc=$?
  set -e
  # The firmware's screen codes may lead the first line: take each result from its start.
  tr -d '\r' <"$WORK/console.$init.log" | grep -oE '(ok|FAIL) \[vm\]: .*' || :
  if [ "$rc" -ne 0 ]; then
    tr -d '\r' <"$WORK/console.$init.log" | tail -n 40 >&2
    fail "the guest's checks failed (pid 1 $init, exit status $rc)"
  fi
  n=$(tr -d '\r' <"$WORK/console.$init.log" | grep -cE 'ok \[vm\]: ')
  [ "$n" -eq "$want" ] || fail "the guest (pid 1 $init) passed $n checks, expected $want"
}
boot_guest sh 11
ok "cgroup v2 (in a VM): the sandbox's memory cgroup placed, enforced and removed in every case"

# Again with the real systemd, for the ssh login's case: lbox asks nobody's user manager for
# a delegated scope (tests/vm/systemd_guest.sh).
cat >"$WORK/vm-run" <<RUN
export LBOX='$LBOX' DATA='$WORK/nobody/data' CACHE='$NOBODY_CACHE' ERRS='$ERRS' TMO='$TMO'
export EVDIR='$WORK'
exec bash '$LBOX_SRC/tests/vm/systemd_guest.sh'
RUN
boot_guest systemd 5
ok "cgroup v2 under systemd (in a VM): from a root-owned cgroup, lbox gets a delegated scope from the user's manager"
