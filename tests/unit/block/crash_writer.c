/*
 * Crash-consistency helper for the qemu-compat script: opens a qcow2 image and writes, discards,
 * zeroes and flushes at random until it is killed (the script sends SIGKILL at random times and
 * then checks the image with berth-img and qemu-img).
 * After every completed flush it writes one 512-byte stamp (byte value seq % 251 + 1) into a
 * slot of the last MiB, which the random writes never touch, flushes again and prints
 * "stamp OFFSET VALUE": the script then checks that the last printed stamp survived the kill.
 * usage: crash_writer image seed
 */
#include "block/block.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	static uint8_t buf[512 * 1024];
	uint64_t x, size;
	struct blockdev *bs;
	char err[512];

	if (argc != 3) {
		fprintf(stderr, "usage: crash_writer image seed\n");
		return 1;
	}
	x = strtoull(argv[2], NULL, 10) * 2654435761ULL + 1;
	bs = blk_open(argv[1], "qcow2", 0, err, sizeof(err));
	if (!bs) {
		fprintf(stderr, "crash_writer: %s\n", err);
		return 1;
	}
	size = blk_size(bs) - MiB;
	printf("ready\n");
	fflush(stdout);
	for (uint64_t seq = 0;; seq++) {
		uint64_t len, off;
		int r = 0;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		len = x % (x % 5 ? 16384 : sizeof(buf)) + 1;
		off = (x >> 20) % (size - len);
		switch ((x >> 8) % 16) {
		case 0: {
			uint64_t slot = size + (seq % 2048) * 512;
			int v = (int)(seq % 251) + 1;

			r = blk_flush(bs);
			if (r < 0)
				break;
			memset(buf, v, 512);
			r = blk_pwrite(bs, slot, buf, 512);
			if (!r)
				r = blk_flush(bs);
			if (!r) {
				printf("stamp %llu %d\n", (unsigned long long)slot, v);
				fflush(stdout);
			}
			break;
		}
		case 1:
			r = blk_discard(bs, off, len);
			break;
		case 2:
			r = blk_write_zeroes(bs, off, len);
			break;
		default:
			memset(buf, (int)(x >> 32), len);
			r = blk_pwrite(bs, off, buf, len);
			break;
		}
		if (r < 0) {
			fprintf(stderr, "crash_writer: request failed: %d\n", r);
			return 1;
		}
	}
}
