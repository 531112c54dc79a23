#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *log_prog = "berth";
static const char *log_vm;
static enum log_level log_level = LOG_INFO;

/* Remember who we are, so every line says which program and VM it is from. */
void log_init(const char *prog, const char *vm_name)
{
	const char *slash = strrchr(prog, '/');

	log_prog = slash ? slash + 1 : prog;
	log_vm = vm_name;
	if (getenv("BERTH_DEBUG"))
		log_level = LOG_DEBUG;
}

void log_set_level(enum log_level level)
{
	log_level = level;
}

bool log_enabled(enum log_level level)
{
	return level <= log_level;
}

/* Format one whole line and write it with a single call, so threads don't interleave. */
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	static const char *names[] = {"error", "warning", "info", "debug"};
	char buf[1024];
	int n;

	if (!log_enabled(level))
		return;
	if (log_vm)
		n = snprintf(buf, sizeof(buf), "%s[%s]: %s: ", log_prog, log_vm, names[level]);
	else
		n = snprintf(buf, sizeof(buf), "%s: %s: ", log_prog, names[level]);
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = 0;
	vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	n = strlen(buf);
	buf[n++] = '\n';
	fwrite(buf, 1, n, stderr);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
