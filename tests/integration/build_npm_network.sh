#!/usr/bin/env bash
# lbox build --npm-install runs the function's install scripts, which are its code. They
# reach the registry and the internet through slirp4netns, in a network of their own, but
# not the services on this host's loopback; where that cannot be had, npm shares the host's
# network and the build says why; LBOX_NPM_NETWORK=nat makes that an error, =host a choice.
source "$LBOX_SRC/tests/lib/common.sh"
arch=$(uname -m)
[ "$arch" = aarch64 ] && arch=arm64

# A service on this host's loopback that the install scripts must not reach.
python3 - "$T/port" >"$T/listener.log" 2>&1 <<'EOF' &
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
while True:
    c, _ = s.accept()
    c.sendall(b"host-secret\n")
    c.close()
EOF
listener=$!
trap 'kill $listener 2>/dev/null; cleanup_test' EXIT
for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
port=$(cat "$T/port")

# fn DIR DEPS: a function whose postinstall reports what it can reach.
fn() {
  mkdir -p "$1"
  jq -n --argjson d "$2" '{name: "fn", version: "1.0.0", dependencies: $d,
    scripts: {postinstall: "node probe.js"}}' >"$1/package.json"
  cat >"$1/probe.js" <<EOF
const c = require('net').connect($port, '127.0.0.1');
c.on('data', d => console.log('PROBE loopback reached: ' + d.toString().trim()));
c.on('error', e => console.log('PROBE loopback refused: ' + e.code));
console.log('PROBE interfaces: ' + Object.keys(require('os').networkInterfaces()).sort().join(','));
for (const l of require('fs').readFileSync('/etc/resolv.conf', 'utf8').split('\\n'))
  if (l) console.log('PROBE resolv: ' + l);
EOF
  echo 'exports.handler = async (e) => require("is-number")(e.n);' >"$1/index.js"
}

# gone PID: the process has ended (a zombie its parent has not reaped yet counts).
gone() { ! [ -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
export -f gone

# build DIR TAG [env...]: $rc and $T/out hold how it went.
build() {
  local dir=$1 tag=$2
  shift 2
  rc=0
  env "$@" "$LBOX" build --runtime nodejs18.x --arch "$arch" --code "$dir" --npm-install \
    --tag "$tag" >"$T/out" 2>&1 || rc=$?
}

# slirp4netns through a wrapper that leaves its pid, to see that it ends with the build.
# It runs as the sandbox's root (host nobody when the test is root): the wrapper and the
# folder of its pid file are open to it.
mkdir -p "$T/pid" && chmod 755 "$T" && chmod 1777 "$T/pid"
cat >"$T/slirp" <<EOF
#!/bin/sh
echo \$\$ >"$T/pid/slirp"
exec /usr/bin/slirp4netns "\$@"
EOF
chmod 755 "$T/slirp"

fn "$T/dep" '{"is-number": "7.0.0"}'
fn "$T/nodep" '{}'  # no dependencies: npm never asks the registry
build "$T/dep" net:1 LBOX_SLIRP4NETNS="$T/slirp"
check "a build whose postinstall probes the network succeeds (exit $rc: $(tail -2 "$T/out"))" [ "$rc" -eq 0 ]
if [ -w /dev/net/tun ] && [ -r /dev/net/tun ]; then
  check "npm reached the registry through its own network: the image has is-number" \
    bash -c "echo '{\"n\": 5}' | '$LBOX' invoke net:1 --event - 2>/dev/null | grep -qx true"
  check "... the install script saw lo and tap0, not the host's interfaces" \
    grep -q '^PROBE interfaces: lo,tap0$' "$T/out"
  check "... and could not reach a service on this host's 127.0.0.1" \
    grep -q '^PROBE loopback refused: ECONNREFUSED' "$T/out"
  check "... with no line about the host's network" bash -c "! grep -q 'runs in this host.s network' '$T/out'"
  check "... and slirp4netns ended with the build" \
    bash -c "[ -s '$T/pid/slirp' ] && gone \$(cat '$T/pid/slirp')"
else
  # udev normally makes /dev/net/tun 0666; where it is not, the build says so and goes on.
  check "without /dev/net/tun for this user, the build says npm shares the host's network" \
    grep -q "cannot open /dev/net/tun.*so npm runs in this host's network" "$T/out"
fi

# npm's own network resolves through slirp4netns's forwarder, with the host's search
# domains and options (a short registry name resolves as on the host). Root can show the
# build another resolv.conf in a mount namespace of its own.
if [ "$(id -u)" -eq 0 ] && [ -w /dev/net/tun ]; then
  printf 'nameserver 192.0.2.53\nsearch corp.example\noptions ndots:2 timeout:1\n' >"$T/resolv.conf"
  rc=0
  unshare -m --propagation private bash -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' \
    _ "$T/resolv.conf" "$LBOX" build --runtime nodejs18.x --arch "$arch" --code "$T/nodep" \
    --npm-install --offline --tag net:9 >"$T/out" 2>&1 || rc=$?
  check "npm's resolv.conf: slirp's forwarder, with the host's search and options lines" \
    bash -c "grep '^PROBE resolv: ' '$T/out' | cut -d' ' -f3- | tr '\n' '|' |
      grep -qx 'nameserver 10.0.2.3|search corp.example|options ndots:2 timeout:1|'"
fi

# The host's network, asked for: the same probe gets through, so the check above can fail.
build "$T/dep" net:2 LBOX_NPM_NETWORK=host
check "LBOX_NPM_NETWORK=host: the install script reaches this host's 127.0.0.1 (exit $rc)" \
  bash -c "[ $rc -eq 0 ] && grep -q '^PROBE loopback reached: host-secret' '$T/out'"

# A registry on this host's loopback (a local mirror) can only be reached from the host's
# network: npm gets it, and the build says why. No dependencies, so npm never asks it.
rc=0
"$LBOX" build --runtime nodejs18.x --arch "$arch" --code "$T/nodep" --npm-install --tag net:3 \
  --npm-registry "http://127.0.0.1:$port" >"$T/out" 2>&1 || rc=$?
check "a loopback registry: the build runs in the host's network and says why (exit $rc)" \
  bash -c "[ $rc -eq 0 ] && grep -qE \"registry http://127.0.0.1:$port/? is on this host's loopback\" '$T/out'"

# A function's own .npmrc naming a registry on this host's loopback does not choose it,
# even when lbox runs in the function's folder: else it could buy its scripts the host's
# network. (npm's registry comes from the user's and the global npmrc.)
mkdir -p "$T/evil" && cp "$T/nodep/"* "$T/evil/"
echo "registry=http://127.0.0.1:$port/" >"$T/evil/.npmrc"
rc=0
(cd "$T/evil" && env -u LBOX_NPM_REGISTRY -u NPM_CONFIG_REGISTRY -u npm_config_registry \
  "$LBOX" build --runtime nodejs18.x --arch "$arch" --code . --npm-install --tag net:8) \
  >"$T/out" 2>&1 || rc=$?
check "a function's .npmrc naming a loopback registry does not move npm to the host's network (exit $rc)" \
  bash -c "[ $rc -eq 0 ] && ! grep -q 'is on this host.s loopback' '$T/out'"

# No slirp4netns: the host's network with the reason, or with LBOX_NPM_NETWORK=nat an error.
build "$T/nodep" net:4 LBOX_SLIRP4NETNS=/nonexistent/slirp4netns
check "no slirp4netns: the build names the package and goes on (exit $rc)" \
  bash -c "[ $rc -eq 0 ] && grep -q 'apt-get install slirp4netns), so npm runs in this host' '$T/out'"
expect_fail "LBOX_NPM_NETWORK=nat without slirp4netns is an error" \
  "LBOX_NPM_NETWORK=nat, but slirp4netns.*apt-get install slirp4netns" \
  env LBOX_NPM_NETWORK=nat LBOX_SLIRP4NETNS=/nonexistent/slirp4netns "$LBOX" build \
  --runtime nodejs18.x --arch "$arch" --code "$T/nodep" --npm-install --tag net:5
expect_fail "an unknown LBOX_NPM_NETWORK is named with the choices" \
  "LBOX_NPM_NETWORK is 'bridge'.*'nat'.*'host'" \
  env LBOX_NPM_NETWORK=bridge "$LBOX" build --runtime nodejs18.x --arch "$arch" \
  --code "$T/nodep" --npm-install --tag net:6

# lbox killed while npm runs: slirp4netns does not outlive it.
if [ -w /dev/net/tun ] && [ -r /dev/net/tun ]; then
  mkdir -p "$T/hang"
  jq -n '{name: "fn", version: "1.0.0", scripts: {postinstall: "node -e \"setInterval(() => {}, 1000)\""}}' \
    >"$T/hang/package.json"
  echo 'exports.handler = async () => 1;' >"$T/hang/index.js"
  rm -f "$T/pid/slirp"
  LBOX_SLIRP4NETNS="$T/slirp" "$LBOX" build --runtime nodejs18.x --arch "$arch" --code "$T/hang" \
    --npm-install --tag net:7 >"$T/out" 2>&1 &
  lbox_pid=$!
  for _ in $(seq 300); do
    [ -s "$T/pid/slirp" ] && pgrep -f 'setInterval\(\(\) => \{\}, 1000\)' >/dev/null && break
    sleep 0.1
  done
  slirp=$(cat "$T/pid/slirp" 2>/dev/null || echo 0)
  if [ "$(id -u)" -eq 0 ]; then
    # It parses the sandbox's packets: started by root it is the sandbox's own host user
    # (from 0x7E000000 up), as the sandbox's processes are (its sockets too, so firewall
    # rules on the sending user hold), with no capability beyond binding low ports (in the
    # sandbox's user namespace).
    ids=$(awk '/^Uid:/ {print $2} /^Gid:/ {print $2}' "/proc/$slirp/status" 2>/dev/null | xargs)
    read -r u g <<<"$ids"
    caps=$(awk '/^CapEff:/ {print $2}' "/proc/$slirp/status" 2>/dev/null || true)
    check "slirp4netns, started by root, runs as the sandbox's own host user ($ids)" \
      bash -c "[ '$u' = '$g' ] && [ '$u' -ge $((0x7E000000)) ] && [ '$u' -lt $((0x7E000000 + 4096)) ]"
    check "... the user the install script runs as" \
      bash -c "pgrep -u '$u' -f 'setInterval\\(\\(\\) => \\{\\}, 1000\\)' >/dev/null"
    check "... holding no capability but binding low ports ($caps)" [ "$caps" = 0000000000000400 ]
  fi
  kill -9 "$lbox_pid"
  wait "$lbox_pid" 2>/dev/null || true
  for _ in $(seq 50); do gone "$slirp" && break; sleep 0.1; done
  check "lbox killed during npm install: slirp4netns ($slirp) ends too" \
    bash -c "[ '$slirp' -gt 0 ] && gone '$slirp'"
fi
finish
