/* berth-img: shared helpers of the subcommands. */
#ifndef BERTH_IMG_IMG_H
#define BERTH_IMG_IMG_H

#include <stdbool.h>
#include <stdint.h>

/* Print "berth-img: <message>" on stderr; returns 1 for use as an exit code. */
int img_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Parse a size with an optional K/M/G/T suffix (bytes by default). */
bool img_parse_size(const char *s, uint64_t *out);

int cmd_convert(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
