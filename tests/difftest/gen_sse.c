/* SSE/SSE2 classes of the differential test: sse-int and sse-fp. */
#include <stdio.h>
#include <string.h>

#include "gen.h"

/* --- SSE2 --- */

enum {
	K_XX,	/* xmm (written) <- xmm/mem */
	K_XI,	/* xmm (written) by an immediate count: ModRM.reg = digit, register only */
	K_ST,	/* xmm/mem (written) <- xmm */
	K_XG,	/* xmm (written) <- gpr/mem (32 or 64 bits) */
	K_GX,	/* gpr (written) <- xmm/mem */
	K_GXS,	/* gpr/mem (written) <- xmm (movd/movq r/m, xmm) */
	K_FCMP, /* compare xmm with xmm/mem into the flags */
};

enum {
	X_ALIGN = 1, /* a memory operand must be 16-byte aligned */
	X_IMM = 2,   /* imm8 */
	X_REG = 4,   /* r/m is a register only */
	X_MEM = 8,   /* r/m is memory only */
	X_W = 16,    /* REX.W selects a 64-bit GPR */
	X_RC = 32,   /* the result depends on MXCSR.RC (arithmetic rounding) */
};

struct sform {
	const char *name;
	uint8_t pfx, op;
	uint8_t kind;
	uint8_t msize;
	int8_t digit;
	uint8_t attr;
};

#define PI(n, o)                                                                                   \
	{                                                                                          \
		n, 0x66, o, K_XX, 16, -1, X_ALIGN                                                  \
	}
static const struct sform sse_int_forms[] = {
    PI("punpcklbw", 0x60),
    PI("punpcklwd", 0x61),
    PI("punpckldq", 0x62),
    PI("packsswb", 0x63),
    PI("pcmpgtb", 0x64),
    PI("pcmpgtw", 0x65),
    PI("pcmpgtd", 0x66),
    PI("packuswb", 0x67),
    PI("punpckhbw", 0x68),
    PI("punpckhwd", 0x69),
    PI("punpckhdq", 0x6a),
    PI("packssdw", 0x6b),
    PI("punpcklqdq", 0x6c),
    PI("punpckhqdq", 0x6d),
    PI("pcmpeqb", 0x74),
    PI("pcmpeqw", 0x75),
    PI("pcmpeqd", 0x76),
    PI("psrlw", 0xd1),
    PI("psrld", 0xd2),
    PI("psrlq", 0xd3),
    PI("paddq", 0xd4),
    PI("pmullw", 0xd5),
    PI("psubusb", 0xd8),
    PI("psubusw", 0xd9),
    PI("pminub", 0xda),
    PI("pand", 0xdb),
    PI("paddusb", 0xdc),
    PI("paddusw", 0xdd),
    PI("pmaxub", 0xde),
    PI("pandn", 0xdf),
    PI("pavgb", 0xe0),
    PI("psraw", 0xe1),
    PI("psrad", 0xe2),
    PI("pavgw", 0xe3),
    PI("pmulhuw", 0xe4),
    PI("pmulhw", 0xe5),
    PI("psubsb", 0xe8),
    PI("psubsw", 0xe9),
    PI("pminsw", 0xea),
    PI("por", 0xeb),
    PI("paddsb", 0xec),
    PI("paddsw", 0xed),
    PI("pmaxsw", 0xee),
    PI("pxor", 0xef),
    PI("psllw", 0xf1),
    PI("pslld", 0xf2),
    PI("psllq", 0xf3),
    PI("pmuludq", 0xf4),
    PI("pmaddwd", 0xf5),
    PI("psadbw", 0xf6),
    PI("psubb", 0xf8),
    PI("psubw", 0xf9),
    PI("psubd", 0xfa),
    PI("psubq", 0xfb),
    PI("paddb", 0xfc),
    PI("paddw", 0xfd),
    PI("paddd", 0xfe),
    {"pshufd", 0x66, 0x70, K_XX, 16, -1, X_ALIGN | X_IMM},
    {"pshuflw", 0xf2, 0x70, K_XX, 16, -1, X_ALIGN | X_IMM},
    {"pshufhw", 0xf3, 0x70, K_XX, 16, -1, X_ALIGN | X_IMM},
    {"psrlw", 0x66, 0x71, K_XI, 0, 2, X_IMM},
    {"psraw", 0x66, 0x71, K_XI, 0, 4, X_IMM},
    {"psllw", 0x66, 0x71, K_XI, 0, 6, X_IMM},
    {"psrld", 0x66, 0x72, K_XI, 0, 2, X_IMM},
    {"psrad", 0x66, 0x72, K_XI, 0, 4, X_IMM},
    {"pslld", 0x66, 0x72, K_XI, 0, 6, X_IMM},
    {"psrlq", 0x66, 0x73, K_XI, 0, 2, X_IMM},
    {"psrldq", 0x66, 0x73, K_XI, 0, 3, X_IMM},
    {"psllq", 0x66, 0x73, K_XI, 0, 6, X_IMM},
    {"pslldq", 0x66, 0x73, K_XI, 0, 7, X_IMM},
    {"movdqa", 0x66, 0x6f, K_XX, 16, -1, X_ALIGN},
    {"movdqu", 0xf3, 0x6f, K_XX, 16, -1, 0},
    {"movdqa", 0x66, 0x7f, K_ST, 16, -1, X_ALIGN},
    {"movdqu", 0xf3, 0x7f, K_ST, 16, -1, 0},
    {"movntdq", 0x66, 0xe7, K_ST, 16, -1, X_ALIGN | X_MEM},
    {"movd/movq", 0x66, 0x6e, K_XG, 4, -1, X_W},
    {"movd/movq", 0x66, 0x7e, K_GXS, 4, -1, X_W},
    {"movq", 0xf3, 0x7e, K_XX, 8, -1, 0},
    {"movq", 0x66, 0xd6, K_ST, 8, -1, 0},
    {"pmovmskb", 0x66, 0xd7, K_GX, 0, -1, X_REG},
    {"pinsrw", 0x66, 0xc4, K_XG, 2, -1, X_IMM},
    {"pextrw", 0x66, 0xc5, K_GX, 0, -1, X_REG | X_IMM},
};

#define FP4(n, o, rc)                                                                              \
	{n "ps", 0x00, o, K_XX, 16, -1, X_ALIGN | (rc)},                                           \
	    {n "pd", 0x66, o, K_XX, 16, -1, X_ALIGN | (rc)}, {n "ss", 0xf3, o, K_XX, 4, -1, (rc)}, \
	{                                                                                          \
		n "sd", 0xf2, o, K_XX, 8, -1, (rc)                                                 \
	}
static const struct sform sse_fp_forms[] = {
    FP4("add", 0x58, X_RC),
    FP4("mul", 0x59, X_RC),
    FP4("sub", 0x5c, X_RC),
    FP4("min", 0x5d, 0),
    FP4("div", 0x5e, X_RC),
    FP4("max", 0x5f, 0),
    FP4("sqrt", 0x51, X_RC),
    {"cmpps", 0x00, 0xc2, K_XX, 16, -1, X_ALIGN | X_IMM},
    {"cmppd", 0x66, 0xc2, K_XX, 16, -1, X_ALIGN | X_IMM},
    {"cmpss", 0xf3, 0xc2, K_XX, 4, -1, X_IMM},
    {"cmpsd", 0xf2, 0xc2, K_XX, 8, -1, X_IMM},
    {"andps", 0x00, 0x54, K_XX, 16, -1, X_ALIGN},
    {"andpd", 0x66, 0x54, K_XX, 16, -1, X_ALIGN},
    {"andnps", 0x00, 0x55, K_XX, 16, -1, X_ALIGN},
    {"andnpd", 0x66, 0x55, K_XX, 16, -1, X_ALIGN},
    {"orps", 0x00, 0x56, K_XX, 16, -1, X_ALIGN},
    {"orpd", 0x66, 0x56, K_XX, 16, -1, X_ALIGN},
    {"xorps", 0x00, 0x57, K_XX, 16, -1, X_ALIGN},
    {"xorpd", 0x66, 0x57, K_XX, 16, -1, X_ALIGN},
    {"unpcklps", 0x00, 0x14, K_XX, 16, -1, X_ALIGN},
    {"unpcklpd", 0x66, 0x14, K_XX, 16, -1, X_ALIGN},
    {"unpckhps", 0x00, 0x15, K_XX, 16, -1, X_ALIGN},
    {"unpckhpd", 0x66, 0x15, K_XX, 16, -1, X_ALIGN},
    {"shufps", 0x00, 0xc6, K_XX, 16, -1, X_ALIGN | X_IMM},
    {"shufpd", 0x66, 0xc6, K_XX, 16, -1, X_ALIGN | X_IMM},
    {"movaps", 0x00, 0x28, K_XX, 16, -1, X_ALIGN},
    {"movapd", 0x66, 0x28, K_XX, 16, -1, X_ALIGN},
    {"movaps", 0x00, 0x29, K_ST, 16, -1, X_ALIGN},
    {"movapd", 0x66, 0x29, K_ST, 16, -1, X_ALIGN},
    {"movups", 0x00, 0x10, K_XX, 16, -1, 0},
    {"movupd", 0x66, 0x10, K_XX, 16, -1, 0},
    {"movups", 0x00, 0x11, K_ST, 16, -1, 0},
    {"movupd", 0x66, 0x11, K_ST, 16, -1, 0},
    {"movss", 0xf3, 0x10, K_XX, 4, -1, 0},
    {"movsd", 0xf2, 0x10, K_XX, 8, -1, 0},
    {"movss", 0xf3, 0x11, K_ST, 4, -1, 0},
    {"movsd", 0xf2, 0x11, K_ST, 8, -1, 0},
    {"movhlps/movlps", 0x00, 0x12, K_XX, 8, -1, 0},
    {"movlps", 0x00, 0x13, K_ST, 8, -1, X_MEM},
    {"movlhps/movhps", 0x00, 0x16, K_XX, 8, -1, 0},
    {"movhps", 0x00, 0x17, K_ST, 8, -1, X_MEM},
    {"movlpd", 0x66, 0x12, K_XX, 8, -1, X_MEM},
    {"movlpd", 0x66, 0x13, K_ST, 8, -1, X_MEM},
    {"movhpd", 0x66, 0x16, K_XX, 8, -1, X_MEM},
    {"movhpd", 0x66, 0x17, K_ST, 8, -1, X_MEM},
    {"movmskps", 0x00, 0x50, K_GX, 0, -1, X_REG},
    {"movmskpd", 0x66, 0x50, K_GX, 0, -1, X_REG},
    {"ucomiss", 0x00, 0x2e, K_FCMP, 4, -1, 0},
    {"ucomisd", 0x66, 0x2e, K_FCMP, 8, -1, 0},
    {"comiss", 0x00, 0x2f, K_FCMP, 4, -1, 0},
    {"comisd", 0x66, 0x2f, K_FCMP, 8, -1, 0},
    {"cvtsi2ss", 0xf3, 0x2a, K_XG, 4, -1, X_W | X_RC},
    {"cvtsi2sd", 0xf2, 0x2a, K_XG, 4, -1, X_W | X_RC},
    {"cvttss2si", 0xf3, 0x2c, K_GX, 4, -1, X_W},
    {"cvttsd2si", 0xf2, 0x2c, K_GX, 8, -1, X_W},
    {"cvtss2si", 0xf3, 0x2d, K_GX, 4, -1, X_W},
    {"cvtsd2si", 0xf2, 0x2d, K_GX, 8, -1, X_W},
    {"cvtps2pd", 0x00, 0x5a, K_XX, 8, -1, 0},
    {"cvtpd2ps", 0x66, 0x5a, K_XX, 16, -1, X_ALIGN | X_RC},
    {"cvtss2sd", 0xf3, 0x5a, K_XX, 4, -1, 0},
    {"cvtsd2ss", 0xf2, 0x5a, K_XX, 8, -1, X_RC},
    {"cvtdq2ps", 0x00, 0x5b, K_XX, 16, -1, X_ALIGN | X_RC},
    {"cvtps2dq", 0x66, 0x5b, K_XX, 16, -1, X_ALIGN},
    {"cvttps2dq", 0xf3, 0x5b, K_XX, 16, -1, X_ALIGN},
    {"cvtdq2pd", 0xf3, 0xe6, K_XX, 8, -1, 0},
    {"cvtpd2dq", 0xf2, 0xe6, K_XX, 16, -1, X_ALIGN},
    {"cvttpd2dq", 0x66, 0xe6, K_XX, 16, -1, X_ALIGN},
};

/* Emit one SSE instruction of form f. */
static void gen_sform(struct gen *g, const struct sform *f)
{
	struct enc e = {.opreg = NO_REG, .oplen = 2, .op = {0x0f, f->op}, .modrm = true};
	unsigned msize = f->msize;
	bool mem, w = false;
	char d[96], mtxt[64], rmtxt[72];
	int gpr = -1;

	if ((f->attr & X_W) && dt_below(2)) {
		w = true;
		e.w = true;
		if (f->kind == K_XG || f->kind == K_GXS)
			msize = 8;
	}
	e.mand = f->pfx;
	mem = !(f->attr & X_REG) && ((f->attr & X_MEM) || dt_below(5) < 2);
	if (f->kind == K_XI)
		mem = false;
	if (f->kind == K_XI)
		e.reg = (unsigned)f->digit;
	else if (f->kind == K_GX) {
		gpr = gen_pick_reg(g, true, 4, false);
		e.reg = (unsigned)gpr;
	} else
		e.reg = (unsigned)dt_below(16);
	if (mem) {
		e.is_mem = true;
		e.m = gen_mem(g, msize, (f->attr & X_ALIGN) ? 16 : 1, mtxt, sizeof(mtxt));
		snprintf(rmtxt, sizeof(rmtxt), "%s", mtxt);
	} else if (f->kind == K_XG || f->kind == K_GXS) {
		gpr = gen_pick_reg(g, f->kind == K_GXS, 8, false);
		e.rm = (unsigned)gpr;
		snprintf(rmtxt, sizeof(rmtxt), "%s", w ? reg64[gpr] : reg32[gpr]);
	} else {
		e.rm = (unsigned)dt_below(16);
		snprintf(rmtxt, sizeof(rmtxt), "xmm%u", e.rm);
	}
	if (f->attr & X_IMM) {
		e.immlen = 1;
		e.imm = f->op == 0xc2 ? dt_below(8) : dt_rand() & 0xff;
		if (f->kind == K_XI && dt_below(2))
			e.imm = dt_below(f->op == 0x73 ? 70 : 36);
	}
	switch (f->kind) {
	case K_XI:
		snprintf(d, sizeof(d), "%s xmm%u, %u", f->name, e.rm, (unsigned)e.imm);
		break;
	case K_ST:
	case K_GXS:
		snprintf(d, sizeof(d), "%s %s, xmm%u", f->name, rmtxt, e.reg);
		break;
	case K_GX:
		snprintf(d, sizeof(d), "%s %s, %s%s", f->name, w ? reg64[gpr] : reg32[gpr], rmtxt,
			 e.immlen ? ", imm" : "");
		break;
	default:
		snprintf(d, sizeof(d), "%s xmm%u, %s%s", f->name, e.reg, rmtxt,
			 e.immlen ? ", imm" : "");
		break;
	}
	if (!gen_emit(g, &e, d))
		return;
	if (f->kind == K_FCMP)
		g->undef = 0;
	if (f->attr & X_RC)
		g->mxcsr_rc_ok = 0;
}

static void gen_sse(struct dt_case *c, const struct sform *forms, unsigned n, bool fp)
{
	struct gen g;
	unsigned k, len = 1 + (unsigned)dt_below(4);

	gen_begin(&g, c, 0, fp);
	if (!fp)
		c->in.mxcsr |= (uint32_t)dt_below(64); /* sticky flags must survive */
	for (k = 0; k < len; k++)
		gen_sform(&g, &forms[dt_below(n)]);
	if (fp) {
		/* see the exclusions at the top of this file */
		c->mxcsr_ignore = 0x3f;
		if (g.mxcsr_rc_ok)
			c->in.mxcsr |= (uint32_t)dt_below(4) << 13;
	}
	gen_finish(&g);
}

void gen_sse_int(struct dt_case *c)
{
	gen_sse(c, sse_int_forms, sizeof(sse_int_forms) / sizeof(sse_int_forms[0]), false);
}

void gen_sse_fp(struct dt_case *c)
{
	gen_sse(c, sse_fp_forms, sizeof(sse_fp_forms) / sizeof(sse_fp_forms[0]), true);
}
