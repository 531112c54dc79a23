/* berth-img: shared helpers of the subcommands. */
#ifndef BERTH_IMG_IMG_H
#define BERTH_IMG_IMG_H

#include "block/block.h"

#include <stdbool.h>
#include <stdint.h>

/* Print "berth-img: <message>" on stderr; returns 1 for use as an exit code. */
int img_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Parse a size with an optional K/M/G/T suffix (bytes by default). */
bool img_parse_size(const char *s, uint64_t *out);
/* The format of an existing image: fmt if given, else probed from its first bytes. */
const char *img_image_format(const char *path, const char *fmt);
/* Parse a "-o key=value,..." list into o (backing_file/backing_fmt only if backing). */
int img_parse_create_opts(char *list, struct blk_create_opts *o, bool backing);

int cmd_convert(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
