#!/usr/bin/env bash
# The native-addon lint during build: a .node for the wrong machine stops the build naming
# the file; one that needs a GLIBC newer than Amazon Linux 2's 2.26 is a warning naming it.
source "$LBOX_SRC/tests/lib/common.sh"

mkdir -p "$T/fn/node_modules/addon"
cp "$LBOX_SRC/examples/hello/index.js" "$T/fn/"
# The host's libstdc++ is an x86_64 ELF that needs GLIBC_2.3x: a realistic "native addon".
lib=$(ls /usr/lib/x86_64-linux-gnu/libstdc++.so.6.* | head -1)
cp "$lib" "$T/fn/node_modules/addon/binding.node"

expect_fail "an x86_64 addon in an arm64 image is an error naming the file" \
  "node_modules/addon/binding.node.*(x86_64|X86_64|machine)" \
  "$LBOX" build --runtime nodejs18.x --arch arm64 --code "$T/fn" --tag lint:arm
check "the refused build left no image" bash -c "! '$LBOX' images | grep -q '^lint:arm'"

out=$("$LBOX" build --runtime nodejs18.x --arch x86_64 --code "$T/fn" --tag lint:x86 2>&1)
check "an x86_64 addon in an x86_64 image builds" grep -q 'lint:x86' <<<"$out"
check "a GLIBC above 2.26 is a warning naming the file and the version" \
  grep -qE 'warning: .*binding.node.*GLIBC_2\.[0-9]+' <<<"$out"

# A warning names a file of the code, whose name may hold escape sequences: on a terminal
# they are shown, not obeyed.
mkdir -p "$T/esc" && cp "$LBOX_SRC/examples/hello/index.js" "$T/esc/"
touch "$T/esc/"$'\e]0;pwned\a.js' && chmod 600 "$T/esc/"*pwned*
SHELL=/bin/bash script -qec "$(printf '%q ' "$LBOX" build --runtime nodejs18.x --arch x86_64 --code "$T/esc" --tag lint:esc)" \
  /dev/null >"$T/tty" </dev/null || true
check "a warning naming a file shows its escapes on a terminal" \
  bash -c "grep -qF 'warning: /var/task/\\x1b]0;pwned\\x07.js: mode 0600' '$T/tty' && ! grep -q $'\\x1b' '$T/tty'"
finish
