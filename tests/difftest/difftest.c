/*
 * The differential test's driver: generate cases of a class, run each on the
 * host and in the soft CPU, compare the results and print every mismatch with
 * what it takes to act on it (the bytes, a disassembly of each instruction,
 * the initial state, both results).
 *
 *   difftest --class NAME|all [--seed N] [--count N] [--case K] [--max-fail N]
 *
 * Case K of a class and seed is reproducible on its own with --case K.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "difftest.h"

uint8_t dt_ro_page[0x1000];

void dt_place_code(const struct dt_case *c, uint8_t *page, const uint8_t *tail, unsigned tail_len)
{
	unsigned off = c->code_off, room = 0x1000 - off;

	/* the same page in both worlds: data accesses may read it */
	memset(page, 0xcc, 0x1000);
	memcpy(page + off, c->code, MIN(c->code_len, room));
	if (c->code_len < room)
		memcpy(page + off + c->code_len, tail, MIN(tail_len, room - c->code_len));
}

static uint64_t rng;

void dt_seed(uint64_t seed)
{
	rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

uint64_t dt_rand(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

/* The seed of case k of a class: cases are independent of each other. */
static uint64_t case_seed(uint64_t seed, const char *cls, unsigned k)
{
	uint64_t h = seed * 0x100000001b3ULL ^ 0xcbf29ce484222325ULL;

	while (*cls)
		h = (h ^ (uint8_t)*cls++) * 0x100000001b3ULL;
	h ^= (uint64_t)k * 0x9e3779b97f4a7c15ULL;
	h ^= h >> 31;
	return h ? h : 1;
}

static const char *const gpr_names[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
					  "r8",	 "r9",	"r10", "r11", "r12", "r13", "r14", "r15"};

static void print_xmm(const char *what, unsigned i, const uint8_t *x)
{
	uint64_t q[2];

	memcpy(q, x, 16);
	printf("    %s xmm%-2u %016llx:%016llx\n", what, i, (unsigned long long)q[1],
	       (unsigned long long)q[0]);
}

static void print_case(const struct dt_case *c)
{
	unsigned i, k;

	printf("  code at %#llx:\n", (unsigned long long)c->in.rip);
	for (i = 0; i < c->ninsns; i++) {
		unsigned end = i + 1 < c->ninsns ? c->insn_off[i + 1] : c->code_len;
		printf("    %04x:", c->insn_off[i]);
		for (k = c->insn_off[i]; k < end; k++)
			printf(" %02x", c->code[k]);
		printf("%*s %s\n",
		       (int)(3 * (15 - (end - c->insn_off[i]))) > 0
			   ? (int)(3 * (15 - (end - c->insn_off[i])))
			   : 0,
		       "", c->desc[i]);
	}
	printf("  initial state:\n");
	for (i = 0; i < 16; i++)
		printf("    %-3s %016llx%s", gpr_names[i], (unsigned long long)c->in.gpr[i],
		       i % 4 == 3 ? "\n" : "");
	printf("    rflags %#llx mxcsr %#x\n", (unsigned long long)c->in.rflags, c->in.mxcsr);
	for (i = 0; i < 16; i++)
		print_xmm("in", i, c->in.xmm[i]);
}

static const char *vector_name(int v, char *buf, size_t n)
{
	switch (v) {
	case -1:
		return "none (ran to the end)";
	case -2:
		return "emulator did not stop in an exception stub";
	case -3:
		return "exception frame with a bad CS/SS";
	default:
		snprintf(buf, n, "%d", v);
		return buf;
	}
}

/* Flags the comparison ignores for a run that stopped where r says. */
static uint32_t undefined_flags(const struct dt_case *c, const struct dt_result *r)
{
	unsigned i;

	if (r->vector >= 0)
		for (i = 0; i < c->ninsns; i++)
			if (c->in.rip + c->insn_off[i] == r->st.rip)
				return c->undef_before[i];
	return c->undef_before[c->ninsns];
}

/* Compare; print the differences (with the case) when verbose or when they differ. */
static bool compare(const struct dt_case *c, struct dt_result *n, struct dt_result *e, bool verbose)
{
	uint32_t fmask = ((FL_ARITH & ~undefined_flags(c, n)) | FL_DF | c->rflags_extra);
	uint32_t xmask = ~c->mxcsr_ignore;
	bool pf = n->vector == 14;
	char what[128] = "", nb[16], eb[16];
	unsigned i;

	/* fields left out of the comparison (see gen.c's exclusions) */
	for (i = 0; i < c->nignore; i++) {
		uint64_t a = c->ignore[i].addr, end = a + c->ignore[i].len;
		for (; a < end; a++)
			if (a >= DATA_VA && a < DATA_VA + DATA_SIZE)
				n->data[a - DATA_VA] &= c->ignore[i].keep,
				    e->data[a - DATA_VA] &= c->ignore[i].keep;
	}
	if (n->vector != e->vector)
		strcat(what, " exception");
	if (n->st.rip != e->st.rip)
		strcat(what, " rip");
	if (memcmp(n->st.gpr, e->st.gpr, sizeof(n->st.gpr)))
		strcat(what, " gpr");
	if ((n->st.rflags & fmask) != (e->st.rflags & fmask))
		strcat(what, " rflags");
	if ((n->st.mxcsr & xmask) != (e->st.mxcsr & xmask))
		strcat(what, " mxcsr");
	if (memcmp(n->st.xmm, e->st.xmm, sizeof(n->st.xmm)))
		strcat(what, " xmm");
	if ((n->vector == 13 || pf) && n->error != e->error)
		strcat(what, " error-code");
	if (pf && n->cr2 != e->cr2)
		strcat(what, " cr2");
	if (memcmp(n->data, e->data, DATA_SIZE))
		strcat(what, " memory");
	if (!what[0] && !verbose)
		return true;

	print_case(c);
	printf("  results (native | emulated)%s%s:\n", what[0] ? "; differ in" : "", what);
	printf("    exception %s | %s\n", vector_name(n->vector, nb, sizeof(nb)),
	       vector_name(e->vector, eb, sizeof(eb)));
	if (n->vector >= 0 || e->vector >= 0)
		printf("    error %#x | %#x  cr2 %#llx | %#llx\n", n->error, e->error,
		       (unsigned long long)n->cr2, (unsigned long long)e->cr2);
	printf("    rip %#llx | %#llx%s\n", (unsigned long long)n->st.rip,
	       (unsigned long long)e->st.rip, n->st.rip != e->st.rip ? "   <-- differs" : "");
	for (i = 0; i < 16; i++)
		if (verbose || n->st.gpr[i] != e->st.gpr[i])
			printf("    %-3s %016llx | %016llx%s\n", gpr_names[i],
			       (unsigned long long)n->st.gpr[i], (unsigned long long)e->st.gpr[i],
			       n->st.gpr[i] != e->st.gpr[i] ? "   <-- differs" : "");
	printf("    rflags %#llx | %#llx (compared bits %#x)%s\n", (unsigned long long)n->st.rflags,
	       (unsigned long long)e->st.rflags, fmask,
	       (n->st.rflags & fmask) != (e->st.rflags & fmask) ? "   <-- differs" : "");
	printf("    mxcsr %#x | %#x (compared bits %#x)\n", n->st.mxcsr, e->st.mxcsr,
	       xmask & 0xffff);
	for (i = 0; i < 16; i++)
		if (verbose || memcmp(n->st.xmm[i], e->st.xmm[i], 16)) {
			print_xmm("native  ", i, n->st.xmm[i]);
			print_xmm("emulated", i, e->st.xmm[i]);
		}
	for (i = 0; i < DATA_SIZE; i++)
		if (n->data[i] != e->data[i]) {
			unsigned k = i & ~15u, j;
			printf("    data+%#06x in      ", k);
			for (j = 0; j < 16; j++)
				printf(" %02x", c->data[k + j]);
			printf("\n    data+%#06x native  ", k);
			for (j = 0; j < 16; j++)
				printf(" %02x", n->data[k + j]);
			printf("\n    data+%#06x emulated", k);
			for (j = 0; j < 16; j++)
				printf(" %02x", e->data[k + j]);
			printf("\n");
			i = k + 15;
		}
	return !what[0];
}

static const struct dt_class *find_class(const char *name)
{
	unsigned i;

	for (i = 0; i < dt_nclasses; i++)
		if (!strcmp(dt_classes[i].name, name))
			return &dt_classes[i];
	return NULL;
}

/* Run count cases of class cls (or only case only_case); returns the failures, adds the passes. */
static unsigned run_class(const struct dt_class *cls, uint64_t seed, unsigned count, long only_case,
			  unsigned max_fail, unsigned *total_passed)
{
	static struct dt_case c;
	static struct dt_result n, e;
	unsigned k, failed = 0, passed = 0, faults = 0;

	for (k = 0; k < count; k++) {
		if (only_case >= 0 && k != (unsigned long)only_case)
			continue;
		memset(&c, 0, sizeof(c));
		dt_seed(case_seed(seed, cls->name, k));
		cls->gen(&c);
		dt_native_run(&c, &n);
		dt_emu_run(&c, &e);
		if (n.vector >= 0)
			faults++;
		if (only_case >= 0)
			printf("%s case %u (seed %llu):\n", cls->name, k, (unsigned long long)seed);
		if (compare(&c, &n, &e, only_case >= 0)) {
			passed++;
			continue;
		}
		failed++;
		printf("FAIL: %s case %u (seed %llu; replay with --class %s --seed %llu --case "
		       "%u)\n\n",
		       cls->name, k, (unsigned long long)seed, cls->name, (unsigned long long)seed,
		       k);
		if (failed >= max_fail) {
			printf("%s: stopping after %u failures\n", cls->name, failed);
			break;
		}
	}
	printf("%s: %u cases (%u ended in an exception): %u passed, %u failed\n", cls->name,
	       passed + failed, faults, passed, failed);
	*total_passed += passed;
	return failed;
}

static void usage(void)
{
	unsigned i;

	fprintf(stderr, "usage: difftest --class NAME|all [--seed N] [--count N] [--case K] "
			"[--max-fail N]\nclasses:");
	for (i = 0; i < dt_nclasses; i++)
		fprintf(stderr, " %s", dt_classes[i].name);
	fprintf(stderr, "\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"class", required_argument, NULL, 'c'},
					     {"seed", required_argument, NULL, 's'},
					     {"count", required_argument, NULL, 'n'},
					     {"case", required_argument, NULL, 'k'},
					     {"max-fail", required_argument, NULL, 'm'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	const char *cls_name = NULL;
	uint64_t seed = 1;
	unsigned count = 2000, max_fail = 10, failed = 0, total_passed = 0, i;
	long only_case = -1;
	char *end;
	int o;

	while ((o = getopt_long(argc, argv, "c:s:n:k:m:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			cls_name = optarg;
			break;
		case 's':
			seed = strtoull(optarg, &end, 0);
			if (*end)
				goto bad;
			break;
		case 'n':
			count = (unsigned)strtoul(optarg, &end, 0);
			if (*end || !count)
				goto bad;
			break;
		case 'k':
			only_case = strtol(optarg, &end, 0);
			if (*end || only_case < 0)
				goto bad;
			break;
		case 'm':
			max_fail = (unsigned)strtoul(optarg, &end, 0);
			if (*end || !max_fail)
				goto bad;
			break;
		default:
			goto bad;
		}
	}
	if (!cls_name || optind != argc)
		goto bad;
	if (strcmp(cls_name, "all") && !find_class(cls_name)) {
		fprintf(stderr, "difftest: unknown class '%s'\n", cls_name);
		goto bad;
	}
	if (only_case >= 0 && (unsigned long)only_case >= count)
		count = (unsigned)only_case + 1;

	/* The read-only page's contents depend on the seed only. */
	dt_seed(seed ^ 0x5eed);
	for (i = 0; i < sizeof(dt_ro_page); i++)
		dt_ro_page[i] = (uint8_t)dt_rand();
	if (dt_native_init() || dt_emu_init())
		return 1;
	for (i = 0; i < dt_nclasses; i++) {
		unsigned f;
		if (strcmp(cls_name, "all") && strcmp(cls_name, dt_classes[i].name))
			continue;
		f = run_class(&dt_classes[i], seed, count, only_case, max_fail, &total_passed);
		failed += f;
	}
	dt_emu_fini();
	if (!strcmp(cls_name, "all"))
		printf("%u passed, %u failed\n", total_passed, failed);
	return failed ? 1 : 0;
bad:
	usage();
	return 2;
}
