#!/usr/bin/env bash
# Build the default test guest from Debian packages only:
#   .cache/guest/vmlinuz            Debian's current amd64 cloud kernel
#   .cache/guest/initramfs.cpio.gz  busybox-static + an init that mounts /proc,
#                                   /sys and /dev, loads the kernel's virtio
#                                   modules in dependency order, prints a ready
#                                   line and gives a shell on the console.
# The kernel version is resolved by name (linux-image-cloud-amd64 depends on the
# current versioned package). Nothing is rebuilt when the inputs are unchanged.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=${BERTH_GUEST_DIR:-$top/.cache/guest}
dl=$top/.cache/debs
mkdir -p "$out" "$dl"

say() { echo "guest-image: $*" >&2; }

# The versioned kernel package the metapackage points at today.
resolve_kernel_pkg() {
	apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}

kpkg=$(resolve_kernel_pkg || true)
if [ -z "$kpkg" ]; then
	say "apt lists are empty; running apt-get update"
	apt-get update -qq >/dev/null
	kpkg=$(resolve_kernel_pkg)
fi
[ -n "$kpkg" ] || { say "cannot resolve linux-image-cloud-amd64 to a kernel package"; exit 1; }
kver=$(apt-cache policy "$kpkg" | awk '/Candidate:/ { print $2 }')
bver=$(apt-cache policy busybox-static | awk '/Candidate:/ { print $2 }')

# Everything the output depends on: both package versions and this script.
stamp="$kpkg=$kver busybox-static=$bver script=$(sha256sum "$0" | cut -c1-16)"
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] &&
	[ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.cpio.gz" ]; then
	say "up to date ($kpkg $kver)"
	exit 0
fi

fetch() { # fetch PKG: download its .deb into $dl once, print its path
	local pkg=$1 deb
	deb=$(ls "$dl/${pkg}_"*.deb 2>/dev/null | head -n1 || true)
	if [ -z "$deb" ] || ! dpkg-deb -f "$deb" Version | grep -qxF "$(apt-cache policy "$pkg" | awk '/Candidate:/ { print $2 }')"; then
		rm -f "$dl/${pkg}_"*.deb
		(cd "$dl" && apt-get download -q "$pkg" >/dev/null)
		deb=$(ls "$dl/${pkg}_"*.deb | head -n1)
	fi
	echo "$deb"
}

say "building from $kpkg $kver and busybox-static $bver"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$(fetch "$kpkg")" "$work/kernel"
dpkg-deb -x "$(fetch busybox-static)" "$work/busybox"

vmlinuz=$(ls "$work"/kernel/boot/vmlinuz-* | head -n1)
release=${vmlinuz##*/vmlinuz-}
moddir=$(ls -d "$work"/kernel/lib/modules/"$release" 2>/dev/null || ls -d "$work"/kernel/usr/lib/modules/"$release")

# modinfo fields of a module (.ko, .ko.xz or .ko.zst), one per line.
modinfo_of() {
	local ko=$1 tmp=$work/modinfo.ko
	case "$ko" in
	*.xz) xz -dc "$ko" >"$tmp" ;;
	*.zst) zstd -qdc "$ko" >"$tmp" ;;
	*) cp "$ko" "$tmp" ;;
	esac
	objcopy -O binary --only-section=.modinfo "$tmp" "$work/modinfo.bin"
	tr '\0' '\n' <"$work/modinfo.bin"
}

find_module() { # module name (with - or _) -> path
	local name=${1//-/_} f
	for f in $(find "$moddir" -name '*.ko*'); do
		local base=${f##*/}
		base=${base%%.ko*}
		if [ "${base//-/_}" = "$name" ]; then
			echo "$f"
			return 0
		fi
	done
	return 1
}

# Load order: a depth-first walk over each module's depends= field.
declare -A seen=()
order=()
visit() {
	local name=${1//-/_} path deps d
	[ -n "${seen[$name]:-}" ] && return 0
	seen[$name]=1
	path=$(find_module "$name") || { say "module $name not in $kpkg (built in?)"; return 0; }
	deps=$(modinfo_of "$path" | sed -n 's/^depends=//p')
	for d in ${deps//,/ }; do visit "$d"; done
	order+=("$path")
}
# virtio devices, plus the ACPI power button as an input device for acpid
for m in virtio_pci virtio_blk virtio_net virtio_console virtio_rng button evdev; do visit "$m"; done

root=$work/root
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,root,etc,lib/modules}
cp "$work/busybox/bin/busybox" "$root/bin/busybox"
for ko in "${order[@]}"; do
	base=${ko##*/}
	case "$base" in
	*.xz) xz -dc "$ko" >"$root/lib/modules/${base%.xz}" ;;
	*.zst) zstd -qdc "$ko" >"$root/lib/modules/${base%.zst}" ;;
	*) cp "$ko" "$root/lib/modules/$base" ;;
	esac
	echo "${base%%.ko*}.ko" >>"$root/lib/modules/load-order"
done

cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
while read -r m; do
	insmod "/lib/modules/$m" || echo "init: insmod $m failed"
done </lib/modules/load-order
hostname berth-guest
# The ACPI power button (berth shutdown, virsh shutdown) powers the guest off.
mkdir -p /etc/acpi/PWRF
printf '#!/bin/sh\necho "berth-guest: power button, powering off"\nsync\npoweroff -f\n' >/etc/acpi/PWRF/00000080
chmod +x /etc/acpi/PWRF/00000080
acpid -l /dev/null
echo "berth-guest: ready ($(uname -r), $(grep -c ^processor /proc/cpuinfo) cpus)"
exec setsid cttyhack sh -l
INIT
chmod +x "$root/init"
echo 'export PS1="berth-guest# "' >"$root/etc/profile"

(cd "$root" && find . | sort | cpio -o -H newc -R 0:0 --quiet) | gzip -9n >"$out/initramfs.cpio.gz.tmp"
cp "$vmlinuz" "$out/vmlinuz.tmp"
echo "$release" >"$out/release"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
echo "$stamp" >"$out/stamp"
say "built $out/vmlinuz ($release) and initramfs.cpio.gz (modules: $(tr '\n' ' ' <"$root/lib/modules/load-order"))"
