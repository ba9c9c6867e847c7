# The checks both VM guests run (sourced by tests/vm/cgroup_v2_guest.sh and
# tests/vm/systemd_guest.sh): lbox started in a given cgroup as root or nobody, where it put
# the sandbox's memory cgroup, and whether a function eating memory is killed at --memory.
# Needs: CG (cgroup2's mount), T (a scratch folder nobody may read), LBOX, DATA and CACHE
# (nobody's store and cache), TMO and ERRS (the timeout and errors example images), EVDIR
# (holds sleep.json and oom.json); BUS or RUNTIME_DIR, when set, go to lbox as
# DBUS_SESSION_BUS_ADDRESS and XDG_RUNTIME_DIR. Counts failures in FAILS.
FAILS=0
ok() { echo "ok [vm]: $*"; }
fail() { echo "FAIL [vm]: $*"; [ -f "$T/err" ] && tail -n 15 "$T/err"; FAILS=$((FAILS + 1)); }

# lbox_in CGROUP WHO ARGS...: becomes `lbox ARGS` as root or nobody, started in CGROUP (run
# it in a subshell or in the background).
lbox_in() {
  local cg=$1 who=$2
  shift 2
  local as=()
  [ "$who" = nobody ] && as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  exec bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG/$cg" "${as[@]}" \
    env -i PATH="$PATH" HOME=/tmp XDG_DATA_HOME="$DATA" XDG_CACHE_HOME="$CACHE" \
    ${BUS:+DBUS_SESSION_BUS_ADDRESS="$BUS"} ${RUNTIME_DIR:+XDG_RUNTIME_DIR="$RUNTIME_DIR"} \
    "$LBOX" "$@"
}

# placed CGROUP WHO PARENT LABEL: while a function sleeps, the sandbox's cgroup is a
# lbox-<pid>-<n> in PARENT (a glob) with the sandbox's processes, memory.max 128 MB plus
# /tmp's 512 MB (the kernel's backstop) and memory.high set by the runner's /tmp-aware
# watch (at 128 MB plus what /tmp and the file cache hold); when lbox is killed (SIGTERM,
# which it leaves to its default action) the cgroup goes. Sets PLACED (the cgroup) and
# PLACED_BY (lbox's pid).
placed() {
  local cg=$1 who=$2 parent=$3 label=$4 pid found="" try i
  PLACED="" PLACED_BY=""
  lbox_in "$cg" "$who" invoke "$TMO" --event "$EVDIR/sleep.json" --timeout 600 \
    >"$T/out" 2>"$T/err" &
  pid=$!
  local deadline=$((SECONDS + 90)) # TCG: node starts in ~5 s, the sandbox well before
  while [ -z "$found" ] && [ "$SECONDS" -lt "$deadline" ] && kill -0 "$pid" 2>/dev/null; do
    for try in $CG/$parent/lbox-*-[0-9]*; do
      grep -q . "$try/cgroup.procs" 2>/dev/null && found=$try && break
    done
    [ -n "$found" ] || sleep 0.1
  done
  if [ -z "$found" ]; then
    kill "$pid" 2>/dev/null; wait "$pid"
    fail "$label: no sandbox cgroup with processes appeared in /$parent"
    return 1
  fi
  local max high
  max=$(cat "$found/memory.max")
  high=$(cat "$found/memory.high")
  kill "$pid"
  wait "$pid"
  local rc=$?
  [ "$max" = $(((128 + 512) << 20)) ] || { fail "$label: $found has memory.max $max"; return 1; }
  [ "$high" != max ] && [ "$high" -ge $((128 << 20)) ] && [ "$high" -lt "$max" ] ||
    { fail "$label: $found has memory.high $high: the /tmp-aware watch did not arm"; return 1; }
  [ "$rc" = 143 ] || { fail "$label: lbox ended with $rc after SIGTERM, expected 143"; return 1; }
  for i in $(seq 100); do [ -d "$found" ] || break; sleep 0.1; done
  [ ! -d "$found" ] || { fail "$label: $found is still there after lbox ended"; return 1; }
  grep -q 'memory limit not enforced' "$T/err" && { fail "$label: lbox says the limit is not enforced"; return 1; }
  ok "$label: the sandbox's cgroup is in ${found%/*}, limited to 128 MB + /tmp (memory.high $((high >> 20)) MB), and goes with lbox"
  PLACED=$found PLACED_BY=$pid
}

# killed CGROUP WHO LABEL [WATCHDOG]: a function eating memory is killed at 128 MB, by the
# runner's watch of its cgroup (or, with WATCHDOG, by the RSS watch lbox says it falls back
# to).
killed() {
  local cg=$1 who=$2 label=$3 watchdog=${4:-}
  (lbox_in "$cg" "$who" invoke "$ERRS" --event "$EVDIR/oom.json" --memory 128 --timeout 300 \
    >"$T/out" 2>"$T/err")
  local rc=$?
  [ "$rc" = 3 ] || { fail "$label: exit status $rc, expected 3"; return; }
  grep -q '"errorMessage":"RequestId: [^ ]* Error: Runtime exited with error: signal: killed"' "$T/out" ||
    { fail "$label: response $(cat "$T/out")"; return; }
  local used
  used=$(grep -o 'Max Memory Used: [0-9]*' "$T/err" | grep -o '[0-9]*$')
  [ -n "$used" ] && [ "$used" -ge 100 ] && [ "$used" -le 128 ] ||
    { fail "$label: Max Memory Used '$used' MB"; return; }
  if [ -n "$watchdog" ]; then
    grep -q 'memory limit not enforced by the kernel: no usable cgroup (v2: no cgroup of ours may have a memory limit' "$T/err" ||
      { fail "$label: lbox does not say why no cgroup is usable"; return; }
    ok "$label: no cgroup v2 to use, and lbox says why; the RSS watch kills at 128 MB"
  else
    grep -q 'memory limit not enforced' "$T/err" && { fail "$label: lbox says the limit is not enforced"; return; }
    grep -q 'Error Type: Runtime.OutOfMemory' "$T/err" || { fail "$label: REPORT lacks Runtime.OutOfMemory"; return; }
    ok "$label: killed at 128 MB through its cgroup (Max Memory Used $used MB, Runtime.OutOfMemory)"
  fi
}
