/*
 * Unit tests for daemon/network.c without touching the host's networking:
 * definitions, their persistence and autostart flags, lookups, the bridge
 * names picked, and what a domain is told about an inactive network.
 * (Starting networks is tested in tests/integration/daemon, in namespaces.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/berthd.h"
#include "daemon/fileutil.h"
#include "daemon/network.h"

struct fixture {
	char dir[64];
	struct berthd d;
};

/* A berthd with only its directories and network table. */
static void up(struct fixture *f)
{
	struct berthd *d = &f->d;

	memset(d, 0, sizeof(*d));
	d->run_dir = xasprintf("%s/run", f->dir);
	d->net_config_dir = xasprintf("%s/networks", f->dir);
	d->net_autostart_dir = xasprintf("%s/networks/autostart", f->dir);
	assert_int_equal(network_init(d), 0);
}

static void down(struct fixture *f)
{
	network_release_all(&f->d);
	free(f->d.run_dir);
	free(f->d.net_config_dir);
	free(f->d.net_autostart_dir);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-net-unit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	up(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd = xasprintf("rm -rf %s", f->dir);

	down(f);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f);
	return 0;
}

static int define(struct berthd *d, const char *xml, struct berr *err)
{
	json_t *res = NULL;
	int rc = net_define(d, xml, strlen(xml), &res, err);

	json_decref(res);
	return rc;
}

static const char lan_xml[] = "<network><name>lan</name><bridge name='brlan'/>"
			      "<ip address='10.9.0.1' prefix='24'><dhcp>"
			      "<range start='10.9.0.10' end='10.9.0.20'/></dhcp></ip></network>";

/* Define, list, info, XML; persistence and autostart across a restart. */
static void test_define_persist(void **state)
{
	struct fixture *f = *state;
	struct berr err = {0};
	json_t *list, *info;
	char *xml, *path;

	assert_int_equal(define(&f->d, lan_xml, &err), 0);
	list = net_list(&f->d, false);
	assert_int_equal(json_array_size(list), 0); /* inactive */
	json_decref(list);
	list = net_list(&f->d, true);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "name")),
			    "lan");
	assert_true(json_is_false(json_object_get(json_array_get(list, 0), "active")));
	json_decref(list);

	path = xasprintf("%s/networks/lan.xml", f->dir);
	assert_int_equal(access(path, F_OK), 0);
	free(path);
	assert_int_equal(net_set_autostart(&f->d, "lan", true, &err), 0);

	/* A new berthd on the same directories. */
	down(f);
	up(f);
	info = net_info(&f->d, "lan", &err);
	assert_non_null(info);
	assert_true(json_is_true(json_object_get(info, "autostart")));
	assert_string_equal(json_string_value(json_object_get(info, "bridge")), "brlan");
	/* by UUID too */
	list = net_info(&f->d, json_string_value(json_object_get(info, "uuid")), &err);
	assert_non_null(list);
	assert_string_equal(json_string_value(json_object_get(list, "name")), "lan");
	json_decref(list);
	json_decref(info);
	xml = net_get_xml(&f->d, "lan", &err);
	assert_non_null(strstr(xml, "<range start=\"10.9.0.10\" end=\"10.9.0.20\"/>"));
	free(xml);

	assert_int_equal(net_undefine(&f->d, "lan", &err), 0);
	assert_null(net_info(&f->d, "lan", &err));
	assert_int_equal(err.cls, BERR_NOT_FOUND);
	path = xasprintf("%s/networks/autostart/lan", f->dir);
	assert_int_not_equal(access(path, F_OK), 0);
	free(path);
}

/* Conflicts: another UUID under the same name, a bridge taken. Picked bridge names. */
static void test_conflicts_and_bridges(void **state)
{
	struct fixture *f = *state;
	struct berr err = {0};
	char *xml;

	assert_int_equal(define(&f->d, lan_xml, &err), 0);
	/* The same name again (no UUID given): a new UUID is a conflict. */
	assert_int_equal(define(&f->d, lan_xml, &err), -1);
	assert_int_equal(err.cls, BERR_CONFLICT);
	memset(&err, 0, sizeof(err));
	assert_int_equal(
	    define(&f->d, "<network><name>other</name><bridge name='brlan'/></network>", &err), -1);
	assert_int_equal(err.cls, BERR_CONFLICT);
	assert_non_null(strstr(err.msg, "brlan"));
	memset(&err, 0, sizeof(err));

	assert_int_equal(define(&f->d, "<network><name>a</name></network>", &err), 0);
	assert_int_equal(define(&f->d, "<network><name>b</name></network>", &err), 0);
	xml = net_get_xml(&f->d, "a", &err);
	assert_non_null(strstr(xml, "<bridge name=\"bvbr0\"/>"));
	free(xml);
	xml = net_get_xml(&f->d, "b", &err);
	assert_non_null(strstr(xml, "<bridge name=\"bvbr1\"/>"));
	free(xml);
}

/* What a starting domain hears about its network. */
static void test_bridge_for_domains(void **state)
{
	struct fixture *f = *state;
	struct berr err = {0};

	assert_null(network_bridge(&f->d, "nowhere", &err));
	assert_int_equal(err.cls, BERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "nowhere"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(define(&f->d, lan_xml, &err), 0);
	assert_null(network_bridge(&f->d, "lan", &err));
	assert_int_equal(err.cls, BERR_CONFLICT);
	assert_non_null(strstr(err.msg, "network 'lan' is not active"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(net_destroy(&f->d, "lan", &err), -1);
	assert_int_equal(err.cls, BERR_CONFLICT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_define_persist, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_conflicts_and_bridges, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bridge_for_domains, setup, teardown),
	};
	int rc;

	log_init("test_network", NULL);
	xmlInitParser();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	xmlCleanupParser();
	return rc;
}
