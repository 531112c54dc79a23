/* Small helpers used everywhere: sizes, allocation, files, clocks. */
#ifndef BERTH_COMMON_UTIL_H
#define BERTH_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a)     (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a)    (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a)  ((x) & ~((__typeof__(x))(a) - 1))
#define MIN(a, b)         ((a) < (b) ? (a) : (b))
#define MAX(a, b)         ((a) > (b) ? (a) : (b))
#define KiB               (1024ULL)
#define MiB               (1024ULL * KiB)
#define GiB               (1024ULL * MiB)
#define likely(x)         __builtin_expect(!!(x), 1)
#define unlikely(x)       __builtin_expect(!!(x), 0)
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/*
 * Parse a size such as "512M", "2G", "4096", "1.5G" (suffixes K, M, G, T, case-insensitive,
 * optional trailing "iB"/"B"). A bare number means default_unit bytes each.
 * Returns 0 on success, -1 on a malformed or overflowing value.
 */
int parse_size(const char *s, uint64_t default_unit, uint64_t *out);

/* Allocation that never returns NULL: running out of memory aborts with a message. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Read a whole file into a new buffer. Returns NULL (errno set) on failure. */
void *read_file(const char *path, size_t *len);

/* Monotonic clock in nanoseconds. */
uint64_t clock_ns(void);

/* Write all of buf to fd, retrying on EINTR and short writes. Returns 0 or -1. */
int write_all(int fd, const void *buf, size_t len);

#endif
