#!/usr/bin/env bash
# Sandbox set-up alone, as a ratio to bubblewrap doing the equivalent work in the same run:
# new user/mount/pid/ipc/uts/net(/cgroup) namespaces, read-only root, fresh /proc, minimal
# /dev, tmpfs /tmp, then /bin/true. lbox additionally compiles and loads its seccomp filter
# and, as root, creates a memory cgroup; bwrap loads no filter.
#   bench/sandbox.sh [BUILD_DIR]     (default: build)   Run as root and/or a normal user.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
command -v bwrap >/dev/null && command -v hyperfine >/dev/null || {
  echo "needs bwrap and hyperfine (scripts/install-deps.sh)" >&2; exit 1; }
work=$(mktemp -d /tmp/lbox-bench-sandbox.XXXXXX); chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

cc -O2 -D_GNU_SOURCE -I"$src" -o "$work/driver" "$src/bench/sandbox_driver.c" \
   "$build/liblbox_sandbox.a" "$build/liblbox_common.a" \
   $(pkg-config --libs libseccomp libcrypto) -lpthread
"$src/tests/fixtures/sandbox/mkrootfs.sh" "$work/root" >/dev/null

bw=(bwrap --unshare-all --die-with-parent --new-session --ro-bind "$work/root" /
    --proc /proc --dev /dev --tmpfs /tmp /bin/true)
echo "== as $(id -un): one sandbox per process (lbox vs bwrap)"
hyperfine -N -w 20 -r 200 --export-json "$work/h.json" \
  -n bwrap "${bw[*]}" -n lbox "$work/driver $work/root" 2>&1 | sed -n '/Summary/,$p'
jq -r '[.results[] | {(.command): .mean}] | add
  | "bwrap \(.bwrap * 1e5 | round / 100) ms, lbox \(.lbox * 1e5 | round / 100) ms: lbox/bwrap = \(.lbox / .bwrap * 100 | round / 100)x"' \
  "$work/h.json"
echo "== lbox, 200 sandboxes in one process (filter compiled once): $("$work/driver" "$work/root" loop 200) ms each"
