/*
 * A long-mode test machine for the soft CPU's unit tests: 16 MiB of RAM,
 * GDT/IDT/TSS, identity paging, and exception stubs (vector v sets r15 = v
 * and halts).
 */
#ifndef BERTH_TESTS_UNIT_CPU_CPU_ENV_H
#define BERTH_TESTS_UNIT_CPU_CPU_ENV_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "vmm/cpu/x86/cpu.h"

#define RAM_SIZE  (16 * MiB)
#define GDT_BASE  0x1000
#define IDT_BASE  0x2000
#define TSS_BASE  0x3000
#define STUBS	  0x5000
#define PML4	  0x10000
#define PDPT	  0x11000
#define PD	  0x12000
#define PT	  0x13000 /* 4 KiB pages for 2-4 MiB */
#define CODE	  0x100000
#define STACK_TOP 0x70000
#define RSP0	  0x80000
#define IST1	  0x90000

struct env {
	uint8_t *ram;
	struct x86_cpu cpu;
	char out[256];
	size_t outlen;
};

void w64(struct env *e, uint64_t addr, uint64_t v);
uint64_t r64(struct env *e, uint64_t addr);
/* Load snippets/<name>.bin (built by meson) at addr. */
void load(struct env *e, const char *name, uint64_t addr);
/* Flat 64-bit long mode: first GiB identity-mapped with user-accessible 2 MiB
 * pages, 2-4 MiB through 4 KiB pages (PT), RIP = CODE, RSP = STACK_TOP. */
struct env *env_long(void);
void env_free(struct env *e);
/* Run until HLT or shutdown (fails the test if it never halts). */
enum x86_exit run(struct env *e);

#endif
