/* Unit tests for daemon/fileutil.c: atomic replacement, durable removal, mkdir -p. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/fileutil.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/berth-fileutil-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);
	(void)state;
	int r = system(cmd);
	free(cmd);
	return r;
}

static size_t entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_atomic_write(void **state)
{
	struct berr err = {0};
	char *path = xasprintf("%s/a.xml", dir), *data;
	struct stat st;
	size_t len;
	(void)state;

	assert_int_equal(atomic_write_file(path, "first", 5, 0600, &err), 0);
	assert_int_equal(atomic_write_file(path, "second!", 7, 0600, &err), 0);
	data = read_file(path, &len);
	assert_int_equal(len, 7);
	assert_memory_equal(data, "second!", 7);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* No temporary file is left next to it. */
	assert_int_equal(entries(dir), 1);
	free(data);
	/* An empty file is fine (autostart markers). */
	assert_int_equal(atomic_write_file(path, "", 0, 0600, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	free(path);
}

static void test_atomic_write_fails_cleanly(void **state)
{
	struct berr err = {0};
	char *path = xasprintf("%s/missing/a.xml", dir);
	(void)state;

	assert_int_equal(atomic_write_file(path, "x", 1, 0600, &err), -1);
	assert_int_equal(err.cls, BERR_INTERNAL);
	assert_non_null(strstr(err.msg, "missing"));
	free(path);
}

static void test_remove_and_mkdir(void **state)
{
	struct berr err = {0};
	char *path = xasprintf("%s/x", dir), *deep = xasprintf("%s/p/q/r", dir);
	struct stat st;
	(void)state;

	assert_int_equal(atomic_write_file(path, "x", 1, 0600, &err), 0);
	assert_int_equal(remove_file_durable(path, &err), 0);
	assert_int_equal(access(path, F_OK), -1);
	/* Removing what is not there is not an error. */
	assert_int_equal(remove_file_durable(path, &err), 0);
	assert_int_equal(mkdir_p(deep, 0700, &err), 0);
	assert_int_equal(mkdir_p(deep, 0700, &err), 0);
	assert_int_equal(stat(deep, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(err.cls, BERR_NONE);
	free(path);
	free(deep);
}

/* The first error is kept; later ones do not overwrite it. */
static void test_berr_first_wins(void **state)
{
	struct berr err = {0};
	(void)state;

	berr_set(&err, BERR_CONFLICT, "first %d", 1);
	berr_set(&err, BERR_INTERNAL, "second");
	assert_int_equal(err.cls, BERR_CONFLICT);
	assert_string_equal(err.msg, "first 1");
	assert_string_equal(berr_code(BERR_NO_RESOURCES), "no-resources");
	assert_int_equal(berr_http_status(BERR_NOT_FOUND), 404);
	assert_int_equal(berr_http_status(BERR_UNSUPPORTED), 422);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_atomic_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_atomic_write_fails_cleanly, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remove_and_mkdir, setup, teardown),
	    cmocka_unit_test(test_berr_first_wins),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
