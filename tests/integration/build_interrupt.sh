#!/usr/bin/env bash
# Interruptions, concurrency and full or read-only disks lose nothing: Ctrl-C and kill -9 of
# `lbox build` at several moments (a download, layer writing, npm install, the final store
# write), and of `lbox invoke` while it unpacks, leave the store readable and images
# runnable, nothing partial is ever taken as complete, and what they leave behind is cleaned
# by the next build or invoke. Builds, rm and invoke of one image at once stay consistent. A
# full or unwritable cache or store gets an error naming the place and what to do, and keeps
# nothing half-written.
source "$LBOX_SRC/tests/lib/common.sh"
hello=$LBOX_SRC/examples/hello
arch=$(uname -m)
[ "$arch" = aarch64 ] && arch=arm64
b() { "$LBOX" build --runtime nodejs18.x --arch "$arch" "$@"; }

# Downloads and the build environment are warmed in the shared cache once; the test then
# works on a private copy made of hard links, so what it breaks stays its own.
SHARED=$XDG_CACHE_HOME
printf '{"name":"fn","version":"1.0.0"}\n' >"$T/npmwarm.json"
mkdir -p "$T/npmwarm" && cp "$T/npmwarm.json" "$T/npmwarm/package.json"
echo 'exports.handler = async () => 1;' >"$T/npmwarm/index.js"
b --code "$hello" --tag warm:1 >"$T/warm.log" 2>&1 ||
  { fail "warm-up build ($(tail -3 "$T/warm.log"))"; finish; }
b --code "$T/npmwarm" --npm-install --tag warm:npm >"$T/warm.log" 2>&1 ||
  fail "warm-up --npm-install build ($(tail -3 "$T/warm.log"))"
C=$T/cache
mkdir -p "$C/lbox"
# Tests running beside this one write temporaries (*.tmp-*) into the shared cache and rename
# or remove them: one that goes while it is copied is not wanted anyway; any other error is.
for d in blobs urls layers buildenv; do
  [ -d "$SHARED/lbox/$d" ] || continue
  if ! cp -al "$SHARED/lbox/$d" "$C/lbox/" 2>"$T/cp.err" && grep -qv '\.tmp-' "$T/cp.err"; then
    fail "copying the shared cache: $(head -3 "$T/cp.err")"
    finish
  fi
done
export XDG_CACHE_HOME=$C

mounts=()
srv=
cleanup() {
  [ -z "$srv" ] || kill "$srv" 2>/dev/null || true
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || true; done
  cleanup_test
}
trap cleanup EXIT

# A loopback npm registry with the Node.js package: /slow/... trickles it out (a download to
# interrupt), /fast/... does not.
integrity=$(jq -r ".node.npm.${arch}.integrity" "$LBOX_SRC/base-images/nodejs18.x.json")
pkg=$(jq -r ".node.npm.${arch}.package" "$LBOX_SRC/base-images/nodejs18.x.json")
version=$(jq -r '.node.version' "$LBOX_SRC/base-images/nodejs18.x.json")
node_hex=$(printf '%s' "${integrity#sha512-}" | base64 -d | od -An -v -t x1 | tr -d ' \n')
mkdir -p "$T/reg"
cp "$SHARED/lbox/blobs/sha512/$node_hex" "$T/reg/$pkg-$version.tgz"
python3 - "$T/reg" >"$T/http.log" 2>&1 <<'PY' &
import http.server, os, socketserver, sys, time
root = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        p = os.path.join(root, os.path.basename(self.path))
        if not os.path.isfile(p):
            return self.send_error(404)
        data = open(p, "rb").read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        step = 100000 if self.path.startswith("/slow/") else len(data)
        try:
            for i in range(0, len(data), step):
                self.wfile.write(data[i:i + step])
                if step < len(data):
                    time.sleep(0.05)
        except OSError:
            pass
    def log_message(self, *a):
        pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
print("port", s.server_address[1], flush=True)
s.serve_forever()
PY
srv=$!
for _ in $(seq 50); do port=$(grep -oE 'port [0-9]+' "$T/http.log" | grep -oE '[0-9]+' || true); [ -n "$port" ] && break; sleep 0.1; done

# A command in its own process group, as a terminal runs it, so that a signal to the group
# is what Ctrl-C does; stop_bg SIG sends it and returns the exit status.
start_bg() { set -m; "$@" >"$T/bg.out" 2>&1 & BG=$!; set +m; }
stop_bg() { local rc=0; kill -"$1" -- -"$BG" 2>/dev/null || true; wait "$BG" 2>/dev/null || rc=$?; return $rc; }
wait_for() { # wait_for SECONDS command... : until the command succeeds
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do [ "$SECONDS" -ge "$end" ] && return 1; sleep 0.05; done
}
leftovers() { # temporary entries of lbox anywhere in the cache or the store
  find "$XDG_CACHE_HOME/lbox" "$XDG_DATA_HOME/lbox" \
    \( -path '*/rootfs/*/*' -o -path '*/buildenv/*/*' -o -path '*/tmp/build-*/*' \) -prune -o \
    \( -name '*.tmp*' -o -name '.tmp-*' -o -name '.trash-*' -o -path '*/lbox/tmp/build-*' \) -print \
    2>/dev/null
}
no_leftovers() { [ -z "$(leftovers)" ]; }
store_ok() { # the store lists, and every tag in it inspects
  local t
  "$LBOX" images >/dev/null || return 1
  for t in $("$LBOX" images --json | jq -r '.[].ref'); do "$LBOX" inspect "$t" >/dev/null || return 1; done
}
says() { [ "$("$LBOX" invoke "$1" 2>/dev/null | jq -r "$2")" = "$3" ]; }
rootfs=$C/lbox/rootfs
unpacking() { compgen -G "$rootfs/.tmp-${1:7:12}-*" >/dev/null; }
digest_of() { "$LBOX" inspect "$1" --json | jq -r '.digest'; }

check "the image built before runs (its rootfs unpacked once)" says warm:1 .message "hello, world"

# ---- Ctrl-C during a download ----
rm -f "$C/lbox/blobs/sha512/$node_hex"
partial() { [ -n "$(find "$C/lbox/blobs/sha512" -name "$node_hex.tmp*" -size +0 2>/dev/null)" ]; }
start_bg b --code "$hello" --tag dl:1 --node-source npm --npm-registry "http://127.0.0.1:$port/slow"
if wait_for 60 partial; then
  rc=0; stop_bg INT || rc=$?
  check "Ctrl-C during a download stops the build (exit $rc)" test "$rc" -ne 0
  check "the partial download does not take the cache name" test ! -e "$C/lbox/blobs/sha512/$node_hex"
  expect_fail "an offline build does not take the partial download as complete" \
    "not in the cache and --offline" b --code "$hello" --tag dl:1 --node-source npm --offline
  check "the next build downloads it again and succeeds" \
    b --code "$hello" --tag dl:1 --node-source npm --npm-registry "http://127.0.0.1:$port/fast"
  check "nothing of the interrupted download or build is left" no_leftovers
else
  stop_bg KILL || true
  fail "the download started ($(tail -2 "$T/bg.out"))"
fi

# ---- kill -9 while layers are written ----
rm -rf "$C/lbox/layers" # base, node and runtime are made again from the downloads
store_temp() { compgen -G "$XDG_DATA_HOME/lbox/store/blobs/sha256/.tmp-*" >/dev/null; }
start_bg b --code "$hello" --tag layers:1
if wait_for 120 store_temp; then
  stop_bg KILL || true
  check "kill -9 while writing layers leaves the store readable" store_ok
  check "... and the image already in it runs" says warm:1 .message "hello, world"
  check "the next build succeeds" b --code "$hello" --tag layers:1
  check "... and leaves nothing of the killed build in the cache or the store" no_leftovers
else
  stop_bg KILL || true
  fail "a layer was being written ($(tail -2 "$T/bg.out"))"
fi

# ---- a killed assembly of the npm build environment left its folder (unlocked) ----
mkdir -p "$C/lbox/buildenv/tmp-killed01" && head -c 1M /dev/zero >"$C/lbox/buildenv/tmp-killed01/f"
envs_before=$(ls "$C/lbox/buildenv" | grep -vc '^tmp-' || :)
check "an --npm-install build with a cached environment succeeds" \
  b --code "$T/npmwarm" --npm-install --tag warm:npm2
check "... takes the killed assembly's folder" test ! -e "$C/lbox/buildenv/tmp-killed01"
check "... and keeps the cached environments ($envs_before)" \
  test "$(ls "$C/lbox/buildenv" | grep -vc '^tmp-' || :)" -eq "$envs_before"

# ---- Ctrl-C during npm install (a postinstall script that waits) ----
mkdir -p "$T/npm"
cat >"$T/npm/package.json" <<'EOF'
{"name":"fn","version":"1.0.0","scripts":{"postinstall":"node -e \"require('fs').writeFileSync('started','');setTimeout(()=>{},60000)\" lbox-interrupt-marker"}}
EOF
echo 'exports.handler = async () => ({npm: true});' >"$T/npm/index.js"
npm_started() { [ -n "$(find "$C/lbox/tmp" -name started 2>/dev/null)" ]; }
start_bg b --code "$T/npm" --npm-install --tag npm:1
if wait_for 120 npm_started; then
  rc=0; stop_bg INT || rc=$?
  check "Ctrl-C during npm install stops the build (exit $rc)" test "$rc" -ne 0
  check "... and npm in its sandbox with it" wait_for 10 bash -c '! pgrep -f lbox-interrupt-marke[r]'
  check "the next build succeeds" b --code "$hello" --tag npm:1
  check "... and leaves nothing of the interrupted build" no_leftovers
else
  stop_bg KILL || true
  fail "npm install started ($(tail -2 "$T/bg.out"))"
fi

# ---- kill -9 at random moments of warm builds (the final store write among them) ----
mkdir -p "$T/fn"
consistent=true
for i in $(seq 12); do
  echo "exports.handler = async () => ({i: $i});" >"$T/fn/index.js"
  start_bg b --code "$T/fn" --tag loop:1
  sleep "0.$(printf '%02d' $((i * 2)))"
  stop_bg KILL || true
  store_ok || { consistent=false; echo "# store broken after a kill at 0.$((i * 2)) s"; }
done
check "kill -9 at any moment of a build leaves the store readable" $consistent
check "a build after them succeeds" b --code "$T/fn" --tag loop:1
check "... and nothing of the killed builds is left" no_leftovers

# ---- two builds of one tag, a build and an rm of it, at once ----
busy_ok=true
for i in 1 2 3; do
  echo "exports.handler = async () => ({c: $i});" >"$T/fn/index.js"
  b --code "$T/fn" --tag same:1 >"$T/c1" 2>&1 & p1=$!
  b --code "$T/fn" --tag same:1 >"$T/c2" 2>&1 & p2=$!
  r1=0; r2=0; wait $p1 || r1=$?; wait $p2 || r2=$?
  [ $r1 -eq 0 ] || [ $r2 -eq 0 ] || busy_ok=false
  for n in 1 2; do
    if ! grep -q "same:1  sha256:" "$T/c$n" && ! grep -q "another lbox build of same:1 is running" "$T/c$n"; then
      busy_ok=false; echo "# $(tail -1 "$T/c$n")"
    fi
  done
done
check "two builds of one tag: one wins, the other is told plainly" $busy_ok
check "... and the store is consistent" store_ok
rm_ok=true
for i in 1 2 3 4 5; do
  echo "exports.handler = async () => ({r: $i});" >"$T/fn/index.js"
  b --code "$T/fn" --tag race:1 >"$T/c1" 2>&1 & p1=$!
  sleep "0.0$i"
  rr=0; "$LBOX" rm race:1 >"$T/c2" 2>&1 || rr=$?
  br=0; wait $p1 || br=$?
  [ $br -eq 0 ] || { rm_ok=false; echo "# build: $(tail -1 "$T/c1")"; }
  [ $rr -eq 0 ] || grep -q "no image 'race:1'" "$T/c2" || { rm_ok=false; echo "# rm: $(tail -1 "$T/c2")"; }
  store_ok || rm_ok=false
done
check "a build and an rm of the same tag at once: both work, the store stays consistent" $rm_ok

# ---- invoke while the image is rebuilt and removed ----
echo 'exports.handler = async () => { await new Promise(r => setTimeout(r, 3000)); return {slow: 1}; };' >"$T/fn/index.js"
b --code "$T/fn" --tag inv:1 >/dev/null
d1=$(digest_of inv:1)
"$LBOX" invoke inv:1 --timeout 30 >"$T/inv.out" 2>"$T/inv.err" & p=$!
wait_for 120 test -d "$rootfs/${d1#sha256:}"
echo 'exports.handler = async () => ({v: 2});' >"$T/fn/index.js"
check "a rebuild while the image runs works" b --code "$T/fn" --tag inv:1
check "an rm while the image runs works" "$LBOX" rm inv:1
r=0; wait $p || r=$?
check "... and the running invoke finishes its event (exit $r)" jqe '.slow == 1' <"$T/inv.out"
check "... then its unpacked image goes" wait_for 20 test ! -e "$rootfs/${d1#sha256:}"

# An rm while the image is still being unpacked: the invoke runs it, then removes it.
echo 'exports.handler = async () => ({v: 3});' >"$T/fn/index.js"
b --code "$T/fn" --tag inv:2 >/dev/null
d2=$(digest_of inv:2)
"$LBOX" invoke inv:2 >"$T/inv.out" 2>"$T/inv.err" & p=$!
if wait_for 60 unpacking "$d2"; then
  check "an rm during the unpack works" "$LBOX" rm inv:2
  r=0; wait $p || r=$?
  check "... the invoke still runs the image it resolved (exit $r)" jqe '.v == 3' <"$T/inv.out"
  check "... and no unpacked copy of the removed image stays in the cache" \
    wait_for 20 test ! -e "$rootfs/${d2#sha256:}"
else
  wait $p || true
  fail "the invoke was unpacking inv:2"
fi

# ---- Ctrl-C of an invoke while it unpacks ----
echo 'exports.handler = async () => ({v: 4});' >"$T/fn/index.js"
b --code "$T/fn" --tag inv:3 >/dev/null
d3=$(digest_of inv:3)
start_bg "$LBOX" invoke inv:3
if wait_for 60 unpacking "$d3"; then
  stop_bg INT || true
  check "Ctrl-C during the unpack leaves a half-unpacked folder" unpacking "$d3"
  check "the next invoke works" says inv:3 .v 4
  check "... and the half-unpacked folder is gone" wait_for 20 no_leftovers
else
  stop_bg KILL || true
  fail "the invoke was unpacking inv:3"
fi
check "after all of it the store is consistent" store_ok
check "... and its first image still runs" says warm:1 .message "hello, world"

# ---- full or unwritable disks ----
if [ "$(id -u)" = 0 ]; then
  # The cache fills up during the Node.js download: it has all but that file.
  # (Sized from what is copied: the shared cache grows with every image the tests build.)
  F=$T/fullcache
  need=$(du -smc "$C/lbox/blobs" "$C/lbox/urls" "$C/lbox/layers" | tail -n1 | cut -f1)
  mkdir -p "$F" && mount -t tmpfs -o size=$((need + 64))m tmpfs "$F" && mounts+=("$F")
  mkdir -p "$F/lbox" && cp -a "$C/lbox/blobs" "$C/lbox/urls" "$C/lbox/layers" "$F/lbox/"
  rm -f "$F/lbox/blobs/sha512/$node_hex"
  used=$(du -sm "$F" | cut -f1)
  mount -o remount,size=$((used + 8))m "$F"
  expect_fail "a full cache names the cache, the way to move it, and the cause" \
    "download cache $F/lbox.*XDG_CACHE_HOME.*No space left" \
    env XDG_CACHE_HOME="$F" "$LBOX" build --runtime nodejs18.x --arch "$arch" --code "$hello" \
    --tag full:1 --node-source npm --npm-registry "http://127.0.0.1:$port/fast"
  check "... and keeps no partial download" test -z "$(find "$F" -name '*.tmp*' -o -path '*/tmp/build-*')"

  # The store fills up while the cached layers are copied in.
  S=$T/fullstore
  mkdir -p "$S" && mount -t tmpfs -o size=20m tmpfs "$S" && mounts+=("$S")
  expect_fail "a full store names the store and the cause" "image store $S/lbox/store.*No space left" \
    env XDG_DATA_HOME="$S" "$LBOX" build --runtime nodejs18.x --arch "$arch" --code "$hello" --tag full:1
  check "... and keeps nothing of the failed build" \
    test -z "$(ls -A "$S/lbox/store/blobs/sha256")"

  # The cache fills up while an invoke unpacks the image: libarchive reports a failed
  # write as a mere warning, and the entry was then finished as a file of zeros, which
  # stayed in the cache as the image's root (node: "Exec format error" from then on).
  U=$T/fullunpack
  mkdir -p "$U" && mount -t tmpfs -o size=120m tmpfs "$U" && mounts+=("$U")
  expect_fail "a disk filling up during an invoke's unpack is named as such" \
    "cannot write var/lang/bin/node from layer sha256:[0-9a-f]+: No space left on device" \
    env XDG_CACHE_HOME="$U" "$LBOX" invoke warm:1
  check "... and leaves no unpacked root behind" test -z "$(ls -A "$U/lbox/rootfs" 2>/dev/null)"
  mount -o remount,size=1024m "$U"
  check "... so that with room the same invoke works" \
    bash -c "XDG_CACHE_HOME='$U' '$LBOX' invoke warm:1 2>/dev/null | jq -e '.message == \"hello, world\"'"

  # The cache fills up while the code is copied in: the message names the cache's disk,
  # not only the code's file that could not be written.
  G=$T/fullcode
  need=$(du -smc "$C/lbox/blobs" "$C/lbox/urls" "$C/lbox/layers" | tail -n1 | cut -f1)
  mkdir -p "$G" "$T/bigcode" && mount -t tmpfs -o size=$((need + 64))m tmpfs "$G" && mounts+=("$G")
  mkdir -p "$G/lbox" && cp -a "$C/lbox/blobs" "$C/lbox/urls" "$C/lbox/layers" "$G/lbox/"
  cp "$hello/index.js" "$T/bigcode/" && head -c 160M /dev/urandom >"$T/bigcode/blob.bin"
  expect_fail "a disk filling up while the code is copied in names the cache's disk" \
    "cannot write 'blob.bin': No space left on device \(the full disk is the one of lbox's cache, $G/lbox.*XDG_CACHE_HOME" \
    env XDG_CACHE_HOME="$G" "$LBOX" build --runtime nodejs18.x --arch "$arch" --code "$T/bigcode" \
    --tag full:2 --offline
  rm -rf "$T/bigcode"
fi

# Unwritable: chmod 555 does not stop root, a read-only bind mount does.
unwritable() {
  if [ "$(id -u)" = 0 ]; then
    mount --bind "$1" "$1" && mounts+=("$1") && mount -o remount,bind,ro "$1"
  else
    chmod 555 "$1"
  fi
}
writable() { if [ "$(id -u)" = 0 ]; then umount "$1"; else chmod 755 "$1"; fi; }
echo 'exports.handler = async () => ({ro: 1});' >"$T/fn/index.js"
unwritable "$C/lbox/tmp"
expect_fail "an unwritable cache names it and XDG_CACHE_HOME" "staging folder.*$C/lbox.*XDG_CACHE_HOME" \
  b --code "$T/fn" --tag ro:1
writable "$C/lbox/tmp"
store=$XDG_DATA_HOME/lbox/store
unwritable "$store"
expect_fail "an unwritable store names it and XDG_DATA_HOME" "image store $store writable.*XDG_DATA_HOME" \
  b --code "$T/fn" --tag ro:1
writable "$store"
check "... keeps nothing half-written, and no tag" \
  bash -c "[ -z \"\$(find '$store' -name '*.tmp*' -o -name '.tmp-*')\" ] && ! '$LBOX' images | grep -q '^ro:1'"
check "... and the store stays usable" store_ok
finish
