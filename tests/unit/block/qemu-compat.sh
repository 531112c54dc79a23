#!/bin/bash
# Compatibility of berth's block layer with qemu-img, both ways, plus crash consistency.
#   qemu-compat.sh BERTH_IMG CRASH_WRITER
# 1. Images berth-img writes (cluster sizes 512..2M, v2/v3, backing files, snapshots, compressed,
#    resized) pass `qemu-img check` and match a raw reference under `qemu-img compare`.
# 2. Images qemu-img/qemu-io write (backing chains, internal snapshots, compressed clusters with
#    zlib and zstd, zero clusters, discards) read back byte-identical through berth.
# 3. Malformed images give a one-line error and a non-zero exit, never a crash.
# 4. kill -9 of a writer at random moments leaves no corruption (berth-img and qemu-img check).
# Exits 77 (skipped) when qemu-img is missing.
set -u
BIMG=$(realpath "$1")
WRITER=$(realpath "$2")
command -v qemu-img >/dev/null && command -v qemu-io >/dev/null || { echo "no qemu-img"; exit 77; }
T=$(mktemp -d /tmp/berth-compat-XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
FAILS=0
RANDOM=4242

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }

# qemu-img check must report no errors and no leaks.
qcheck() {
	local out
	out=$(qemu-img check "$@" 2>&1) || { fail "qemu-img check $*: $out"; return 1; }
}

# berth-img check must report no errors and no leaks.
bcheck() {
	local out
	out=$("$BIMG" check "$@" 2>&1) || { fail "berth-img check $*: $out"; return 1; }
}

# Same random writes (via berth-img bench, -w with a pattern) to a qcow2 image and a raw
# reference: bench_both QCOW2 RAW SEED
bench_both() {
	local img=$1 ref=$2 seed=$3 size step off cnt bs pat i
	size=$(stat -c %s "$ref")
	for i in 1 2 3 4 5 6; do
		bs=$(( (seed * 7919 + i * 104729) % 70000 + 1 ))
		step=$(( (seed * 31 + i * 4099) * 513 % (size / 3) + bs ))
		off=$(( (seed * 17 + i * 65537) % (size - bs) ))
		cnt=$(( 20 + (seed + i) % 60 ))
		pat=$(( (seed + i * 37) % 255 + 1 ))
		"$BIMG" bench -q -w -f qcow2 -c $cnt -s $bs -S $step -o $off --pattern=$pat "$img" ||
			fail "bench write to $img"
		"$BIMG" bench -q -w -f raw -c $cnt -s $bs -S $step -o $off --pattern=$pat "$ref" ||
			fail "bench write to $ref"
	done
}

echo "== berth-img writes, qemu-img checks"
seed=1
for cs in 512 4096 65536 2M; do
	for compat in 0.10 1.1; do
		rm -f a.qcow2 ref.raw
		"$BIMG" create -q -f qcow2 -o cluster_size=$cs,compat=$compat a.qcow2 64M || fail create
		"$BIMG" create -q -f raw ref.raw 64M
		bench_both a.qcow2 ref.raw $seed
		seed=$((seed + 1))
		qcheck a.qcow2 && bcheck a.qcow2 &&
			qemu-img compare -q -f raw -F qcow2 ref.raw a.qcow2 &&
			ok "cluster_size=$cs compat=$compat" || fail "compare cluster_size=$cs compat=$compat"
	done
done

echo "== berth-img overlay on a qemu-img base"
rm -f base.qcow2 ov.qcow2 ref.raw
qemu-img create -q -f qcow2 -o cluster_size=4096 base.qcow2 48M
for i in $(seq 1 20); do
	qemu-io -c "write -P $((i * 11 % 250 + 1)) $((RANDOM * 1000 % (40 << 20))) $((RANDOM % 200000 + 1))" base.qcow2 >/dev/null
done
qemu-img convert -O raw base.qcow2 ref.raw
truncate -s 64M ref.raw
"$BIMG" create -q -f qcow2 -b base.qcow2 -F qcow2 ov.qcow2 64M || fail "create overlay"
bench_both ov.qcow2 ref.raw 99
qcheck ov.qcow2 && qemu-img compare -q -f raw -F qcow2 ref.raw ov.qcow2 && ok "overlay with backing" ||
	fail "overlay compare"
[ "$(qemu-img info --output=json ov.qcow2 | grep -c '"backing-filename-format": "qcow2"')" = 1 ] ||
	fail "backing format not recorded"

echo "== berth-img snapshots, qemu-img reads them"
rm -f s.qcow2 ref.raw ref1.raw
"$BIMG" create -q -f qcow2 -o cluster_size=16384 s.qcow2 32M
"$BIMG" create -q -f raw ref.raw 32M
bench_both s.qcow2 ref.raw 5
cp ref.raw ref1.raw
"$BIMG" snapshot -c first s.qcow2 || fail "snapshot -c"
bench_both s.qcow2 ref.raw 6
qcheck s.qcow2 && bcheck s.qcow2 || fail "check after snapshot"
qemu-img snapshot -l s.qcow2 | grep -q first || fail "qemu-img does not list the snapshot"
qemu-img convert -l first -O raw s.qcow2 snap1.raw && cmp -s snap1.raw ref1.raw ||
	fail "snapshot content seen by qemu-img"
qemu-img compare -q -f raw -F qcow2 ref.raw s.qcow2 || fail "active state after snapshot"
"$BIMG" snapshot -a first s.qcow2 && qcheck s.qcow2 &&
	qemu-img compare -q -f raw -F qcow2 ref1.raw s.qcow2 || fail "snapshot -a"
"$BIMG" snapshot -d first s.qcow2 && qcheck s.qcow2 && bcheck s.qcow2 ||
	fail "snapshot -d"
qemu-img compare -q -f raw -F qcow2 ref1.raw s.qcow2 && ok "snapshots" || fail "after delete"

echo "== berth-img convert -c and resize"
rm -f c.qcow2
"$BIMG" convert -c -O qcow2 s.qcow2 c.qcow2 || fail "convert -c"
qcheck c.qcow2 && qemu-img compare -q c.qcow2 s.qcow2 || fail "compressed convert"
qemu-img check c.qcow2 | grep -q "[1-9][0-9.]*% compressed clusters" || fail "no compressed clusters"
"$BIMG" resize -q c.qcow2 +100M && qcheck c.qcow2 || fail "resize grow"
[ "$(qemu-img info --output=json c.qcow2 | grep '"virtual-size"' | tr -dc 0-9)" = $(( 132 << 20 )) ] ||
	fail "resized size"
"$BIMG" resize -q --shrink c.qcow2 16M && qcheck c.qcow2 || fail "resize shrink"
ok "convert -c / resize"

echo "== qemu-img writes, berth reads"
# random content with qemu-io, including zero clusters and discards
mkimg() { # file size cluster_size [extra create args...]
	local f=$1 size=$2 cs=$3
	shift 3
	qemu-img create -q -f qcow2 -o cluster_size=$cs "$@" "$f" $size
	for i in $(seq 1 25); do
		qemu-io -c "write -P $((RANDOM % 250 + 1)) $((RANDOM * 997 % (size - 300000))) $((RANDOM * 7 % 250000 + 1))" "$f" >/dev/null
	done
	qemu-io -c "write -z $((RANDOM * 4096 % (size / 2))) 200000" "$f" >/dev/null
	qemu-io -c "discard $((RANDOM * 4096 % (size / 2))) 300000" "$f" >/dev/null
}
same() { # image, compared through berth and through qemu
	rm -f q.raw b.raw
	qemu-img convert -O raw "$1" q.raw && "$BIMG" convert -O raw "$1" b.raw && cmp -s q.raw b.raw
}
for cs in 512 65536 1M; do
	rm -f q1.qcow2
	mkimg q1.qcow2 $((24 << 20)) $cs
	same q1.qcow2 && bcheck q1.qcow2 && ok "qemu image cluster_size=$cs" || fail "qemu image cs=$cs"
done
# backing chain of three, each level written by qemu-io
rm -f l0.qcow2 l1.qcow2 l2.qcow2
mkimg l0.qcow2 $((16 << 20)) 65536
qemu-img create -q -f qcow2 -b l0.qcow2 -F qcow2 -o cluster_size=4096 l1.qcow2 20M
qemu-img create -q -f qcow2 -b l1.qcow2 -F qcow2 l2.qcow2 24M
for i in $(seq 1 15); do
	qemu-io -c "write -P $((i + 100)) $((RANDOM * 300 % (15 << 20))) $((RANDOM % 90000 + 1))" l1.qcow2 >/dev/null
	qemu-io -c "write -P $((i + 150)) $((RANDOM * 500 % (22 << 20))) $((RANDOM % 90000 + 1))" l2.qcow2 >/dev/null
done
same l2.qcow2 && ok "backing chain of 3" || fail "backing chain"
# berth writes into the qemu chain's top; qemu must agree on the result
"$BIMG" bench -q -w -f qcow2 -c 50 -s 3000 -S 777777 --pattern=7 l2.qcow2
qemu-img convert -O raw l2.qcow2 q.raw
"$BIMG" bench -q -w -f raw -c 50 -s 3000 -S 777777 --pattern=7 b.raw
cmp -s q.raw b.raw && qcheck l2.qcow2 && ok "berth writes on qemu chain" || fail "writes on chain"
# internal snapshots made by qemu-img
rm -f qs.qcow2
mkimg qs.qcow2 $((16 << 20)) 65536
qemu-img convert -O raw qs.qcow2 snapA.raw
qemu-img snapshot -c A qs.qcow2
for i in $(seq 1 10); do
	qemu-io -c "write -P $((i + 60)) $((RANDOM * 400 % (15 << 20))) $((RANDOM % 90000 + 1))" qs.qcow2 >/dev/null
done
qemu-img snapshot -c B qs.qcow2
qemu-img convert -O raw qs.qcow2 snapB.raw
qemu-io -c "write -P 9 0 1M" qs.qcow2 >/dev/null
"$BIMG" snapshot -l qs.qcow2 | grep -q " A " || fail "berth lists qemu snapshot"
bcheck qs.qcow2 || fail "berth check of qemu snapshots"
cp qs.qcow2 qs2.qcow2
"$BIMG" snapshot -a A qs.qcow2 && same qs.qcow2 && cmp -s q.raw snapA.raw && qcheck qs.qcow2 ||
	fail "apply qemu snapshot A"
"$BIMG" snapshot -a B qs.qcow2 && same qs.qcow2 && cmp -s q.raw snapB.raw && qcheck qs.qcow2 ||
	fail "apply qemu snapshot B"
"$BIMG" snapshot -d A qs2.qcow2 && qcheck qs2.qcow2 && qemu-img snapshot -a B qs2.qcow2 &&
	same qs2.qcow2 && cmp -s q.raw snapB.raw && ok "qemu snapshots" || fail "delete qemu snapshot"
# compressed clusters (zlib, zstd)
for ct in zlib zstd; do
	rm -f cz.qcow2
	qemu-img convert -c -O qcow2 -o compression_type=$ct q1.qcow2 cz.qcow2 2>/dev/null || {
		echo "skip: qemu-img cannot write $ct"
		continue
	}
	same cz.qcow2 && bcheck cz.qcow2 && ok "qemu compressed $ct" || fail "compressed $ct"
	"$BIMG" bench -q -w -f qcow2 -c 40 -s 5000 -S 333333 --pattern=3 cz.qcow2 && qcheck cz.qcow2 ||
		fail "write over compressed $ct"
done
# other refcount widths: berth reads and writes them, qemu agrees
for rb in 1 8 64; do
	rm -f rb.qcow2
	mkimg rb.qcow2 $((8 << 20)) 4096 -o refcount_bits=$rb
	same rb.qcow2 || fail "refcount_bits=$rb read"
	cp b.raw rb.raw
	"$BIMG" bench -q -w -f qcow2 -c 200 -s 7000 -S 123457 --pattern=4 rb.qcow2
	"$BIMG" bench -q -w -f raw -c 200 -s 7000 -S 123457 --pattern=4 rb.raw
	qcheck rb.qcow2 && bcheck rb.qcow2 && qemu-img compare -q -f raw -F qcow2 rb.raw rb.qcow2 &&
		ok "refcount_bits=$rb" || fail "refcount_bits=$rb write"
done
# lazy refcounts: the dirty bit left by a killed qemu-io is refused, then repaired
rm -f lz.qcow2
qemu-img create -q -f qcow2 -o lazy_refcounts=on lz.qcow2 8M
{ qemu-io -c "write -P 1 0 1M" -c "sigraise 9" lz.qcow2; } >/dev/null 2>&1
if qemu-img info --output=json -U lz.qcow2 | grep -q '"dirty-flag": true'; then
	"$BIMG" bench -q -w -f qcow2 -c 1 lz.qcow2 2>/dev/null && fail "dirty image opened for writing"
	"$BIMG" check -q -r all lz.qcow2 >/dev/null 2>&1
	qcheck lz.qcow2 && "$BIMG" bench -q -w -f qcow2 -c 10 lz.qcow2 && ok "dirty bit" ||
		fail "dirty image repair"
else
	echo "skip: qemu-io left no dirty image"
fi
# v2 image from qemu
rm -f v2.qcow2
mkimg v2.qcow2 $((8 << 20)) 65536 -o compat=0.10
same v2.qcow2 && ok "qemu compat=0.10" || fail "v2 image"

echo "== malformed images"
qemu-img create -q -f qcow2 good.qcow2 16M
qemu-io -c "write -P 1 0 1M" good.qcow2 >/dev/null
for i in $(seq 1 60); do
	cp good.qcow2 bad.qcow2
	for k in 1 2 3; do
		printf "\\x$(printf %02x $((RANDOM % 256)))" |
			dd of=bad.qcow2 bs=1 seek=$((RANDOM % (i % 3 ? 200 : 262144))) conv=notrunc 2>/dev/null
	done
	for cmd in "info" "check" "convert -O raw bad.qcow2 out.raw"; do
		set -- $cmd
		[ $# = 1 ] && set -- $1 bad.qcow2
		out=$("$BIMG" "$@" 2>&1)
		rc=$?
		if [ $rc -ge 128 ]; then
			fail "berth-img $* crashed (rc=$rc) on fuzzed image $i"
			cp bad.qcow2 "/tmp/berth-crash-$i.qcow2"
		fi
	done
done
printf 'QFI\xfb\x00\x00\x00\x09' > v9.qcow2
head -c 4096 /dev/zero >> v9.qcow2
out=$("$BIMG" info v9.qcow2 2>&1) && fail "version 9 accepted"
[ "$(echo "$out" | wc -l)" = 1 ] && ok "malformed: one-line error ($out)" || fail "multi-line error: $out"

echo "== berth-img command line"
expect_rc() { # expected-rc command...
	local want=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	[ $rc = "$want" ] || fail "'$*' exited $rc, expected $want: $out"
}
expect_rc 0 "$BIMG" --help
expect_rc 1 "$BIMG"
expect_rc 1 "$BIMG" frobnicate
expect_rc 1 "$BIMG" create -f qcow2 x.qcow2 12Q
expect_rc 1 "$BIMG" create -f qcow2 -o cluster_size=1000 x.qcow2 1M
expect_rc 1 "$BIMG" create -f qcow2 -b base.qcow2 x.qcow2
expect_rc 1 "$BIMG" info /nonexistent.qcow2
"$BIMG" create -q -f raw r.raw 1M
expect_rc 63 "$BIMG" check -f raw r.raw
expect_rc 1 "$BIMG" resize r.raw 512K
expect_rc 0 "$BIMG" resize -q --shrink r.raw 512K
[ "$(stat -c %s r.raw)" = 524288 ] || fail "raw shrink"
expect_rc 1 "$BIMG" snapshot -a nosuch s.qcow2
"$BIMG" info --output=json ov.qcow2 | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["backing-filename"] == "base.qcow2" and d["format"] == "qcow2"' ||
	fail "info json"
"$BIMG" check --output=json c.qcow2 | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["corruptions"] == 0' ||
	fail "check json"
ok "command line"

echo "== kill -9 trials"
TRIALS=${CRASH_TRIALS:-25}
bad=0
stamped=0
for i in $(seq 1 $TRIALS); do
	rm -f k.qcow2 kb.qcow2
	case $((i % 3)) in
	0) "$BIMG" create -q -f qcow2 -o cluster_size=4096 k.qcow2 64M ;;
	1) qemu-img create -q -f qcow2 kb.qcow2 64M
	   qemu-io -c "write -P 5 0 8M" kb.qcow2 >/dev/null
	   "$BIMG" create -q -f qcow2 -b kb.qcow2 -F qcow2 k.qcow2 ;;
	2) "$BIMG" create -q -f qcow2 -o cluster_size=512 k.qcow2 16M
	   "$BIMG" bench -q -w -f qcow2 -c 300 -s 20000 -S 50000 k.qcow2
	   "$BIMG" snapshot -c snap k.qcow2 ;;
	esac
	rm -f stamps # so the previous trial's output cannot be mistaken for this one's
	"$WRITER" k.qcow2 $i > stamps &
	wpid=$!
	for _ in $(seq 1200); do
		grep -qs ready stamps && break
		sleep 0.05
	done
	grep -qs ready stamps || fail "trial $i: writer did not start"
	sleep "0.$((RANDOM % 9))$((RANDOM % 10))"
	kill -9 $wpid
	wait $wpid 2>/dev/null
	# what a completed flush covered must still be there
	last=$(grep '^stamp' stamps | tail -1)
	if [ -n "$last" ]; then
		set -- $last
		out=$(qemu-io -f qcow2 -c "read -P $3 $2 512" k.qcow2 2>&1)
		case $out in
		"read 512/512"*) ;;
		*) fail "trial $i: flushed stamp at $2 lost: $out" ;;
		esac
		stamped=$((stamped + 1))
	fi
	"$BIMG" check -q k.qcow2 >/dev/null 2>&1
	brc=$?
	qemu-img check -q k.qcow2 >/dev/null 2>&1
	qrc=$?
	if [ $brc != 0 ] && [ $brc != 3 ] || [ $qrc != 0 ] && [ $qrc != 3 ]; then
		fail "trial $i: berth-img check rc=$brc, qemu-img check rc=$qrc"
		cp k.qcow2 "/tmp/berth-crash-trial-$i.qcow2"
		bad=$((bad + 1))
		continue
	fi
	# repairing the leaks leaves an image both tools call clean
	"$BIMG" check -q -r leaks k.qcow2 >/dev/null 2>&1 || fail "trial $i: repair failed"
	qcheck k.qcow2 || fail "trial $i: qemu-img check after repair"
done
[ $bad = 0 ] && ok "$TRIALS kill -9 trials without corruption ($stamped with a flushed stamp verified)"
[ $stamped -gt $((TRIALS / 2)) ] || fail "too few trials reached a flush ($stamped)"

echo
if [ $FAILS -gt 0 ]; then
	echo "$FAILS failure(s)"
	exit 1
fi
echo "all compatibility checks passed"
