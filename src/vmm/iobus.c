#include "vmm/iobus.h"
#include "common/log.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

int iobus_add(struct io_bus *bus, uint64_t base, uint64_t len, const struct io_ops *ops,
	      void *opaque, const char *name)
{
	size_t i;

	if (!len || base + len - 1 < base) {
		log_error("%s: bad range %#llx+%#llx for %s", bus->name, (unsigned long long)base,
			  (unsigned long long)len, name);
		return -1;
	}
	for (i = 0; i < bus->count; i++) {
		const struct io_range *r = &bus->ranges[i];
		if (base <= r->base + r->len - 1 && r->base <= base + len - 1) {
			log_error("%s: %s at %#llx overlaps %s at %#llx", bus->name, name,
				  (unsigned long long)base, r->name, (unsigned long long)r->base);
			return -1;
		}
		if (r->base > base)
			break;
	}
	if (bus->count == bus->cap) {
		bus->cap = bus->cap ? bus->cap * 2 : 16;
		bus->ranges = xrealloc(bus->ranges, bus->cap * sizeof(*bus->ranges));
	}
	memmove(&bus->ranges[i + 1], &bus->ranges[i], (bus->count - i) * sizeof(*bus->ranges));
	bus->ranges[i] = (struct io_range){base, len, ops, opaque, name};
	bus->count++;
	return 0;
}

void iobus_del(struct io_bus *bus, uint64_t base, void *opaque)
{
	for (size_t i = 0; i < bus->count; i++) {
		if (bus->ranges[i].base == base && bus->ranges[i].opaque == opaque) {
			memmove(&bus->ranges[i], &bus->ranges[i + 1],
				(bus->count - i - 1) * sizeof(*bus->ranges));
			bus->count--;
			return;
		}
	}
}

/* Binary search over ranges sorted by base. */
const struct io_range *iobus_find(const struct io_bus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct io_range *r = &bus->ranges[mid];
		if (addr < r->base)
			hi = mid;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

bool iobus_read(const struct io_bus *bus, uint64_t addr, unsigned size, uint64_t *value)
{
	const struct io_range *r = iobus_find(bus, addr);

	if (!r || !r->ops->read) {
		*value = size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
		return r != NULL;
	}
	*value = r->ops->read(r->opaque, addr - r->base, size);
	return true;
}

bool iobus_write(const struct io_bus *bus, uint64_t addr, uint64_t value, unsigned size)
{
	const struct io_range *r = iobus_find(bus, addr);

	if (!r)
		return false;
	if (r->ops->write)
		r->ops->write(r->opaque, addr - r->base, value, size);
	return true;
}

void iobus_free(struct io_bus *bus)
{
	free(bus->ranges);
	bus->ranges = NULL;
	bus->count = bus->cap = 0;
}
