/* The differential test's instruction encoder (see encode.h). */
#include <string.h>

#include "encode.h"

bool enc_needs_rex(const struct enc *e)
{
	if (e->w || e->rex || (e->modrm && e->reg >= 8))
		return true;
	if (e->opreg != NO_REG && e->opreg >= 8)
		return true;
	if (!e->modrm)
		return false;
	if (!e->is_mem)
		return e->rm >= 8;
	return !e->m.rip && ((e->m.base != NO_REG && e->m.base >= 8) ||
			     (e->m.index != NO_REG && e->m.index >= 8));
}

/* ModRM, SIB and displacement of the memory operand; returns their length. */
static unsigned enc_modrm_mem(const struct enc *e, uint8_t *p, unsigned reg3, int32_t ripdisp)
{
	const struct enc_mem *m = &e->m;
	unsigned n = 0, mod;
	int32_t disp = m->disp;

	if (m->rip) {
		p[n++] = (uint8_t)(reg3 << 3 | 5);
		memcpy(p + n, &ripdisp, 4);
		return n + 4;
	}
	if (m->base == NO_REG) {
		/* SIB with no base: [index * scale + disp32] or [disp32] */
		p[n++] = (uint8_t)(reg3 << 3 | 4);
		p[n++] =
		    (uint8_t)(m->scale << 6 | (m->index == NO_REG ? 4 : (m->index & 7)) << 3 | 5);
		memcpy(p + n, &disp, 4);
		return n + 4;
	}
	if (disp == 0 && (m->base & 7) != 5)
		mod = 0;
	else if (disp >= -128 && disp <= 127)
		mod = 1;
	else
		mod = 2;
	if (m->index != NO_REG || (m->base & 7) == 4) {
		p[n++] = (uint8_t)(mod << 6 | reg3 << 3 | 4);
		p[n++] = (uint8_t)(m->scale << 6 | (m->index == NO_REG ? 4 : (m->index & 7)) << 3 |
				   (m->base & 7));
	} else {
		p[n++] = (uint8_t)(mod << 6 | reg3 << 3 | (m->base & 7));
	}
	if (mod == 1)
		p[n++] = (uint8_t)(int8_t)disp;
	else if (mod == 2) {
		memcpy(p + n, &disp, 4);
		n += 4;
	}
	return n;
}

unsigned enc_encode(const struct enc *e, uint64_t addr, uint8_t *out)
{
	uint8_t buf[32];
	unsigned n = 0, i, modrm_at = 0, len;
	int32_t ripdisp = 0;

	for (i = 0; i < e->npfx; i++)
		buf[n++] = e->pfx[i];
	if (e->modrm && e->is_mem && e->m.seg)
		buf[n++] = e->m.seg;
	if (e->modrm && e->is_mem && e->m.a32)
		buf[n++] = 0x67;
	if (e->mand)
		buf[n++] = e->mand;
	if (enc_needs_rex(e)) {
		uint8_t rex = 0x40;
		if (e->w)
			rex |= 8;
		if (e->modrm && e->reg >= 8)
			rex |= 4;
		if (e->modrm && e->is_mem && !e->m.rip) {
			if (e->m.index != NO_REG && e->m.index >= 8)
				rex |= 2;
			if (e->m.base != NO_REG && e->m.base >= 8)
				rex |= 1;
		} else if (e->modrm && !e->is_mem && e->rm >= 8) {
			rex |= 1;
		}
		if (e->opreg != NO_REG && e->opreg >= 8)
			rex |= 1;
		buf[n++] = rex;
	}
	for (i = 0; i < e->oplen; i++)
		buf[n++] = e->op[i];
	if (e->opreg != NO_REG)
		buf[n - 1] = (uint8_t)(buf[n - 1] | (e->opreg & 7));
	if (e->modrm) {
		modrm_at = n;
		if (e->is_mem)
			n += enc_modrm_mem(e, buf + n, e->reg & 7, 0);
		else
			buf[n++] = (uint8_t)(0xc0 | (e->reg & 7) << 3 | (e->rm & 7));
	}
	memcpy(buf + n, &e->imm, e->immlen);
	n += e->immlen;
	len = n;
	if (e->modrm && e->is_mem && e->m.rip) {
		ripdisp = (int32_t)(e->m.target - (addr + len));
		enc_modrm_mem(e, buf + modrm_at, e->reg & 7, ripdisp);
	}
	memcpy(out, buf, len);
	return len;
}
