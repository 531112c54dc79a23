#include "cli/client.h"
#include "common/log.h"
#include "common/util.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct client {
	CURL *curl;
	char *socket;
	char errbuf[CURL_ERROR_SIZE];
};

/* The socket of an instance: system (/run/berth) or the user's session. */
static char *instance_socket(bool system, bool read_only)
{
	const char *file = read_only ? "berthd-ro.sock" : "berthd.sock";
	char *s;

	if (system) {
		if (asprintf(&s, "/run/berth/%s", file) < 0)
			s = NULL;
	} else if (getenv("XDG_RUNTIME_DIR")) {
		if (asprintf(&s, "%s/berth/%s", getenv("XDG_RUNTIME_DIR"), file) < 0)
			s = NULL;
	} else if (asprintf(&s, "/tmp/berth-%u/%s", (unsigned)getuid(), file) < 0) {
		s = NULL;
	}
	if (!s)
		die("out of memory");
	return s;
}

static char *resolve_uri(const char *uri, bool read_only)
{
	const char *q;
	bool system;

	if (!uri)
		uri = getenv("BERTH_DEFAULT_URI");
	if (!uri)
		return instance_socket(geteuid() == 0, read_only);
	if (uri[0] == '/')
		return xstrdup(uri);
	if (!strncmp(uri, "berth:///", 9))
		uri += 9;
	else if (!strncmp(uri, "qemu:///", 8))
		uri += 8;
	else
		die("unsupported connection URI '%s' (berth:///system, berth:///session, or a "
		    "socket path)",
		    uri);
	if (!strncmp(uri, "system", 6) && (uri[6] == '\0' || uri[6] == '?'))
		system = true;
	else if (!strncmp(uri, "session", 7) && (uri[7] == '\0' || uri[7] == '?'))
		system = false;
	else
		die("unsupported connection URI: instance '%s' (system or session)", uri);
	q = strstr(uri, "?socket=");
	if (q)
		return xstrdup(q + 8);
	return instance_socket(system, read_only);
}

struct client *client_open(const char *uri, bool read_only)
{
	struct client *c = xcalloc(1, sizeof(*c));

	c->socket = resolve_uri(uri, read_only);
	curl_global_init(CURL_GLOBAL_NOTHING);
	c->curl = curl_easy_init();
	if (!c->curl)
		die("cannot initialise libcurl");
	return c;
}

void client_close(struct client *c)
{
	if (!c)
		return;
	curl_easy_cleanup(c->curl);
	curl_global_cleanup();
	free(c->socket);
	free(c);
}

const char *client_socket(const struct client *c)
{
	return c->socket;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *opaque)
{
	struct response *r = opaque;
	size_t n = size * nmemb;

	r->body = xrealloc(r->body, r->len + n + 1);
	memcpy(r->body + r->len, ptr, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

int client_request(struct client *c, const char *method, const char *path, const char *body,
		   size_t len, const char *content_type, struct response *resp)
{
	struct curl_slist *headers = NULL;
	char *url, ctype[128];
	CURLcode rc;

	memset(resp, 0, sizeof(*resp));
	resp->body = xstrdup("");
	if (asprintf(&url, "http://localhost/v1/%s", path) < 0)
		die("out of memory");
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->socket);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	headers = curl_slist_append(headers, "Expect:");
	if (body) {
		snprintf(ctype, sizeof(ctype), "Content-Type: %s", content_type);
		headers = curl_slist_append(headers, ctype);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
	c->errbuf[0] = '\0';
	rc = curl_easy_perform(c->curl);
	curl_slist_free_all(headers);
	free(url);
	if (rc != CURLE_OK) {
		fprintf(stderr, "error: failed to connect to berthd at %s: %s\n", c->socket,
			c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
	return 0;
}

void response_free(struct response *resp)
{
	free(resp->body);
	resp->body = NULL;
}

json_t *client_call(struct client *c, const char *method, const char *path, json_t *body)
{
	struct response r;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_t *j = NULL;

	if (client_request(c, method, path, text, text ? strlen(text) : 0, "application/json",
			   &r) < 0)
		goto out;
	j = json_loadb(r.body, r.len, 0, NULL);
	if (r.status / 100 != 2) {
		const char *msg =
			json_string_value(json_object_get(json_object_get(j, "error"), "message"));
		fprintf(stderr, "error: %s\n", msg ? msg : r.body);
		json_decref(j);
		j = NULL;
	} else if (!j) {
		fprintf(stderr, "error: berthd sent a malformed answer to %s %s\n", method, path);
	}
	response_free(&r);
out:
	free(text);
	return j;
}

char *client_escape(struct client *c, const char *s)
{
	char *e = curl_easy_escape(c->curl, s, 0), *copy;

	if (!e)
		die("out of memory");
	copy = xstrdup(e);
	curl_free(e);
	return copy;
}
