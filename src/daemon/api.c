/*
 * berthd's JSON API over HTTP/1.1 on UNIX sockets, served by libmicrohttpd
 * (one thread per connection, so a slow start never blocks another client).
 * Two sockets: read-write (root, or the session's owner; checked with
 * SO_PEERCRED as well as by the socket's mode) and read-only (GET only).
 * docs/api.md documents every endpoint.
 */
#include "daemon/api.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/network.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define API_MAX_BODY (1024 * 1024)
#define API_PREFIX   "/v1/"

struct api_socket {
	struct berthd *d;
	bool read_only;
	char *path;
	int fd;
	struct MHD_Daemon *mhd;
};

struct api {
	struct api_socket rw, ro;
};

/* Per-request state: the body as it arrives. */
struct request {
	char *body;
	size_t len;
	bool too_large;
	bool denied;
};

struct reply {
	int status;
	const char *type;
	char *body; /* malloc'd */
};

/* An answer with a JSON body (consumed; NULL means {}). */
static void reply_json(struct reply *r, int status, json_t *j)
{
	if (!j)
		j = json_object();
	r->status = status;
	r->type = "application/json";
	r->body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
}

/* An error answer: the class's status and {"error": {code, message}}. */
static void reply_error(struct reply *r, const struct berr *err)
{
	reply_json(
	    r, berr_http_status(err->cls),
	    json_pack("{s:{s:s,s:s}}", "error", "code", berr_code(err->cls), "message", err->msg));
}

/* Success (ok, consumed) or the error of a failed operation. */
static void reply_result(struct reply *r, int rc, json_t *ok, const struct berr *err)
{
	if (rc < 0) {
		json_decref(ok);
		reply_error(r, err);
	} else {
		reply_json(r, 200, ok);
	}
}

/* Is a query argument set to a true value (1, true, yes)? */
static bool query_flag(struct MHD_Connection *conn, const char *key)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);

	return v && (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !*v);
}

static const struct {
	const char *name;
	int (*fn)(struct berthd *d, const char *key, struct berr *err);
} actions[] = {
    {"start", dom_start},   {"shutdown", dom_shutdown}, {"destroy", dom_destroy},
    {"reboot", dom_reboot}, {"reset", dom_reset},	{"suspend", dom_suspend},
    {"resume", dom_resume},
};

/* PUT /v1/{domains,networks}/KEY/autostart {"autostart": bool}: calls set. */
static void do_autostart(struct berthd *d, const char *key, const struct request *req,
			 struct reply *r,
			 int (*set)(struct berthd *d, const char *key, bool on, struct berr *err))
{
	struct berr err = {0};
	json_t *body = req->body ? json_loadb(req->body, req->len, 0, NULL) : NULL;
	json_t *v = json_object_get(body, "autostart");

	if (!json_is_boolean(v))
		berr_set(&err, BERR_INVALID, "expected a body {\"autostart\": true|false}");
	else
		set(d, key, json_is_true(v), &err);
	json_decref(body);
	reply_result(r, berr_isset(&err) ? -1 : 0, NULL, &err);
}

/* Routes under /v1/domains/KEY[/SUB]. */
static void route_domain(struct api_socket *s, struct MHD_Connection *conn, const char *method,
			 const char *key, const char *sub, const struct request *req,
			 struct reply *r)
{
	struct berthd *d = s->d;
	struct berr err = {0};
	bool get = !strcmp(method, "GET");

	if (!sub) {
		if (get) {
			json_t *info = dom_info(d, key, &err);
			reply_result(r, info ? 0 : -1, info, &err);
		} else if (!strcmp(method, "DELETE")) {
			reply_result(r, dom_undefine(d, key, &err), NULL, &err);
		} else {
			goto bad_method;
		}
		return;
	}
	if (!strcmp(sub, "xml")) {
		char *xml;
		if (!get)
			goto bad_method;
		xml = dom_get_xml(d, key, query_flag(conn, "inactive"), &err);
		if (!xml) {
			reply_error(r, &err);
			return;
		}
		r->status = 200;
		r->type = "application/xml";
		r->body = xml;
		return;
	}
	if (!strcmp(sub, "console")) {
		char *path;
		if (!get)
			goto bad_method;
		if (s->read_only) {
			berr_set(&err, BERR_DENIED, "the console needs the read-write socket");
			reply_error(r, &err);
			return;
		}
		path = dom_console(d, key, &err);
		reply_result(r, path ? 0 : -1, path ? json_pack("{s:s}", "path", path) : NULL,
			     &err);
		free(path);
		return;
	}
	if (!strcmp(sub, "autostart")) {
		if (strcmp(method, "PUT"))
			goto bad_method;
		do_autostart(d, key, req, r, dom_set_autostart);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(actions); i++)
		if (!strcmp(sub, actions[i].name)) {
			if (strcmp(method, "POST"))
				goto bad_method;
			reply_result(r, actions[i].fn(d, key, &err), NULL, &err);
			return;
		}
	berr_set(&err, BERR_NOT_FOUND, "no endpoint /v1/domains/%s/%s", key, sub);
	reply_error(r, &err);
	return;
bad_method:
	reply_json(r, 405,
		   json_pack("{s:{s:s,s:s}}", "error", "code", "method-not-allowed", "message",
			     "this endpoint does not take that method"));
}

/* Routes under /v1/networks/KEY[/SUB] (docs/api.md, "Networks"). */
static void route_network(struct berthd *d, const char *method, const char *key, const char *sub,
			  const struct request *req, struct reply *r)
{
	struct berr err = {0};
	bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");

	if (!sub && get) {
		json_t *info = net_info(d, key, &err);
		reply_result(r, info ? 0 : -1, info, &err);
	} else if (!sub && !strcmp(method, "DELETE")) {
		reply_result(r, net_undefine(d, key, &err), NULL, &err);
	} else if (sub && !strcmp(sub, "xml") && get) {
		char *xml = net_get_xml(d, key, &err);
		if (!xml) {
			reply_error(r, &err);
			return;
		}
		r->status = 200;
		r->type = "application/xml";
		r->body = xml;
	} else if (sub && !strcmp(sub, "start") && post) {
		reply_result(r, net_start(d, key, &err), NULL, &err);
	} else if (sub && !strcmp(sub, "destroy") && post) {
		reply_result(r, net_destroy(d, key, &err), NULL, &err);
	} else if (sub && !strcmp(sub, "autostart") && !strcmp(method, "PUT")) {
		do_autostart(d, key, req, r, net_set_autostart);
	} else if (sub && strcmp(sub, "xml") && strcmp(sub, "start") && strcmp(sub, "destroy") &&
		   strcmp(sub, "autostart")) {
		berr_set(&err, BERR_NOT_FOUND, "no endpoint /v1/networks/%s/%s", key, sub);
		reply_error(r, &err);
	} else {
		reply_json(r, 405,
			   json_pack("{s:{s:s,s:s}}", "error", "code", "method-not-allowed",
				     "message", "this endpoint does not take that method"));
	}
}

/* Split "KEY[/SUB]" in place; false when it is malformed. */
static bool split_key(char *rest, char **key, char **sub)
{
	char *p = strchr(rest, '/');

	*key = rest;
	*sub = NULL;
	if (p) {
		*p = '\0';
		*sub = p + 1;
	}
	return **key && !(*sub && (!**sub || strchr(*sub, '/')));
}

/* Dispatch one request under /v1/ to its endpoint. */
static void route(struct api_socket *s, struct MHD_Connection *conn, const char *url,
		  const char *method, const struct request *req, struct reply *r)
{
	struct berthd *d = s->d;
	struct berr err = {0};
	char *path, *key, *sub;

	if (strncmp(url, API_PREFIX, strlen(API_PREFIX))) {
		berr_set(&err, BERR_NOT_FOUND, "no endpoint %s (the API lives under /v1/)", url);
		reply_error(r, &err);
		return;
	}
	if (s->read_only && strcmp(method, "GET") && strcmp(method, "HEAD")) {
		berr_set(&err, BERR_DENIED, "%s %s: the read-only socket serves GET requests only",
			 method, url);
		reply_error(r, &err);
		return;
	}
	path = xstrdup(url + strlen(API_PREFIX));
	/* Tolerate one trailing slash. */
	if (*path && path[strlen(path) - 1] == '/')
		path[strlen(path) - 1] = '\0';
	if (!strcmp(path, "node") || !strcmp(path, "version")) {
		if (strcmp(method, "GET"))
			goto bad_method;
		reply_json(r, 200,
			   !strcmp(path, "node")
			       ? node_info_json(d)
			       : json_pack("{s:s,s:s,s:s}", "version", BERTH_VERSION, "driver",
					   d->drv->name, "instance",
					   d->system ? "system" : "session"));
		goto out;
	}
	if (!strcmp(path, "domains")) {
		if (!strcmp(method, "GET")) {
			reply_json(r, 200, dom_list(d, query_flag(conn, "all")));
		} else if (!strcmp(method, "POST")) {
			json_t *res = NULL;
			int rc;
			if (!req->body || !req->len) {
				berr_set(&err, BERR_INVALID,
					 "the request body must hold domain XML");
				reply_error(r, &err);
				goto out;
			}
			rc = query_flag(conn, "transient")
				 ? dom_create(d, req->body, req->len, &res, &err)
				 : dom_define(d, req->body, req->len, &res, &err);
			reply_result(r, rc, res, &err);
		} else {
			goto bad_method;
		}
		goto out;
	}
	if (!strcmp(path, "networks")) {
		json_t *res = NULL;
		if (!strcmp(method, "GET")) {
			reply_json(r, 200, net_list(d, query_flag(conn, "all")));
		} else if (!strcmp(method, "POST")) {
			int rc = -1;
			if (!req->body || !req->len)
				berr_set(&err, BERR_INVALID,
					 "the request body must hold network XML");
			else
				rc = net_define(d, req->body, req->len, &res, &err);
			reply_result(r, rc, res, &err);
		} else {
			goto bad_method;
		}
		goto out;
	}
	if (!strncmp(path, "domains/", 8) || !strncmp(path, "networks/", 9)) {
		bool dom = path[0] == 'd';
		if (!split_key(path + (dom ? 8 : 9), &key, &sub)) {
			berr_set(&err, BERR_NOT_FOUND, "no endpoint %s", url);
			reply_error(r, &err);
			goto out;
		}
		if (dom)
			route_domain(s, conn, method, key, sub, req, r);
		else
			route_network(d, method, key, sub, req, r);
		goto out;
	}
	berr_set(&err, BERR_NOT_FOUND, "no endpoint %s", url);
	reply_error(r, &err);
	goto out;
bad_method:
	reply_json(r, 405,
		   json_pack("{s:{s:s,s:s}}", "error", "code", "method-not-allowed", "message",
			     "this endpoint does not take that method"));
out:
	free(path);
}

/* May this peer use the read-write socket? */
static bool peer_allowed(struct api_socket *s, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (s->read_only)
		return true;
	if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == 0 || cred.uid == s->d->owner;
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct reply *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len = r->body ? strlen(r->body) : 0;

	resp = MHD_create_response_from_buffer_with_free_callback(len, r->body, free);
	if (!resp) {
		free(r->body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", r->type);
	ret = MHD_queue_response(conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct api_socket *s = cls;
	struct request *req = *con_cls;
	struct reply r = {0};
	struct berr err = {0};
	(void)version;

	if (!req) {
		req = xcalloc(1, sizeof(*req));
		req->denied = !peer_allowed(s, conn);
		*con_cls = req;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (!req->too_large && !req->denied) {
			if (req->len + *upload_data_size > API_MAX_BODY) {
				req->too_large = true;
			} else {
				req->body = xrealloc(req->body, req->len + *upload_data_size + 1);
				memcpy(req->body + req->len, upload_data, *upload_data_size);
				req->len += *upload_data_size;
				req->body[req->len] = '\0';
			}
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->denied)
		berr_set(&err, BERR_DENIED, "permission denied: the read-write socket is for %s",
			 s->d->system ? "root" : "the session's owner");
	else if (req->too_large)
		berr_set(&err, BERR_INVALID, "request body larger than %d bytes", API_MAX_BODY);
	if (berr_isset(&err))
		reply_error(&r, &err);
	else
		route(s, conn, url, method, req, &r);
	return send_reply(conn, &r);
}

/* A request is over: free its state. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *req = *con_cls;
	(void)cls;
	(void)conn;
	(void)toe;

	if (req) {
		free(req->body);
		free(req);
		*con_cls = NULL;
	}
}

/* MHD reports its own errors (a client vanishing and such) through this. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	if (log_enabled(LOG_DEBUG))
		log_vmsg(LOG_DEBUG, fmt, ap);
}

/* Bind and listen on one API socket ourselves, then serve it with MHD. */
static int socket_open(struct api_socket *s, const char *path, mode_t mode)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		log_error("API socket path %s is too long", path);
		return -1;
	}
	strcpy(addr.sun_path, path);
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->fd < 0) {
		log_error("API socket: %s", strerror(errno));
		return -1;
	}
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if (bind(s->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || chmod(path, mode) < 0 ||
	    listen(s->fd, 128) < 0) {
		log_error("API socket %s: %s", path, strerror(errno));
		close(s->fd);
		s->fd = -1;
		return -1;
	}
	s->path = xstrdup(path);
	s->mhd = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0,
	    NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, s->fd, MHD_OPTION_NOTIFY_COMPLETED,
	    on_completed, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)512, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)120, MHD_OPTION_THREAD_STACK_SIZE, (size_t)(256 * 1024), MHD_OPTION_END);
	if (!s->mhd) {
		log_error("API socket %s: cannot start the HTTP server", path);
		unlink(path);
		close(s->fd);
		s->fd = -1;
		return -1;
	}
	return 0;
}

/* Stop serving one API socket and remove it. */
static void socket_close(struct api_socket *s)
{
	if (s->mhd)
		MHD_stop_daemon(s->mhd);
	if (s->fd >= 0)
		close(s->fd);
	if (s->path)
		unlink(s->path);
	free(s->path);
}

/* Serve both API sockets. */
struct api *api_start(struct berthd *d, const char *rw_path, const char *ro_path)
{
	struct api *api = xcalloc(1, sizeof(*api));

	api->rw.d = api->ro.d = d;
	api->rw.fd = api->ro.fd = -1;
	api->ro.read_only = true;
	if (socket_open(&api->rw, rw_path, 0600) < 0 || socket_open(&api->ro, ro_path, 0666) < 0) {
		api_stop(api);
		return NULL;
	}
	return api;
}

/* Stop both API sockets (waits for requests in progress). */
void api_stop(struct api *api)
{
	if (!api)
		return;
	socket_close(&api->rw);
	socket_close(&api->ro);
	free(api);
}
