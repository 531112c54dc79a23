/* berth-img convert: copy an image (through its backing chain) into a new image. */
#include "block/block.h"
#include "common/util.h"
#include "img/img.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONVERT_BATCH (1U << 20)

static bool all_zero(const uint8_t *p, size_t n)
{
	return !p[0] && !memcmp(p, p + 1, n - 1);
}

int cmd_convert(int argc, char **argv)
{
	struct blk_create_opts o = {.format = "raw"};
	const char *in_fmt = NULL, *in_bfmt = NULL;
	char err[512], *optlist = NULL;
	struct blockdev *in = NULL, *out = NULL;
	bool compress = false;
	uint8_t *buf = NULL;
	uint64_t size, gran;
	int c, ret = 1;

	while ((c = getopt(argc, argv, "+f:O:F:co:qph")) != -1) {
		switch (c) {
		case 'f':
			in_fmt = optarg;
			break;
		case 'O':
			o.format = optarg;
			break;
		case 'F':
			in_bfmt = optarg;
			break;
		case 'c':
			compress = true;
			break;
		case 'o':
			optlist = optarg;
			break;
		case 'q':
		case 'p':
			break;
		default:
			return img_error("convert: invalid option (try --help)");
		}
	}
	if (optlist && img_parse_create_opts(optlist, &o, false))
		return 1;
	if (optind != argc - 2)
		return img_error("convert: expected an input and an output file");
	if (compress && strcmp(o.format, "qcow2"))
		return img_error("convert: -c needs -O qcow2");
	in = blk_open_ex(argv[optind], img_image_format(argv[optind], in_fmt), in_bfmt, BLK_RDONLY,
			 err, sizeof(err));
	if (!in)
		return img_error("%s", err);
	size = blk_size(in);
	o.size = size;
	if (blk_create(argv[optind + 1], &o, err, sizeof(err)) < 0) {
		img_error("%s", err);
		goto out;
	}
	out = blk_open(argv[optind + 1], o.format, 0, err, sizeof(err));
	if (!out) {
		img_error("%s", err);
		goto out;
	}
	gran = blk_cluster_size(out) ? blk_cluster_size(out) : 65536;
	buf = xmalloc(MAX(CONVERT_BATCH, gran));
	for (uint64_t off = 0; off < size;) {
		uint64_t n = MIN(size - off, (uint64_t)MAX(CONVERT_BATCH, gran)), run;
		bool zero;

		/* Runs the metadata says are zero need no reading (the new image is zero). */
		if (blk_chain_zero(in, off, n, &zero, &run) < 0) {
			img_error("cannot get the allocation status of '%s' at %llu", argv[optind],
				  (unsigned long long)off);
			goto out;
		}
		if (zero) {
			off += run;
			continue;
		}
		if (blk_pread(in, off, buf, n) < 0) {
			img_error("read of '%s' at %llu failed", argv[optind],
				  (unsigned long long)off);
			goto out;
		}
		/* The new image reads as zeroes: write only the non-zero granules. */
		for (uint64_t g = 0; g < n; g += gran) {
			uint64_t len = MIN(gran, n - g);
			int r;

			if (all_zero(buf + g, len))
				continue;
			if (compress && len == gran)
				r = blk_write_compressed(out, off + g, buf + g, len);
			else
				r = blk_pwrite(out, off + g, buf + g, len);
			if (r < 0) {
				img_error("write of '%s' at %llu failed", argv[optind + 1],
					  (unsigned long long)(off + g));
				goto out;
			}
		}
		off += n;
	}
	ret = 0;
out:
	free(buf);
	/* The copy is complete only once it is on stable storage (close flushes). */
	if (out && blk_close(out) < 0 && !ret)
		ret = img_error("cannot flush '%s'", argv[optind + 1]);
	blk_close(in);
	return ret;
}
