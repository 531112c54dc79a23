#!/usr/bin/env bash
# Set everything up and boot the default VM to a shell on this terminal:
# Debian's cloud kernel and a busybox initramfs, on the soft accelerator
# unless this host's /dev/kvm can run it. Type `poweroff -f` to leave.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

scripts/install-deps.sh
scripts/guest-image.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build src/vmm/berth-vmm

exec build/src/vmm/berth-vmm --name demo --accel auto --memory 512M \
	--kernel .cache/guest/vmlinuz --initrd .cache/guest/initramfs.cpio.gz \
	--append "console=ttyS0" --serial stdio "$@"
