/* virsh's net-* verbs over berthd's /v1/networks endpoints. */
#include "cli/cli.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Print berthd's error message from a failed request's body. */
static void print_error(const struct response *r)
{
	json_t *j = json_loadb(r->body, r->len, 0, NULL);
	const char *msg =
	    json_string_value(json_object_get(json_object_get(j, "error"), "message"));

	fprintf(stderr, "error: %s\n", msg ? msg : r->body);
	json_decref(j);
}

/* berth net-define FILE */
int cmd_net_define(struct client *c, int argc, char **argv)
{
	const char *file;
	struct response r;
	json_t *j, *w;
	size_t len, i;
	char *xml;
	int ret = 1;

	if (parse_args(argc, argv, NULL, 0, &file, 1) < 0)
		return 1;
	xml = read_file(file, &len);
	if (!xml) {
		fprintf(stderr, "error: reading %s: %s\n", file, strerror(errno));
		return 1;
	}
	if (client_request(c, "POST", "networks", xml, len, "application/xml", &r) < 0) {
		free(xml);
		return 1;
	}
	free(xml);
	if (r.status / 100 != 2) {
		print_error(&r);
	} else {
		j = json_loadb(r.body, r.len, 0, NULL);
		json_array_foreach(json_object_get(j, "warnings"), i, w)
		    fprintf(stderr, "warning: %s\n", json_string_value(w));
		printf("Network %s defined from %s\n", str(j, "name"), file);
		json_decref(j);
		ret = 0;
	}
	response_free(&r);
	return ret;
}

int cmd_net_undefine(struct client *c, int argc, char **argv)
{
	return object_action(c, argc, argv, "networks", "DELETE", "", "Network %s has been undefined");
}

int cmd_net_start(struct client *c, int argc, char **argv)
{
	return object_action(c, argc, argv, "networks", "POST", "/start", "Network %s started");
}

int cmd_net_destroy(struct client *c, int argc, char **argv)
{
	return object_action(c, argc, argv, "networks", "POST", "/destroy", "Network %s destroyed");
}

/* berth net-list [--all] [--inactive]: virsh's table. */
int cmd_net_list(struct client *c, int argc, char **argv)
{
	bool all = false, inactive = false;
	const struct flag flags[] = {{"all", &all}, {"inactive", &inactive}};
	json_t *list, *n;
	struct table t;
	size_t i;

	if (parse_args(argc, argv, flags, ARRAY_SIZE(flags), NULL, 0) < 0)
		return 1;
	list = client_call(c, "GET", all || inactive ? "networks?all=1" : "networks", NULL);
	if (!list)
		return 1;
	table_init(&t, 4, (const char *const[]){"Name", "State", "Autostart", "Persistent"});
	json_array_foreach(list, i, n)
	{
		bool active = json_is_true(json_object_get(n, "active"));
		if (inactive && active)
			continue;
		table_add(&t, (const char *const[]){
				  str(n, "name"), active ? "active" : "inactive",
				  json_is_true(json_object_get(n, "autostart")) ? "yes" : "no",
				  json_is_true(json_object_get(n, "persistent")) ? "yes" : "no"});
	}
	table_print(&t);
	json_decref(list);
	return 0;
}

/* berth net-dumpxml NETWORK */
int cmd_net_dumpxml(struct client *c, int argc, char **argv)
{
	const char *net;
	struct response r;
	char *path;
	int ret = 0;

	if (parse_args(argc, argv, NULL, 0, &net, 1) < 0)
		return 1;
	path = object_path("networks", net, "/xml");
	if (client_request(c, "GET", path, NULL, 0, NULL, &r) < 0) {
		free(path);
		return 1;
	}
	free(path);
	if (r.status == 200) {
		fwrite(r.body, 1, r.len, stdout);
	} else {
		print_error(&r);
		ret = 1;
	}
	response_free(&r);
	return ret;
}

/* berth net-autostart NETWORK [--disable] */
int cmd_net_autostart(struct client *c, int argc, char **argv)
{
	return set_autostart(c, argc, argv, "networks", "Network %s");
}

/* berth net-info NETWORK (virsh's layout) */
int cmd_net_info(struct client *c, int argc, char **argv)
{
	const char *net;
	char *path;
	json_t *j;

	if (parse_args(argc, argv, NULL, 0, &net, 1) < 0)
		return 1;
	path = object_path("networks", net, "");
	j = client_call(c, "GET", path, NULL);
	free(path);
	if (!j)
		return 1;
	printf("%-16s%s\n", "Name:", str(j, "name"));
	printf("%-16s%s\n", "UUID:", str(j, "uuid"));
	printf("%-16s%s\n", "Active:", json_is_true(json_object_get(j, "active")) ? "yes" : "no");
	printf("%-16s%s\n",
	       "Persistent:", json_is_true(json_object_get(j, "persistent")) ? "yes" : "no");
	printf("%-16s%s\n",
	       "Autostart:", json_is_true(json_object_get(j, "autostart")) ? "yes" : "no");
	printf("%-16s%s\n", "Bridge:", str(j, "bridge"));
	json_decref(j);
	return 0;
}
