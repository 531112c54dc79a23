/*
 * berthd's JSON API over HTTP/1.1 on UNIX sockets, served by libevent's evhttp.
 * Two sockets: read-write (root, or the session's owner; checked with
 * SO_PEERCRED as well as by the socket's mode) and read-only (GET only).
 * docs/api.md documents every endpoint.
 *
 * Threads: one event thread runs evhttp for both sockets (accepting, parsing,
 * writing answers). Each request's work runs on a worker thread, so a slow
 * start never blocks another client; the worker hands the answer back to the
 * event thread (event_active, safe across threads with evthread_use_pthreads),
 * which sends it. Workers are started on demand, up to API_MAX_WORKERS, and
 * end when no request waits: an idle berthd has no worker threads.
 */
#include "daemon/api.h"
#include "common/log.h"
#include "common/util.h"
#include "daemon/network.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define API_MAX_BODY (1024 * 1024)
/*
 * What evhttp buffers of a body at most. Bodies over API_MAX_BODY but within
 * this get the API's own 400; beyond it evhttp reads and drops the rest and
 * answers 413 itself (evhttp 2.1 has no hook to stream a server's request body).
 */
#define API_MAX_READ	 (4 * API_MAX_BODY)
#define API_MAX_HEADERS	 (64 * 1024)
#define API_TIMEOUT	 120 /* seconds a client may take to send a request or read an answer */
#define API_MAX_WORKERS	 32  /* requests served at once (libvirtd: 20 + 5); more wait */
#define API_THREAD_STACK (256 * 1024)
#define API_TRIM_DELAY	 1 /* seconds without requests before free memory goes back */
#define API_PREFIX	 "/v1/"

struct api;

struct api_socket {
	struct api *api;
	bool read_only;
	char *path;
	struct evhttp *http;
	struct evhttp_bound_socket *bound; /* owns the listening socket */
};

struct reply {
	int status;
	const char *type;
	char *body; /* malloc'd */
};

/* One request: taken in on the event thread, served by a worker, answered on the event thread. */
struct job {
	struct api_socket *s;
	struct evhttp_request *req;
	struct event *done; /* activated by the worker once reply is ready */
	enum evhttp_cmd_type cmd;
	char *url;   /* the path, percent-decoded */
	char *query; /* the raw query string, or NULL */
	char *body;  /* NUL-terminated copy of the body, or NULL when empty */
	size_t len;
	struct reply reply;
	struct job *next;
};

struct api {
	struct berthd *d;
	struct api_socket rw, ro;
	struct event_base *base;
	struct event *trim; /* a second after the last answer: malloc_trim */
	pthread_t thread;
	bool thread_started;
	pthread_attr_t attr; /* event thread and workers: small stacks, the workers detached */

	pthread_mutex_t lock;
	pthread_cond_t idle;		 /* signalled when pending or workers reach 0 */
	struct job *queue, **queue_tail; /* requests waiting for a worker */
	unsigned workers;		 /* worker threads alive */
	unsigned pending;		 /* requests handed to workers and not answered yet */
	bool stopping;
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

/* 405: the endpoint exists, the method does not. */
static void reply_bad_method(struct reply *r)
{
	reply_json(r, 405,
		   json_pack("{s:{s:s,s:s}}", "error", "code", "method-not-allowed", "message",
			     "this endpoint does not take that method"));
}

/*
 * Is a query argument set to a true value (1, true, yes, or empty)? The first
 * "key=value" pair with that key counts; a key without "=" has no value.
 */
static bool query_flag(const struct job *j, const char *key)
{
	char *q, *pair, *save = NULL;
	bool found = false, on = false;

	if (!j->query)
		return false;
	q = xstrdup(j->query);
	for (pair = strtok_r(q, "&", &save); pair && !found; pair = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(pair, '='), *k, *v = NULL;

		if (eq)
			*eq = '\0';
		k = evhttp_uridecode(pair, 1, NULL);
		if (eq)
			v = evhttp_uridecode(eq + 1, 1, NULL);
		if (k && !strcmp(k, key)) {
			found = true;
			on = v &&
			     (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !*v);
		}
		free(k);
		free(v);
	}
	free(q);
	return on;
}

/* The method's name, for messages. */
static const char *method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_TRACE:
		return "TRACE";
	case EVHTTP_REQ_CONNECT:
		return "CONNECT";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	}
	return "UNKNOWN";
}

/* POST /v1/KIND/KEY/NAME: an operation on one domain or network. */
struct action {
	const char *name;
	int (*fn)(struct berthd *d, const char *key, struct berr *err);
};

static const struct action dom_actions[] = {
    {"start", dom_start},     {"shutdown", dom_shutdown},
    {"destroy", dom_destroy}, {"reboot", dom_reboot},
    {"reset", dom_reset},     {"suspend", dom_suspend},
    {"resume", dom_resume},   {NULL, NULL},
};

static const struct action net_actions[] = {
    {"start", net_start},
    {"destroy", net_destroy},
    {NULL, NULL},
};

/* A network's XML: networks have no separate inactive definition to ask for. */
static char *net_xml(struct berthd *d, const char *key, bool inactive, struct berr *err)
{
	(void)inactive;
	return net_get_xml(d, key, err);
}

/* What serves /v1/KIND[/KEY[/SUB]] for domains and for networks (docs/api.md). */
struct kind {
	const char *name; /* the path element */
	const char *noun; /* in messages */
	json_t *(*list)(struct berthd *d, bool all);
	int (*define)(struct berthd *d, const char *xml, size_t len, json_t **result,
		      struct berr *err);
	/* POST ?transient=1, where the kind has it */
	int (*create)(struct berthd *d, const char *xml, size_t len, json_t **result,
		      struct berr *err);
	json_t *(*info)(struct berthd *d, const char *key, struct berr *err);
	int (*undefine)(struct berthd *d, const char *key, struct berr *err);
	char *(*get_xml)(struct berthd *d, const char *key, bool inactive, struct berr *err);
	int (*set_autostart)(struct berthd *d, const char *key, bool on, struct berr *err);
	/* GET .../console (read-write socket only), where the kind has it */
	char *(*console)(struct berthd *d, const char *key, struct berr *err);
	const struct action *actions;
};

static const struct kind kinds[] = {
    {"domains", "domain", dom_list, dom_define, dom_create, dom_info, dom_undefine, dom_get_xml,
     dom_set_autostart, dom_console, dom_actions},
    {"networks", "network", net_list, net_define, NULL, net_info, net_undefine, net_xml,
     net_set_autostart, NULL, net_actions},
};

/* /v1/KIND: GET lists, POST defines (or creates, with ?transient=1). */
static void route_collection(struct job *j, const struct kind *k)
{
	struct berthd *d = j->s->api->d;
	struct berr err = {0};
	json_t *res = NULL;
	int rc = -1;

	if (j->cmd == EVHTTP_REQ_GET) {
		reply_json(&j->reply, 200, k->list(d, query_flag(j, "all")));
		return;
	}
	if (j->cmd != EVHTTP_REQ_POST) {
		reply_bad_method(&j->reply);
		return;
	}
	if (!j->body)
		berr_set(&err, BERR_INVALID, "the request body must hold %s XML", k->noun);
	else if (k->create && query_flag(j, "transient"))
		rc = k->create(d, j->body, j->len, &res, &err);
	else
		rc = k->define(d, j->body, j->len, &res, &err);
	reply_result(&j->reply, rc, res, &err);
}

/* PUT /v1/KIND/KEY/autostart {"autostart": bool}. */
static void do_autostart(struct job *j, const struct kind *k, const char *key)
{
	struct berr err = {0};
	json_t *body = j->body ? json_loadb(j->body, j->len, 0, NULL) : NULL;
	json_t *v = json_object_get(body, "autostart");

	if (!json_is_boolean(v))
		berr_set(&err, BERR_INVALID, "expected a body {\"autostart\": true|false}");
	else
		k->set_autostart(j->s->api->d, key, json_is_true(v), &err);
	json_decref(body);
	reply_result(&j->reply, berr_isset(&err) ? -1 : 0, NULL, &err);
}

/* /v1/KIND/KEY[/SUB]: one domain or network. */
static void route_item(struct job *j, const struct kind *k, const char *key, const char *sub)
{
	struct berthd *d = j->s->api->d;
	struct reply *r = &j->reply;
	enum evhttp_cmd_type cmd = j->cmd;
	struct berr err = {0};
	char *text;

	if (!sub) {
		if (cmd == EVHTTP_REQ_GET) {
			json_t *info = k->info(d, key, &err);
			reply_result(r, info ? 0 : -1, info, &err);
		} else if (cmd == EVHTTP_REQ_DELETE) {
			reply_result(r, k->undefine(d, key, &err), NULL, &err);
		} else {
			reply_bad_method(r);
		}
		return;
	}
	if (!strcmp(sub, "xml")) {
		if (cmd != EVHTTP_REQ_GET) {
			reply_bad_method(r);
			return;
		}
		text = k->get_xml(d, key, query_flag(j, "inactive"), &err);
		if (!text) {
			reply_error(r, &err);
			return;
		}
		r->status = 200;
		r->type = "application/xml";
		r->body = text;
		return;
	}
	if (k->console && !strcmp(sub, "console")) {
		if (cmd != EVHTTP_REQ_GET) {
			reply_bad_method(r);
			return;
		}
		if (j->s->read_only) {
			berr_set(&err, BERR_DENIED, "the console needs the read-write socket");
			reply_error(r, &err);
			return;
		}
		text = k->console(d, key, &err);
		reply_result(r, text ? 0 : -1, text ? json_pack("{s:s}", "path", text) : NULL,
			     &err);
		free(text);
		return;
	}
	if (!strcmp(sub, "autostart")) {
		if (cmd != EVHTTP_REQ_PUT)
			reply_bad_method(r);
		else
			do_autostart(j, k, key);
		return;
	}
	for (const struct action *a = k->actions; a->name; a++)
		if (!strcmp(sub, a->name)) {
			if (cmd != EVHTTP_REQ_POST)
				reply_bad_method(r);
			else
				reply_result(r, a->fn(d, key, &err), NULL, &err);
			return;
		}
	berr_set(&err, BERR_NOT_FOUND, "no endpoint /v1/%s/%s/%s", k->name, key, sub);
	reply_error(r, &err);
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

/* Serve one request under /v1/ (worker thread): its endpoint's answer in j->reply. */
static void route(struct job *j)
{
	struct berthd *d = j->s->api->d;
	struct reply *r = &j->reply;
	const char *url = j->url;
	struct berr err = {0};
	char *path, *key, *sub;
	size_t len;

	if (strncmp(url, API_PREFIX, strlen(API_PREFIX))) {
		berr_set(&err, BERR_NOT_FOUND, "no endpoint %s (the API lives under /v1/)", url);
		reply_error(r, &err);
		return;
	}
	if (j->s->read_only && j->cmd != EVHTTP_REQ_GET && j->cmd != EVHTTP_REQ_HEAD) {
		berr_set(&err, BERR_DENIED, "%s %s: the read-only socket serves GET requests only",
			 method_name(j->cmd), url);
		reply_error(r, &err);
		return;
	}
	path = xstrdup(url + strlen(API_PREFIX));
	/* Tolerate one trailing slash. */
	len = strlen(path);
	if (len && path[len - 1] == '/')
		path[--len] = '\0';
	if (!strcmp(path, "node") || !strcmp(path, "version")) {
		if (j->cmd != EVHTTP_REQ_GET)
			reply_bad_method(r);
		else if (!strcmp(path, "node"))
			reply_json(r, 200, node_info_json(d));
		else
			reply_json(r, 200,
				   json_pack("{s:s,s:s,s:s}", "version", BERTH_VERSION, "driver",
					     d->drv->name, "instance",
					     d->system ? "system" : "session"));
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		const struct kind *k = &kinds[i];
		size_t n = strlen(k->name);

		if (strncmp(path, k->name, n) || (path[n] && path[n] != '/'))
			continue;
		if (!path[n])
			route_collection(j, k);
		else if (split_key(path + n + 1, &key, &sub))
			route_item(j, k, key, sub);
		else
			break;
		goto out;
	}
	berr_set(&err, BERR_NOT_FOUND, "no endpoint %s", url);
	reply_error(r, &err);
out:
	free(path);
}

/* The reason phrase of the statuses berthd answers with. */
static const char *status_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 422:
		return "Unprocessable Entity";
	case 507:
		return "Insufficient Storage";
	default:
		return "Internal Server Error";
	}
}

/* Send an answer (event thread); consumes r->body. */
static void send_reply(struct evhttp_request *req, struct reply *r)
{
	size_t len = r->body ? strlen(r->body) : 0;

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", r->type);
	if (len && evbuffer_add(evhttp_request_get_output_buffer(req), r->body, len) < 0)
		log_error("API: out of memory for a %zu-byte answer", len);
	evhttp_send_reply(req, r->status, status_reason(r->status), NULL);
	free(r->body);
	r->body = NULL;
}

/* May this peer use the read-write socket? */
static bool peer_allowed(struct api_socket *s, struct evhttp_request *req)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (s->read_only)
		return true;
	if (!bev || getsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == 0 || cred.uid == s->api->d->owner;
}

/* Free a request's state (event thread; the evhttp request is evhttp's). */
static void job_free(struct job *j)
{
	if (j->done)
		event_free(j->done);
	free(j->url);
	free(j->query);
	free(j->body);
	free(j->reply.body);
	free(j);
}

/* The answer is ready (event thread): send it. */
static void on_job_done(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;
	struct api *api = j->s->api;
	bool idle;
	(void)fd;
	(void)what;

	send_reply(j->req, &j->reply);
	job_free(j);
	pthread_mutex_lock(&api->lock);
	idle = --api->pending == 0;
	if (idle)
		pthread_cond_broadcast(&api->idle);
	pthread_mutex_unlock(&api->lock);
	if (idle)
		evtimer_add(api->trim, &(struct timeval){.tv_sec = API_TRIM_DELAY});
}

/*
 * No request for API_TRIM_DELAY (event thread): hand the heap pages that
 * requests, connections and VM exits freed back to the kernel (free() only
 * trims the top of the heap), so an idle berthd does not keep the high-water
 * mark of its last burst.
 */
static void on_idle_trim(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	malloc_trim(0);
}

/* A worker: serve queued requests until none is left, then end. */
static void *worker_main(void *arg)
{
	struct api *api = arg;
	struct job *j;

	pthread_mutex_lock(&api->lock);
	while ((j = api->queue)) {
		api->queue = j->next;
		if (!api->queue)
			api->queue_tail = &api->queue;
		pthread_mutex_unlock(&api->lock);
		route(j);
		/* j belongs to the event thread from here on */
		event_active(j->done, EV_TIMEOUT, 1);
		pthread_mutex_lock(&api->lock);
	}
	if (--api->workers == 0)
		pthread_cond_broadcast(&api->idle);
	pthread_mutex_unlock(&api->lock);
	return NULL;
}

/* Take a request in (event thread): copy what route() needs; NULL with err set on failure. */
static struct job *job_new(struct api_socket *s, struct evhttp_request *req, struct berr *err)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	struct job *j = xcalloc(1, sizeof(*j));

	j->s = s;
	j->req = req;
	j->cmd = evhttp_request_get_command(req);
	j->url = evhttp_uridecode(path && *path ? path : "/", 0, NULL);
	j->query = query ? xstrdup(query) : NULL;
	j->len = evbuffer_get_length(in);
	if (j->len) {
		j->body = xmalloc(j->len + 1);
		evbuffer_copyout(in, j->body, j->len);
		j->body[j->len] = '\0';
	}
	j->done = event_new(s->api->base, -1, 0, on_job_done, j);
	if (!j->url || !j->done) {
		berr_set(err, BERR_INTERNAL, "API: out of memory taking a request in");
		job_free(j);
		return NULL;
	}
	return j;
}

/* Queue a request for a worker, starting one if there is room; -1 with err set. */
static int job_queue(struct api *api, struct job *j, struct berr *err)
{
	pthread_t t;
	int e;

	pthread_mutex_lock(&api->lock);
	if (api->stopping) {
		pthread_mutex_unlock(&api->lock);
		berr_set(err, BERR_INTERNAL, "berthd is shutting down");
		return -1;
	}
	if (api->workers < API_MAX_WORKERS) {
		e = pthread_create(&t, &api->attr, worker_main, api);
		if (e == 0) {
			api->workers++;
		} else if (api->workers == 0) {
			pthread_mutex_unlock(&api->lock);
			berr_set(err, BERR_INTERNAL, "API: cannot start a worker thread: %s",
				 strerror(e));
			return -1;
		}
	}
	/* the new worker waits for the lock, so it finds j queued */
	j->next = NULL;
	*api->queue_tail = j;
	api->queue_tail = &j->next;
	api->pending++;
	pthread_mutex_unlock(&api->lock);
	return 0;
}

/* evhttp's callback for every complete request (event thread): refuse it or queue it. */
static void on_request(struct evhttp_request *req, void *arg)
{
	struct api_socket *s = arg;
	struct berr err = {0};
	struct job *j;

	if (!peer_allowed(s, req))
		berr_set(&err, BERR_DENIED, "permission denied: the read-write socket is for %s",
			 s->api->d->system ? "root" : "the session's owner");
	else if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) > API_MAX_BODY)
		berr_set(&err, BERR_INVALID, "request body larger than %d bytes", API_MAX_BODY);
	else if ((j = job_new(s, req, &err)) && job_queue(s->api, j, &err) < 0)
		job_free(j);
	if (berr_isset(&err)) {
		struct reply r = {0};

		reply_error(&r, &err);
		send_reply(req, &r);
	}
}

/* libevent reports its own troubles (a client vanishing and such) through this. */
static void libevent_log(int severity, const char *msg)
{
	if (severity >= EVENT_LOG_ERR)
		log_warn("API: %s", msg);
	else
		log_debug("API: %s", msg);
}

static int libevent_ready = -1;

/* Once per process: libevent's locking (the workers activate events) and logging. */
static void libevent_setup(void)
{
	event_set_log_callback(libevent_log);
	libevent_ready = evthread_use_pthreads();
}

/* The event thread: evhttp for both sockets until api_stop ends the loop. */
static void *event_thread(void *arg)
{
	struct api *api = arg;
	sigset_t pipe;

	/* A client gone before its answer is written: EPIPE, not a signal. */
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, NULL);
	if (event_base_loop(api->base, EVLOOP_NO_EXIT_ON_EMPTY) < 0)
		log_error("API: the event loop failed: no more requests are served");
	return NULL;
}

/* Bind and listen on one API socket ourselves, then serve it with evhttp. */
static int socket_open(struct api *api, struct api_socket *s, const char *path, mode_t mode)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;
	int fd;

	s->api = api;
	if (strlen(path) >= sizeof(addr.sun_path)) {
		log_error("API socket path %s is too long", path);
		return -1;
	}
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		log_error("API socket: %s", strerror(errno));
		return -1;
	}
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || chmod(path, mode) < 0 ||
	    listen(fd, 128) < 0) {
		log_error("API socket %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	s->path = xstrdup(path);
	s->http = evhttp_new(api->base);
	if (!s->http)
		goto fail;
	evhttp_set_gencb(s->http, on_request, s);
	/* every method reaches route(), which answers 405 where it does not fit */
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
						EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
						EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
						EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(s->http, API_MAX_HEADERS);
	evhttp_set_max_body_size(s->http, API_MAX_READ);
	evhttp_set_timeout(s->http, API_TIMEOUT);
	/* an oversized body is read to its end before the answer, so the client sees it */
	evhttp_set_flags(s->http, EVHTTP_SERVER_LINGERING_CLOSE);
	s->bound = evhttp_accept_socket_with_handle(s->http, fd);
	if (!s->bound)
		goto fail;
	return 0;
fail:
	log_error("API socket %s: cannot start the HTTP server", path);
	close(fd);
	unlink(path);
	return -1;
}

/* Stop listening on both sockets (event thread, at api_stop). */
static void stop_listening(evutil_socket_t fd, short what, void *arg)
{
	struct api *api = arg;
	(void)fd;
	(void)what;

	if (api->rw.bound)
		evhttp_del_accept_socket(api->rw.http, api->rw.bound);
	if (api->ro.bound)
		evhttp_del_accept_socket(api->ro.http, api->ro.bound);
	api->rw.bound = api->ro.bound = NULL;
}

/* Free one API socket's server and remove its path (the event thread has ended). */
static void socket_close(struct api_socket *s)
{
	if (s->http)
		evhttp_free(s->http); /* closes the listening socket and open connections */
	if (s->path)
		unlink(s->path);
	free(s->path);
}

/* Serve both API sockets. */
struct api *api_start(struct berthd *d, const char *rw_path, const char *ro_path)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct api *api;

	pthread_once(&once, libevent_setup);
	if (libevent_ready < 0) {
		log_error("API: libevent has no thread support");
		return NULL;
	}
	api = xcalloc(1, sizeof(*api));
	api->d = d;
	api->ro.read_only = true;
	api->queue_tail = &api->queue;
	pthread_mutex_init(&api->lock, NULL);
	pthread_cond_init(&api->idle, NULL);
	pthread_attr_init(&api->attr);
	pthread_attr_setstacksize(&api->attr, API_THREAD_STACK);
	api->base = event_base_new();
	api->trim = api->base ? evtimer_new(api->base, on_idle_trim, api) : NULL;
	if (!api->trim) {
		log_error("API: cannot create an event base");
		goto fail;
	}
	if (socket_open(api, &api->rw, rw_path, 0600) < 0 ||
	    socket_open(api, &api->ro, ro_path, 0666) < 0)
		goto fail;
	if (pthread_create(&api->thread, &api->attr, event_thread, api)) {
		log_error("API: cannot start the event thread");
		goto fail;
	}
	api->thread_started = true;
	/* workers are detached: api_stop waits for them through api->workers */
	pthread_attr_setdetachstate(&api->attr, PTHREAD_CREATE_DETACHED);
	return api;
fail:
	api_stop(api);
	return NULL;
}

/* Stop both API sockets: no new connections, and wait for requests in progress. */
void api_stop(struct api *api)
{
	if (!api)
		return;
	if (api->thread_started) {
		pthread_mutex_lock(&api->lock);
		api->stopping = true; /* requests from here on are refused */
		pthread_mutex_unlock(&api->lock);
		if (event_base_once(api->base, -1, EV_TIMEOUT, stop_listening, api, NULL) < 0)
			log_warn("API: cannot stop listening before the requests in progress end");
		pthread_mutex_lock(&api->lock);
		while (api->pending || api->workers)
			pthread_cond_wait(&api->idle, &api->lock);
		pthread_mutex_unlock(&api->lock);
		/* after one more round, which writes the answers just sent */
		event_base_loopexit(api->base, NULL);
		pthread_join(api->thread, NULL);
	}
	socket_close(&api->rw);
	socket_close(&api->ro);
	if (api->trim)
		event_free(api->trim);
	if (api->base)
		event_base_free(api->base);
	pthread_attr_destroy(&api->attr);
	pthread_cond_destroy(&api->idle);
	pthread_mutex_destroy(&api->lock);
	free(api);
}
