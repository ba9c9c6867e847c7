#!/usr/bin/env bash
# Every runtime × architecture builds; the rootfs has the right node (ELF machine, version),
# the runtime client, the SDK of its runtime; x86_64 node runs inside the rootfs, arm64 node
# runs through QEMU user emulation.
source "$LBOX_SRC/tests/lib/common.sh"

declare -A version=([nodejs14.x]=v14.21.3 [nodejs16.x]=v16.20.2 [nodejs18.x]=v18.20.8)
declare -A machine=([x86_64]=62 [arm64]=183)
qemu=$(command -v qemu-aarch64-static || true)

for rt in nodejs14.x nodejs16.x nodejs18.x; do
  for arch in x86_64 arm64; do
    out=$T/$rt-$arch
    if ! "$LBOX" build --runtime "$rt" --arch "$arch" --code "$LBOX_SRC/examples/hello" \
        --tag "hello:$rt-$arch" -o "$out" --format rootfs >"$T/log" 2>&1; then
      fail "$rt $arch builds: $(tail -5 "$T/log")"; continue
    fi
    ok "$rt $arch builds"
    node=$out/var/lang/bin/node
    check "$rt $arch node is ELF machine ${machine[$arch]}" test "$(elf_machine "$node")" = "${machine[$arch]}"
    check "$rt $arch has the runtime bootstrap" test -x "$out/var/runtime/bootstrap"
    check "$rt $arch records its runtime" grep -qx "$rt" "$out/var/runtime/runtime-id"
    # ... and its node, which INIT_START's runtime version names.
    check "$rt $arch inspect names its node" \
      grep -qx "Runtime:    $rt (Node.js ${version[$rt]#v})" <<<"$("$LBOX" inspect "hello:$rt-$arch")"
    check "$rt $arch has the function code" test -f "$out/var/task/index.js"
    check "$rt $arch /bin/sh is bash" test "$(readlink "$out/usr/bin/sh")" = bash
    check "$rt $arch has sbx_user1051 993:990" grep -q '^sbx_user1051:x:993:990:' "$out/etc/passwd"
    check "$rt $arch has the CA bundle" test -s "$out/etc/pki/tls/certs/ca-bundle.crt"
    if [ "$rt" = nodejs18.x ]; then
      check "$rt $arch ships @aws-sdk v3" test -f "$out/var/runtime/node_modules/@aws-sdk/client-s3/package.json"
    else
      check "$rt $arch ships aws-sdk v2" test -f "$out/var/runtime/node_modules/aws-sdk/package.json"
    fi
    # The SDK packages a handler would load by name (aws-sdk, @aws-sdk/client-*, lib-*).
    mods=$(jq -r '.packages[] | select(.path | test("^node_modules/(aws-sdk|@aws-sdk/(client|lib)-[^/]*)$")) | .name' \
      "$LBOX_SRC/base-images/sdk/$rt.lock.json" | tr '\n' ' ')
    load="for (const m of '$mods'.trim().split(' ')) require(m); console.log(process.version)"
    if [ "$arch" = x86_64 ]; then
      # chroot needs root; an unprivileged user gets it through a user namespace.
      run() { unshare -r chroot "$out" /usr/bin/env -i NODE_PATH=/var/runtime/node_modules /var/lang/bin/node "$@"; }
    elif [ -n "$qemu" ]; then
      run() { env -i NODE_PATH="$out/var/runtime/node_modules" "$qemu" -L "$out" "$node" "$@"; }
    else
      run() { echo "no qemu-aarch64-static"; }
    fi
    v=$(run --version 2>&1 || true)
    check "$rt $arch node --version is ${version[$rt]} (got $v)" test "$v" = "${version[$rt]}"
    v=$(run -e "$load" 2>&1 || true)
    check "$rt $arch loads every SDK package ($mods) (got $(tail -1 <<<"$v"))" test "$v" = "${version[$rt]}"
    rm -rf "$out"
  done
done
finish
