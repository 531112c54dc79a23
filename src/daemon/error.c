#include "daemon/error.h"
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>

/* Record the first error of an operation. */
void berr_set(struct berr *e, enum berr_class cls, const char *fmt, ...)
{
	char buf[sizeof(e->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (!e || e->cls != BERR_NONE) {
		log_debug("secondary error: %s", buf);
		return;
	}
	e->cls = cls;
	snprintf(e->msg, sizeof(e->msg), "%s", buf);
	if (cls == BERR_INTERNAL)
		log_error("%s", buf);
}

static const struct {
	const char *code;
	int status;
} classes[] = {
    [BERR_NONE] = {"ok", 200},
    [BERR_INVALID] = {"invalid", 400},
    [BERR_DENIED] = {"denied", 403},
    [BERR_NOT_FOUND] = {"not-found", 404},
    [BERR_CONFLICT] = {"conflict", 409},
    [BERR_UNSUPPORTED] = {"unsupported", 422},
    [BERR_NO_RESOURCES] = {"no-resources", 507},
    [BERR_INTERNAL] = {"internal", 500},
};

/* The stable machine-readable name of an error class. */
const char *berr_code(enum berr_class cls)
{
	return classes[cls].code;
}

/* The HTTP status the API answers an error class with. */
int berr_http_status(enum berr_class cls)
{
	return classes[cls].status;
}
