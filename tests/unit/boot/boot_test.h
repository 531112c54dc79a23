/*
 * Helpers shared by the boot unit tests: a bare struct vm with RAM and no
 * accelerator, guest-memory accessors, and temporary files.
 */
#ifndef BERTH_TESTS_BOOT_TEST_H
#define BERTH_TESTS_BOOT_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/util.h"
#include "vmm/boot/loader.h"
#include "vmm/vm.h"

/* A VM with size bytes of RAM and ncpus vCPUs (no accelerator, no devices). */
static inline struct vm *test_vm_new(uint64_t size, int ncpus)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	assert_non_null(vm);
	vm->name = "test";
	vm->ncpus = ncpus;
	assert_int_equal(vm_alloc_ram(vm, size), 0);
	return vm;
}

static inline void test_vm_free(struct vm *vm)
{
	munmap(vm->ram, vm->ram_size);
	free(vm);
}

/* Host pointer to guest memory that must be RAM. */
static inline uint8_t *gmem(struct vm *vm, uint64_t gpa, uint64_t len)
{
	uint8_t *p = vm_gpa_to_hva(vm, gpa, len);

	assert_non_null(p);
	return p;
}

static inline uint32_t g32(struct vm *vm, uint64_t gpa)
{
	return get_le32(gmem(vm, gpa, 4));
}

static inline uint64_t g64(struct vm *vm, uint64_t gpa)
{
	return get_le64(gmem(vm, gpa, 8));
}

/* Write len bytes (pattern: byte i is (i * 7 + seed) & 0xff) to a new temp file. */
static inline char *test_temp_file(size_t len, unsigned seed)
{
	char *path = strdup("/tmp/berth-boot-test-XXXXXX");
	int fd = mkstemp(path);
	uint8_t *buf = malloc(len ? len : 1);

	assert_true(fd >= 0);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + seed);
	assert_int_equal(write_all(fd, buf, len), 0);
	close(fd);
	free(buf);
	return path;
}

/* Write a buffer to a new temp file. */
static inline char *test_temp_data(const void *data, size_t len)
{
	char *path = strdup("/tmp/berth-boot-test-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, data, len), 0);
	close(fd);
	return path;
}

static inline void test_temp_remove(char *path)
{
	unlink(path);
	free(path);
}

/* Does guest RAM at gpa hold the temp-file pattern of length len? */
static inline int pattern_matches(struct vm *vm, uint64_t gpa, size_t len, unsigned seed)
{
	uint8_t *p = gmem(vm, gpa, len);

	for (size_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)(i * 7 + seed))
			return 0;
	return 1;
}

#endif
