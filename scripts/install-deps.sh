#!/usr/bin/env bash
# Installs what lbox needs to build and test on Debian 12. As root it runs apt-get; as any
# other user it prints the exact command to run and fails if something is missing.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config git ca-certificates
  libarchive-dev libcurl4-openssl-dev libjansson-dev libseccomp-dev libmicrohttpd-dev
  libssl-dev libyaml-dev libcmocka-dev
  libsystemd-dev                 # sd-bus: a delegated scope from the user's systemd (cgroup v2)
  libacl1-dev libzstd-dev liblz4-dev libbz2-dev liblzma-dev nettle-dev zlib1g-dev  # static libarchive
  qemu-user-static bubblewrap jq    # foreign-arch images; the sandbox benchmark baseline
  slirp4netns                    # --npm-install: npm's network without this host's loopback
  nodejs npm                     # runs the runtime client's test suite and the SDK lock script
  autoconf automake libtool g++ unzip zip xz-utils  # aws-lambda-ric's native addon; test fixtures
  busybox-static hyperfine       # sandbox test image root (static busybox); sandbox benchmark
  skopeo podman                  # independent readers of exported OCI/docker archives (tests)
  python3 curl                   # build_bad_input: hostile zips, a loopback mirror; HTTP probes
  qemu-system-x86 dbus-daemon    # a VM with cgroup v2 alone, a user bus in it (tests/vm/)
  systemd dbus-user-session libpam-systemd  # the VM booted with systemd and a user manager
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# A node from another source (e.g. a vendor repository) is fine: only install when absent.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs/}"); missing=("${missing[@]/npm/}")
  read -r -a missing <<<"${missing[*]}"
fi

[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "lbox needs these Debian packages: ${missing[*]}" >&2
  echo "Run as root:  apt-get update && $cmd" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive $cmd
