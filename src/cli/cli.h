/* The berth CLI's commands and the helpers they share. */
#ifndef BERTH_CLI_CLI_H
#define BERTH_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/client.h"

/* A command gets argv with its own name in argv[0]; returns the exit status. */
typedef int (*command_fn)(struct client *c, int argc, char **argv);

struct command {
	const char *name;
	command_fn fn;
	const char *help;
	const char *args;
};

/* "COLLECTION/NAME" (NAME escaped) + suffix, for API paths; malloc'd. */
char *object_path(const char *collection, const char *name, const char *suffix);
/* METHOD COLLECTION/NAME/SUFFIX; print msg (a format taking the name) on success. */
int name_action(struct client *c, const char *collection, const char *name, const char *method,
		const char *suffix, const char *msg);
/* name_action for the command's one name argument. */
int object_action(struct client *c, int argc, char **argv, const char *collection,
		  const char *method, const char *suffix, const char *msg);
/* autostart and net-autostart: PUT COLLECTION/NAME/autostart (see commands.c). */
int set_autostart(struct client *c, int argc, char **argv, const char *collection,
		  const char *what_fmt);

int cmd_list(struct client *c, int argc, char **argv);
int cmd_define(struct client *c, int argc, char **argv);
int cmd_undefine(struct client *c, int argc, char **argv);
int cmd_create(struct client *c, int argc, char **argv);
int cmd_start(struct client *c, int argc, char **argv);
int cmd_shutdown(struct client *c, int argc, char **argv);
int cmd_destroy(struct client *c, int argc, char **argv);
int cmd_reboot(struct client *c, int argc, char **argv);
int cmd_reset(struct client *c, int argc, char **argv);
int cmd_suspend(struct client *c, int argc, char **argv);
int cmd_resume(struct client *c, int argc, char **argv);
int cmd_autostart(struct client *c, int argc, char **argv);
int cmd_dominfo(struct client *c, int argc, char **argv);
int cmd_domstate(struct client *c, int argc, char **argv);
int cmd_dumpxml(struct client *c, int argc, char **argv);
int cmd_domblklist(struct client *c, int argc, char **argv);
int cmd_domiflist(struct client *c, int argc, char **argv);
int cmd_console(struct client *c, int argc, char **argv);
int cmd_edit(struct client *c, int argc, char **argv);
int cmd_nodeinfo(struct client *c, int argc, char **argv);
int cmd_create_vm(struct client *c, int argc, char **argv);
int cmd_version(struct client *c, int argc, char **argv);

/* net_commands.c: virsh's net-* verbs. */
int cmd_net_define(struct client *c, int argc, char **argv);
int cmd_net_undefine(struct client *c, int argc, char **argv);
int cmd_net_start(struct client *c, int argc, char **argv);
int cmd_net_destroy(struct client *c, int argc, char **argv);
int cmd_net_list(struct client *c, int argc, char **argv);
int cmd_net_dumpxml(struct client *c, int argc, char **argv);
int cmd_net_autostart(struct client *c, int argc, char **argv);
int cmd_net_info(struct client *c, int argc, char **argv);

/* Flags of a command: name -> bool; positional arguments collected in order. */
struct flag {
	const char *name;
	bool *value;
};
/*
 * Parse "--flag" options (from flags) and positional arguments; exactly
 * npos positionals are required. Returns 0, or -1 after printing why.
 */
int parse_args(int argc, char **argv, const struct flag *flags, size_t nflags, const char **pos,
	       size_t npos);
/* A string member of o, or "-". */
const char *str(json_t *o, const char *key);

/* console.c: relay the terminal to a console socket until Ctrl+] or EOF. */
int console_attach(struct client *c, const char *domain);

/* A virsh-style table: " A   B   C" with a dashed rule under the header. */
struct table {
	size_t ncols, nrows;
	char **cells; /* (nrows + 1) * ncols, row 0 is the header */
};
void table_init(struct table *t, size_t ncols, const char *const *headers);
void table_add(struct table *t, const char *const *row);
void table_print(struct table *t);

/*
 * POST XML text to a collection ("domains", "domains?transient=1", "networks");
 * prints warnings. Returns the name defined (caller frees) or NULL (reported).
 */
char *define_xml(struct client *c, const char *collection, const char *xml, size_t len);
/* define_xml with an XML file's contents. */
char *define_file(struct client *c, const char *collection, const char *file);

/* GET an XML answer: 0 with *r filled (response_free it), or -1 (reported). */
int get_xml(struct client *c, const char *path, struct response *r);
/* dumpxml, net-dumpxml: GET COLLECTION/NAME/SUFFIX and print it; the exit status. */
int print_xml(struct client *c, const char *collection, const char *name, const char *suffix);

#endif
