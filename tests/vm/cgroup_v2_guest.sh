#!/bin/bash
# Runs inside the test VM (tests/integration/invoke_cgroup_v2.sh): a kernel with cgroup v2
# alone, its tree laid out as systemd lays it out, and lbox in the places a user runs it
# from. Each case checks where lbox put the sandbox's memory cgroup (seen while a function
# runs), that the limit holds (a function eating memory is killed at --memory), and that
# the cgroup goes when lbox does; and, once, that /tmp does not count as memory.
# env: LBOX, DATA and CACHE (nobody's store and cache), ERRS, TMO, LIFE and SHM (example
#      images), EVDIR (holds oom.json, sleep.json, tmp300.json, oomtmp.jsonl, shm400.json),
#      STANDIN (tests/vm/systemd_standin.c, built)
set -uo pipefail
: "${LBOX:?}" "${DATA:?}" "${CACHE:?}" "${ERRS:?}" "${TMO:?}" "${LIFE:?}" "${SHM:?}" "${EVDIR:?}"
: "${STANDIN:?}"
BUS="" RUNTIME_DIR="" # the user's D-Bus bus, once the case that has one starts it
CG=/sys/fs/cgroup
T=$(mktemp -d)
chmod 755 "$T"
source "$(dirname "$0")/guest_checks.bash"

mount -t cgroup2 cgroup2 "$CG" || { echo "FAIL [vm]: cannot mount cgroup2"; exit 1; }

# systemd's layout: memory handed down from the root to the slices; the user's manager,
# user@UID.service, and everything below it belong to the user (Delegate=yes: the folder
# and its cgroup.procs, cgroup.subtree_control and cgroup.threads); a login session's scope
# belongs to root.
enable() { echo +memory >"$CG/$1/cgroup.subtree_control"; }
delegate() { chown 65534:65534 "$CG/$1" "$CG/$1"/cgroup.{procs,subtree_control,threads}; }
U=user.slice/user-65534.slice
mkdir -p "$CG/system.slice/test.service" "$CG/$U/user@65534.service/app.slice/term.scope" \
  "$CG/$U/run-1.scope" "$CG/$U/session-1.scope"
enable . && enable system.slice && enable user.slice && enable "$U" &&
  enable "$U/user@65534.service" && enable "$U/user@65534.service/app.slice" ||
  { echo "FAIL [vm]: cannot enable the memory controller"; exit 1; }
for d in "$U/user@65534.service" "$U/user@65534.service/app.slice" \
  "$U/user@65534.service/app.slice/term.scope" "$U/run-1.scope"; do
  delegate "$d"
done

# A process that stays in a cgroup beside lbox, as a shell's other jobs do.
companion() { sleep 3600 & echo $! >"$CG/$1/cgroup.procs"; }
companion system.slice/test.service
companion "$U/user@65534.service/app.slice/term.scope"
companion "$U/session-1.scope"

# lbox_in CGROUP WHO ARGS...: becomes `lbox ARGS` as root or nobody, started in Cen to /tmp
# pass with --memory 128; a /tmp holding 400 MB lends the function nothing (it is still
# killed at 128 MB, and the next event gets a fresh runtime); shared memory outside /tmp (a
# 400 MB memfd) is not exempt.
tmp_not_memory() {
  local cg=$1 who=$2 label=$3 rc
  (lbox_in "$cg" "$who" invoke "$LIFE" --event "$EVDIR/tmp300.json" --memory 128 --timeout 300 \
    >"$T/out" 2>"$T/err")
  rc=$?
  [ "$rc" = 0 ] && grep -q '"tmpWrittenMB":300' "$T/out" ||
    { fail "$label: 300 MB in /tmp with --memory 128: exit status $rc, $(cat "$T/out")"; return; }
  (lbox_in "$cg" "$who" invoke "$ERRS" --event "$EVDIR/oomtmp.jsonl" --memory 128 --timeout 300 \
    >"$T/out" 2>"$T/err")
  rc=$?
  [ "$rc" = 3 ] && sed -n 1p "$T/out" | grep -q 'signal: killed' && sed -n 2p "$T/out" | grep -q '"ok":true' ||
    { fail "$label: out of memory beside a 400 MB /tmp: exit status $rc, $(cat "$T/out")"; return; }
  (lbox_in "$cg" "$who" invoke "$SHM" --event "$EVDIR/shm400.json" --memory 128 --timeout 300 \
    >"$T/out" 2>"$T/err")
  grep -q '"survived":false' "$T/out" || grep -q 'signal: killed' "$T/out" ||
    { fail "$label: 400 MB of memfd not stopped: $(cat "$T/out")"; return; }
  ok "$label: /tmp is not memory (300 MB written with --memory 128), a full /tmp lends none, a memfd counts"
}

# via_systemd: nobody in root's session scope, a user bus with systemd on it. lbox asks for
# a transient scope holding itself with Delegate=yes, and runs the sandbox's cgroup in it
# (placed there); a function eating memory is killed at 128 MB by that cgroup.
via_systemd() {
  local label="nobody in a root-owned session scope, with systemd on the user bus" scope
  placed "$U/session-1.scope" nobody "$APP/lbox-*.scope" "$label" || return
  scope=$(basename "$(dirname "$PLACED")")
  grep -q "^$scope delegate=1 pids=$PLACED_BY\$" "$T/standin.log" &&
    ok "$label: lbox asked systemd for $scope, holding itself, with Delegate=yes" ||
    fail "$label: lbox (pid $PLACED_BY) did not ask for $scope with Delegate=yes and itself: $(cat "$T/standin.log")"
  killed "$U/session-1.scope" nobody "$label"
}

APP=$U/user@65534.service/app.slice
# A desktop user: lbox in a terminal's scope beside the shell; the user manager's app.slice
# is the nearest cgroup above that may have children with memory.
placed "$APP/term.scope" nobody "$APP" "nobody in a terminal's scope"
killed "$APP/term.scope" nobody "nobody in a terminal's scope"
tmp_not_memory "$APP/term.scope" nobody "nobody in a terminal's scope"
# systemd-run --user --scope -p Delegate=yes lbox ...: alone in a scope of its own, whose
# parent the user may not write: lbox moves into a leaf of it and uses the rest.
placed "$U/run-1.scope" nobody "$U/run-1.scope" "nobody alone in a delegated scope"
leaf=$(ls -d "$CG/$U/run-1.scope"/lbox-*-runner 2>/dev/null | head -n 1)
if [ -n "$leaf" ] && ! grep -q . "$leaf/cgroup.procs"; then
  ok "nobody alone in a delegated scope: lbox ran from the leaf $(basename "$leaf"), empty now"
else
  fail "nobody alone in a delegated scope: no empty lbox-<pid>-runner leaf in $U/run-1.scope"
fi
# An ssh login: the session's scope and everything above it belong to root.
killed "$U/session-1.scope" nobody "nobody in a root-owned session scope" watchdog
# The same ssh login where the user's systemd manager is on the session bus (pam_systemd
# starts one): lbox asks it for a scope delegated to the user, as podman does, and uses
# that. A stand-in answers for systemd (tests/vm/systemd_standin.c) on a bus of nobody's.
cat >"$T/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$T/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
CONF
dbus-daemon --config-file="$T/bus.conf" --nofork --nopidfile >"$T/bus.log" 2>&1 &
bus_pid=$!
for _ in $(seq 100); do [ -S "$T/bus" ] && break; sleep 0.1; done
DBUS_SESSION_BUS_ADDRESS="unix:path=$T/bus" "$STANDIN" "$CG/$APP" 65534 "$T/standin.log" \
  "$T/standin.ready" 2>"$T/standin.err" &
standin_pid=$!
for _ in $(seq 100); do [ -e "$T/standin.ready" ] && break; sleep 0.1; done
if [ -e "$T/standin.ready" ]; then
  BUS="unix:path=$T/bus"
  via_systemd
else
  fail "the D-Bus bus or the systemd stand-in did not start: $(cat "$T/bus.log" "$T/standin.err")"
fi
BUS=""
kill "$standin_pid" "$bus_pid" 2>/dev/null

# Root in a service beside another process: system.slice is the nearest with memory.
placed system.slice/test.service root system.slice "root in a service"
killed system.slice/test.service root "root in a service"

rm -rf "$T"
exit $((FAILS > 0))
