/*
 * A small ACPI Machine Language (AML) emitter, enough for a static DSDT:
 * names, integers, strings, packages, buffers, scopes, devices and resource
 * descriptors (ACPI 6.x, chapters 19 and 20 for the encoding, 6.4 for
 * resource descriptors). Objects with a PkgLength are opened, filled and
 * closed; closing inserts the encoded length.
 */
#ifndef BERTH_VMM_BOOT_AML_H
#define BERTH_VMM_BOOT_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml {
	uint8_t *buf;
	size_t len, cap;
};

void aml_free(struct aml *a);
void aml_bytes(struct aml *a, const void *p, size_t n);
void aml_byte(struct aml *a, uint8_t b);

/* A NameString: "\\_SB.PCI0", "_PRT", "^FOO"; short segments are padded with '_'. */
void aml_name(struct aml *a, const char *path);
/* Name(path, <object that follows>). */
void aml_name_decl(struct aml *a, const char *path);
/* Integer constants in the shortest encoding (Zero, One, Byte... QWord). */
void aml_int(struct aml *a, uint64_t v);
void aml_string(struct aml *a, const char *s);
/* EISAID("PNP0A08") as its compressed 32-bit integer. */
void aml_eisaid(struct aml *a, const char *id);

/* Opening a PkgLength object returns a mark that aml_close() needs. */
struct aml_mark {
	size_t pos;  /* where the PkgLength goes */
	bool buffer; /* a Buffer: its BufferSize goes there too */
};
struct aml_mark aml_scope(struct aml *a, const char *path);
struct aml_mark aml_device(struct aml *a, const char *path);
struct aml_mark aml_package(struct aml *a, uint8_t nelems);
/* Buffer: the bytes follow; aml_close() computes the size. */
struct aml_mark aml_buffer(struct aml *a);
void aml_close(struct aml *a, struct aml_mark mark);

/* Resource descriptors for a ResourceTemplate buffer (end tag: aml_res_end). */
enum aml_space { AML_SPACE_MEM = 0, AML_SPACE_IO = 1, AML_SPACE_BUS = 2 };
void aml_res_word(struct aml *a, enum aml_space space, uint16_t min, uint16_t max);
void aml_res_dword_mem(struct aml *a, uint32_t min, uint32_t max);
void aml_res_io(struct aml *a, uint16_t base, uint8_t len);
void aml_res_mem32_fixed(struct aml *a, uint32_t base, uint32_t len);
/* IRQNoFlags: one ISA IRQ (edge, active high). */
void aml_res_irq(struct aml *a, unsigned irq);
void aml_res_end(struct aml *a);

#endif
