/*
 * An I/O bus: a sorted set of address ranges (port I/O or MMIO), each
 * dispatching to a device's read/write callbacks. Values are little-endian
 * integers of 1, 2, 4 or 8 bytes; offsets are relative to the range's base.
 */
#ifndef BERTH_VMM_IOBUS_H
#define BERTH_VMM_IOBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct io_ops {
	uint64_t (*read)(void *opaque, uint64_t offset, unsigned size);
	void (*write)(void *opaque, uint64_t offset, uint64_t value, unsigned size);
};

struct io_range {
	uint64_t base, len;
	const struct io_ops *ops;
	void *opaque;
	const char *name;
};

struct io_bus {
	const char *name; /* "pio" or "mmio", for messages */
	struct io_range *ranges;
	size_t count, cap;
};

/* Add a range; fails (with a logged error) if it overlaps an existing one. */
int iobus_add(struct io_bus *bus, uint64_t base, uint64_t len, const struct io_ops *ops,
	      void *opaque, const char *name);
/* Remove the range starting at base that belongs to opaque (no-op if none). */
void iobus_del(struct io_bus *bus, uint64_t base, void *opaque);
/* Find the range containing addr, or NULL. */
const struct io_range *iobus_find(const struct io_bus *bus, uint64_t addr);
/* Dispatch; return false when nothing is there (a read then yields all ones). */
bool iobus_read(const struct io_bus *bus, uint64_t addr, unsigned size, uint64_t *value);
bool iobus_write(const struct io_bus *bus, uint64_t addr, uint64_t value, unsigned size);
void iobus_free(struct io_bus *bus);

#endif
