/* Unit tests for daemon/node.c: host resources and the admission rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libxml/parser.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "daemon/berthd.h"
#include "fixtures.h"

static void test_admission(void **state)
{
	struct berthd d = {0};
	struct berr err = {0};
	struct domain *a = domain_new(def_named("a", NULL), true);
	struct domain *b = domain_new(def_named("b", NULL), true);
	json_t *info;
	(void)state;

	pthread_mutex_init(&d.res_lock, NULL);
	d.node.memory = 1024 * MiB;
	d.reserve = 512 * MiB;
	assert_int_equal(node_admit(&d, a, 400 * MiB, &err), 0);
	assert_int_equal(node_admit(&d, b, 200 * MiB, &err), -1);
	assert_int_equal(err.cls, BERR_NO_RESOURCES);
	assert_non_null(strstr(err.msg, "it needs 200 MiB, 112 MiB free"));
	assert_int_equal(d.mem_running, 400 * MiB);
	info = node_info_json(&d);
	assert_int_equal(json_integer_value(json_object_get(info, "memory_free")), 112 * MiB);
	assert_int_equal(json_integer_value(json_object_get(info, "memory_running")), 400 * MiB);
	json_decref(info);
	node_release(&d, a);
	assert_int_equal(d.mem_running, 0);
	assert_int_equal(a->mem_held, 0);
	/* Releasing twice does not count twice. */
	node_release(&d, a);
	assert_int_equal(d.mem_running, 0);
	memset(&err, 0, sizeof(err));
	assert_int_equal(node_admit(&d, b, 512 * MiB, &err), 0);
	node_release(&d, b);
	/* A reserve larger than the host leaves nothing. */
	d.reserve = 2048 * MiB;
	assert_int_equal(node_admit(&d, b, 4096, &err), -1);
	domain_unref(a);
	domain_unref(b);
}

static void test_node_info(void **state)
{
	struct node_info n;
	struct berr err = {0};
	(void)state;

	assert_int_equal(node_info_read(&n, &err), 0);
	assert_true(n.cpus >= 1);
	assert_true(n.memory >= 64 * MiB);
	assert_true(n.sockets >= 1 && n.cores_per_socket >= 1 && n.threads_per_core >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_admission),
	    cmocka_unit_test(test_node_info),
	};
	int ret;

	xmlInitParser();
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	xmlCleanupParser();
	return ret;
}
