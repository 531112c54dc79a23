/* The control class of the differential test: branches, stack, segment registers,
 * privileged and invalid instructions at CPL 3. */
#include <stdio.h>
#include <string.h>

#include "gen.h"

/* --- control transfer, stack, segment registers, privileged and invalid opcodes --- */

/* ADD r32, r32 on writable registers: the instruction a branch may skip. */
static bool emit_filler(struct gen *g)
{
	int a = gen_pick_reg(g, true, 4, false), b = (int)dt_below(16);
	uint8_t code[3];
	unsigned n = 0;
	char d[48];

	if (a >= 8 || b >= 8)
		code[n++] = (uint8_t)(0x40 | (b >= 8 ? 4 : 0) | (a >= 8 ? 1 : 0));
	code[n++] = 0x01;
	code[n++] = (uint8_t)(0xc0 | (b & 7) << 3 | (a & 7));
	snprintf(d, sizeof(d), "add %s, %s", reg32[a], reg32[b]);
	if (!gen_emit_bytes(g, code, n, d))
		return false;
	g->undef = 0;
	return true;
}

/* Privileged or invalid at CPL 3 in 64-bit mode (#GP(0) or #UD); no memory operands. */
static const struct {
	const char *name;
	uint8_t len, b[3];
} trap_ops[] = {
    {"hlt", 1, {0xf4}},
    {"cli", 1, {0xfa}},
    {"sti", 1, {0xfb}},
    {"in al, dx", 1, {0xec}},
    {"out dx, eax", 1, {0xef}},
    {"in al, 0x60", 2, {0xe4, 0x60}},
    {"rdmsr", 2, {0x0f, 0x32}},
    {"wrmsr", 2, {0x0f, 0x30}},
    {"mov rax, cr0", 3, {0x0f, 0x20, 0xc0}},
    {"mov cr3, rax", 3, {0x0f, 0x22, 0xd8}},
    {"mov rax, dr7", 3, {0x0f, 0x21, 0xf8}},
    {"clts", 2, {0x0f, 0x06}},
    {"swapgs", 3, {0x0f, 0x01, 0xf8}},
    {"wbinvd", 2, {0x0f, 0x09}},
    {"invd", 2, {0x0f, 0x08}},
    {"ltr ax", 3, {0x0f, 0x00, 0xd8}},
    {"lldt ax", 3, {0x0f, 0x00, 0xd0}},
    {"ud2", 2, {0x0f, 0x0b}},
    {"push es (invalid)", 1, {0x06}},
    {"pop es (invalid)", 1, {0x07}},
    {"push cs (invalid)", 1, {0x0e}},
    {"push ss (invalid)", 1, {0x16}},
    {"pop ds (invalid)", 1, {0x1f}},
    {"daa (invalid)", 1, {0x27}},
    {"aas (invalid)", 1, {0x3f}},
    {"pusha (invalid)", 1, {0x60}},
    {"popa (invalid)", 1, {0x61}},
    {"into (invalid)", 1, {0xce}},
    {"aam (invalid)", 2, {0xd4, 0x0a}},
    {"salc (invalid)", 1, {0xd6}},
    {"add r/m8, imm8 via 0x82 (invalid)", 3, {0x82, 0xc0, 0x01}},
    {"int3", 1, {0xcc}},
    {"int 3", 2, {0xcd, 0x03}},
    {"int 4", 2, {0xcd, 0x04}},
};

/* Selector values that mean the same in the emulator's GDT as in Linux's. */
static const uint16_t sreg_values[] = {0, 3, 0x2b, 0x28, 0x33, 0x08, 0x10, 0x18};

void gen_control(struct dt_case *c)
{
	struct gen g;
	unsigned k, len = 1 + (unsigned)dt_below(4);
	uint8_t b[16];
	char d[96];

	gen_begin(&g, c, 0, false);
	c->rflags_extra = 0x3e7200; /* IF IOPL NT VM AC VIF VIP ID */
	for (k = 0; k < len && c->ninsns < DT_MAX_INSNS - 1; k++) {
		unsigned n = 0, what = (unsigned)dt_below(16);
		int r;

		switch (what) {
		case 0:
		case 1: { /* Jcc rel8/rel32 or JMP rel8 over the next instruction */
			unsigned cc = (unsigned)dt_below(17), at;
			bool near = cc < 16 && dt_below(3) == 0;
			if (cc < 16)
				gen_define_flags(&g, FL_ARITH);
			if (cc == 16) {
				b[n++] = 0xeb;
			} else if (near) {
				b[n++] = 0x0f;
				b[n++] = (uint8_t)(0x80 + cc);
			} else {
				b[n++] = (uint8_t)(0x70 + cc);
			}
			at = c->code_len + n;
			memset(b + n, 0, near ? 4 : 1);
			n += near ? 4 : 1;
			snprintf(d, sizeof(d), "%s cc=%u over the next",
				 cc == 16 ? "jmp short"
				 : near	  ? "jcc near"
					  : "jcc short",
				 cc);
			if (!gen_emit_bytes(&g, b, n, d))
				goto out;
			n = c->code_len;
			if (!emit_filler(&g))
				goto out;
			c->code[at] = (uint8_t)(c->code_len - n); /* rel8 or low byte of rel32 */
			break;
		}
		case 2: { /* LOOP/LOOPE/LOOPNE/JRCXZ over the next instruction */
			unsigned op = (unsigned)dt_below(4), at;
			bool a32 = dt_below(4) == 0;
			static const char *const names[] = {"loopne", "loope", "loop", "jrcxz"};
			if (gen_protected_reg(&g, RCX))
				break;
			if (op < 2)
				gen_define_flags(&g, FL_ZF);
			if (dt_below(2))
				c->in.gpr[RCX] = dt_below(3) | (dt_below(2) ? 0x100000000ULL : 0);
			if (a32)
				b[n++] = 0x67;
			b[n++] = (uint8_t)(0xe0 + op);
			at = c->code_len + n;
			b[n++] = 0;
			snprintf(d, sizeof(d), "%s%s over the next", names[op],
				 a32 ? " (a32)" : "");
			if (!gen_emit_bytes(&g, b, n, d))
				goto out;
			n = c->code_len;
			if (!emit_filler(&g))
				goto out;
			c->code[at] = (uint8_t)(c->code_len - n);
			break;
		}
		case 3: /* CALL to the next instruction, POP r */
			b[n++] = 0xe8;
			memset(b + n, 0, 4);
			n += 4;
			if (!gen_emit_bytes(&g, b, n, "call next"))
				goto out;
			r = gen_pick_reg(&g, true, 8, false);
			n = 0;
			if (r >= 8)
				b[n++] = 0x41;
			b[n++] = (uint8_t)(0x58 + (r & 7));
			snprintf(d, sizeof(d), "pop %s", reg64[r]);
			gen_emit_bytes(&g, b, n, d);
			break;
		case 4: { /* PUSH r/imm/m, POP r/m (also 16-bit) */
			struct enc e = {.opreg = NO_REG};
			char mtxt[64];
			unsigned form = (unsigned)dt_below(6);
			bool o16 = dt_below(5) == 0;
			if (o16)
				e.pfx[e.npfx++] = 0x66;
			e.oplen = 1;
			switch (form) {
			case 0:
				e.op[0] = 0x50;
				e.opreg = (int)dt_below(16);
				snprintf(d, sizeof(d), "push%s %s", o16 ? "w" : "", reg64[e.opreg]);
				break;
			case 1:
				e.op[0] = 0x58;
				e.opreg = gen_pick_reg(&g, true, 8, false);
				snprintf(d, sizeof(d), "pop%s %s", o16 ? "w" : "", reg64[e.opreg]);
				break;
			case 2:
				e.op[0] = dt_below(2) ? 0x6a : 0x68;
				e.immlen = e.op[0] == 0x6a ? 1 : o16 ? 2 : 4;
				e.imm = gen_imm_value(e.immlen);
				snprintf(d, sizeof(d), "push%s imm", o16 ? "w" : "");
				break;
			case 3:
			case 4:
				e.op[0] = form == 3 ? 0xff : 0x8f;
				e.modrm = true;
				e.reg = form == 3 ? 6 : 0;
				e.is_mem = true;
				e.m = gen_mem(&g, o16 ? 2 : 8, 1, mtxt, sizeof(mtxt));
				snprintf(d, sizeof(d), "%s%s %s", form == 3 ? "push" : "pop",
					 o16 ? "w" : "", mtxt);
				break;
			default:
				e.op[0] = 0x9c;
				snprintf(d, sizeof(d), "pushf%s", o16 ? "" : "q");
				break;
			}
			gen_emit(&g, &e, d);
			break;
		}
		case 5: { /* PUSH imm32; POPFQ: what CPL 3 may and may not change */
			uint32_t v = (uint32_t)dt_rand() & 0x3a7ed5; /* not TF, AC or RF */
			b[n++] = 0x68;
			memcpy(b + n, &v, 4);
			n += 4;
			snprintf(d, sizeof(d), "push %#x", v);
			if (!gen_emit_bytes(&g, b, n, d))
				goto out;
			b[0] = 0x9d;
			if (gen_emit_bytes(&g, b, 1, "popfq"))
				g.undef = 0;
			break;
		}
		case 6: /* MOV r, Sreg */
			r = gen_pick_reg(&g, true, 8, false);
			{
				unsigned sr = (unsigned)dt_below(6), size = 2u << dt_below(3);
				static const char *const sn[] = {"es", "cs", "ss",
								 "ds", "fs", "gs"};
				if (size == 2)
					b[n++] = 0x66;
				if (r >= 8 || size == 8)
					b[n++] = (uint8_t)(0x40 | (size == 8 ? 8 : 0) |
							   (r >= 8 ? 1 : 0));
				b[n++] = 0x8c;
				b[n++] = (uint8_t)(0xc0 | sr << 3 | (r & 7));
				snprintf(d, sizeof(d), "mov %s, %s", gen_reg_name(r, size, false),
					 sn[sr]);
				gen_emit_bytes(&g, b, n, d);
			}
			break;
		case 7: /* MOV r32, selector; MOV DS/ES, r16 */
			r = gen_pick_reg(&g, true, 4, false);
			{
				uint32_t v = sreg_values[dt_below(sizeof(sreg_values) /
								  sizeof(sreg_values[0]))];
				unsigned sr = dt_below(2) ? 3 : 0;
				if (r >= 8)
					b[n++] = 0x41;
				b[n++] = (uint8_t)(0xb8 + (r & 7));
				memcpy(b + n, &v, 4);
				n += 4;
				snprintf(d, sizeof(d), "mov %s, %#x", reg32[r], v);
				if (!gen_emit_bytes(&g, b, n, d))
					goto out;
				n = 0;
				if (r >= 8)
					b[n++] = 0x41;
				b[n++] = 0x8e;
				b[n++] = (uint8_t)(0xc0 | sr << 3 | (r & 7));
				snprintf(d, sizeof(d), "mov %s, %s", sr == 3 ? "ds" : "es",
					 reg16[r]);
				gen_emit_bytes(&g, b, n, d);
			}
			break;
		case 8: /* IRETQ to the next instruction at CPL 3 */
			if (gen_protected_reg(&g, RAX) || gen_protected_reg(&g, RCX))
				break;
			{
				static const uint8_t frame[] = {
				    0x48, 0x89, 0xe0,		     /* mov rax, rsp */
				    0x6a, 0x2b,			     /* push 0x2b */
				    0x50,			     /* push rax */
				    0x9c,			     /* pushfq */
				    0x6a, 0x33,			     /* push 0x33 */
				    0x48, 0x8d, 0x0d, 0x03, 0, 0, 0, /* lea rcx, [rip + 3] */
				};
				static const uint8_t tail[] = {0x51, 0x48,
							       0xcf}; /* push rcx; iretq */
				uint8_t all[sizeof(frame) + sizeof(tail)];
				memcpy(all, frame, sizeof(frame));
				memcpy(all + sizeof(frame), tail, sizeof(tail));
				gen_emit_bytes(
				    &g, all, sizeof(all),
				    "mov rax, rsp; push ss, rax, rflags, cs, rip; iretq");
			}
			break;
		case 9: { /* INT n through a DPL 0 gate: #GP(n * 8 + 2) */
			unsigned v = (unsigned)dt_below(256);
			if (v == 0x80 || v == 3 || v == 4)
				v = 0x81;
			b[n++] = 0xcd;
			b[n++] = (uint8_t)v;
			snprintf(d, sizeof(d), "int %#x", v);
			gen_emit_bytes(&g, b, n, d);
			break;
		}
		case 10:
		case 11: {
			unsigned t = (unsigned)dt_below(sizeof(trap_ops) / sizeof(trap_ops[0]));
			gen_emit_bytes(&g, trap_ops[t].b, trap_ops[t].len, trap_ops[t].name);
			break;
		}
		case 12: { /* NOPs, PAUSE, flag instructions */
			static const struct {
				const char *name;
				uint8_t len, b[4];
			} ops[] = {{"nop", 1, {0x90}},
				   {"o16 nop", 2, {0x66, 0x90}},
				   {"pause", 2, {0xf3, 0x90}},
				   {"nop dword [rax]", 3, {0x0f, 0x1f, 0x00}},
				   {"nop word [rax+rax+0]", 4, {0x66, 0x0f, 0x1f, 0x44}},
				   {"cld", 1, {0xfc}},
				   {"std", 1, {0xfd}},
				   {"clc", 1, {0xf8}},
				   {"stc", 1, {0xf9}},
				   {"cmc", 1, {0xf5}}};
			unsigned t = (unsigned)dt_below(sizeof(ops) / sizeof(ops[0]));
			uint8_t nb[6];
			memcpy(nb, ops[t].b, ops[t].len);
			n = ops[t].len;
			if (t == 4) {
				nb[n++] = 0x00; /* SIB */
				nb[n++] = 0x00; /* disp8 */
			}
			if (ops[t].b[0] == 0xf5)
				gen_define_flags(&g, FL_CF);
			gen_emit_bytes(&g, nb, n, ops[t].name);
			break;
		}
		default:
			emit_filler(&g);
			break;
		}
	}
out:
	gen_finish(&g);
}
