#!/usr/bin/env bash
# kill -9 of `lbox build -o PATH` while it writes PATH (an OCI archive, a rootfs tarball, a
# rootfs folder) leaves no PATH.lbox-tmp-* beside it once the next export to PATH is done, keeps
# the PATH of the export before whole, and that next export writes PATH complete. A
# temporary entry another lbox holds is never taken.
source "$LBOX_SRC/tests/lib/common.sh"
arch=$(uname -m)
[ "$arch" = aarch64 ] && arch=arm64
b() { "$LBOX" build --runtime nodejs18.x --arch "$arch" --code "$LBOX_SRC/examples/hello" --tag exp:1 "$@"; }
O=$T/out
mkdir -p "$O"

# kill_mid_write command...: runs the command in its own process group and kill -9s it once
# it has a file in $O open with bytes in it; fails when the command finished first.
kill_mid_write() {
  python3 - "$O" "$@" <<'PY'
import os, signal, subprocess, sys
d = sys.argv[1] + "/"
p = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)
while p.poll() is None:
    try:
        for fd in os.listdir(f"/proc/{p.pid}/fd"):
            f = f"/proc/{p.pid}/fd/{fd}"
            if os.readlink(f).startswith(d) and os.stat(f).st_size > 0:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                sys.exit(0)
    except OSError:
        pass
sys.exit(1)
PY
}
kill_export() { # kill_export args...: a few tries, as a small export may finish first
  local i
  for i in 1 2 3 4 5; do kill_mid_write "$LBOX" build --runtime nodejs18.x --arch "$arch" \
    --code "$LBOX_SRC/examples/hello" --tag exp:1 "$@" && return 0; done
  return 1
}
temps() { compgen -G "$1.lbox-tmp-*" || true; } # the temporary entries beside $1
sum() { sha256sum "$1" | cut -d' ' -f1; }
# held PATH: an entry as a running lbox keeps it (made, and locked by this shell).
held() { [ -e "$1" ] || : >"$1"; exec {held_fd}<"$1"; flock -n "$held_fd"; }
release() { exec {held_fd}<&-; rm -rf "$1"; }

oci_whole() { # every blob of the archive hashes to its name, and the index names the image
  rm -rf "$T/x" && mkdir "$T/x" && tar -xf "$1" -C "$T/x" || return 1
  jq -e '.manifests[0].digest' "$T/x/index.json" >/dev/null && jq -e '.[0].Layers' "$T/x/manifest.json" >/dev/null || return 1
  local f
  for f in "$T/x"/blobs/sha256/*; do
    [ "$(sum "$f")" = "$(basename "$f")" ] || return 1
  done
}
rootfs_tar_whole() {
  tar -tf "$1" >"$T/list" && grep -qx 'var/task/index.js' "$T/list" && grep -qx 'var/runtime/bootstrap' "$T/list"
}
rootfs_whole() { # as many entries as the rootfs tarball, and the files that make it run
  [ -f "$1/var/task/index.js" ] && [ -x "$1/var/runtime/bootstrap" ] && [ -x "$1/var/lang/bin/node" ] &&
    [ "$(cd "$1" && find . -mindepth 1 | wc -l)" = "$(tar -tf "$O/rootfs.tar" | wc -l)" ]
}

# ---- files: an OCI archive, a rootfs tarball ----
for fmt in oci rootfs-tar; do
  out=$O/image.tar whole=oci_whole
  [ $fmt = rootfs-tar ] && out=$O/rootfs.tar whole=rootfs_tar_whole
  check "an export to $out ($fmt) succeeds" b -o "$out" --format $fmt
  check "... and writes it whole" $whole "$out"
  before=$(sum "$out")
  if kill_export -o "$out" --format $fmt; then
    ok "kill -9 while $out is written"
    check "... leaves no temporary file beside it" test -z "$(temps "$out")"
    check "... and the $out written before whole" test "$(sum "$out")" = "$before"
  else
    fail "lbox was killed while it wrote $out"
  fi
  # What a killed lbox of before left, or one on a file system without O_TMPFILE (a named
  # temporary file, unlocked), and the temporary file of an export still running (locked).
  echo partial >"$out.lbox-tmp-abc123"
  held "$out.lbox-tmp-HeLd00"
  check "the next export to $out succeeds" b -o "$out" --format $fmt
  check "... deletes the temporary file of the killed lbox" test ! -e "$out.lbox-tmp-abc123"
  check "... keeps the one a running lbox holds" test -e "$out.lbox-tmp-HeLd00"
  release "$out.lbox-tmp-HeLd00"
  check "... and writes $out whole" $whole "$out"
  check "... with nothing else beside it" test -z "$(temps "$out")"
done

# ---- a rootfs folder: it cannot be unnamed, so the next export sweeps it ----
out=$O/rootfs
if kill_export -o "$out" --format rootfs; then
  ok "kill -9 while the rootfs folder is written"
  check "... leaves its half-filled temporary folder" test -n "$(temps "$out")"
  check "... and no $out" test ! -e "$out"
else
  fail "lbox was killed while it wrote $out"
fi
mkdir "$out.lbox-tmp-HeLd01"
held "$out.lbox-tmp-HeLd01"
check "the next export to $out succeeds" b -o "$out" --format rootfs
check "... deletes the killed lbox's temporary folder" test "$(temps "$out")" = "$out.lbox-tmp-HeLd01"
check "... keeps the one a running lbox holds" test -d "$out.lbox-tmp-HeLd01"
release "$out.lbox-tmp-HeLd01"
check "... and writes the rootfs whole" rootfs_whole "$out"
finish
