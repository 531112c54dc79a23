/* The berth CLI's commands: each maps to requests of berthd's API. */
#include "cli/cli.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Parse "--flag" options (from flags) and positional arguments; exactly
 * npos positionals are required. Returns 0, or -1 after printing why.
 */
int parse_args(int argc, char **argv, const struct flag *flags, size_t nflags, const char **pos,
	       size_t npos)
{
	size_t got = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool matched = false;

		if (!strncmp(a, "--", 2) && a[2]) {
			for (size_t f = 0; f < nflags; f++)
				if (!strcmp(a + 2, flags[f].name)) {
					*flags[f].value = true;
					matched = true;
				}
			/* virsh's --domain NAME form */
			if (!matched && !strcmp(a, "--domain") && i + 1 < argc && npos) {
				pos[got++] = argv[++i];
				matched = true;
			}
			if (!matched) {
				fprintf(stderr, "error: command '%s' doesn't support option %s\n",
					argv[0], a);
				return -1;
			}
			continue;
		}
		if (got == npos) {
			fprintf(stderr, "error: unexpected data '%s'\n", a);
			return -1;
		}
		pos[got++] = a;
	}
	if (got < npos) {
		fprintf(stderr, "error: command '%s' requires an argument (see 'berth help %s')\n",
			argv[0], argv[0]);
		return -1;
	}
	return 0;
}

/* GET domains/NAME. */
static json_t *dom_get(struct client *c, const char *dom)
{
	char *path = object_path("domains", dom, "");
	json_t *j = client_call(c, "GET", path, NULL);

	free(path);
	return j;
}

/* A table with its header row. */
void table_init(struct table *t, size_t ncols, const char *const *headers)
{
	t->ncols = ncols;
	t->nrows = 0;
	t->cells = xmalloc(ncols * sizeof(char *));
	for (size_t i = 0; i < ncols; i++)
		t->cells[i] = xstrdup(headers[i]);
}

/* Add a row (NULL cells print as -). */
void table_add(struct table *t, const char *const *row)
{
	t->nrows++;
	t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(char *));
	for (size_t i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = xstrdup(row[i] ? row[i] : "-");
}

/* Print and free: columns three spaces apart, as virsh does. */
void table_print(struct table *t)
{
	size_t width[16] = {0}, total = 0;

	for (size_t r = 0; r <= t->nrows; r++)
		for (size_t i = 0; i < t->ncols && i < ARRAY_SIZE(width); i++)
			width[i] = MAX(width[i], strlen(t->cells[r * t->ncols + i]));
	for (size_t i = 0; i < t->ncols; i++)
		total += width[i] + 3;
	for (size_t r = 0; r <= t->nrows; r++) {
		char line[4096];
		int n = 0;
		for (size_t i = 0; i < t->ncols; i++)
			n += snprintf(line + n, sizeof(line) - n, " %-*s%s", (int)width[i],
				      t->cells[r * t->ncols + i], i + 1 < t->ncols ? "  " : "");
		while (n > 0 && line[n - 1] == ' ')
			line[--n] = '\0';
		puts(line);
		if (r == 0) {
			for (size_t i = 0; i < total; i++)
				putchar('-');
			putchar('\n');
		}
	}
	for (size_t i = 0; i < (t->nrows + 1) * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
}

/* berth list [--all] [--inactive] [--name] [--uuid] */
int cmd_list(struct client *c, int argc, char **argv)
{
	bool all = false, inactive = false, names = false, uuids = false;
	const struct flag flags[] = {
	    {"all", &all}, {"inactive", &inactive}, {"name", &names}, {"uuid", &uuids}};
	json_t *list, *d;
	struct table t;
	size_t i;

	if (parse_args(argc, argv, flags, ARRAY_SIZE(flags), NULL, 0) < 0)
		return 1;
	list = client_call(c, "GET", all || inactive ? "domains?all=1" : "domains", NULL);
	if (!list)
		return 1;
	if (!names && !uuids)
		table_init(&t, 3, (const char *const[]){"Id", "Name", "State"});
	json_array_foreach(list, i, d)
	{
		json_t *id = json_object_get(d, "id");
		char idbuf[24];
		if (inactive && !json_is_null(id))
			continue;
		if (names || uuids) {
			if (uuids)
				printf("%s%s", json_string_value(json_object_get(d, "uuid")),
				       names ? "  " : "\n");
			if (names)
				printf("%s\n", json_string_value(json_object_get(d, "name")));
			continue;
		}
		if (json_is_integer(id))
			snprintf(idbuf, sizeof(idbuf), "%lld", (long long)json_integer_value(id));
		else
			snprintf(idbuf, sizeof(idbuf), "-");
		table_add(
		    &t, (const char *const[]){idbuf, json_string_value(json_object_get(d, "name")),
					      json_string_value(json_object_get(d, "state"))});
	}
	if (!names && !uuids)
		table_print(&t);
	json_decref(list);
	return 0;
}

/* POST the XML to a collection; print warnings; the name defined, or NULL. */
char *define_xml(struct client *c, const char *collection, const char *xml, size_t len)
{
	struct response r;
	const char *defined;
	char *name = NULL;
	json_t *j, *w;
	size_t i;

	if (client_request(c, "POST", collection, xml, len, "application/xml", &r) < 0)
		return NULL;
	if (r.status / 100 != 2) {
		client_print_error(&r);
		goto out;
	}
	j = json_loadb(r.body, r.len, 0, NULL);
	defined = json_string_value(json_object_get(j, "name"));
	if (defined) {
		json_array_foreach(json_object_get(j, "warnings"), i, w)
		    fprintf(stderr, "warning: %s\n", json_string_value(w));
		name = xstrdup(defined);
	} else {
		fprintf(stderr, "error: berthd sent a malformed answer\n");
	}
	json_decref(j);
out:
	response_free(&r);
	return name;
}

/* Define an XML file's contents (define_xml); the name defined, or NULL after saying why. */
char *define_file(struct client *c, const char *collection, const char *file)
{
	size_t len;
	char *xml = read_file(file, &len), *name;

	if (!xml) {
		fprintf(stderr, "error: reading %s: %s\n", file, strerror(errno));
		return NULL;
	}
	name = define_xml(c, collection, xml, len);
	free(xml);
	return name;
}

/* berth define FILE */
int cmd_define(struct client *c, int argc, char **argv)
{
	const char *file;
	char *name;

	if (parse_args(argc, argv, NULL, 0, &file, 1) < 0)
		return 1;
	if (!(name = define_file(c, "domains", file)))
		return 1;
	printf("Domain '%s' defined from %s\n", name, file);
	free(name);
	return 0;
}

/* berth create FILE [--console] */
int cmd_create(struct client *c, int argc, char **argv)
{
	bool console = false;
	const struct flag flags[] = {{"console", &console}};
	const char *file;
	char *name;
	int ret = 0;

	if (parse_args(argc, argv, flags, ARRAY_SIZE(flags), &file, 1) < 0)
		return 1;
	if (!(name = define_file(c, "domains?transient=1", file)))
		return 1;
	printf("Domain '%s' created from %s\n", name, file);
	if (console) {
		fflush(stdout);
		ret = console_attach(c, name);
	}
	free(name);
	return ret;
}

/* "COLLECTION/NAME" with NAME escaped, plus a suffix. */
char *object_path(const char *collection, const char *name, const char *suffix)
{
	char *esc = client_escape(name), *path;

	if (asprintf(&path, "%s/%s%s", collection, esc, suffix) < 0)
		die("out of memory");
	free(esc);
	return path;
}

/* METHOD COLLECTION/NAME/SUFFIX, then print msg (with the name); the exit status. */
int name_action(struct client *c, const char *collection, const char *name, const char *method,
		const char *suffix, const char *msg)
{
	char *path = object_path(collection, name, suffix);
	json_t *j = client_call(c, method, path, NULL);

	free(path);
	if (!j)
		return 1;
	json_decref(j);
	printf(msg, name);
	putchar('\n');
	return 0;
}

/* name_action for the command's one name argument. */
int object_action(struct client *c, int argc, char **argv, const char *collection,
		  const char *method, const char *suffix, const char *msg)
{
	const char *name;

	if (parse_args(argc, argv, NULL, 0, &name, 1) < 0)
		return 1;
	return name_action(c, collection, name, method, suffix, msg);
}

/* berth undefine DOMAIN */
int cmd_undefine(struct client *c, int argc, char **argv)
{
	return object_action(c, argc, argv, "domains", "DELETE", "",
			     "Domain '%s' has been undefined");
}

/* berth start DOMAIN [--console] */
int cmd_start(struct client *c, int argc, char **argv)
{
	bool console = false;
	const struct flag flags[] = {{"console", &console}};
	const char *dom;

	if (parse_args(argc, argv, flags, ARRAY_SIZE(flags), &dom, 1) < 0)
		return 1;
	if (name_action(c, "domains", dom, "POST", "/start", "Domain '%s' started"))
		return 1;
	if (console) {
		fflush(stdout);
		return console_attach(c, dom);
	}
	return 0;
}

/* berth shutdown DOMAIN */
int cmd_shutdown(struct client *c, int argc, char **argv)
{
	return object_action(c, argc, argv, "domains", "POST", "/shutdown",
			     "Domain '%s' is being shutdown");
}

/* berth destroy DOMAIN */
int cmd_destroy(struct client *c, int argc, char **argv)
{
	return object_action(c, argc, argv, "domains", "POST", "/destroy", "Domain '%s' destroyed");
}

/* berth reboot DOMAIN */
int cmd_reboot(struct client *c, int argc, char **argv)
{
	return object_action(c, argc, argv, "domains", "POST", "/reboot",
			     "Domain '%s' is being rebooted");
}

/* berth reset DOMAIN */
int cmd_reset(struct client *c, int argc, char **argv)
{
	return object_action(c, argc, argv, "domains", "POST", "/reset", "Domain '%s' was reset");
}

/* berth suspend DOMAIN */
int cmd_suspend(struct client *c, int argc, char **argv)
{
	return object_action(c, argc, argv, "domains", "POST", "/suspend", "Domain '%s' suspended");
}

/* berth resume DOMAIN */
int cmd_resume(struct client *c, int argc, char **argv)
{
	return object_action(c, argc, argv, "domains", "POST", "/resume", "Domain '%s' resumed");
}

/*
 * berth autostart DOMAIN / net-autostart NETWORK [--disable]: PUT
 * COLLECTION/NAME/autostart. what_fmt names the object in the message, with
 * virsh's wording ("Domain '%s'", "Network %s").
 */
int set_autostart(struct client *c, int argc, char **argv, const char *collection,
		  const char *what_fmt)
{
	bool disable = false;
	const struct flag flags[] = {{"disable", &disable}};
	const char *name;
	char *path;
	json_t *j, *body;

	if (parse_args(argc, argv, flags, ARRAY_SIZE(flags), &name, 1) < 0)
		return 1;
	path = object_path(collection, name, "/autostart");
	body = json_pack("{s:b}", "autostart", !disable);
	j = client_call(c, "PUT", path, body);
	json_decref(body);
	free(path);
	if (!j)
		return 1;
	json_decref(j);
	printf(what_fmt, name);
	printf(disable ? " unmarked as autostarted\n" : " marked as autostarted\n");
	return 0;
}

int cmd_autostart(struct client *c, int argc, char **argv)
{
	return set_autostart(c, argc, argv, "domains", "Domain '%s'");
}

/* A string member, or "-". */
const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "-";
}

/* berth dominfo DOMAIN (virsh's layout) */
int cmd_dominfo(struct client *c, int argc, char **argv)
{
	const char *dom;
	json_t *j, *id, *run;

	if (parse_args(argc, argv, NULL, 0, &dom, 1) < 0)
		return 1;
	if (!(j = dom_get(c, dom)))
		return 1;
	id = json_object_get(j, "id");
	run = json_object_get(j, "run");
	if (json_is_integer(id))
		printf("%-16s%lld\n", "Id:", (long long)json_integer_value(id));
	else
		printf("%-16s-\n", "Id:");
	printf("%-16s%s\n", "Name:", str(j, "name"));
	printf("%-16s%s\n", "UUID:", str(j, "uuid"));
	if (json_is_string(json_object_get(j, "title")))
		printf("%-16s%s\n", "Title:", str(j, "title"));
	printf("%-16s%s\n", "OS Type:", str(j, "os_type"));
	printf("%-16s%s\n", "State:", str(j, "state"));
	printf("%-16s%lld\n",
	       "CPU(s):", (long long)json_integer_value(json_object_get(j, "vcpus")));
	printf("%-16s%lld KiB\n",
	       "Max memory:", (long long)json_integer_value(json_object_get(j, "memory")) / 1024);
	printf("%-16s%lld KiB\n", "Used memory:",
	       (long long)json_integer_value(json_object_get(j, "current_memory")) / 1024);
	printf("%-16s%s\n",
	       "Persistent:", json_is_true(json_object_get(j, "persistent")) ? "yes" : "no");
	printf("%-16s%s\n",
	       "Autostart:", json_is_true(json_object_get(j, "autostart")) ? "enable" : "disable");
	printf("%-16s%s\n", "Virt type:", str(j, "virt_type"));
	if (json_is_object(run)) {
		printf("%-16s%s\n", "Accelerator:", str(run, "accelerator"));
		printf("%-16s%lld\n",
		       "PID:", (long long)json_integer_value(json_object_get(run, "pid")));
	}
	json_decref(j);
	return 0;
}

/* berth domstate DOMAIN [--reason] */
int cmd_domstate(struct client *c, int argc, char **argv)
{
	bool reason = false;
	const struct flag flags[] = {{"reason", &reason}};
	const char *dom;
	json_t *j;

	if (parse_args(argc, argv, flags, ARRAY_SIZE(flags), &dom, 1) < 0)
		return 1;
	if (!(j = dom_get(c, dom)))
		return 1;
	if (reason)
		printf("%s (%s)\n", str(j, "state"), str(j, "reason"));
	else
		printf("%s\n", str(j, "state"));
	json_decref(j);
	return 0;
}

/* GET a text (XML) answer: 0 with *r filled, or -1 after printing berthd's error. */
int get_xml(struct client *c, const char *path, struct response *r)
{
	if (client_request(c, "GET", path, NULL, 0, NULL, r) < 0)
		return -1;
	if (r->status == 200)
		return 0;
	client_print_error(r);
	response_free(r);
	return -1;
}

/* dumpxml and net-dumpxml: GET COLLECTION/NAME/SUFFIX to stdout; the exit status. */
int print_xml(struct client *c, const char *collection, const char *name, const char *suffix)
{
	char *path = object_path(collection, name, suffix);
	struct response r;
	int err = get_xml(c, path, &r);

	free(path);
	if (err)
		return 1;
	fwrite(r.body, 1, r.len, stdout);
	response_free(&r);
	return 0;
}

/* berth dumpxml DOMAIN [--inactive] */
int cmd_dumpxml(struct client *c, int argc, char **argv)
{
	bool inactive = false;
	const struct flag flags[] = {{"inactive", &inactive}};
	const char *dom;

	if (parse_args(argc, argv, flags, ARRAY_SIZE(flags), &dom, 1) < 0)
		return 1;
	return print_xml(c, "domains", dom, inactive ? "/xml?inactive=1" : "/xml");
}

/* berth domblklist DOMAIN [--details] */
int cmd_domblklist(struct client *c, int argc, char **argv)
{
	bool details = false;
	const struct flag flags[] = {{"details", &details}};
	const char *dom;
	struct table t;
	json_t *j, *d;
	size_t i;

	if (parse_args(argc, argv, flags, ARRAY_SIZE(flags), &dom, 1) < 0)
		return 1;
	if (!(j = dom_get(c, dom)))
		return 1;
	if (details)
		table_init(&t, 4, (const char *const[]){"Type", "Device", "Target", "Source"});
	else
		table_init(&t, 2, (const char *const[]){"Target", "Source"});
	json_array_foreach(json_object_get(j, "disks"), i, d)
	{
		if (details)
			table_add(&t, (const char *const[]){"file", "disk", str(d, "target"),
							    str(d, "source")});
		else
			table_add(&t, (const char *const[]){str(d, "target"), str(d, "source")});
	}
	table_print(&t);
	json_decref(j);
	return 0;
}

/* berth domiflist DOMAIN */
int cmd_domiflist(struct client *c, int argc, char **argv)
{
	const char *dom;
	struct table t;
	json_t *j, *n;
	size_t i;

	if (parse_args(argc, argv, NULL, 0, &dom, 1) < 0)
		return 1;
	if (!(j = dom_get(c, dom)))
		return 1;
	table_init(&t, 5, (const char *const[]){"Interface", "Type", "Source", "Model", "MAC"});
	json_array_foreach(json_object_get(j, "interfaces"), i, n)
	    table_add(&t, (const char *const[]){"-", str(n, "type"), str(n, "source"),
						str(n, "model"), str(n, "mac")});
	table_print(&t);
	json_decref(j);
	return 0;
}

/* berth console DOMAIN */
int cmd_console(struct client *c, int argc, char **argv)
{
	const char *dom;

	if (parse_args(argc, argv, NULL, 0, &dom, 1) < 0)
		return 1;
	return console_attach(c, dom);
}

/* An integer member (0 when absent). */
static long long ival(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

/* berth nodeinfo (virsh's lines, plus the reserve and what VMs hold) */
int cmd_nodeinfo(struct client *c, int argc, char **argv)
{
	json_t *j;

	if (parse_args(argc, argv, NULL, 0, NULL, 0) < 0)
		return 1;
	if (!(j = client_call(c, "GET", "node", NULL)))
		return 1;
	printf("%-21s%s\n", "CPU model:", str(j, "cpu_model"));
	printf("%-21s%lld\n", "CPU(s):", ival(j, "cpus"));
	printf("%-21s%lld MHz\n", "CPU frequency:", ival(j, "mhz"));
	printf("%-21s%lld\n", "CPU socket(s):", ival(j, "sockets"));
	printf("%-21s%lld\n", "Core(s) per socket:", ival(j, "cores_per_socket"));
	printf("%-21s%lld\n", "Thread(s) per core:", ival(j, "threads_per_core"));
	printf("%-21s%lld\n", "NUMA cell(s):", ival(j, "numa_cells"));
	printf("%-21s%lld KiB\n", "Memory size:", ival(j, "memory") / 1024);
	printf("%-21s%lld KiB\n", "Host reserve:", ival(j, "reserve") / 1024);
	printf("%-21s%lld KiB\n", "Running VMs memory:", ival(j, "memory_running") / 1024);
	printf("%-21s%lld KiB\n", "Free for VMs:", ival(j, "memory_free") / 1024);
	json_decref(j);
	return 0;
}

/* berth version */
int cmd_version(struct client *c, int argc, char **argv)
{
	json_t *j;

	if (parse_args(argc, argv, NULL, 0, NULL, 0) < 0)
		return 1;
	if (!(j = client_call(c, "GET", "version", NULL)))
		return 1;
	printf("Compiled against berth %s\n", BERTH_VERSION);
	printf("Running berthd %s (%s instance, driver %s)\n", str(j, "version"),
	       str(j, "instance"), str(j, "driver"));
	json_decref(j);
	return 0;
}
