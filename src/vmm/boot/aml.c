/*
 * ACPI Machine Language emitter (see aml.h). Encodings follow ACPI 6.4
 * section 20.2 (AML grammar) and 6.4 (resource data types).
 */
#include "vmm/boot/aml.h"
#include "vmm/boot/loader.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

/* Opcodes and prefixes used here. */
#define AML_ZERO	0x00
#define AML_ONE		0x01
#define AML_NAME	0x08
#define AML_BYTE_PFX	0x0a
#define AML_WORD_PFX	0x0b
#define AML_DWORD_PFX	0x0c
#define AML_STRING_PFX	0x0d
#define AML_QWORD_PFX	0x0e
#define AML_SCOPE	0x10
#define AML_BUFFER	0x11
#define AML_PACKAGE	0x12
#define AML_EXT_PFX	0x5b
#define AML_DEVICE	0x82 /* after AML_EXT_PFX */
#define AML_DUAL_NAME	0x2e
#define AML_MULTI_NAME	0x2f
#define AML_ROOT_CHAR	'\\'
#define AML_PARENT_CHAR '^'

void aml_free(struct aml *a)
{
	free(a->buf);
	*a = (struct aml){0};
}

/* Make room for n more bytes. */
static void reserve(struct aml *a, size_t n)
{
	if (a->len + n <= a->cap)
		return;
	a->cap = MAX(a->cap * 2, a->len + n + 256);
	a->buf = xrealloc(a->buf, a->cap);
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	reserve(a, n);
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

/* Little-endian integer of n bytes. */
static void le(struct aml *a, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		aml_byte(a, (uint8_t)(v >> (8 * i)));
}

/* One 4-character name segment, padded with '_'. */
static void name_seg(struct aml *a, const char *s, size_t n)
{
	char seg[4] = {'_', '_', '_', '_'};

	memcpy(seg, s, MIN(n, sizeof(seg)));
	aml_bytes(a, seg, sizeof(seg));
}

/* NameString: prefixes, then one, two (DualNamePrefix) or more (MultiNamePrefix) segments. */
void aml_name(struct aml *a, const char *path)
{
	const char *p;
	unsigned nseg = 1;

	while (*path == AML_ROOT_CHAR || *path == AML_PARENT_CHAR)
		aml_byte(a, (uint8_t)*path++);
	for (p = path; *p; p++)
		nseg += *p == '.';
	if (!*path) {
		aml_byte(a, AML_ZERO); /* NullName */
		return;
	}
	if (nseg == 2)
		aml_byte(a, AML_DUAL_NAME);
	else if (nseg > 2) {
		aml_byte(a, AML_MULTI_NAME);
		aml_byte(a, (uint8_t)nseg);
	}
	while (*path) {
		size_t n = strcspn(path, ".");

		name_seg(a, path, n);
		path += n + (path[n] == '.');
	}
}

void aml_name_decl(struct aml *a, const char *path)
{
	aml_byte(a, AML_NAME);
	aml_name(a, path);
}

/* Integer constant in its shortest form. */
void aml_int(struct aml *a, uint64_t v)
{
	if (v == 0)
		aml_byte(a, AML_ZERO);
	else if (v == 1)
		aml_byte(a, AML_ONE);
	else if (v <= 0xff) {
		aml_byte(a, AML_BYTE_PFX);
		le(a, v, 1);
	} else if (v <= 0xffff) {
		aml_byte(a, AML_WORD_PFX);
		le(a, v, 2);
	} else if (v <= 0xffffffff) {
		aml_byte(a, AML_DWORD_PFX);
		le(a, v, 4);
	} else {
		aml_byte(a, AML_QWORD_PFX);
		le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	aml_byte(a, AML_STRING_PFX);
	aml_bytes(a, s, strlen(s) + 1);
}

/* Compressed EISA ID: three 5-bit letters and four hex digits, stored big-endian. */
void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v = 0;

	for (int i = 0; i < 3; i++)
		v = v << 5 | ((uint32_t)(id[i] - '@') & 0x1f);
	for (int i = 3; i < 7; i++) {
		char c = id[i];

		v = v << 4 | (uint32_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	aml_byte(a, AML_DWORD_PFX);
	aml_byte(a, (uint8_t)(v >> 24));
	aml_byte(a, (uint8_t)(v >> 16));
	aml_byte(a, (uint8_t)(v >> 8));
	aml_byte(a, (uint8_t)v);
}

/* The mark of a PkgLength object is where its length goes (after the opcode). */
struct aml_mark aml_scope(struct aml *a, const char *path)
{
	struct aml_mark m;

	aml_byte(a, AML_SCOPE);
	m = (struct aml_mark){a->len, false};
	aml_name(a, path);
	return m;
}

struct aml_mark aml_device(struct aml *a, const char *path)
{
	struct aml_mark m;

	aml_byte(a, AML_EXT_PFX);
	aml_byte(a, AML_DEVICE);
	m = (struct aml_mark){a->len, false};
	aml_name(a, path);
	return m;
}

struct aml_mark aml_package(struct aml *a, uint8_t nelems)
{
	struct aml_mark m;

	aml_byte(a, AML_PACKAGE);
	m = (struct aml_mark){a->len, false};
	aml_byte(a, nelems);
	return m;
}

/* A buffer's BufferSize integer is inserted with its PkgLength at close time. */
struct aml_mark aml_buffer(struct aml *a)
{
	aml_byte(a, AML_BUFFER);
	return (struct aml_mark){a->len, true};
}

/* Insert the PkgLength (and a buffer's size) for the object opened at mark. */
void aml_close(struct aml *a, struct aml_mark m)
{
	size_t body = a->len - m.pos, total, nlen;
	struct aml size = {0};
	uint8_t enc[4];

	if (m.buffer) {
		aml_int(&size, body);
		body += size.len;
	}
	/* PkgLength counts its own bytes: 1 byte up to 63, else 2..4 with a 4-bit lead. */
	if (body + 1 <= 0x3f)
		nlen = 1;
	else if (body + 2 <= 0xfff)
		nlen = 2;
	else if (body + 3 <= 0xfffff)
		nlen = 3;
	else
		nlen = 4;
	total = body + nlen;
	if (nlen == 1)
		enc[0] = (uint8_t)total;
	else {
		enc[0] = (uint8_t)((nlen - 1) << 6 | (total & 0xf));
		for (size_t i = 1; i < nlen; i++)
			enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	reserve(a, nlen + size.len);
	memmove(a->buf + m.pos + nlen + size.len, a->buf + m.pos, a->len - m.pos);
	memcpy(a->buf + m.pos, enc, nlen);
	if (size.len)
		memcpy(a->buf + m.pos + nlen, size.buf, size.len);
	a->len += nlen + size.len;
	aml_free(&size);
}

/* Word Address Space Descriptor, a bridge's producer range (fixed min and max). */
void aml_res_word(struct aml *a, enum aml_space space, uint16_t min, uint16_t max)
{
	aml_byte(a, 0x88);
	le(a, 13, 2);
	aml_byte(a, (uint8_t)space);
	aml_byte(a, 0x0c);				  /* MinFixed, MaxFixed, PosDecode */
	aml_byte(a, space == AML_SPACE_IO ? 0x03 : 0x00); /* IO: EntireRange */
	le(a, 0, 2);					  /* granularity */
	le(a, min, 2);
	le(a, max, 2);
	le(a, 0, 2); /* translation */
	le(a, (uint64_t)max - min + 1, 2);
}

/* DWord Memory descriptor: non-cacheable read/write bridge window. */
void aml_res_dword_mem(struct aml *a, uint32_t min, uint32_t max)
{
	aml_byte(a, 0x87);
	le(a, 23, 2);
	aml_byte(a, AML_SPACE_MEM);
	aml_byte(a, 0x0c); /* MinFixed, MaxFixed, PosDecode, producer */
	aml_byte(a, 0x01); /* ReadWrite, NonCacheable */
	le(a, 0, 4);
	le(a, min, 4);
	le(a, max, 4);
	le(a, 0, 4);
	le(a, (uint64_t)max - min + 1, 4);
}

/* I/O port descriptor with 16-bit decode at a fixed base. */
void aml_res_io(struct aml *a, uint16_t base, uint8_t len)
{
	aml_byte(a, 0x47);
	aml_byte(a, 0x01);
	le(a, base, 2);
	le(a, base, 2);
	aml_byte(a, 0x01);
	aml_byte(a, len);
}

/* Memory32Fixed descriptor: a read/write range the device consumes. */
void aml_res_mem32_fixed(struct aml *a, uint32_t base, uint32_t len)
{
	aml_byte(a, 0x86);
	le(a, 9, 2);
	aml_byte(a, 0x01); /* ReadWrite */
	le(a, base, 4);
	le(a, len, 4);
}

/* IRQ descriptor without the flags byte: a 16-bit mask of ISA IRQs. */
void aml_res_irq(struct aml *a, unsigned irq)
{
	aml_byte(a, 0x22);
	le(a, 1u << (irq & 15), 2);
}

void aml_res_end(struct aml *a)
{
	aml_byte(a, 0x79);
	aml_byte(a, 0x00);
}
