/*
 * Differential test of the soft CPU against the host CPU: each user-mode
 * instruction runs natively and in the emulator from the same random state
 * (GPRs, XMM0-7, arithmetic flags, a 64-byte memory operand at [rbx]), and
 * the resulting states must match, except for flags the SDM leaves
 * undefined. The same prologue/epilogue code (snippets/diff_*.asm) loads and
 * stores the state in both worlds.
 *
 * DIFF_CASES (default 2000) sets the number of random states per instruction,
 * DIFF_SEED the random seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cpu_env.h"

struct diff_state {
	uint64_t gpr[16]; /* rsp and r15 are not used */
	uint64_t rflags;
	uint64_t pad;
	uint8_t xmm[8][16];
	uint8_t mem[64] __attribute__((aligned(16)));
};

_Static_assert(offsetof(struct diff_state, xmm) == 144, "layout shared with diff_pro.asm");
_Static_assert(offsetof(struct diff_state, mem) == 272, "mem after xmm");

/* Arithmetic flags. */
#define CF  0x001u
#define PF  0x004u
#define AF  0x010u
#define ZF  0x040u
#define SF  0x080u
#define OF  0x800u
#define ALL (CF | PF | AF | ZF | SF | OF)

enum constraint { NONE, DIVU, DIVS, DIVU32, DIVS32 };

struct diff_case {
	const char *name;
	uint8_t bytes[8];
	unsigned len;
	uint32_t flags; /* defined flags after the instruction */
	enum constraint c;
};

#define I(n, f, ...)                                                                               \
	{                                                                                          \
		n, {__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__}), f, NONE                        \
	}
#define D(n, c, ...)                                                                               \
	{                                                                                          \
		n, {__VA_ARGS__}, sizeof((uint8_t[]){__VA_ARGS__}), 0, c                           \
	}

static const struct diff_case cases[] = {
    /* integer ALU, every size */
    I("add r64", ALL, 0x48, 0x01, 0xc8),
    I("add r32", ALL, 0x01, 0xc8),
    I("add r16", ALL, 0x66, 0x01, 0xc8),
    I("add r8", ALL, 0x00, 0xc8),
    I("add ah", ALL, 0x00, 0xe5),
    I("or r64", ALL & ~AF, 0x48, 0x09, 0xc8),
    I("adc r64", ALL, 0x48, 0x11, 0xc8),
    I("adc r8", ALL, 0x10, 0xc8),
    I("sbb r64", ALL, 0x48, 0x19, 0xc8),
    I("sbb r16", ALL, 0x66, 0x19, 0xc8),
    I("and r32", ALL & ~AF, 0x21, 0xc8),
    I("sub r64", ALL, 0x48, 0x29, 0xc8),
    I("sub r8", ALL, 0x28, 0xc8),
    I("xor r64", ALL & ~AF, 0x48, 0x31, 0xc8),
    I("cmp r64", ALL, 0x48, 0x39, 0xc8),
    I("cmp r16", ALL, 0x66, 0x39, 0xc8),
    I("test r64", ALL & ~AF, 0x48, 0x85, 0xc8),
    I("add imm8", ALL, 0x48, 0x83, 0xc0, 0x80),
    I("sub imm32", ALL, 0x48, 0x81, 0xe8, 0x78, 0x56, 0x34, 0x12),
    I("add mem", ALL, 0x48, 0x01, 0x03),
    I("add from mem", ALL, 0x48, 0x03, 0x03),
    I("sub mem16", ALL, 0x66, 0x29, 0x43, 0x08),
    I("lock xadd", ALL, 0xf0, 0x48, 0x0f, 0xc1, 0x03),
    I("cmpxchg", ALL, 0x48, 0x0f, 0xb1, 0x0b),
    I("cmpxchg r8", ALL, 0x0f, 0xb0, 0xc8),
    I("inc r64", ALL, 0x48, 0xff, 0xc0),
    I("dec r8", ALL, 0xfe, 0xc8),
    I("neg r64", ALL, 0x48, 0xf7, 0xd8),
    I("neg r16", ALL, 0x66, 0xf7, 0xd8),
    I("not r32", ALL, 0xf7, 0xd0),
    I("inc mem", ALL, 0x48, 0xff, 0x03),
    /* shifts and rotates (OF is undefined for counts other than 1, AF always) */
    I("shl cl", ALL & ~(AF | OF), 0x48, 0xd3, 0xe0),
    I("shr cl", ALL & ~(AF | OF), 0x48, 0xd3, 0xe8),
    I("sar cl", ALL & ~(AF | OF), 0x48, 0xd3, 0xf8),
    I("shl r32 cl", ALL & ~(AF | OF), 0xd3, 0xe0),
    I("shr r8 cl", ALL & ~(AF | OF), 0xd2, 0xe8),
    I("sar r16 cl", ALL & ~(AF | OF), 0x66, 0xd3, 0xf8),
    I("shl 1", ALL & ~AF, 0x48, 0xd1, 0xe0),
    I("shr 1", ALL & ~AF, 0x48, 0xd1, 0xe8),
    I("sar 1", ALL & ~AF, 0xd1, 0xf8),
    I("shl imm", ALL & ~(AF | OF), 0x48, 0xc1, 0xe0, 0x07),
    I("rol cl", CF, 0x48, 0xd3, 0xc0),
    I("ror cl", CF, 0x48, 0xd3, 0xc8),
    I("rol 1", CF | OF, 0x48, 0xd1, 0xc0),
    I("ror 1", CF | OF, 0xd1, 0xc8),
    I("rcl 1", CF | OF, 0x48, 0xd1, 0xd0),
    I("rcr 1", CF | OF, 0x48, 0xd1, 0xd8),
    I("rcl cl", CF, 0x48, 0xd3, 0xd0),
    I("rcr r8 cl", CF, 0xd2, 0xd8),
    I("rol r16 imm", CF, 0x66, 0xc1, 0xc0, 0x05),
    I("shld cl", CF | PF | ZF | SF, 0x48, 0x0f, 0xa5, 0xc8),
    I("shrd cl", CF | PF | ZF | SF, 0x48, 0x0f, 0xad, 0xc8),
    I("shld r32 imm", CF | PF | ZF | SF, 0x0f, 0xa4, 0xc8, 0x09),
    /* multiply and divide */
    I("mul r64", CF | OF, 0x48, 0xf7, 0xe1),
    I("imul r64", CF | OF, 0x48, 0xf7, 0xe9),
    I("mul r32", CF | OF, 0xf7, 0xe1),
    I("mul r8", CF | OF, 0xf6, 0xe1),
    I("imul r16", CF | OF, 0x66, 0xf7, 0xe9),
    I("imul 2op", CF | OF, 0x48, 0x0f, 0xaf, 0xc1),
    I("imul imm8", CF | OF, 0x48, 0x6b, 0xc1, 0xf9),
    I("imul r32 imm32", CF | OF, 0x69, 0xc1, 0x00, 0x00, 0x01, 0x00),
    D("div r64", DIVU, 0x48, 0xf7, 0xf1),
    D("idiv r64", DIVS, 0x48, 0xf7, 0xf9),
    D("div r32", DIVU32, 0xf7, 0xf1),
    D("idiv r32", DIVS32, 0xf7, 0xf9),
    /* bits */
    I("bt r", CF, 0x48, 0x0f, 0xa3, 0xc8),
    I("bts r", CF, 0x48, 0x0f, 0xab, 0xc8),
    I("btr imm", CF, 0x48, 0x0f, 0xba, 0xf0, 0x21),
    I("btc r32", CF, 0x0f, 0xbb, 0xc8),
    I("bt mem", CF, 0x0f, 0xba, 0x23, 0x13),
    I("bsf", ZF, 0x48, 0x0f, 0xbc, 0xc1),
    I("bsr", ZF, 0x48, 0x0f, 0xbd, 0xc1),
    I("bsr r32", ZF, 0x0f, 0xbd, 0xc1),
    I("bswap", 0, 0x48, 0x0f, 0xc8),
    I("bswap r32", 0, 0x0f, 0xc9),
    /* moves */
    I("movzx b", 0, 0x48, 0x0f, 0xb6, 0xc1),
    I("movsx w", 0, 0x48, 0x0f, 0xbf, 0xc1),
    I("movsxd", 0, 0x48, 0x63, 0xc1),
    I("movsx r8 high", 0, 0x0f, 0xbe, 0xc5),
    I("cmove", 0, 0x48, 0x0f, 0x44, 0xc1),
    I("cmovl r32", 0, 0x0f, 0x4c, 0xc1),
    I("cmovbe", 0, 0x48, 0x0f, 0x46, 0xc1),
    I("cmovg mem", 0, 0x0f, 0x4f, 0x03),
    I("setl", 0, 0x0f, 0x9c, 0xc0),
    I("seta", 0, 0x0f, 0x97, 0xc1),
    I("setp", 0, 0x0f, 0x9a, 0xc2),
    I("xchg", 0, 0x48, 0x87, 0xc8),
    I("xchg mem", 0, 0x87, 0x0b),
    I("cqo", 0, 0x48, 0x99),
    I("cwd", 0, 0x66, 0x99),
    I("cdqe", 0, 0x48, 0x98),
    I("cbw", 0, 0x66, 0x98),
    I("lea", 0, 0x48, 0x8d, 0x44, 0x48, 0x07),
    I("lea r32", 0, 0x8d, 0x44, 0x88, 0xf0),
    I("sahf", CF | PF | AF | ZF | SF, 0x9e),
    I("lahf", ALL, 0x9f),
    I("cmc", ALL, 0xf5),
    I("mov mem", 0, 0x48, 0x89, 0x4b, 0x10),
    /* SSE2 integer */
    I("pxor", 0, 0x66, 0x0f, 0xef, 0xc1),
    I("pand", 0, 0x66, 0x0f, 0xdb, 0xc1),
    I("pandn", 0, 0x66, 0x0f, 0xdf, 0xc1),
    I("por", 0, 0x66, 0x0f, 0xeb, 0xc1),
    I("paddb", 0, 0x66, 0x0f, 0xfc, 0xc1),
    I("paddw", 0, 0x66, 0x0f, 0xfd, 0xc1),
    I("paddd", 0, 0x66, 0x0f, 0xfe, 0xc1),
    I("paddq", 0, 0x66, 0x0f, 0xd4, 0xc1),
    I("psubb", 0, 0x66, 0x0f, 0xf8, 0xc1),
    I("psubw", 0, 0x66, 0x0f, 0xf9, 0xc1),
    I("psubd", 0, 0x66, 0x0f, 0xfa, 0xc1),
    I("psubq", 0, 0x66, 0x0f, 0xfb, 0xc1),
    I("pcmpeqb", 0, 0x66, 0x0f, 0x74, 0xc1),
    I("pcmpeqw", 0, 0x66, 0x0f, 0x75, 0xc1),
    I("pcmpeqd", 0, 0x66, 0x0f, 0x76, 0xc1),
    I("pcmpgtb", 0, 0x66, 0x0f, 0x64, 0xc1),
    I("pcmpgtw", 0, 0x66, 0x0f, 0x65, 0xc1),
    I("pcmpgtd", 0, 0x66, 0x0f, 0x66, 0xc1),
    I("pminub", 0, 0x66, 0x0f, 0xda, 0xc1),
    I("pmaxub", 0, 0x66, 0x0f, 0xde, 0xc1),
    I("pminsw", 0, 0x66, 0x0f, 0xea, 0xc1),
    I("pmaxsw", 0, 0x66, 0x0f, 0xee, 0xc1),
    I("pavgb", 0, 0x66, 0x0f, 0xe0, 0xc1),
    I("pavgw", 0, 0x66, 0x0f, 0xe3, 0xc1),
    I("pmullw", 0, 0x66, 0x0f, 0xd5, 0xc1),
    I("pmulhw", 0, 0x66, 0x0f, 0xe5, 0xc1),
    I("pmulhuw", 0, 0x66, 0x0f, 0xe4, 0xc1),
    I("pmuludq", 0, 0x66, 0x0f, 0xf4, 0xc1),
    I("pmaddwd", 0, 0x66, 0x0f, 0xf5, 0xc1),
    I("psadbw", 0, 0x66, 0x0f, 0xf6, 0xc1),
    I("paddusb", 0, 0x66, 0x0f, 0xdc, 0xc1),
    I("paddusw", 0, 0x66, 0x0f, 0xdd, 0xc1),
    I("psubusb", 0, 0x66, 0x0f, 0xd8, 0xc1),
    I("psubusw", 0, 0x66, 0x0f, 0xd9, 0xc1),
    I("paddsb", 0, 0x66, 0x0f, 0xec, 0xc1),
    I("paddsw", 0, 0x66, 0x0f, 0xed, 0xc1),
    I("psubsb", 0, 0x66, 0x0f, 0xe8, 0xc1),
    I("psubsw", 0, 0x66, 0x0f, 0xe9, 0xc1),
    I("packsswb", 0, 0x66, 0x0f, 0x63, 0xc1),
    I("packuswb", 0, 0x66, 0x0f, 0x67, 0xc1),
    I("packssdw", 0, 0x66, 0x0f, 0x6b, 0xc1),
    I("punpcklbw", 0, 0x66, 0x0f, 0x60, 0xc1),
    I("punpcklwd", 0, 0x66, 0x0f, 0x61, 0xc1),
    I("punpckldq", 0, 0x66, 0x0f, 0x62, 0xc1),
    I("punpcklqdq", 0, 0x66, 0x0f, 0x6c, 0xc1),
    I("punpckhbw", 0, 0x66, 0x0f, 0x68, 0xc1),
    I("punpckhwd", 0, 0x66, 0x0f, 0x69, 0xc1),
    I("punpckhdq", 0, 0x66, 0x0f, 0x6a, 0xc1),
    I("punpckhqdq", 0, 0x66, 0x0f, 0x6d, 0xc1),
    I("pmovmskb", 0, 0x66, 0x0f, 0xd7, 0xc1),
    I("pshufd", 0, 0x66, 0x0f, 0x70, 0xc1, 0x1b),
    I("pshuflw", 0, 0xf2, 0x0f, 0x70, 0xc1, 0x4e),
    I("pshufhw", 0, 0xf3, 0x0f, 0x70, 0xc1, 0xb1),
    I("psrldq", 0, 0x66, 0x0f, 0x73, 0xd8, 0x03),
    I("pslldq", 0, 0x66, 0x0f, 0x73, 0xf8, 0x05),
    I("psrlw imm", 0, 0x66, 0x0f, 0x71, 0xd0, 0x03),
    I("psraw imm", 0, 0x66, 0x0f, 0x71, 0xe0, 0x0f),
    I("psllw imm", 0, 0x66, 0x0f, 0x71, 0xf0, 0x11),
    I("psrld imm", 0, 0x66, 0x0f, 0x72, 0xd0, 0x07),
    I("psrad imm", 0, 0x66, 0x0f, 0x72, 0xe0, 0x1f),
    I("pslld imm", 0, 0x66, 0x0f, 0x72, 0xf0, 0x04),
    I("psrlq imm", 0, 0x66, 0x0f, 0x73, 0xd0, 0x21),
    I("psllq imm", 0, 0x66, 0x0f, 0x73, 0xf0, 0x3f),
    I("psrlw xmm", 0, 0x66, 0x0f, 0xd1, 0xc1),
    I("psllq xmm", 0, 0x66, 0x0f, 0xf3, 0xc1),
    I("psrad xmm", 0, 0x66, 0x0f, 0xe2, 0xc1),
    I("movd to xmm", 0, 0x66, 0x0f, 0x6e, 0xc0),
    I("movq to xmm", 0, 0x66, 0x48, 0x0f, 0x6e, 0xc0),
    I("movd from xmm", 0, 0x66, 0x0f, 0x7e, 0xc0),
    I("movq from xmm", 0, 0x66, 0x48, 0x0f, 0x7e, 0xc9),
    I("movq xmm", 0, 0xf3, 0x0f, 0x7e, 0xc1),
    I("movq store", 0, 0x66, 0x0f, 0xd6, 0x43, 0x08),
    I("movdqu load", 0, 0xf3, 0x0f, 0x6f, 0x43, 0x01),
    I("movdqa load", 0, 0x66, 0x0f, 0x6f, 0x03),
    I("movdqu store", 0, 0xf3, 0x0f, 0x7f, 0x4b, 0x03),
    I("pcmpeqb mem", 0, 0x66, 0x0f, 0x74, 0x43, 0x10),
    I("pinsrw", 0, 0x66, 0x0f, 0xc4, 0xc1, 0x03),
    I("pextrw", 0, 0x66, 0x0f, 0xc5, 0xc1, 0x02),
    /* SSE/SSE2 floating point */
    I("addsd", 0, 0xf2, 0x0f, 0x58, 0xc1),
    I("subsd", 0, 0xf2, 0x0f, 0x5c, 0xc1),
    I("mulsd", 0, 0xf2, 0x0f, 0x59, 0xc1),
    I("divsd", 0, 0xf2, 0x0f, 0x5e, 0xc1),
    I("minsd", 0, 0xf2, 0x0f, 0x5d, 0xc1),
    I("maxsd", 0, 0xf2, 0x0f, 0x5f, 0xc1),
    I("sqrtsd", 0, 0xf2, 0x0f, 0x51, 0xc1),
    I("addpd", 0, 0x66, 0x0f, 0x58, 0xc1),
    I("mulps", 0, 0x0f, 0x59, 0xc1),
    I("subss", 0, 0xf3, 0x0f, 0x5c, 0xc1),
    I("maxps", 0, 0x0f, 0x5f, 0xc1),
    I("minss", 0, 0xf3, 0x0f, 0x5d, 0xc1),
    I("andpd", 0, 0x66, 0x0f, 0x54, 0xc1),
    I("andnps", 0, 0x0f, 0x55, 0xc1),
    I("orps", 0, 0x0f, 0x56, 0xc1),
    I("xorps", 0, 0x0f, 0x57, 0xc1),
    I("ucomisd", ALL, 0x66, 0x0f, 0x2e, 0xc1),
    I("comisd", ALL, 0x66, 0x0f, 0x2f, 0xc1),
    I("ucomiss", ALL, 0x0f, 0x2e, 0xc1),
    I("cvtsi2sd", 0, 0xf2, 0x48, 0x0f, 0x2a, 0xc0),
    I("cvtsi2sd r32", 0, 0xf2, 0x0f, 0x2a, 0xc1),
    I("cvtsi2ss", 0, 0xf3, 0x48, 0x0f, 0x2a, 0xc0),
    I("cvttsd2si", 0, 0xf2, 0x48, 0x0f, 0x2c, 0xc0),
    I("cvtsd2si", 0, 0xf2, 0x48, 0x0f, 0x2d, 0xc0),
    I("cvttss2si r32", 0, 0xf3, 0x0f, 0x2c, 0xc0),
    I("cvtsd2ss", 0, 0xf2, 0x0f, 0x5a, 0xc1),
    I("cvtss2sd", 0, 0xf3, 0x0f, 0x5a, 0xc1),
    I("cvtdq2pd", 0, 0xf3, 0x0f, 0xe6, 0xc1),
    I("cvttpd2dq", 0, 0x66, 0x0f, 0xe6, 0xc1),
    I("cvtdq2ps", 0, 0x0f, 0x5b, 0xc1),
    I("cvttps2dq", 0, 0xf3, 0x0f, 0x5b, 0xc1),
    I("cvtps2dq", 0, 0x66, 0x0f, 0x5b, 0xc1),
    I("shufps", 0, 0x0f, 0xc6, 0xc1, 0x1b),
    I("shufpd", 0, 0x66, 0x0f, 0xc6, 0xc1, 0x01),
    I("unpcklps", 0, 0x0f, 0x14, 0xc1),
    I("unpckhpd", 0, 0x66, 0x0f, 0x15, 0xc1),
    I("movmskpd", 0, 0x66, 0x0f, 0x50, 0xc1),
    I("movmskps", 0, 0x0f, 0x50, 0xc1),
    I("cmpltsd", 0, 0xf2, 0x0f, 0xc2, 0xc1, 0x01),
    I("cmpneqps", 0, 0x0f, 0xc2, 0xc1, 0x04),
    I("cmpunordpd", 0, 0x66, 0x0f, 0xc2, 0xc1, 0x03),
    I("movss reg", 0, 0xf3, 0x0f, 0x10, 0xc1),
    I("movsd reg", 0, 0xf2, 0x0f, 0x10, 0xc1),
    I("movsd load", 0, 0xf2, 0x0f, 0x10, 0x03),
    I("movhlps", 0, 0x0f, 0x12, 0xc1),
    I("movlhps", 0, 0x0f, 0x16, 0xc1),
    I("movlpd load", 0, 0x66, 0x0f, 0x12, 0x03),
    I("movhpd load", 0, 0x66, 0x0f, 0x16, 0x43, 0x08),
    I("movhps store", 0, 0x0f, 0x17, 0x43, 0x08),
    I("movaps", 0, 0x0f, 0x28, 0xc1),
    I("movups load", 0, 0x0f, 0x10, 0x43, 0x04),
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* A random value biased toward the edge cases flags depend on. */
static uint64_t rnd_value(void)
{
	static const uint64_t edge[] = {0,
					1,
					~0ULL,
					0x7fffffffffffffffULL,
					0x8000000000000000ULL,
					0x80000000,
					0x7fffffff,
					0xffffffff,
					0x8000,
					0x7fff,
					0x80,
					0x7f,
					0xff,
					0x3ff0000000000000ULL,
					0x7ff8000000000000ULL};

	switch (rnd() % 8) {
	case 0:
		return edge[rnd() % ARRAY_SIZE(edge)];
	case 1:
		return rnd() & 0xff;
	case 2:
		return rnd() & 0x3f;
	case 3:
		return (uint64_t)(int64_t)(int32_t)rnd();
	default:
		return rnd();
	}
}

static void random_state(struct diff_state *s, enum constraint c)
{
	unsigned i;

	for (i = 0; i < 16; i++)
		s->gpr[i] = rnd_value();
	s->gpr[X86_RSP] = s->gpr[X86_R15] = 0;
	s->rflags = (rnd() & ALL) | 0x202;
	for (i = 0; i < 8; i++) {
		uint64_t q[2] = {rnd_value(), rnd_value()};
		if (rnd() % 4 == 0) { /* plausible doubles */
			double d0 = (double)(int64_t)(rnd() % 2000) / 8 - 100,
			       d1 = (double)(rnd() % 77);
			memcpy(&q[0], &d0, 8);
			memcpy(&q[1], &d1, 8);
		}
		memcpy(s->xmm[i], q, 16);
	}
	for (i = 0; i < 64; i++)
		s->mem[i] = (uint8_t)rnd();
	/* Keep divisions from faulting. */
	switch (c) {
	case DIVU:
		s->gpr[X86_RCX] |= 1;
		s->gpr[X86_RDX] %= s->gpr[X86_RCX];
		break;
	case DIVU32:
		s->gpr[X86_RCX] = (uint32_t)s->gpr[X86_RCX] | 1;
		s->gpr[X86_RDX] = (uint32_t)s->gpr[X86_RDX] % (uint32_t)s->gpr[X86_RCX];
		break;
	case DIVS:
		s->gpr[X86_RCX] = (rnd() % 1000) + 2;
		s->gpr[X86_RDX] = (int64_t)s->gpr[X86_RAX] < 0 ? ~0ULL : 0;
		break;
	case DIVS32:
		s->gpr[X86_RCX] = (uint32_t)((rnd() % 1000) + 2);
		s->gpr[X86_RDX] = (int32_t)s->gpr[X86_RAX] < 0 ? 0xffffffff : 0;
		break;
	case NONE:
		break;
	}
}

struct world {
	uint8_t *pro, *epi;
	size_t pro_len, epi_len;
	uint8_t *native; /* an executable page */
	struct env *env;
};

static struct world w;

static int setup(void **state)
{
	const char *dir = getenv("CPU_SNIPPETS");
	char path[512];

	(void)state;
	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/diff_pro.bin", dir);
	w.pro = read_file(path, &w.pro_len);
	snprintf(path, sizeof(path), "%s/diff_epi.bin", dir);
	w.epi = read_file(path, &w.epi_len);
	assert_non_null(w.pro);
	assert_non_null(w.epi);
	w.native = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	assert_true(w.native != MAP_FAILED);
	w.env = env_long();
	rng_state =
	    getenv("DIFF_SEED") ? strtoull(getenv("DIFF_SEED"), NULL, 0) : 0x9e3779b97f4a7c15ULL;
	if (!rng_state)
		rng_state = 1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	munmap(w.native, 4096);
	free(w.pro);
	free(w.epi);
	env_free(w.env);
	return 0;
}

/* prologue + instruction + epilogue at dst; returns the length. */
static size_t compose(uint8_t *dst, const struct diff_case *c)
{
	memcpy(dst, w.pro, w.pro_len);
	memcpy(dst + w.pro_len, c->bytes, c->len);
	memcpy(dst + w.pro_len + c->len, w.epi, w.epi_len);
	return w.pro_len + c->len + w.epi_len;
}

#define GUEST_STATE 0x300000

static void run_emulated(struct diff_state *s)
{
	struct env *e = w.env;
	struct x86_cpu *cpu = &e->cpu;
	/* call CODE+16; hlt */
	static const uint8_t call[] = {0xe8, 0x0b, 0, 0, 0, 0xf4};
	struct diff_state g = *s;

	g.gpr[X86_RBX] = GUEST_STATE + offsetof(struct diff_state, mem);
	memcpy(e->ram + GUEST_STATE, &g, sizeof(g));
	memcpy(e->ram + CODE, call, sizeof(call));
	cpu->rip = CODE;
	cpu->gpr[X86_RSP] = STACK_TOP;
	cpu->gpr[X86_RDI] = GUEST_STATE;
	cpu->gpr[X86_R15] = 0xdead;
	assert_int_equal(x86_cpu_exec(cpu, 10000), X86_EXIT_HLT);
	cpu->halted = false;
	if (cpu->rip != CODE + sizeof(call))
		fail_msg("emulated run raised exception %llu at %#llx",
			 (unsigned long long)cpu->gpr[X86_R15], (unsigned long long)cpu->rip);
	memcpy(s, e->ram + GUEST_STATE, sizeof(*s));
	if (s->gpr[X86_RBX] == GUEST_STATE + offsetof(struct diff_state, mem))
		s->gpr[X86_RBX] = 0; /* compared separately */
}

static void dump_diff(const struct diff_case *c, const struct diff_state *in,
		      const struct diff_state *n, const struct diff_state *m)
{
	unsigned i;

	print_message("%s: native and emulated results differ\n", c->name);
	for (i = 0; i < 16; i++)
		if (n->gpr[i] != m->gpr[i])
			print_message("  gpr%u: in %#llx native %#llx emulated %#llx\n", i,
				      (unsigned long long)in->gpr[i], (unsigned long long)n->gpr[i],
				      (unsigned long long)m->gpr[i]);
	print_message("  rflags: in %#llx native %#llx emulated %#llx\n",
		      (unsigned long long)in->rflags, (unsigned long long)n->rflags,
		      (unsigned long long)m->rflags);
	for (i = 0; i < 8; i++)
		if (memcmp(n->xmm[i], m->xmm[i], 16)) {
			uint64_t a[2], b[2], x[2];
			memcpy(a, in->xmm[i], 16);
			memcpy(b, n->xmm[i], 16);
			memcpy(x, m->xmm[i], 16);
			print_message("  xmm%u: in %016llx:%016llx native %016llx:%016llx emulated "
				      "%016llx:%016llx\n",
				      i, (unsigned long long)a[1], (unsigned long long)a[0],
				      (unsigned long long)b[1], (unsigned long long)b[0],
				      (unsigned long long)x[1], (unsigned long long)x[0]);
		}
	if (memcmp(n->mem, m->mem, 64))
		print_message("  memory operand differs\n");
}

static void test_differential(void **state)
{
	unsigned ncases = getenv("DIFF_CASES") ? (unsigned)atoi(getenv("DIFF_CASES")) : 2000;
	unsigned i, k, failures = 0;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct diff_case *c = &cases[i];
		size_t len = compose(w.native, c);

		compose(w.env->ram + CODE + 16, c);
		assert_true(len < 4096);
		for (k = 0; k < ncases; k++) {
			struct diff_state in, n, m;
			void (*fn)(struct diff_state *) =
			    (void (*)(struct diff_state *))(void *)w.native;
			uint32_t mask = c->flags;

			random_state(&in, c->c);
			n = in;
			n.gpr[X86_RBX] = (uint64_t)(uintptr_t)n.mem;
			m = in;
			fn(&n);
			if (n.gpr[X86_RBX] == (uint64_t)(uintptr_t)n.mem)
				n.gpr[X86_RBX] = 0;
			run_emulated(&m);
			n.rflags &= mask;
			m.rflags &= mask;
			if (memcmp(n.gpr, m.gpr, sizeof(n.gpr)) || n.rflags != m.rflags ||
			    memcmp(n.xmm, m.xmm, sizeof(n.xmm)) || memcmp(n.mem, m.mem, 64)) {
				dump_diff(c, &in, &n, &m);
				failures++;
				break; /* one report per instruction */
			}
		}
	}
	if (failures)
		fail_msg("%u of %zu instructions differ", failures, ARRAY_SIZE(cases));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_differential),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
