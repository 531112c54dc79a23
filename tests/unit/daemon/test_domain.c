/* Unit tests for daemon/domain.c: reference-counted domains in the domain list. */
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

static void test_list_lookup(void **state)
{
	struct domain_list l;
	struct berr err = {0};
	struct domain *a =
	    domain_new(def_named("alpha", "11111111-1111-4111-8111-111111111111"), true);
	struct domain *b = domain_new(def_named("7", NULL), true), *f;
	(void)state;

	domain_list_init(&l);
	assert_int_equal(domain_list_add(&l, a, &err), 0);
	assert_int_equal(domain_list_add(&l, b, &err), 0);
	assert_true(a->listed);

	f = domain_list_lookup(&l, "alpha");
	assert_ptr_equal(f, a);
	domain_unref(f);
	f = domain_list_lookup(&l, "11111111-1111-4111-8111-111111111111");
	assert_ptr_equal(f, a);
	domain_unref(f);
	/* An id matches an active domain; a name that looks like an id wins. */
	a->id = 7;
	a->state = DOM_STATE_RUNNING;
	f = domain_list_lookup(&l, "7");
	assert_ptr_equal(f, b);
	domain_unref(f);
	a->id = 3;
	f = domain_list_lookup(&l, "3");
	assert_ptr_equal(f, a);
	domain_unref(f);
	assert_null(domain_list_lookup(&l, "nosuch"));
	assert_null(domain_list_lookup(&l, ""));

	domain_list_remove(&l, a);
	assert_false(a->listed);
	assert_null(domain_list_lookup(&l, "alpha"));
	domain_unref(a);
	domain_unref(b);
	domain_list_destroy(&l);
}

static void test_list_conflicts(void **state)
{
	struct domain_list l;
	struct berr err = {0};
	struct domain *a = domain_new(def_named("a", "22222222-2222-4222-8222-222222222222"), true);
	struct domain *same_name = domain_new(def_named("a", NULL), true);
	struct domain *same_uuid =
	    domain_new(def_named("b", "22222222-2222-4222-8222-222222222222"), true);
	struct domain **snap;
	size_t n;
	(void)state;

	domain_list_init(&l);
	assert_int_equal(domain_list_add(&l, a, &err), 0);
	assert_int_equal(domain_list_add(&l, same_name, &err), -1);
	assert_int_equal(err.cls, BERR_CONFLICT);
	assert_non_null(strstr(err.msg, "already exists"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(domain_list_add(&l, same_uuid, &err), -1);
	assert_non_null(strstr(err.msg, "UUID"));
	snap = domain_list_snapshot(&l, &n);
	assert_int_equal(n, 1);
	domain_list_free_snapshot(snap, n);
	domain_unref(a);
	domain_unref(same_name);
	domain_unref(same_uuid);
	domain_list_destroy(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_list_lookup),
	    cmocka_unit_test(test_list_conflicts),
	};
	int ret;

	xmlInitParser();
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	xmlCleanupParser();
	return ret;
}
