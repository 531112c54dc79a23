/*
 * berth-img bench: timed reads or writes through the block layer, with qemu-img bench's options
 * and offset sequence (start at -o, advance by -S, wrap at the image size), queue depth 1.
 */
#include "block/block.h"
#include "common/util.h"
#include "img/img.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_bench(int argc, char **argv)
{
	static const struct option longopts[] = {{"pattern", required_argument, NULL, 'P'},
						 {"flush-interval", required_argument, NULL, 'F'},
						 {"no-drain", no_argument, NULL, 'N'},
						 {NULL, 0, NULL, 0}};
	uint64_t count = 75000, offset = 0, bufsize = 4096, step = 0, flush_every = 0, v, size;
	const char *fmt = NULL, *cache = "writeback";
	bool write = false, quiet = false;
	int c, flags = 0, pattern = 0, ret = 1;
	struct blockdev *bs;
	char err[512];
	void *buf;
	uint64_t t0, t1;

	while ((c = getopt_long(argc, argv, "+c:d:f:o:s:S:t:wqni:Uh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (!img_parse_size(optarg, &count) || !count)
				return img_error("invalid request count '%s'", optarg);
			break;
		case 'd':
			if (!img_parse_size(optarg, &v) || v != 1)
				return img_error("only queue depth 1 is supported");
			break;
		case 'f':
			fmt = optarg;
			break;
		case 'o':
			if (!img_parse_size(optarg, &offset))
				return img_error("invalid offset '%s'", optarg);
			break;
		case 's':
			if (!img_parse_size(optarg, &bufsize) || !bufsize || bufsize > (64 << 20))
				return img_error("invalid buffer size '%s'", optarg);
			break;
		case 'S':
			if (!img_parse_size(optarg, &step))
				return img_error("invalid step size '%s'", optarg);
			break;
		case 't':
			cache = optarg;
			break;
		case 'w':
			write = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'P':
			pattern = atoi(optarg);
			break;
		case 'F':
			if (!img_parse_size(optarg, &flush_every))
				return img_error("invalid flush interval '%s'", optarg);
			break;
		case 'n':
		case 'i':
		case 'N':
		case 'U':
			break;
		default:
			return img_error("bench: invalid option (try --help)");
		}
	}
	if (optind != argc - 1)
		return img_error("bench: expected one file name");
	if (!fmt)
		return img_error("bench: give the image format with -f");
	if (!strcmp(cache, "none") || !strcmp(cache, "directsync"))
		flags |= BLK_NOCACHE;
	else if (!strcmp(cache, "unsafe"))
		flags |= BLK_NO_FLUSH;
	else if (strcmp(cache, "writeback"))
		return img_error("invalid cache mode '%s'", cache);
	if (!write)
		flags |= BLK_RDONLY;
	if (!step)
		step = bufsize;
	bs = blk_open(argv[optind], fmt, flags, err, sizeof(err));
	if (!bs)
		return img_error("%s", err);
	size = blk_size(bs);
	if (offset + bufsize > size) {
		blk_close(bs);
		return img_error("offset and buffer size exceed the image size");
	}
	buf = aligned_alloc(4096, ALIGN_UP(bufsize, 4096ULL));
	memset(buf, pattern, bufsize);
	if (!quiet)
		printf(
		    "Sending %llu %s requests, %llu bytes each, 1 in parallel (starting at offset "
		    "%llu, step size %llu)\n",
		    (unsigned long long)count, write ? "write" : "read",
		    (unsigned long long)bufsize, (unsigned long long)offset,
		    (unsigned long long)step);
	t0 = clock_ns();
	for (uint64_t i = 0; i < count; i++) {
		int r = write ? blk_pwrite(bs, offset, buf, bufsize)
			      : blk_pread(bs, offset, buf, bufsize);

		if (r < 0) {
			img_error("request at offset %llu failed", (unsigned long long)offset);
			goto out;
		}
		if (flush_every && (i + 1) % flush_every == 0 && blk_flush(bs) < 0) {
			img_error("flush failed");
			goto out;
		}
		offset = (offset + step) % size;
		if (offset + bufsize > size)
			offset = 0;
	}
	t1 = clock_ns();
	if (!quiet)
		printf("Run completed in %.3f seconds.\n", (double)(t1 - t0) / 1e9);
	ret = 0;
out:
	free(buf);
	if (blk_close(bs) < 0 && !ret)
		ret = img_error("cannot write '%s'", argv[optind]);
	return ret;
}
