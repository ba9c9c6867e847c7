# Shared helpers for integration tests (sourced). Each test gets its own store and scratch
# folder; the download cache (XDG_CACHE_HOME, set by ctest) is shared so files are fetched once.
set -euo pipefail

: "${LBOX:?LBOX must point at the lbox binary}"
: "${LBOX_SRC:?LBOX_SRC must point at the source tree}"
export XDG_CACHE_HOME=${XDG_CACHE_HOME:-$LBOX_SRC/build/test-cache}
mkdir -p "$XDG_CACHE_HOME"
source "$LBOX_SRC/tests/lib/jqe.bash"

T=$(mktemp -d "${TMPDIR:-/tmp}/lbox-test.XXXXXX")
export XDG_DATA_HOME=$T/data
cleanup_test() { chmod -R u+w "$T" 2>/dev/null || true; rm -rf "$T"; }
trap cleanup_test EXIT

passed=0
failed=0
ok()   { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "not ok - $*"; }
check() { # check "description" command...
  local what=$1; shift
  if "$@" >/dev/null; then ok "$what"; else fail "$what"; fi
}
# expect_fail "description" "message pattern" command... : must exit non-zero and print the pattern.
expect_fail() {
  local what=$1 pattern=$2; shift 2
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  if [ "$rc" -ne 0 ] && grep -qE -- "$pattern" <<<"$out"; then
    ok "$what"
  else
    fail "$what (exit $rc, wanted /$pattern/): $(tail -3 <<<"$out")"
  fi
}
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# ELF e_machine of a file: 62 x86_64, 183 aarch64.
elf_machine() { od -An -t u2 -j 18 -N 2 "$1" | tr -d ' '; }

# The layer digests of an image, one per line.
layer_digests() { "$LBOX" inspect "$1" --json | jq -r '.manifest.layers[].digest'; }
