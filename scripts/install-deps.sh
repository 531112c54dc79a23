#!/usr/bin/env bash
# Install what berth needs to build and test on Debian 12 (run as root, or with sudo).
set -euo pipefail

packages=(
	# build
	meson ninja-build pkg-config gcc nasm binutils
	libjansson-dev libxml2-dev libevent-dev libslirp-dev libglib2.0-dev
	libseccomp-dev zlib1g-dev libzstd-dev
	# berthd is linked statically: the .a files of libxml2's own dependencies
	libicu-dev liblzma-dev libstdc++-12-dev
	# tests
	libcmocka-dev acpica-tools cpio python3 iproute2 socat time
	# virtual networks (berthd runs them: DHCP/DNS, NAT)
	dnsmasq-base nftables
	# guest images are built from these Debian packages' contents
	dpkg-dev xz-utils zstd
	# peers, used by compatibility tests and benchmarks only
	qemu-system-x86 qemu-utils
)

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: everything is installed"
	exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
