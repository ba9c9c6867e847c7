#!/bin/bash
# Runs inside the test VM booted with the host's own systemd as pid 1 (vm_boot ... systemd,
# from tests/integration/invoke_cgroup_v2.sh), as the service lbox-vm.service: the real
# manager, not tests/vm/systemd_standin.c. nobody runs lbox from this root-owned service, as
# from an ssh login's root-owned session scope, with only XDG_RUNTIME_DIR to find the user's
# bus (sandbox/systemd_scope.c). lbox must get a delegated scope from nobody's systemd
# manager (which asks the system manager to move lbox there), put the sandbox's memory
# cgroup in it, hold a function to 128 MB, and leave nothing behind.
# env: LBOX, DATA, CACHE, ERRS, TMO, EVDIR as for tests/vm/cgroup_v2_guest.sh
set -uo pipefail
: "${LBOX:?}" "${DATA:?}" "${CACHE:?}" "${ERRS:?}" "${TMO:?}" "${EVDIR:?}"
CG=/sys/fs/cgroup
T=$(mktemp -d)
chmod 755 "$T"
BUS=""
source "$(dirname "$0")/guest_checks.bash"

# What pam_systemd does at an ssh login: the system bus (systemd-user-runtime-dir asks
# logind through it), then the user's manager, whose dbus.socket makes the user's bus.
systemctl start dbus.socket dbus.service user@65534.service ||
  { echo "FAIL [vm]: systemd did not start nobody's user manager"; exit 1; }
RUNTIME_DIR=/run/user/65534
[ -S "$RUNTIME_DIR/bus" ] || { echo "FAIL [vm]: no user bus at $RUNTIME_DIR/bus"; exit 1; }

SELF=$(sed -n 's|^0::/||p' /proc/self/cgroup)
APP=user.slice/user-65534.slice/user@65534.service/app.slice
label="nobody in a root-owned service, the real systemd on the user's bus"
# systemd files transient scopes under app.slice.
if placed "$SELF" nobody "$APP/lbox-*.scope" "$label"; then
  scope=${PLACED%/*}
  case ${scope##*/} in
    "lbox-$PLACED_BY-"*.scope) ok "$label: lbox (pid $PLACED_BY) got the scope ${scope##*/}" ;;
    *) fail "$label: the sandbox's cgroup sat in ${scope##*/}, not a scope named for lbox's pid $PLACED_BY" ;;
  esac
  # CollectMode=inactive-or-failed: killed by SIGTERM, lbox's scope still goes.
  for _ in $(seq 100); do [ -d "$scope" ] || break; sleep 0.1; done
  [ ! -d "$scope" ] && ok "$label: systemd removed ${scope##*/} after lbox was killed" ||
    fail "$label: $scope is still there after lbox ended"
fi
killed "$SELF" nobody "$label"
left=$(ls -d "$CG/$APP"/lbox-*.scope 2>/dev/null)
[ -z "$left" ] && ok "$label: no lbox scope left in app.slice" || fail "$label: scopes left: $left"

rm -rf "$T"
exit $((FAILS > 0))
