# A throwaway virtual machine for the tests that need a kernel set up unlike this host's
# (sourced). The host here has cgroup v1 controllers; most Linux machines today have only
# cgroup v2, and the VM boots Debian's own kernel with v2 alone, under QEMU (TCG: no KVM
# needed), with the host's root file system shared read-only over 9p, so the guest runs the
# very lbox, node and test scripts of the host. Needs qemu-system-x86 and busybox-static
# (scripts/install-deps.sh); the kernel package comes through apt's configured mirror.
#
#   vm_prepare DIR     kernel and initramfs into DIR (kept there: later runs reuse them)
#   vm_boot WORK LOG [systemd]
#                      boots; WORK (a host folder) is shared read-write at the same path,
#                      and WORK/vm-run is run as root inside (with `systemd`, as a service
#                      of the host's systemd booted as pid 1). Returns vm-run's exit status
#                      (125 when the VM did not get that far); the console goes to LOG.

vm_prepare() {
  local dir=$1 pkg deb
  mkdir -p "$dir"
  # The kernel Debian's linux-image-amd64 names today: a fixed, known package per run.
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
  [ -n "$pkg" ] || { echo "apt knows no linux-image-amd64: run apt-get update" >&2; return 1; }
  VM_KERNEL_DIR=$dir/$pkg
  if [ ! -d "$VM_KERNEL_DIR" ]; then
    rm -rf "$dir/download" && mkdir -p "$dir/download"
    (cd "$dir/download" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
      { echo "cannot download $pkg through apt" >&2; return 1; }
    deb=$(ls "$dir"/download/*.deb)
    dpkg-deb -x "$deb" "$dir/download/x" && mv "$dir/download/x" "$VM_KERNEL_DIR"
    rm -rf "$dir/download"
  fi
  VM_KERNEL=$(ls "$VM_KERNEL_DIR"/boot/vmlinuz-*)
  local src ir m
  src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  ir=$(mktemp -d)
  mkdir -p "$ir"/{bin,mods,proc,sys,dev,host}
  cp /bin/busybox "$ir/bin/" && cp "$src/init" "$ir/init" || return 1
  for m in virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci \
           netfs fscache 9pnet 9pnet_virtio 9p overlay; do
    find "$VM_KERNEL_DIR/lib/modules" -name "$m.ko" -exec cp {} "$ir/mods/" \;
  done
  VM_INITRD=$dir/initrd-$pkg.gz
  (cd "$ir" && find . | busybox cpio -o -H newc 2>/dev/null) | gzip -1 >"$VM_INITRD.tmp" &&
    mv "$VM_INITRD.tmp" "$VM_INITRD"
  local rc=$?
  rm -rf "$ir"
  return $rc
}

vm_boot() {
  local work=$1 log=$2 init=${3:-sh}
  # Two CPUs, as on the host; 2 GiB, plenty for a 128 MB function and node. TCG is
  # several times slower than the host: the caller's scenarios allow for it.
  timeout 1200 qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m 2048 \
    -nographic -no-reboot -nic none -kernel "$VM_KERNEL" -initrd "$VM_INITRD" \
    -append "console=ttyS0 quiet panic=-1 lbox.work=$work lbox.init=$init" \
    -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
    -virtfs local,path="$work",mount_tag=work,security_model=none,multidevs=remap \
    </dev/null >"$log" 2>&1
  local rc
  rc=$(tr -d '\r' <"$log" | sed -n 's/.*VM-RC=\([0-9]*\).*/\1/p' | tail -n 1)
  return "${rc:-125}"
}
