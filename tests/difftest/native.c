/*
 * The host side of the differential test: the test area mapped at its fixed
 * address, and a run of a case on the host CPU. A fault in the case's code
 * arrives as SIGSEGV/SIGBUS/SIGFPE/SIGILL; the handler records the hardware
 * vector, error code and CR2 that the kernel reports in the signal context
 * and resumes at the epilogue, which saves the registers as they were at the
 * faulting instruction.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#include "difftest.h"

extern struct dt_state dt_native_in, dt_native_out;
void dt_native_enter(void);
void dt_native_exit(void);

static uint8_t *area;
static volatile sig_atomic_t in_case;
static volatile int fault_vector;
static volatile uint64_t fault_error, fault_cr2, fault_rip;

/* Record the fault of a running case and resume at the epilogue. */
static void on_fault(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	greg_t *g = uc->uc_mcontext.gregs;

	(void)si;
	if (!in_case) {
		/* Not ours: die the ordinary way. */
		signal(sig, SIG_DFL);
		return;
	}
	in_case = 0;
	fault_vector = (int)g[REG_TRAPNO];
	fault_error = (uint64_t)g[REG_ERR];
	fault_cr2 = (uint64_t)g[REG_CR2];
	fault_rip = (uint64_t)g[REG_RIP];
	g[REG_RIP] = (greg_t)(uintptr_t)dt_native_exit;
}

/* Map the test area at TEST_VA with the protections of difftest.h and install the handlers. */
int dt_native_init(void)
{
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP};
	static uint8_t altstack[256 * 1024];
	struct sigaction sa;
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack)};
	unsigned i;

	area = mmap((void *)(uintptr_t)TEST_VA, TEST_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (area == MAP_FAILED || area != (uint8_t *)(uintptr_t)TEST_VA) {
		perror("difftest: cannot map the test area at 0x20000000");
		return -1;
	}
	memcpy(area + (RO_VA - TEST_VA), dt_ro_page, sizeof(dt_ro_page));
	if (mprotect(area + (GUARD_VA - TEST_VA), 0x1000, PROT_NONE) ||
	    mprotect(area + (RO_VA - TEST_VA), 0x1000, PROT_READ) ||
	    mprotect(area + (ABSENT_VA - TEST_VA), 0x1000, PROT_NONE)) {
		perror("difftest: mprotect of the test area");
		return -1;
	}
	if (sigaltstack(&ss, NULL)) {
		perror("difftest: sigaltstack");
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		if (sigaction(sigs[i], &sa, NULL)) {
			perror("difftest: sigaction");
			return -1;
		}
	}
	return 0;
}

void dt_native_tail(uint8_t tail[DT_TAIL_LEN])
{
	static const uint8_t jmp[6] = {0xff, 0x25, 0, 0, 0, 0};
	uint64_t exit_addr = (uint64_t)(uintptr_t)dt_native_exit;

	memcpy(tail, jmp, sizeof(jmp));
	memcpy(tail + sizeof(jmp), &exit_addr, 8);
}

/* Run case c on the host CPU. */
void dt_native_run(const struct dt_case *c, struct dt_result *r)
{
	uint8_t tail[DT_TAIL_LEN];

	dt_native_tail(tail);
	dt_place_code(c, area + (CODE_VA - TEST_VA), tail, sizeof(tail));
	memcpy(area + (DATA_VA - TEST_VA), c->data, DATA_SIZE);
	memset(area + (STACK_VA - TEST_VA), 0, 0x1000);

	dt_native_in = c->in;
	fault_vector = -1;
	in_case = 1;
	dt_native_enter();
	in_case = 0;

	r->st = dt_native_out;
	r->vector = fault_vector;
	r->error = 0;
	r->cr2 = 0;
	if (r->vector == 14 && fault_rip == c->in.rip + c->code_len) {
		/* the jump to the epilogue itself faulted: near the end of the code
		 * page it runs into the unmapped page, after the whole case ran */
		r->vector = -1;
	}
	if (r->vector >= 0) {
		r->st.rip = fault_rip;
		r->error = (uint32_t)fault_error;
		r->cr2 = fault_cr2;
	} else {
		r->st.rip = c->in.rip + c->code_len;
	}
	memcpy(r->data, area + (DATA_VA - TEST_VA), DATA_SIZE);
}
