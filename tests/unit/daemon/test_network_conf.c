/* Unit tests for daemon/network_conf.c: libvirt network XML in and out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "daemon/network_conf.h"

static const char nat_xml[] =
    "<network>\n"
    "  <name>default</name>\n"
    "  <uuid>8d3c1d1e-4f1a-4a57-9d59-1e3c1d2b3a4f</uuid>\n"
    "  <forward mode='nat'><nat><port start='1024' end='65535'/></nat></forward>\n"
    "  <bridge name='virbr0' stp='on' delay='0'/>\n"
    "  <mac address='52:54:00:0a:0b:0c'/>\n"
    "  <ip address='192.168.122.1' netmask='255.255.255.0'>\n"
    "    <dhcp>\n"
    "      <range start='192.168.122.2' end='192.168.122.254'/>\n"
    "      <host mac='52:54:00:AA:bb:01' name='web' ip='192.168.122.10'/>\n"
    "      <host mac='52:54:00:aa:bb:02' ip='192.168.122.11'/>\n"
    "    </dhcp>\n"
    "  </ip>\n"
    "</network>\n";

static struct network_def *parse(const char *xml, struct strlist *w, struct berr *err)
{
	return network_def_parse(xml, strlen(xml), w, err);
}

static const char *ip(struct in_addr a)
{
	static char buf[INET_ADDRSTRLEN];
	return inet_ntop(AF_INET, &a, buf, sizeof(buf));
}

/* libvirt's default network: every part honoured, the rest warned about. */
static void test_parse_default_network(void **state)
{
	struct strlist w = {0};
	struct berr err = {0};
	struct network_def *def = parse(nat_xml, &w, &err);
	char uuid[DOM_UUID_STRLEN], subnet[32];
	bool warned_mac = false;
	(void)state;

	assert_non_null(def);
	assert_string_equal(def->name, "default");
	uuid_format(def->uuid, uuid);
	assert_string_equal(uuid, "8d3c1d1e-4f1a-4a57-9d59-1e3c1d2b3a4f");
	assert_string_equal(def->bridge, "virbr0");
	assert_int_equal(def->forward, NET_FORWARD_NAT);
	assert_true(def->has_ip);
	assert_string_equal(ip(def->addr), "192.168.122.1");
	assert_int_equal(def->prefix, 24);
	network_subnet(def, subnet, sizeof(subnet));
	assert_string_equal(subnet, "192.168.122.0/24");
	assert_int_equal(def->nranges, 1);
	assert_string_equal(ip(def->ranges[0].start), "192.168.122.2");
	assert_string_equal(ip(def->ranges[0].end), "192.168.122.254");
	assert_int_equal(def->nhosts, 2);
	assert_string_equal(def->hosts[0].mac, "52:54:00:aa:bb:01"); /* lower-cased */
	assert_string_equal(def->hosts[0].name, "web");
	assert_string_equal(ip(def->hosts[0].ip), "192.168.122.10");
	assert_null(def->hosts[1].name);
	for (size_t i = 0; i < w.count; i++)
		warned_mac |= strstr(w.items[i], "<mac>") != NULL;
	assert_true(warned_mac);
	strlist_clear(&w);
	network_def_free(def);
}

/* Format, parse again: the same definition. */
static void test_format_round_trip(void **state)
{
	struct berr err = {0};
	struct network_def *def = parse(nat_xml, NULL, &err), *again;
	char *xml, *xml2;
	(void)state;

	assert_non_null(def);
	xml = network_def_format(def);
	assert_non_null(strstr(xml, "<forward mode=\"nat\"/>"));
	assert_non_null(strstr(xml, "<bridge name=\"virbr0\"/>"));
	assert_non_null(strstr(xml, "netmask=\"255.255.255.0\""));
	assert_non_null(
	    strstr(xml, "<host mac=\"52:54:00:aa:bb:01\" name=\"web\" ip=\"192.168.122.10\"/>"));
	again = parse(xml, NULL, &err);
	assert_non_null(again);
	xml2 = network_def_format(again);
	assert_string_equal(xml, xml2);
	free(xml);
	free(xml2);
	network_def_free(def);
	network_def_free(again);
}

/* The minimum: a name. A UUID is made up, no bridge, isolated, no IP. */
static void test_minimal_and_prefix(void **state)
{
	struct berr err = {0};
	struct network_def *a = parse("<network><name>iso</name></network>", NULL, &err);
	struct network_def *b = parse("<network><name>iso</name></network>", NULL, &err);
	struct network_def *c;
	(void)state;

	assert_non_null(a);
	assert_non_null(b);
	assert_memory_not_equal(a->uuid, b->uuid, 16);
	assert_int_equal(a->uuid[6] >> 4, 4); /* version 4 */
	assert_string_equal(a->bridge, "");
	assert_int_equal(a->forward, NET_FORWARD_NONE);
	assert_false(a->has_ip);
	network_def_free(a);
	network_def_free(b);

	/* <forward/> without a mode is nat, as in libvirt; prefix= instead of netmask. */
	c = parse("<network><name>n</name><forward/><ip address='10.0.0.1' prefix='16'/></network>",
		  NULL, &err);
	assert_non_null(c);
	assert_int_equal(c->forward, NET_FORWARD_NAT);
	assert_string_equal(ip(c->netmask), "255.255.0.0");
	network_def_free(c);
}

/* Every bad definition is refused, and the message names the problem. */
static void test_errors(void **state)
{
	static const struct {
		const char *xml, *needle;
	} cases[] = {
	    {"<network><name>x</name>", "malformed"},
	    {"<domain><name>x</name></domain>", "<network>"},
	    {"<network/>", "no <name>"},
	    {"<network><name>a b</name></network>", "a b"},
	    {"<network><name>.hidden</name></network>", ".hidden"},
	    {"<network><name>x</name><name>y</name></network>", "twice"},
	    {"<network><name>x</name><uuid>nope</uuid></network>", "nope"},
	    {"<network><name>x</name><bridge name='br/0'/></network>", "br/0"},
	    {"<network><name>x</name><bridge name='abcdefghijklmnop'/></network>",
	     "abcdefghijklmnop"},
	    {"<network><name>x</name><forward mode='route'/></network>", "route"},
	    {"<network><name>x</name><forward dev='eth0'/><ip address='10.0.0.1' prefix='24'/>"
	     "</network>",
	     "eth0"},
	    {"<network><name>x</name><forward mode='nat'/></network>", "needs an <ip>"},
	    {"<network><name>x</name><ip family='ipv6' address='fd00::1' prefix='64'/></network>",
	     "ipv6"},
	    {"<network><name>x</name><ip address='10.0.0.1'/></network>", "netmask"},
	    {"<network><name>x</name><ip address='10.0.0.1' netmask='255.255.255.0' prefix='24'/>"
	     "</network>",
	     "exactly one"},
	    {"<network><name>x</name><ip address='10.0.0.256' prefix='24'/></network>",
	     "10.0.0.256"},
	    {"<network><name>x</name><ip address='10.0.0.1' prefix='31'/></network>", "31"},
	    {"<network><name>x</name><ip address='10.0.0.1' netmask='255.0.255.0'/></network>",
	     "contiguous"},
	    {"<network><name>x</name><ip address='10.0.0.0' prefix='24'/></network>", "broadcast"},
	    {"<network><name>x</name><ip address='10.0.0.1' prefix='24'/>"
	     "<ip address='10.0.1.1' prefix='24'/></network>",
	     "one IPv4"},
	    {"<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>"
	     "<range start='10.0.0.9' end='10.0.0.2'/></dhcp></ip></network>",
	     "after end"},
	    {"<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>"
	     "<range start='10.0.0.2' end='10.0.1.9'/></dhcp></ip></network>",
	     "not inside"},
	    {"<network><name>x</name><ip address='10.0.0.5' prefix='24'><dhcp>"
	     "<range start='10.0.0.2' end='10.0.0.9'/></dhcp></ip></network>",
	     "bridge's own"},
	    {"<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>"
	     "<range start='10.0.0.2'/></dhcp></ip></network>",
	     "end attribute"},
	    {"<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>"
	     "<host mac='03:00:00:00:00:01' ip='10.0.0.7'/></dhcp></ip></network>",
	     "unicast"},
	    {"<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>"
	     "<host mac='52:54:00:00:00:1' ip='10.0.0.7'/></dhcp></ip></network>",
	     "52:54:00:00:00:1"},
	    {"<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>"
	     "<host mac='52:54:00:00:00:01' ip='10.0.1.7'/></dhcp></ip></network>",
	     "10.0.1.7"},
	    {"<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>"
	     "<host mac='52:54:00:00:00:01' ip='10.0.0.1'/></dhcp></ip></network>",
	     "not a free host"},
	    {"<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>"
	     "<host mac='52:54:00:00:00:01' ip='10.0.0.7'/>"
	     "<host mac='52:54:00:00:00:02' ip='10.0.0.7'/></dhcp></ip></network>",
	     "another host"},
	    {"<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>"
	     "<host mac='52:54:00:00:00:01' ip='10.0.0.7' name='a,b'/></dhcp></ip></network>",
	     "a,b"},
	};
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct berr err = {0};
		struct network_def *def = parse(cases[i].xml, NULL, &err);
		if (def)
			fail_msg("case %zu accepted: %s", i, cases[i].xml);
		assert_true(berr_isset(&err));
		if (!strstr(err.msg, cases[i].needle))
			fail_msg("case %zu: '%s' does not mention '%s'", i, err.msg,
				 cases[i].needle);
	}
}

static void test_names(void **state)
{
	(void)state;
	assert_true(network_name_valid("default"));
	assert_true(network_name_valid("lab-net_2.x"));
	assert_false(network_name_valid(""));
	assert_false(network_name_valid("-x"));
	assert_false(network_name_valid("a/b"));
	assert_true(network_bridge_name_valid("virbr0"));
	assert_true(network_bridge_name_valid("abcdefghijklmno")); /* 15 */
	assert_false(network_bridge_name_valid("abcdefghijklmnop"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_default_network),
	    cmocka_unit_test(test_format_round_trip),
	    cmocka_unit_test(test_minimal_and_prefix),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
