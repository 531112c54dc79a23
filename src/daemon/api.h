/* berthd's HTTP/JSON API server on its two UNIX sockets (docs/api.md). */
#ifndef BERTH_DAEMON_API_H
#define BERTH_DAEMON_API_H

#include "daemon/berthd.h"

struct api;

/* Serve the read-write socket (mode 0600) and the read-only one (0666). NULL on error. */
struct api *api_start(struct berthd *d, const char *rw_path, const char *ro_path);
void api_stop(struct api *api);

#endif
