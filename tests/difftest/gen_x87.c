/* The x87 class of the differential test. */
#include <stdio.h>
#include <string.h>

#include "gen.h"

/* --- x87 --- */

/*
 * x87 forms with their stack effect: the generator keeps the register stack
 * without underflow or overflow (the soft CPU does not model the stack-fault
 * response, see the exclusions above) and picks st(i) among the valid ones.
 */
struct x87_form {
	const char *name;
	uint8_t b0, b1; /* register forms: the second byte plus i for "+i" forms */
	uint8_t digit;	/* memory forms: ModRM.reg */
	uint8_t size;	/* memory forms: operand size (0: a register form) */
	bool plus_i;
	int8_t min;	/* valid registers needed */
	int8_t delta;	/* change of the stack depth (+1: needs a free register) */
	uint32_t fdef;	/* EFLAGS written (FCOMI and friends) */
	uint32_t fread; /* EFLAGS read (FCMOVcc) */
};

#define XR(n, b0, b1, min, delta)                                                                  \
	{                                                                                          \
		n, b0, b1, 0, 0, false, min, delta, 0, 0                                           \
	}
#define XI(n, b0, b1, min, delta)                                                                  \
	{                                                                                          \
		n, b0, b1, 0, 0, true, min, delta, 0, 0                                            \
	}
#define XC(n, b0, b1, delta)                                                                       \
	{                                                                                          \
		n, b0, b1, 0, 0, true, 1, delta, FL_ARITH, 0                                       \
	}
#define XM(n, esc, digit, size, min, delta)                                                        \
	{                                                                                          \
		n, esc, 0, digit, size, false, min, delta, 0, 0                                    \
	}
#define FCM(n, b0, b1)                                                                             \
	{                                                                                          \
		n, b0, b1, 0, 0, true, 1, 0, 0, FL_CF | FL_ZF | FL_PF                              \
	}
static const struct x87_form x87_forms[] = {
    XR("fld1", 0xd9, 0xe8, 0, 1),
    XR("fldz", 0xd9, 0xee, 0, 1),
    XR("fldpi", 0xd9, 0xeb, 0, 1),
    XR("fldl2e", 0xd9, 0xea, 0, 1),
    XR("fldl2t", 0xd9, 0xe9, 0, 1),
    XR("fldlg2", 0xd9, 0xec, 0, 1),
    XR("fldln2", 0xd9, 0xed, 0, 1),
    XI("fld st(i)", 0xd9, 0xc0, 1, 1),
    XI("fadd st0, st(i)", 0xd8, 0xc0, 1, 0),
    XI("fmul st0, st(i)", 0xd8, 0xc8, 1, 0),
    XI("fcom st(i)", 0xd8, 0xd0, 1, 0),
    XI("fcomp st(i)", 0xd8, 0xd8, 1, -1),
    XI("fsub st0, st(i)", 0xd8, 0xe0, 1, 0),
    XI("fsubr st0, st(i)", 0xd8, 0xe8, 1, 0),
    XI("fdiv st0, st(i)", 0xd8, 0xf0, 1, 0),
    XI("fdivr st0, st(i)", 0xd8, 0xf8, 1, 0),
    XI("fadd st(i), st0", 0xdc, 0xc0, 1, 0),
    XI("fmul st(i), st0", 0xdc, 0xc8, 1, 0),
    XI("fsubr st(i), st0", 0xdc, 0xe0, 1, 0),
    XI("fsub st(i), st0", 0xdc, 0xe8, 1, 0),
    XI("fdivr st(i), st0", 0xdc, 0xf0, 1, 0),
    XI("fdiv st(i), st0", 0xdc, 0xf8, 1, 0),
    XI("faddp st(i), st0", 0xde, 0xc0, 2, -1),
    XI("fmulp st(i), st0", 0xde, 0xc8, 2, -1),
    XI("fsubp st(i), st0", 0xde, 0xe8, 2, -1),
    XI("fdivp st(i), st0", 0xde, 0xf8, 2, -1),
    XI("fxch st(i)", 0xd9, 0xc8, 1, 0),
    XI("fst st(i)", 0xdd, 0xd0, 1, 0),
    XI("fstp st(i)", 0xdd, 0xd8, 1, -1),
    XR("fchs", 0xd9, 0xe0, 1, 0),
    XR("fabs", 0xd9, 0xe1, 1, 0),
    XR("ftst", 0xd9, 0xe4, 1, 0),
    XR("fxam", 0xd9, 0xe5, 0, 0),
    XR("fsqrt", 0xd9, 0xfa, 1, 0),
    XR("frndint", 0xd9, 0xfc, 1, 0),
    XR("fnclex", 0xdb, 0xe2, 0, 0),
    XR("fnstsw ax", 0xdf, 0xe0, 0, 0),
    XC("fcomi st0, st(i)", 0xdb, 0xf0, 0),
    XC("fucomi st0, st(i)", 0xdb, 0xe8, 0),
    XC("fcomip st0, st(i)", 0xdf, 0xf0, -1),
    XC("fucomip st0, st(i)", 0xdf, 0xe8, -1),
    FCM("fcmovb st0, st(i)", 0xda, 0xc0),
    FCM("fcmove st0, st(i)", 0xda, 0xc8),
    FCM("fcmovnbe st0, st(i)", 0xdb, 0xd0),
    FCM("fcmovnu st0, st(i)", 0xdb, 0xd8),
    XM("fld m32", 0xd9, 0, 4, 0, 1),
    XM("fld m64", 0xdd, 0, 8, 0, 1),
    XM("fild m16", 0xdf, 0, 2, 0, 1),
    XM("fild m32", 0xdb, 0, 4, 0, 1),
    XM("fild m64", 0xdf, 5, 8, 0, 1),
    XM("fadd m64", 0xdc, 0, 8, 1, 0),
    XM("fmul m32", 0xd8, 1, 4, 1, 0),
    XM("fsub m64", 0xdc, 4, 8, 1, 0),
    XM("fdivr m32", 0xd8, 7, 4, 1, 0),
    XM("fcom m64", 0xdc, 2, 8, 1, 0),
    XM("fiadd m32", 0xda, 0, 4, 1, 0),
    XM("fst m32", 0xd9, 2, 4, 1, 0),
    XM("fst m64", 0xdd, 2, 8, 1, 0),
    XM("fstp m64", 0xdd, 3, 8, 1, -1),
    XM("fistp m32", 0xdb, 3, 4, 1, -1),
    XM("fist m16", 0xdf, 2, 2, 1, 0),
    XM("fistp m64", 0xdf, 7, 8, 1, -1),
    XM("fnstcw m16", 0xd9, 7, 2, 0, 0),
    XM("fnstsw m16", 0xdd, 7, 2, 0, 0),
    XM("fstp m80", 0xdb, 7, 10, 1, -1),
};

/* FNINIT, x87 arithmetic, loads, stores and compares, then an FXSAVE of the result. */
void gen_x87(struct dt_case *c)
{
	struct gen g;
	struct enc e = {.opreg = NO_REG, .oplen = 2, .op = {0xdb, 0xe3}};
	unsigned k, len = 1 + (unsigned)dt_below(DT_MAX_INSNS - 2), tries = 0;
	int depth = 0;
	char d[96], mtxt[64];

	gen_begin(&g, c, 0, true);
	/* not at the end of the code page: a fault on the AND after FNSTSW AX would
	 * expose the exception flags that are not compared */
	c->code_off &= 0x1ff;
	c->in.rip = CODE_VA + c->code_off;
	gen_emit(&g, &e, "fninit");
	/* room for FNSTSW AX's AND and the final FXSAVE */
	for (k = 0; k < len && tries < 100 && c->ninsns + 3 <= DT_MAX_INSNS; tries++) {
		const struct x87_form *f =
		    &x87_forms[dt_below(sizeof(x87_forms) / sizeof(x87_forms[0]))];
		unsigned i = 0;

		if (depth < f->min || depth + f->delta > 8)
			continue;
		k++;
		memset(&e, 0, sizeof(e));
		e.opreg = NO_REG;
		gen_define_flags(&g, f->fread);
		if (!f->size) {
			if (f->plus_i)
				i = (unsigned)dt_below((uint64_t)depth);
			e.oplen = 2;
			e.op[0] = f->b0;
			e.op[1] = (uint8_t)(f->b1 + i);
			snprintf(d, sizeof(d), "%s (i=%u)", f->name, i);
		} else {
			e.oplen = 1;
			e.op[0] = f->b0;
			e.modrm = true;
			e.reg = f->digit;
			e.is_mem = true;
			e.m = gen_mem(&g, f->size, 1, mtxt, sizeof(mtxt));
			snprintf(d, sizeof(d), "%s %s", f->name, mtxt);
		}
		if (!gen_emit(&g, &e, d))
			break;
		depth += f->delta;
		if (f->fdef)
			g.undef = 0;
		if (f->b0 == 0xdf && f->b1 == 0xe0) {
			/* FNSTSW AX: drop the exception flags (see the exclusions) */
			struct enc a = {.opreg = NO_REG,
					.pfx = {0x66},
					.npfx = 1,
					.oplen = 1,
					.op = {0x25},
					.immlen = 2,
					.imm = 0xfdc0};
			gen_emit(&g, &a,
				 "and ax, 0xfdc0 (x87 exception flags and C1 not compared)");
			g.undef = FL_AF;
		} else if (f->size && f->b0 == 0xdd && f->digit == 7) {
			/* FNSTSW m16: likewise */
			c->ignore[c->nignore].addr = gen_mem_addr(&g, &e.m);
			c->ignore[c->nignore].keep = 0xc0;
			c->ignore[c->nignore++].len = 1;
			c->ignore[c->nignore].addr = gen_mem_addr(&g, &e.m) + 1;
			c->ignore[c->nignore].keep = 0xfd;
			c->ignore[c->nignore++].len = 1;
		}
	}
	/* FXSAVE (or FXSAVE64) the whole state into the data area */
	memset(&e, 0, sizeof(e));
	e.opreg = NO_REG;
	e.oplen = 2;
	e.op[0] = 0x0f;
	e.op[1] = 0xae;
	e.modrm = true;
	e.is_mem = true;
	e.w = dt_below(2);
	e.m = gen_mem(&g, 512, 16, mtxt, sizeof(mtxt));
	snprintf(d, sizeof(d), "fxsave%s %s", e.w ? "64" : "", mtxt);
	if (gen_emit(&g, &e, d)) {
		/* FOP, FIP, FDP (with FCS/FDS) and MXCSR_MASK depend on the model;
		 * FSW's exception flags and MXCSR's are not modelled */
		uint64_t a = gen_mem_addr(&g, &e.m);
		c->ignore[c->nignore].addr = a + 6;
		c->ignore[c->nignore++].len = 18;
		c->ignore[c->nignore].addr = a + 28;
		c->ignore[c->nignore++].len = 4;
		c->ignore[c->nignore].addr = a + 2;
		c->ignore[c->nignore].keep = 0xc0;
		c->ignore[c->nignore++].len = 1;
		c->ignore[c->nignore].addr = a + 3;
		c->ignore[c->nignore].keep = 0xfd;
		c->ignore[c->nignore++].len = 1;
		c->ignore[c->nignore].addr = a + 24;
		c->ignore[c->nignore].keep = 0xc0;
		c->ignore[c->nignore++].len = 1;
		c->mxcsr_ignore = 0x3f;
	}
	gen_finish(&g);
}
