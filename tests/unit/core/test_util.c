/* Unit tests for src/common/util.c: size parsing and file reading. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

static void test_parse_size_units(void **state)
{
	uint64_t v;
	(void)state;

	assert_int_equal(parse_size("512M", MiB, &v), 0);
	assert_int_equal(v, 512 * MiB);
	assert_int_equal(parse_size("2G", MiB, &v), 0);
	assert_int_equal(v, 2 * GiB);
	assert_int_equal(parse_size("2GiB", MiB, &v), 0);
	assert_int_equal(v, 2 * GiB);
	assert_int_equal(parse_size("64k", MiB, &v), 0);
	assert_int_equal(v, 64 * KiB);
	assert_int_equal(parse_size("1.5G", MiB, &v), 0);
	assert_int_equal(v, 1536 * MiB);
	assert_int_equal(parse_size("300", MiB, &v), 0); /* bare number: default unit */
	assert_int_equal(v, 300 * MiB);
	assert_int_equal(parse_size("4096B", MiB, &v), 0);
	assert_int_equal(v, 4096);
}

static void test_parse_size_rejects(void **state)
{
	uint64_t v = 7;
	(void)state;
	const char *bad[] = {"", "M", "12X", "-5M", "1.2.3G", "5MM", "99999999999999T", "0x10M",
			     "1.0000001K", "1e3"};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(parse_size(bad[i], MiB, &v), -1);
		assert_int_equal(v, 7); /* untouched on error */
	}
	assert_int_equal(parse_size(NULL, MiB, &v), -1);
}

static void test_read_file(void **state)
{
	char path[] = "/tmp/berth-test-XXXXXX";
	int fd = mkstemp(path);
	size_t len;
	char *buf;
	(void)state;

	assert_true(fd >= 0);
	assert_int_equal(write_all(fd, "hello\0world", 11), 0);
	close(fd);
	buf = read_file(path, &len);
	assert_non_null(buf);
	assert_int_equal(len, 11);
	assert_memory_equal(buf, "hello\0world", 11);
	free(buf);
	unlink(path);
	assert_null(read_file(path, &len));
	assert_null(read_file("/tmp", &len)); /* a directory is not a file */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size_units),
		cmocka_unit_test(test_parse_size_rejects),
		cmocka_unit_test(test_read_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
