/* virsh's net-* verbs over berthd's /v1/networks endpoints. */
#include "cli/cli.h"
#include "common/log.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>

/* berth net-define FILE */
int cmd_net_define(struct client *c, int argc, char **argv)
{
	const char *file;
	char *name;

	if (parse_args(argc, argv, NULL, 0, &file, 1) < 0)
		return 1;
	if (!(name = define_file(c, "networks", file)))
		return 1;
	printf("Network %s defined from %s\n", name, file);
	free(name);
	return 0;
}

int cmd_net_undefine(struct client *c, int argc, char **argv)
{
	return object_action(c, argc, argv, "networks", "DELETE", "",
			     "Network %s has been undefined");
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

	if (parse_args(argc, argv, NULL, 0, &net, 1) < 0)
		return 1;
	return print_xml(c, "networks", net, "/xml");
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
