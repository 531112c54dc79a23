/*
 * berth-img: create, inspect, check, convert, resize and snapshot disk images, in qemu-img's
 * spirit (same options and exit codes where they exist).
 */
#include "block/block.h"
#include "common/log.h"
#include "common/util.h"
#include "img/img.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char usage[] =
    "usage: berth-img <command> [options]\n"
    "\n"
    "commands:\n"
    "  create [-f fmt] [-b backing -F backing_fmt] [-o opt=val,...] [-q] file [size]\n"
    "  info [-f fmt] [--output=human|json] [-U] file\n"
    "  check [-f fmt] [-r leaks|all] [--output=human|json] [-q] [-U] file\n"
    "  convert [-f fmt] [-F input_backing_fmt] [-O fmt] [-c] [-o opt=val,...] [-q] input "
    "output\n"
    "  resize [-f fmt] [--shrink] [-q] file [+|-]size\n"
    "  snapshot [-l | -c name | -a name | -d name] [-q] [-U] file\n"
    "  bench [-c count] [-d 1] [-f fmt] [-o offset] [-s size] [-S step] [-t cache] [-w] "
    "[-q] file\n"
    "\n"
    "formats: raw, qcow2 (create defaults to raw). Without -f, the named image's format is\n"
    "recognised from its first bytes, as qemu-img does; backing files are never probed:\n"
    "their format comes from the image header, or from convert's -F when the header has\n"
    "none. create options: cluster_size, compat (0.10 or 1.1), compression_type (zlib or\n"
    "zstd), backing_file, backing_fmt.\n"
    "check exit codes: 0 clean, 1 check failed, 2 corruption, 3 leaks only, 63 unsupported.\n"
    "Images are locked like QEMU does: -U reads an image another process has open.\n";

int img_error(const char *fmt, ...)
{
	va_list ap;

	fputs("berth-img: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

bool img_parse_size(const char *s, uint64_t *out)
{
	return *s && parse_size(s, 1, out) == 0;
}

/*
 * The format of an existing image: -f if given; otherwise qcow2 if the file starts with the
 * qcow2 magic, else raw. (Only the top image given by the user is recognised this way, as
 * qemu-img does; backing files never are.)
 */
const char *img_image_format(const char *path, const char *fmt)
{
	unsigned char magic[4] = {0};
	FILE *f;

	if (fmt)
		return fmt;
	f = fopen(path, "rb");
	if (!f)
		return "raw";
	if (fread(magic, 1, 4, f) != 4)
		magic[0] = 0;
	fclose(f);
	return memcmp(magic, "QFI\xfb", 4) ? "raw" : "qcow2";
}

/* Open with a one-line error on failure. */
static struct blockdev *open_or_report(const char *path, const char *fmt, int flags)
{
	char err[512];
	struct blockdev *bs = blk_open(path, img_image_format(path, fmt), flags, err, sizeof(err));

	if (!bs)
		img_error("%s", err);
	return bs;
}

/* Parse create/convert "-o" options into opts; backing_* only where backing is true. */
int img_parse_create_opts(char *list, struct blk_create_opts *o, bool backing)
{
	for (char *save = NULL, *kv = strtok_r(list, ",", &save); kv;
	     kv = strtok_r(NULL, ",", &save)) {
		char *val = strchr(kv, '=');
		uint64_t n;

		if (!val)
			return img_error("option '%s' needs a value", kv);
		*val++ = 0;
		if (!strcmp(kv, "cluster_size")) {
			if (!img_parse_size(val, &n) || n > UINT32_MAX)
				return img_error("invalid cluster_size '%s'", val);
			o->cluster_size = (uint32_t)n;
		} else if (!strcmp(kv, "compat")) {
			if (!strcmp(val, "0.10") || !strcmp(val, "v2"))
				o->compat = 2;
			else if (!strcmp(val, "1.1") || !strcmp(val, "v3"))
				o->compat = 3;
			else
				return img_error("invalid compat '%s' (0.10 or 1.1)", val);
		} else if (!strcmp(kv, "compression_type")) {
			if (!strcmp(val, "zlib"))
				o->compression_type = 0;
			else if (!strcmp(val, "zstd"))
				o->compression_type = 1;
			else
				return img_error("invalid compression_type '%s'", val);
		} else if (backing && !strcmp(kv, "backing_file")) {
			o->backing_file = val;
		} else if (backing && !strcmp(kv, "backing_fmt")) {
			o->backing_format = val;
		} else {
			return img_error("unknown option '%s'", kv);
		}
	}
	return 0;
}

static int cmd_create(int argc, char **argv)
{
	struct blk_create_opts o = {.format = "raw"};
	char err[512], *optlist = NULL;
	bool quiet = false;
	int c;

	while ((c = getopt(argc, argv, "+f:b:F:o:qh")) != -1) {
		switch (c) {
		case 'f':
			o.format = optarg;
			break;
		case 'b':
			o.backing_file = optarg;
			break;
		case 'F':
			o.backing_format = optarg;
			break;
		case 'o':
			optlist = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		default:
			fputs(usage, stderr);
			return 1;
		}
	}
	if (optlist && img_parse_create_opts(optlist, &o, true))
		return 1;
	if (optind >= argc || argc - optind > 2)
		return img_error("create: expected a file name and a size");
	if (argc - optind == 2 && !img_parse_size(argv[optind + 1], &o.size))
		return img_error("invalid size '%s'", argv[optind + 1]);
	if (argc - optind == 1 && !o.backing_file)
		return img_error("create: a size is required without a backing file");
	if (o.backing_file && strcmp(o.format, "qcow2"))
		return img_error("create: only qcow2 images can have a backing file");
	if (blk_create(argv[optind], &o, err, sizeof(err)) < 0)
		return img_error("%s", err);
	if (!quiet)
		printf("Formatting '%s', fmt=%s size=%" PRIu64 "\n", argv[optind], o.format,
		       o.size);
	return 0;
}

/* "1.5 GiB"-style rendering, as qemu-img prints sizes. */
static void human_size(uint64_t v, char *buf, size_t len)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double d = (double)v;
	int u = 0;

	while (d >= 1024 && u < 6) {
		d /= 1024;
		u++;
	}
	if (!u)
		snprintf(buf, len, "%" PRIu64 " B", v);
	else
		snprintf(buf, len, "%.3g %s", d, units[u]);
}

static uint64_t disk_usage(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (uint64_t)st.st_blocks * 512;
}

static void print_snapshots_human(const struct blk_snapshot_info *sn, int n)
{
	printf("Snapshot list:\n%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE", "DATE",
	       "VM CLOCK", "ICOUNT");
	for (int i = 0; i < n; i++) {
		char date[32], vmsize[32], icount[32];
		time_t t = sn[i].date_sec;
		struct tm tm;
		uint64_t secs = sn[i].vm_clock_nsec / 1000000000ULL;

		localtime_r(&t, &tm);
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
		human_size(sn[i].vm_state_size, vmsize, sizeof(vmsize));
		if (sn[i].icount == UINT64_MAX)
			snprintf(icount, sizeof(icount), "--");
		else
			snprintf(icount, sizeof(icount), "%" PRIu64, sn[i].icount);
		printf("%-9s %-16s %8s %19s %04" PRIu64 ":%02" PRIu64 ":%02" PRIu64 ".%03" PRIu64
		       " %10s\n",
		       sn[i].id, sn[i].name, vmsize, date, secs / 3600, secs / 60 % 60, secs % 60,
		       sn[i].vm_clock_nsec / 1000000 % 1000, icount);
	}
}

static int cmd_info(int argc, char **argv)
{
	static const struct option longopts[] = {{"output", required_argument, NULL, 'O'},
						 {"force-share", no_argument, NULL, 'U'},
						 {NULL, 0, NULL, 0}};
	const struct blk_snapshot_info *sn;
	const char *fmt = NULL, *output = "human";
	struct blockdev *bs;
	struct blk_info info;
	int c, nsn, share = 0;

	while ((c = getopt_long(argc, argv, "+f:Uh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			fmt = optarg;
			break;
		case 'O':
			output = optarg;
			break;
		case 'U':
			share = BLK_FORCE_SHARE;
			break;
		default:
			fputs(usage, stderr);
			return 1;
		}
	}
	if (optind != argc - 1)
		return img_error("info: expected one file name");
	if (strcmp(output, "human") && strcmp(output, "json"))
		return img_error("--output must be human or json");
	bs = open_or_report(argv[optind], fmt, BLK_RDONLY | BLK_NO_BACKING | share);
	if (!bs)
		return 1;
	blk_get_info(bs, &info);
	blk_snapshot_list(bs, &sn, &nsn);
	if (!strcmp(output, "json")) {
		json_t *o = json_object(), *spec = NULL;
		char *s;

		json_object_set_new(o, "virtual-size", json_integer((json_int_t)info.virtual_size));
		json_object_set_new(o, "filename", json_string(argv[optind]));
		if (info.cluster_size)
			json_object_set_new(o, "cluster-size", json_integer(info.cluster_size));
		json_object_set_new(o, "format", json_string(info.format));
		json_object_set_new(o, "actual-size",
				    json_integer((json_int_t)disk_usage(argv[optind])));
		if (!strcmp(info.format, "qcow2"))
			json_object_set_new(o, "dirty-flag", json_boolean(info.dirty));
		if (info.backing_file) {
			json_object_set_new(o, "backing-filename", json_string(info.backing_file));
			json_object_set_new(o, "full-backing-filename",
					    json_string(info.backing_full_path));
			if (info.backing_format)
				json_object_set_new(o, "backing-filename-format",
						    json_string(info.backing_format));
		}
		if (nsn) {
			json_t *arr = json_array();

			for (int i = 0; i < nsn; i++) {
				json_t *e = json_object();

				json_object_set_new(e, "id", json_string(sn[i].id));
				json_object_set_new(e, "name", json_string(sn[i].name));
				json_object_set_new(e, "vm-state-size",
						    json_integer((json_int_t)sn[i].vm_state_size));
				json_object_set_new(e, "date-sec", json_integer(sn[i].date_sec));
				json_object_set_new(e, "date-nsec", json_integer(sn[i].date_nsec));
				json_object_set_new(
				    e, "vm-clock-sec",
				    json_integer((json_int_t)(sn[i].vm_clock_nsec / 1000000000)));
				json_object_set_new(
				    e, "vm-clock-nsec",
				    json_integer((json_int_t)(sn[i].vm_clock_nsec % 1000000000)));
				if (sn[i].icount != UINT64_MAX)
					json_object_set_new(e, "icount",
							    json_integer((json_int_t)sn[i].icount));
				json_array_append_new(arr, e);
			}
			json_object_set_new(o, "snapshots", arr);
		}
		if (!strcmp(info.format, "qcow2")) {
			json_t *d = json_object();

			json_object_set_new(d, "compat",
					    json_string(info.qcow2_version >= 3 ? "1.1" : "0.10"));
			if (info.qcow2_version >= 3) {
				json_object_set_new(
				    d, "compression-type",
				    json_string(info.compression_type ? "zstd" : "zlib"));
				json_object_set_new(d, "lazy-refcounts",
						    json_boolean(info.lazy_refcounts));
				json_object_set_new(d, "corrupt", json_boolean(info.corrupt));
				json_object_set_new(d, "extended-l2", json_false());
			}
			json_object_set_new(d, "refcount-bits", json_integer(info.refcount_bits));
			spec = json_object();
			json_object_set_new(spec, "type", json_string("qcow2"));
			json_object_set_new(spec, "data", d);
			json_object_set_new(o, "format-specific", spec);
		}
		s = json_dumps(o, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
		json_decref(o);
	} else {
		char vs[32], ds[32];

		human_size(info.virtual_size, vs, sizeof(vs));
		human_size(disk_usage(argv[optind]), ds, sizeof(ds));
		printf("image: %s\nfile format: %s\nvirtual size: %s (%" PRIu64 " bytes)\n"
		       "disk size: %s\n",
		       argv[optind], info.format, vs, info.virtual_size, ds);
		if (info.cluster_size)
			printf("cluster_size: %u\n", info.cluster_size);
		if (info.backing_file) {
			printf("backing file: %s", info.backing_file);
			if (strcmp(info.backing_file, info.backing_full_path))
				printf(" (actual path: %s)", info.backing_full_path);
			printf("\n");
			if (info.backing_format)
				printf("backing file format: %s\n", info.backing_format);
		}
		if (nsn)
			print_snapshots_human(sn, nsn);
		if (!strcmp(info.format, "qcow2")) {
			printf("Format specific information:\n    compat: %s\n",
			       info.qcow2_version >= 3 ? "1.1" : "0.10");
			if (info.qcow2_version >= 3)
				printf("    compression type: %s\n    lazy refcounts: %s\n",
				       info.compression_type ? "zstd" : "zlib",
				       info.lazy_refcounts ? "true" : "false");
			printf("    refcount bits: %d\n", info.refcount_bits);
			if (info.qcow2_version >= 3)
				printf("    corrupt: %s\n    extended l2: false\n",
				       info.corrupt ? "true" : "false");
		}
	}
	blk_close(bs);
	return 0;
}

static int cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {{"output", required_argument, NULL, 'O'},
						 {NULL, 0, NULL, 0}};
	enum blk_repair repair = BLK_REPAIR_NONE;
	const char *fmt = NULL, *output = "human";
	struct blk_check_result r;
	struct blockdev *bs;
	bool quiet = false;
	int c, ret, code, share = 0;

	while ((c = getopt_long(argc, argv, "+f:r:qUh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			fmt = optarg;
			break;
		case 'r':
			if (!strcmp(optarg, "leaks"))
				repair = BLK_REPAIR_LEAKS;
			else if (!strcmp(optarg, "all"))
				repair = BLK_REPAIR_ALL;
			else
				return img_error("-r must be leaks or all");
			break;
		case 'O':
			output = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'U':
			share = BLK_FORCE_SHARE;
			break;
		default:
			fputs(usage, stderr);
			return 1;
		}
	}
	if (optind != argc - 1)
		return img_error("check: expected one file name");
	if (share && repair != BLK_REPAIR_NONE)
		return img_error("check: -U cannot be combined with -r");
	if (strcmp(output, "human") && strcmp(output, "json"))
		return img_error("--output must be human or json");
	bs = open_or_report(argv[optind], fmt,
			    BLK_NO_BACKING | share |
				(repair == BLK_REPAIR_NONE ? BLK_RDONLY : BLK_REPAIR_OPEN));
	if (!bs)
		return 1;
	ret = blk_check(bs, repair, &r);
	if (ret == -ENOTSUP) {
		blk_close(bs);
		return img_error("this image format does not support checks"), 63;
	}
	if (ret < 0) {
		blk_close(bs);
		return img_error("check of '%s' failed: %s", argv[optind], strerror(-ret));
	}
	if (blk_close(bs) < 0)
		return img_error("cannot write '%s'", argv[optind]);
	if (!strcmp(output, "json")) {
		json_t *o = json_object();
		char *s;

		json_object_set_new(o, "image-end-offset",
				    json_integer((json_int_t)r.image_end_offset));
		json_object_set_new(o, "total-clusters",
				    json_integer((json_int_t)r.total_clusters));
		json_object_set_new(o, "check-errors", json_integer((json_int_t)r.check_errors));
		json_object_set_new(o, "leaks", json_integer((json_int_t)r.leaks));
		json_object_set_new(o, "leaks-fixed", json_integer((json_int_t)r.leaks_fixed));
		json_object_set_new(o, "corruptions", json_integer((json_int_t)r.corruptions));
		json_object_set_new(o, "corruptions-fixed",
				    json_integer((json_int_t)r.corruptions_fixed));
		json_object_set_new(o, "allocated-clusters",
				    json_integer((json_int_t)r.allocated_clusters));
		json_object_set_new(o, "filename", json_string(argv[optind]));
		json_object_set_new(o, "format", json_string("qcow2"));
		s = json_dumps(o, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
		json_decref(o);
	} else if (!quiet) {
		if (r.leaks_fixed || r.corruptions_fixed)
			printf("The following inconsistencies were found and repaired:\n\n"
			       "    %" PRIu64 " leaked clusters\n    %" PRIu64 " corruptions\n\n"
			       "Double checking the fixed image now...\n",
			       r.leaks_fixed, r.corruptions_fixed);
		if (!r.corruptions && !r.leaks && !r.check_errors)
			printf("No errors were found on the image.\n");
		if (r.corruptions)
			printf("\n%" PRIu64
			       " errors were found on the image.\nData may be corrupted, "
			       "or further writes to the image may corrupt it.\n",
			       r.corruptions);
		if (r.leaks)
			printf("\n%" PRIu64 " leaked clusters were found on the image.\nThis means "
			       "waste of disk space, but no harm to data.\n",
			       r.leaks);
		if (r.check_errors)
			printf("\n%" PRIu64 " internal errors have occurred during the check.\n",
			       r.check_errors);
		if (r.total_clusters)
			printf("%" PRIu64 "/%" PRIu64 " = %.2f%% allocated\n", r.allocated_clusters,
			       r.total_clusters,
			       100.0 * (double)r.allocated_clusters / (double)r.total_clusters);
		printf("Image end offset: %" PRIu64 "\n", r.image_end_offset);
	}
	code = r.check_errors ? 1 : r.corruptions ? 2 : r.leaks ? 3 : 0;
	return code;
}

static int cmd_resize(int argc, char **argv)
{
	static const struct option longopts[] = {{"shrink", no_argument, NULL, 'S'},
						 {NULL, 0, NULL, 0}};
	const char *fmt = NULL, *arg;
	bool shrink = false, quiet = false;
	uint64_t size, delta;
	struct blockdev *bs;
	char err[512];
	int c, sign = 0;

	while ((c = getopt_long(argc, argv, "+f:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			fmt = optarg;
			break;
		case 'S':
			shrink = true;
			break;
		case 'q':
			quiet = true;
			break;
		default:
			fputs(usage, stderr);
			return 1;
		}
	}
	if (optind != argc - 2)
		return img_error("resize: expected a file name and a size");
	arg = argv[optind + 1];
	if (*arg == '+' || *arg == '-')
		sign = *arg++ == '+' ? 1 : -1;
	if (!img_parse_size(arg, &delta))
		return img_error("invalid size '%s'", argv[optind + 1]);
	bs = open_or_report(argv[optind], fmt, 0);
	if (!bs)
		return 1;
	size = delta;
	if (sign > 0)
		size = blk_size(bs) + delta;
	if (sign < 0) {
		if (delta > blk_size(bs)) {
			blk_close(bs);
			return img_error("cannot shrink below zero");
		}
		size = blk_size(bs) - delta;
	}
	if (size < blk_size(bs) && !shrink) {
		blk_close(bs);
		return img_error("use the --shrink option to shrink an image");
	}
	if (blk_resize(bs, size, err, sizeof(err)) < 0) {
		blk_close(bs);
		return img_error("%s", err);
	}
	if (blk_close(bs) < 0)
		return img_error("cannot write '%s'", argv[optind]);
	if (!quiet)
		printf("Image resized.\n");
	return 0;
}

static int cmd_snapshot(int argc, char **argv)
{
	const struct blk_snapshot_info *sn;
	const char *name = NULL;
	struct blockdev *bs;
	char op = 0, err[512];
	int c, n, ret = 0, share = 0;

	while ((c = getopt(argc, argv, "+lc:a:d:qUh")) != -1) {
		switch (c) {
		case 'l':
		case 'c':
		case 'a':
		case 'd':
			if (op)
				return img_error("snapshot: give only one of -l, -c, -a, -d");
			op = (char)c;
			name = optarg;
			break;
		case 'q':
			break;
		case 'U':
			share = BLK_FORCE_SHARE;
			break;
		default:
			fputs(usage, stderr);
			return 1;
		}
	}
	if (!op)
		op = 'l';
	if (share && op != 'l')
		return img_error("snapshot: -U only goes with -l");
	if (optind != argc - 1)
		return img_error("snapshot: expected one file name");
	bs = open_or_report(argv[optind], "qcow2",
			    BLK_NO_BACKING | (op == 'l' ? BLK_RDONLY | share : 0));
	if (!bs)
		return 1;
	switch (op) {
	case 'l':
		blk_snapshot_list(bs, &sn, &n);
		if (n)
			print_snapshots_human(sn, n);
		break;
	case 'c':
		ret = blk_snapshot_create(bs, name, err, sizeof(err));
		break;
	case 'a':
		ret = blk_snapshot_apply(bs, name, err, sizeof(err));
		break;
	case 'd':
		ret = blk_snapshot_delete(bs, name, err, sizeof(err));
		break;
	}
	if (ret < 0) {
		blk_close(bs);
		return img_error("%s", err);
	}
	if (blk_close(bs) < 0)
		return img_error("cannot write '%s'", argv[optind]);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {{"create", cmd_create},   {"info", cmd_info},     {"check", cmd_check},
		    {"convert", cmd_convert}, {"resize", cmd_resize}, {"snapshot", cmd_snapshot},
		    {"bench", cmd_bench}};

	log_init(argv[0], NULL);
	if (argc < 2)
		return img_error("missing command (try --help)");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(usage, stdout);
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	return img_error("unknown command '%s' (try --help)", argv[1]);
}
