/*
 * Internal interface of the boot code: the protocol loaders (also used by the
 * unit tests on in-memory images), little-endian field access, and helpers to
 * load files and descriptor tables into guest RAM.
 */
#ifndef BERTH_VMM_BOOT_LOADER_H
#define BERTH_VMM_BOOT_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/boot/boot.h"

/* Load an image already in memory; name is used in messages. 0 or -1 (logged). */
int linux_load(struct vm *vm, const char *name, const uint8_t *image, size_t len,
	       const char *initrd, const char *cmdline, struct x86_cpu_state *bsp);
int multiboot_load(struct vm *vm, const char *name, const uint8_t *image, size_t len,
		   const char *initrd, const char *cmdline, struct x86_cpu_state *bsp);
/* Offset of a valid Multiboot v1 header (magic and checksum) in the first 8 KiB, or -1. */
long multiboot_find_header(const uint8_t *image, size_t len);

/* Write n 8-byte descriptors as the GDT at BOOT_GDT_ADDR and point st->gdt at it. */
int boot_write_gdt(struct vm *vm, const uint64_t *desc, unsigned n, struct x86_cpu_state *st);

/* Size of the regular file path (what names it in messages). 0 or -1 (logged). */
int boot_file_size(const char *what, const char *path, uint64_t *size);
/* Read exactly size bytes of path into guest RAM at gpa. 0 or -1 (logged). */
int boot_file_load(struct vm *vm, const char *what, const char *path, uint64_t gpa, uint64_t size);

/* Write data to guest RAM, logging what failed to fit. 0 or -1. */
int boot_write(struct vm *vm, const char *what, uint64_t gpa, const void *data, uint64_t len);

static inline uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get_le64(const uint8_t *p)
{
	return get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static inline void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

#endif
