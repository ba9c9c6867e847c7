#!/usr/bin/env bash
# lbox build --npm-install: a real Node-API addon from the npm registry (bigint-buffer, no
# prebuilt binaries: node-gyp compiles it on install) is built inside an arm64 sandbox under
# QEMU with `npm ci`, loads in the arm64 image, and the same node_modules is refused by the
# lint of an x86_64 build. The build environment is cached in XDG_CACHE_HOME across runs.
source "$LBOX_SRC/tests/lib/common.sh"
[ "$(uname -m)" = x86_64 ] || { echo "this test emulates arm64 on an x86_64 host"; exit 1; }

cp -r "$LBOX_SRC/tests/fixtures/qemu/addon" "$T/fn"
# A lock file made now from the configured registry (none is committed), so npm ci runs.
(cd "$T/fn" && npm install --package-lock-only --ignore-scripts --no-audit --no-fund >/dev/null 2>&1)
check "a lock file was made for npm ci" test -s "$T/fn/package-lock.json"

rc=0
"$LBOX" build --runtime nodejs18.x --arch arm64 --code "$T/fn" --npm-install --tag addon:arm64 \
  -o "$T/root" --format rootfs >"$T/out" 2>"$T/err" || rc=$?
check "build --npm-install for arm64 succeeds (exit $rc: $(tail -3 "$T/err"))" [ "$rc" -eq 0 ]
check "node-gyp compiled the addon in the sandbox (npm's output streamed)" \
  grep -q 'COPY Release/bigint_buffer.node' "$T/err"
addon=$T/root/var/task/node_modules/bigint-buffer/build/Release/bigint_buffer.node
check "the image's addon is an aarch64 ELF" [ "$(elf_machine "$addon" 2>/dev/null)" = 183 ]
check "the build environment is cached, with no half-assembled folder left" \
  bash -c "ls '$XDG_CACHE_HOME/lbox/buildenv' | grep -qvE '^tmp-' && ! ls '$XDG_CACHE_HOME/lbox/buildenv' | grep -q '^tmp-'"

rc=0
out=$("$LBOX" invoke addon:arm64 --timeout 60 2>"$T/err") || rc=$?
check "the addon loads and works in the arm64 image (exit $rc: $out)" \
  jqe '.arch == "arm64" and .native == true and .value == "513"' <<<"$out"

# The arm64 node_modules as plain code of an x86_64 build: the lint names the file.
expect_fail "the arm64 addon in an x86_64 build is refused by the lint" \
  "bigint_buffer\.node" \
  "$LBOX" build --runtime nodejs18.x --arch x86_64 --code "$T/root/var/task" --tag addon:x86

# npm's scripts are the function's code, and see the extra CA file lbox hands npm: only
# certificates go there. The function's own .npmrc (read when lbox runs in its folder)
# cannot name a host file, and a user's setting that names a wrong one hands on nothing.
echo "lbox-secret-$$" >"$T/secret.txt"
mkdir -p "$T/leak"
printf '{"name":"leak","version":"1.0.0","scripts":{"postinstall":"echo CA-BEGIN; cat /run/lbox/extra-ca.pem; echo CA-END"}}\n' \
  >"$T/leak/package.json"
echo 'exports.handler = async () => 1;' >"$T/leak/index.js"
echo "cafile=$T/secret.txt" >"$T/leak/.npmrc"
rc=0
(cd "$T/leak" && env -u NODE_EXTRA_CA_CERTS "$LBOX" build --runtime nodejs18.x --arch arm64 \
  --code . --npm-install --tag leak:1) >"$T/out" 2>&1 || rc=$?
check "a function's .npmrc naming a host file: the build runs (exit $rc: $(tail -2 "$T/out"))" [ "$rc" -eq 0 ]
check "... and the file does not reach npm's scripts" bash -c "! grep -q 'lbox-secret' '$T/out'"
rc=0
NODE_EXTRA_CA_CERTS=$T/secret.txt "$LBOX" build --runtime nodejs18.x --arch arm64 \
  --code "$T/leak" --npm-install --tag leak:2 >"$T/out" 2>&1 || rc=$?
check "NODE_EXTRA_CA_CERTS naming a file of no certificates: the build runs (exit $rc)" [ "$rc" -eq 0 ]
check "... the file does not reach npm's scripts" bash -c "! grep -q 'lbox-secret' '$T/out'"
check "... and lbox says it holds no certificate" grep -q "holds no PEM certificate" "$T/out"

mkdir -p "$T/nopkg" && echo 'exports.handler = async () => 1;' >"$T/nopkg/index.js"
expect_fail "--npm-install without a package.json says so" "no package.json" \
  "$LBOX" build --runtime nodejs18.x --arch arm64 --code "$T/nopkg" --npm-install
finish
