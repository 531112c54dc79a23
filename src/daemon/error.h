/*
 * Errors that travel back to an API client: a class (which maps to an HTTP
 * status and a stable "code" string) and one message saying what went wrong
 * and where. The first error set wins; later ones are only logged at debug
 * level, so a caller never overwrites the precise cause with a vaguer one.
 */
#ifndef BERTH_DAEMON_ERROR_H
#define BERTH_DAEMON_ERROR_H

#include <stdbool.h>

enum berr_class {
	BERR_NONE = 0,
	BERR_INVALID,	   /* malformed request or definition: 400 */
	BERR_DENIED,	   /* not allowed on this socket: 403 */
	BERR_NOT_FOUND,	   /* no such domain: 404 */
	BERR_CONFLICT,	   /* wrong state for the operation, name taken: 409 */
	BERR_UNSUPPORTED,  /* berth cannot honour this: 422 */
	BERR_NO_RESOURCES, /* not enough host memory: 507 */
	BERR_INTERNAL,	   /* a system call or berth-vmm failed: 500 */
};

struct berr {
	enum berr_class cls;
	char msg[1024];
};

void berr_set(struct berr *e, enum berr_class cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline bool berr_isset(const struct berr *e)
{
	return e->cls != BERR_NONE;
}
/* "invalid", "denied", "not-found", ... */
const char *berr_code(enum berr_class cls);
int berr_http_status(enum berr_class cls);

#endif
