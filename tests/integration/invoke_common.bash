# Shared by tests/integration/invoke_*.sh (sourced; not a test itself).
# Builds the example images once into a test store, and runs lbox either as the current
# user or, with AS=nobody, as an unprivileged user (uid 65534) with its own copy of the store.
set -euo pipefail

: "${LBOX:?set LBOX to the lbox binary}"
LBOX_SRC=${LBOX_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LBOX_BUILD=${LBOX_BUILD:-$(dirname "$LBOX")}
source "$LBOX_SRC/tests/lib/jqe.bash"
export XDG_DATA_HOME=${LBOX_TEST_DATA:-$LBOX_BUILD/test-data}
export XDG_CACHE_HOME=${XDG_CACHE_HOME:-$LBOX_BUILD/test-cache}
mkdir -p "$XDG_DATA_HOME" "$XDG_CACHE_HOME"

WORK=$(mktemp -d /tmp/lbox-invoke-test.XXXXXX)
chmod 755 "$WORK"
AS=${AS:-self}
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

fail() { echo "FAIL [$AS]: $*" >&2; [ -f "$WORK/err" ] && tail -n 30 "$WORK/err" >&2; exit 1; }
ok() { echo "ok [$AS]: $*"; }

# content_hash DIR...: a short digest of the files under the directories.
content_hash() {
  find "$@" -type f -print0 | sort -z | xargs -0 sha256sum | awk '{print $1}' | sha256sum | cut -c1-12
}

# The runtime and architecture the scenarios run on (invoke_arm64.sh sets them).
TEST_RUNTIME=${LBOX_TEST_RUNTIME:-nodejs18.x}
TEST_ARCH=${LBOX_TEST_ARCH:-x86_64}

# image EXAMPLE [CODE_DIR]: builds examples/EXAMPLE as lbox-test-EXAMPLE:<hash of the code and
# the runtime client> unless that tag exists, so an edited example or client is rebuilt.
image() {
  local code=${2:-$LBOX_SRC/examples/$1}
  local tag="lbox-test-$1:$TEST_RUNTIME-$TEST_ARCH-$(content_hash "$code" "$LBOX_SRC/base-images/runtime")"
  if ! "$LBOX" inspect "$tag" >/dev/null 2>&1; then
    "$LBOX" build --runtime "$TEST_RUNTIME" --arch "$TEST_ARCH" --code "$code" \
      --tag "$tag" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log" >&2; fail "building $1"; }
    # The builds of an older example or client are not used again: untagged, their
    # unpacked root filesystems (~300 MB each) leave the cache.
    "$LBOX" images --json | jq -r --arg p "lbox-test-$1:$TEST_RUNTIME-$TEST_ARCH-" --arg t "$tag" \
      '.[].ref | select(startswith($p) and . != $t)' | xargs -r "$LBOX" rm >/dev/null 2>&1 || :
  fi
  echo "$tag"
}

# helper_image FIXTURE BINARY: the function in tests/fixtures/code/FIXTURE with its C helper
# (FIXTURE/BINARY.c) built static into the code as BINARY; prints the image's tag.
helper_image() {
  local dir="$WORK/$1"
  mkdir -p "$dir"
  cp "$LBOX_SRC/tests/fixtures/code/$1/index.js" "$dir/"
  gcc -O2 -static -o "$dir/$2" "$LBOX_SRC/tests/fixtures/code/$1/$2.c" \
    || fail "cannot build tests/fixtures/code/$1/$2.c (gcc with a static libc: libc6-dev)"
  chmod -R a+rX "$dir"
  image "$1" "$dir"
}

# A copy of the test store owned by nobody, so the unprivileged run needs nothing of root's.
# Its cache (unpacked root filesystems, written atomically by lbox) is shared between the
# tests, so each image is unpacked once for nobody.
NOBODY_CACHE=$LBOX_BUILD/test-cache-nobody
prepare_nobody() {
  mkdir -p "$WORK/nobody/data" "$WORK/nobody/home" "$NOBODY_CACHE"
  # Tests running alongside may be building into the shared store: hold it against
  # collection as an lbox reader does (gc.lock shared), and copy again when a file that was
  # being written vanished under cp (renamed into place).
  local store=$XDG_DATA_HOME/lbox/store try
  mkdir -p "$store"
  for try in 1 2 3 4 5; do
    rm -rf "$WORK/nobody/data/lbox"
    flock -s "$store/gc.lock" cp -a "$XDG_DATA_HOME/lbox" "$WORK/nobody/data/" 2>"$WORK/cp.err" && break
    [ "$try" -lt 5 ] || { cat "$WORK/cp.err" >&2; fail "copying the test store for nobody"; }
    sleep 0.5
  done
  chown -R 65534:65534 "$WORK/nobody"
  chown 65534:65534 "$NOBODY_CACHE"
  prune_nobody_cache
}

# nobody's stores are throwaway copies that never untag anything, so lbox never evicts from
# their cache: drop the unpacked images root's store no longer names, unless one is running
# (an lbox invoke holds a shared flock on its rootfs; see builder/rootfs_cache.c). The bases
# (base-*, the lower layers the images link from) stay: few, and shared by every test.
prune_nobody_cache() {
  local keep d
  keep=$("$LBOX" images --json | jq -r '.[].digest | sub("^sha256:"; "")')
  for d in "$NOBODY_CACHE"/lbox/rootfs/*; do
    case ${d##*/} in base-*) continue ;; esac
    [ -d "$d" ] && ! grep -qxF "$(basename "$d")" <<<"$keep" || continue
    flock -xn "$d" mv "$d" "$d.trash.$$" 2>/dev/null && rm -rf "$d.trash.$$"
  done
  return 0
}

lbox() {
  if [ "$AS" = nobody ]; then
    setpriv --reuid=65534 --regid=65534 --clear-groups \
      env -i PATH="$PATH" HOME="$WORK/nobody/home" XDG_DATA_HOME="$WORK/nobody/data" \
      XDG_CACHE_HOME="$NOBODY_CACHE" "$LBOX" "$@"
  else
    "$LBOX" "$@"
  fi
}

# inv ARGS...: runs `lbox invoke ARGS`; sets RC, OUT (stdout) and ERR (stderr).
inv() {
  set +e
  lbox invoke "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
  RC=$?
  set -e
  OUT=$(cat "$WORK/out")
  ERR=$(cat "$WORK/err")
}

# event JSON: writes it to a file readable by every user and prints the path.
event() {
  local f
  f=$(mktemp "$WORK/event.XXXXXX")
  printf '%s' "$1" >"$f"
  chmod 644 "$f"
  echo "$f"
}

expect_rc() { [ "$RC" -eq "$1" ] || fail "$2: exit status $RC, expected $1"; }
# jqt FILTER [N]: true when the filter holds on the response on line N (default 1). A
# missing line is false: jq 1.6's -e exits 0 on empty input.
jqt() {
  local line
  line=$(printf '%s\n' "$OUT" | sed -n "${2:-1}p")
  jqe "$1" >/dev/null <<<"$line"
}

# run_as_each SCENARIO: runs the scenario function as the current user, then (when root)
# as nobody.
run_as_each() {
  AS=self "$1"
  if [ "$(id -u)" -eq 0 ] && [ "${LBOX_TEST_ONLY_SELF:-0}" != 1 ]; then
    [ -d "$WORK/nobody" ] || prepare_nobody
    AS=nobody "$1"
  fi
}
