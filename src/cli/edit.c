/*
 * berth edit: the inactive XML in $VISUAL/$EDITOR (vi by default); berthd
 * validates the result when it is defined again, and a refused edit changes
 * nothing (on a terminal, the user may edit again).
 */
#include "cli/cli.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Run the editor on path; 0 when it exited successfully. */
static int run_editor(const char *path)
{
	const char *editor = getenv("VISUAL");
	pid_t pid;
	int status;

	if (!editor || !*editor)
		editor = getenv("EDITOR");
	if (!editor || !*editor)
		editor = "vi";
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "error: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* The editor setting may carry arguments: let the shell split it. */
		char *cmd;
		if (asprintf(&cmd, "%s \"$1\"", editor) < 0)
			_exit(127);
		execl("/bin/sh", "sh", "-c", cmd, "sh", path, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "error: the editor %s failed\n", editor);
		return -1;
	}
	return 0;
}

/* On a terminal, offer another round in the editor. */
static bool ask_again(void)
{
	char line[16];

	if (!isatty(STDIN_FILENO))
		return false;
	fprintf(stderr, "Edit again? [y/N]: ");
	if (!fgets(line, sizeof(line), stdin))
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

/* berth edit DOMAIN */
int cmd_edit(struct client *c, int argc, char **argv)
{
	char tmp[] = "/tmp/berth-edit-XXXXXX.xml", *path, *edited = NULL, *name;
	struct response r;
	size_t len;
	int fd, ret = 1;

	if (argc != 2) {
		fprintf(stderr, "error: usage: berth edit DOMAIN\n");
		return 1;
	}
	path = object_path("domains", argv[1], "/xml?inactive=1");
	if (get_xml(c, path, &r) < 0) {
		free(path);
		return 1;
	}
	free(path);
	fd = mkstemps(tmp, 4);
	if (fd < 0 || write_all(fd, r.body, r.len) < 0 || close(fd) < 0) {
		fprintf(stderr, "error: writing %s: %s\n", tmp, strerror(errno));
		goto out;
	}
	for (;;) {
		if (run_editor(tmp) < 0)
			break;
		free(edited);
		edited = read_file(tmp, &len);
		if (!edited) {
			fprintf(stderr, "error: reading %s: %s\n", tmp, strerror(errno));
			break;
		}
		if (len == r.len && !memcmp(edited, r.body, len)) {
			printf("Domain '%s' XML configuration not changed.\n", argv[1]);
			ret = 0;
			break;
		}
		name = define_xml(c, "domains", edited, len);
		if (name) {
			printf("Domain '%s' XML configuration edited.\n", name);
			free(name);
			ret = 0;
			break;
		}
		if (!ask_again())
			break;
	}
	unlink(tmp);
out:
	free(edited);
	response_free(&r);
	return ret;
}
