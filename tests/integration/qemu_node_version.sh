#!/usr/bin/env bash
# Foreign-architecture images under QEMU, inside the sandbox: each runtime's arm64 image
# (amd64 on an arm64 host) reports the recipe's Node.js version and the foreign arch through
# lbox invoke. Then, as an unprivileged user, the same invoke works and the host's
# binfmt_misc is left exactly as it was (the registration is private to the sandbox).
source "$LBOX_SRC/tests/lib/common.sh"

case "$(uname -m)" in
  x86_64) FOREIGN=arm64; NODE_ARCH=arm64 ;;
  *) FOREIGN=x86_64; NODE_ARCH=x64 ;;
esac
FN=$LBOX_SRC/tests/fixtures/qemu/version

for rt in nodejs14.x nodejs16.x nodejs18.x; do
  want=v$(jq -r .node.version "$LBOX_SRC/base-images/$rt.json")
  if ! "$LBOX" build --runtime "$rt" --arch "$FOREIGN" --code "$FN" --tag "qv:$rt" >"$T/build.log" 2>&1; then
    fail "$rt $FOREIGN: build ($(tail -2 "$T/build.log"))"
    continue
  fi
  rc=0
  out=$("$LBOX" invoke "qv:$rt" --timeout 60 2>"$T/err") || rc=$?
  check "$rt $FOREIGN under QEMU: node $want, process.arch $NODE_ARCH (exit $rc: $out)" \
    jqe --arg v "$want" --arg a "$NODE_ARCH" '.version == $v and .arch == $a' <<<"$out"
done

# Unprivileged: nobody gets its own copy of the store and needs no host registration.
before=$(ls /proc/sys/fs/binfmt_misc 2>/dev/null | sort || true)
if [ "$(id -u)" -eq 0 ]; then
  chmod 755 "$T"
  mkdir -p "$T/nobody/data" "$T/nobody/cache" "$T/nobody/home"
  cp -a "$XDG_DATA_HOME/lbox" "$T/nobody/data/"
  chown -R 65534:65534 "$T/nobody"
  rc=0
  out=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
    env -i PATH="$PATH" HOME="$T/nobody/home" XDG_DATA_HOME="$T/nobody/data" \
    XDG_CACHE_HOME="$T/nobody/cache" "$LBOX" invoke qv:nodejs18.x --timeout 60 2>"$T/err") || rc=$?
  check "as nobody: the $FOREIGN image runs under QEMU (exit $rc: $out $(tail -2 "$T/err"))" \
    jqe --arg a "$NODE_ARCH" '.arch == $a' <<<"$out"
  after=$(ls /proc/sys/fs/binfmt_misc 2>/dev/null | sort || true)
  check "as nobody: the host's binfmt_misc entries are unchanged" [ "$before" = "$after" ]
  if [ "$(uname -r | awk -F. '{print ($1 > 6 || ($1 == 6 && $2 >= 7))}')" = 1 ]; then
    check "Linux >= 6.7: no QEMU entry on the host is needed or created" \
      bash -c "! ls /proc/sys/fs/binfmt_misc 2>/dev/null | grep -qi qemu"
  fi
else
  echo "not root: the unprivileged run above already was one"
  after=$(ls /proc/sys/fs/binfmt_misc 2>/dev/null | sort || true)
  check "the host's binfmt_misc entries are unchanged" [ "$before" = "$after" ]
fi

# lbox binfmt status names how this kernel registers QEMU, and whether binfmt_misc is
# mounted on the host (its folder exists either way; its register file only when mounted).
"$LBOX" binfmt status >"$T/status"
check "lbox binfmt status explains the registration" grep -q '^registration: ' "$T/status"
if [ -e /proc/sys/fs/binfmt_misc/register ]; then
  check "binfmt status: mounted here, so not said otherwise" ! grep -q 'not mounted' "$T/status"
else
  check "binfmt status: says binfmt_misc is not mounted" grep -q '(binfmt_misc is not mounted)' "$T/status"
fi

# A --qemu that is not an executable file is refused before the host is touched.
mounts_before=$(grep -c binfmt_misc /proc/mounts || true)
rc=0
"$LBOX" binfmt install --qemu "$T" 2>"$T/err" || rc=$?
check "binfmt install --qemu FOLDER: exit 1, named (got $rc: $(cat "$T/err"))" \
  bash -c "[ $rc -eq 1 ] && grep -q 'is not an executable file' '$T/err'"
check "binfmt install --qemu FOLDER: nothing mounted" [ "$(grep -c binfmt_misc /proc/mounts || true)" = "$mounts_before" ]
finish
