#!/usr/bin/env bash
# lbox build --npm-install runs the function's install scripts, which are its code: they
# are held to a memory limit (killed past it, the build says so), a time limit (stopped at
# LBOX_NPM_TIMEOUT, nothing of them left running) and Lambda's 250 MB for what they leave,
# and the build then fails cleanly.
source "$LBOX_SRC/tests/lib/common.sh"
arch=$(uname -m)
[ "$arch" = aarch64 ] && arch=arm64

# pkg DIR SCRIPT: a package whose postinstall runs SCRIPT (node -e).
pkg() {
  mkdir -p "$1"
  jq -n --arg s "node -e \"$2\"" '{name: "fn", version: "1.0.0", scripts: {postinstall: $s}}' \
    >"$1/package.json"
  echo 'exports.handler = async () => 1;' >"$1/index.js"
}

# npm_build DIR TAG: builds DIR with --npm-install; $rc and $T/out hold how it went.
npm_build() {
  rc=0
  "$LBOX" build --runtime nodejs18.x --arch "$arch" --code "$1" --npm-install --tag "$2" \
    >"$T/out" 2>&1 || rc=$?
}

# hog_stopped PREFIX: the build of $T/hog ($rc, output in $T/out) failed, the hog stopped
# near the 4 GB limit.
hog_stopped() {
  local held
  held=$(grep -o 'held [0-9]* MiB' "$T/out" | tail -1 | grep -o '[0-9]*' || echo 0)
  check "${1}a postinstall taking 8 GB fails the build (exit $rc: $(tail -2 "$T/out"))" [ "$rc" -eq 1 ]
  check "${1}... it was stopped near 4 GB (last held: $held MiB)" \
    bash -c "[ '$held' -ge 1024 ] && [ '$held' -le 4096 ]"
}

# Memory: 64 MiB more each step until killed; past 4 GB it never gets.
pkg "$T/hog" "const a = []; for (let i = 0; i < 128; i++) { a.push(Buffer.alloc(1 << 26, 1)); console.log('held', (i + 1) * 64, 'MiB'); }"
npm_build "$T/hog" hog:1
hog_stopped ""
check "... and the error says npm was killed, naming the limit" grep -qE "npm (install|ci).*killed.*memory limit of 4096 MB" "$T/out"
check "... and no image was made" bash -c "! '$LBOX' inspect hog:1 >/dev/null 2>&1"

# The same as an unprivileged user, where no cgroup may be usable and pid 1 watches the
# memory instead. nobody gets its own cache (the shared one linked, its folders its own).
if [ "$(id -u)" -eq 0 ]; then
  mkdir -p "$T/nobody/cache/lbox" "$T/nobody/data" "$T/nobody/home"
  for d in blobs urls layers buildenv; do
    [ -d "$XDG_CACHE_HOME/lbox/$d" ] && cp -al "$XDG_CACHE_HOME/lbox/$d" "$T/nobody/cache/lbox/"
  done
  find "$T/nobody" -type d -exec chown 65534:65534 {} +
  chmod 755 "$T" && chmod -R a+rX "$T/hog"
  rc=0
  setpriv --reuid=65534 --regid=65534 --clear-groups env -i PATH="$PATH" HOME="$T/nobody/home" \
    XDG_CACHE_HOME="$T/nobody/cache" XDG_DATA_HOME="$T/nobody/data" \
    LBOX_NPM_REGISTRY="$(npm config get registry 2>/dev/null)" \
    "$LBOX" build --runtime nodejs18.x --arch "$arch" --code "$T/hog" --npm-install --tag hog:1 \
    >"$T/out" 2>&1 || rc=$?
  hog_stopped "as nobody: "
else
  echo "# the unprivileged case needs root to switch to nobody; not counted"
fi

# What npm adds counts as well (Lambda counts the final size), and the message names the
# user's folder, not lbox's staging copy. The postinstall script makes a sparse 300 MB file.
mkdir -p "$T/npmgrow"
echo 'exports.handler = async () => 1;' >"$T/npmgrow/index.js"
echo '{"name": "grow", "version": "1.0.0", "scripts": {"postinstall": "node grow.js"}}' \
  >"$T/npmgrow/package.json"
echo "require('fs').truncateSync(require('fs').openSync('big.bin', 'w'), 300 << 20);" \
  >"$T/npmgrow/grow.js"
expect_fail "--npm-install: what npm installed counts, and the message names --code" \
  "unzip to 300\.0 MB, over Lambda's 250 MB limit: '$T/npmgrow \(with what npm installed\)'" \
  "$LBOX" build --runtime nodejs18.x --arch "$arch" --code "$T/npmgrow" --npm-install --tag grow:1
# Disk: the code folder npm works in is a host folder; a postinstall filling it is stopped
# near 1 GB instead of filling the host's disk.
pkg "$T/fill" "const fs = require('fs'); const b = Buffer.alloc(1 << 24, 1); const fd = fs.openSync('fill.bin', 'w'); for (let i = 0; i < 512; i++) fs.writeSync(fd, b); console.log('wrote', 8, 'GB')"
npm_build "$T/fill" fill:1
check "a postinstall writing 8 GB into the code fails the build (exit $rc: $(tail -1 "$T/out"))" [ "$rc" -eq 1 ]
check "... stopped on the way, naming the limit" \
  bash -c "grep -q 'the code folder.* grew to .* MB.*stops npm at 1024 MB' '$T/out' && ! grep -q 'wrote 8 GB' '$T/out'"
check "... and nothing of it is left in the cache" \
  bash -c "[ -z \"\$(find '$XDG_CACHE_HOME/lbox/tmp' -name fill.bin 2>/dev/null)\" ]"
# The same written where else npm may write (/run/lbox), or in a file hidden deeper than any
# path can name (30 folders of 200 characters), which a walk by paths could not see; such a
# tree leaves nothing in the cache either.
pkg "$T/runfill" "const fs = require('fs'); const b = Buffer.alloc(1 << 24, 1); const fd = fs.openSync('/run/lbox/fill.bin', 'w'); for (let i = 0; i < 512; i++) fs.writeSync(fd, b); console.log('wrote', 8, 'GB')"
npm_build "$T/runfill" runfill:1
check "a postinstall writing 8 GB into /run/lbox is stopped too (exit $rc: $(tail -1 "$T/out"))" \
  bash -c "[ $rc -eq 1 ] && grep -q 'stops npm at 1024 MB' '$T/out' && ! grep -q 'wrote 8 GB' '$T/out'"
pkg "$T/deepfill" "const fs = require('fs'); const n = 'd'.repeat(200); for (let i = 0; i < 30; i++) { fs.mkdirSync(n); process.chdir(n); } const b = Buffer.alloc(1 << 24, 1); const fd = fs.openSync('deep.bin', 'w'); for (let i = 0; i < 512; i++) fs.writeSync(fd, b); console.log('wrote', 8, 'GB')"
npm_build "$T/deepfill" deepfill:1
check "a postinstall writing 8 GB deeper than PATH_MAX is stopped too (exit $rc: $(tail -1 "$T/out"))" \
  bash -c "[ $rc -eq 1 ] && grep -q 'stops npm at 1024 MB' '$T/out' && ! grep -q 'wrote 8 GB' '$T/out'"
check "... and nothing of that tree is left in the cache" \
  bash -c "[ -z \"\$(find '$XDG_CACHE_HOME/lbox/tmp' -name deep.bin 2>/dev/null)\" ]"

# ... or in a file deleted while still open, which no walk of the folders can see.
pkg "$T/unlinkfill" "const fs = require('fs'); const b = Buffer.alloc(1 << 24, 1); const fd = fs.openSync('gone.bin', 'w'); fs.unlinkSync('gone.bin'); for (let i = 0; i < 512; i++) fs.writeSync(fd, b); console.log('wrote', 8, 'GB')"
npm_build "$T/unlinkfill" unlinkfill:1
check "a postinstall writing 8 GB into a deleted file is stopped too (exit $rc: $(tail -1 "$T/out"))" \
  bash -c "[ $rc -eq 1 ] && grep -q 'stops npm at 1024 MB' '$T/out' && ! grep -q 'wrote 8 GB' '$T/out'"

# npm's output reaches lbox's stderr through a pipe: a script cannot read back, truncate or
# write over the file lbox's stderr is (a log on the host).
pkg "$T/fd2" "const fs = require('fs'); let t; try { fs.ftruncateSync(2, 0); t = 'truncated'; } catch (e) { t = e.code; } console.log('stderr is', fs.readlinkSync('/proc/self/fd/2'), t)"
echo "a line lbox's caller wrote first" >"$T/log"
rc=0
"$LBOX" build --runtime nodejs18.x --arch "$arch" --code "$T/fd2" --npm-install --tag fd2:1 \
  >>"$T/log" 2>&1 || rc=$?
check "npm's stderr is a pipe, which cannot be truncated (exit $rc)" \
  grep -qE "stderr is pipe:\[[0-9]+\] EINVAL" "$T/log"
check "... and what was in lbox's stderr stays" grep -qx "a line lbox's caller wrote first" "$T/log"

# A script that fails fails the build with npm's exit status; npm does not point at a log
# file in the sandbox, which is gone by then.
pkg "$T/fails" "process.exit(3)"
npm_build "$T/fails" fails:1
check "a postinstall that fails fails the build, with npm's status (exit $rc)" \
  bash -c "[ $rc -eq 1 ] && grep -q 'npm install failed.*exit status' '$T/out'"
check "... and npm names no log file it cannot keep" bash -c "! grep -q 'complete log of this run' '$T/out'"

# Time: a postinstall that never ends is stopped at LBOX_NPM_TIMEOUT.
pkg "$T/hang" "require('fs').writeFileSync('/tmp/lbox-hang-' + process.pid, ''); setInterval(() => {}, 1000)"
start=$(date +%s)
LBOX_NPM_TIMEOUT=5 npm_build "$T/hang" hang:1
took=$(($(date +%s) - start))
check "a postinstall that never ends fails the build (exit $rc)" [ "$rc" -eq 1 ]
check "... after LBOX_NPM_TIMEOUT, not later (${took} s)" [ "$took" -lt 60 ]
check "... the error names the limit" grep -q "still running after 5 s.*LBOX_NPM_TIMEOUT" "$T/out"
check "... and nothing of it runs on" bash -c "! pgrep -f 'setInterval\(\(\) => \{\}, 1000\)' >/dev/null"
expect_fail "a bad LBOX_NPM_TIMEOUT is named" "LBOX_NPM_TIMEOUT='soon'" \
  env LBOX_NPM_TIMEOUT=soon "$LBOX" build --runtime nodejs18.x --arch "$arch" --code "$T/hang" \
  --npm-install --tag hang:2
finish
