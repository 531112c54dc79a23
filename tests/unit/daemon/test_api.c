/*
 * Unit tests for daemon/api.c and daemon/lifecycle.c: the HTTP API on real
 * UNIX sockets, over a test driver that records what it is asked to do
 * instead of running berth-vmm (the driver table is the seam), so the API's
 * rules, admission, persistence and concurrency are checked without /dev/kvm.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libxml/parser.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/api.h"
#include "daemon/berthd.h"
#include "daemon/fileutil.h"
#include "daemon/network.h"

/* ---- the test driver: a VM is a flag ---- */

static atomic_int starts, destroys, powerdowns;
static int running_marker;

static int t_start(struct berthd *d, struct domain *dom, struct berr *err)
{
	(void)d;
	(void)err;
	atomic_fetch_add(&starts, 1);
	pthread_mutex_lock(&dom->lock);
	dom->priv = &running_marker;
	pthread_mutex_unlock(&dom->lock);
	return 0;
}

static void t_gone(struct domain *dom)
{
	pthread_mutex_lock(&dom->lock);
	dom->priv = NULL;
	pthread_mutex_unlock(&dom->lock);
}

static int t_destroy(struct berthd *d, struct domain *dom, struct berr *err)
{
	(void)d;
	(void)err;
	atomic_fetch_add(&destroys, 1);
	t_gone(dom);
	return 0;
}

static int t_shutdown(struct berthd *d, struct domain *dom, struct berr *err)
{
	(void)d;
	(void)dom;
	(void)err;
	atomic_fetch_add(&powerdowns, 1);
	return 0;
}

static int t_nop(struct berthd *d, struct domain *dom, struct berr *err)
{
	(void)d;
	(void)dom;
	(void)err;
	return 0;
}

static int t_console(struct berthd *d, struct domain *dom, char **path, struct berr *err)
{
	(void)d;
	(void)err;
	*path = xasprintf("/run/test/%s.console", dom->name);
	return 0;
}

static void t_adopt(struct berthd *d)
{
	(void)d;
}

static const struct hv_driver test_driver = {
    .name = "test",
    .start = t_start,
    .shutdown = t_shutdown,
    .destroy = t_destroy,
    .reset = t_nop,
    .suspend = t_nop,
    .resume = t_nop,
    .console_path = t_console,
    .adopt_all = t_adopt,
    .release_all = t_adopt,
};

/* ---- a berthd on a temporary directory ---- */

struct fixture {
	char dir[64];
	struct berthd d;
	struct api *api;
	char *rw, *ro;
};

static void daemon_up(struct fixture *f)
{
	struct berthd *d = &f->d;
	struct berr err = {0};

	memset(d, 0, sizeof(*d));
	d->config_dir = xasprintf("%s/domains", f->dir);
	d->autostart_dir = xasprintf("%s/autostart", f->dir);
	d->run_dir = xasprintf("%s/run", f->dir);
	d->log_dir = xasprintf("%s/log", f->dir);
	d->owner = getuid();
	d->drv = &test_driver;
	d->node.memory = 1024 * MiB;
	d->node.cpus = 2;
	d->reserve = 512 * MiB;
	assert_int_equal(mkdir_p(d->config_dir, 0700, &err), 0);
	assert_int_equal(mkdir_p(d->autostart_dir, 0700, &err), 0);
	assert_int_equal(mkdir_p(d->run_dir, 0700, &err), 0);
	pthread_mutex_init(&d->res_lock, NULL);
	pthread_mutex_init(&d->define_lock, NULL);
	domain_list_init(&d->domains);
	atomic_init(&d->next_id, 1);
	d->net_config_dir = xasprintf("%s/networks", f->dir);
	d->net_autostart_dir = xasprintf("%s/networks/autostart", f->dir);
	assert_int_equal(network_init(d), 0);
	assert_int_equal(berthd_init_domains(d), 0);
	f->rw = xasprintf("%s/run/berthd.sock", f->dir);
	f->ro = xasprintf("%s/run/berthd-ro.sock", f->dir);
	f->api = api_start(d, f->rw, f->ro);
	assert_non_null(f->api);
}

static void daemon_down(struct fixture *f)
{
	api_stop(f->api);
	domain_list_destroy(&f->d.domains);
	network_release_all(&f->d);
	free(f->d.net_config_dir);
	free(f->d.net_autostart_dir);
	free(f->d.config_dir);
	free(f->d.autostart_dir);
	free(f->d.run_dir);
	free(f->d.log_dir);
	free(f->rw);
	free(f->ro);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-api-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	daemon_up(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd = xasprintf("rm -rf '%s'", f->dir);

	daemon_down(f);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f);
	return 0;
}

/* ---- HTTP ---- */

struct answer {
	int status;
	json_t *json;
	char *body;
};

static struct answer http(const char *sock, const char *method, const char *path, const char *body)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct answer ans = {0};
	char *req, buf[65536];
	size_t n = 0;
	ssize_t r;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(a.sun_path, sock);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	req = xasprintf("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
			"Content-Length: %zu\r\n\r\n%s",
			method, path, body ? strlen(body) : 0, body ? body : "");
	assert_int_equal(write_all(fd, req, strlen(req)), 0);
	free(req);
	while ((r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += r;
	close(fd);
	buf[n] = '\0';
	assert_int_equal(sscanf(buf, "HTTP/1.1 %d", &ans.status), 1);
	ans.body = xstrdup(strstr(buf, "\r\n\r\n") ? strstr(buf, "\r\n\r\n") + 4 : "");
	ans.json = json_loads(ans.body, 0, NULL);
	return ans;
}

static void answer_free(struct answer *a)
{
	json_decref(a->json);
	free(a->body);
}

static const char *err_code(struct answer *a)
{
	return json_string_value(json_object_get(json_object_get(a->json, "error"), "code"));
}

static int expect_status(const char *sock, const char *method, const char *path, const char *body,
			 int status)
{
	struct answer a = http(sock, method, path, body);
	int got = a.status;

	if (got != status)
		print_error("%s %s: %d, expected %d: %s\n", method, path, got, status, a.body);
	answer_free(&a);
	return got == status;
}

static char *dom_xml(const char *name, unsigned mib, const char *extra)
{
	return xasprintf("<domain type='kvm'><name>%s</name><memory unit='MiB'>%u</memory>"
			 "<os><type>hvm</type><kernel>/boot/k</kernel></os>%s</domain>",
			 name, mib, extra);
}

static void define(struct fixture *f, const char *name, unsigned mib, const char *extra)
{
	char *xml = dom_xml(name, mib, extra);

	assert_true(expect_status(f->rw, "POST", "/v1/domains", xml, 200));
	free(xml);
}

static const char *state_of(struct fixture *f, const char *name)
{
	static char state[32];
	char *path = xasprintf("/v1/domains/%s", name);
	struct answer a = http(f->rw, "GET", path, NULL);

	assert_int_equal(a.status, 200);
	snprintf(state, sizeof(state), "%s", json_string_value(json_object_get(a.json, "state")));
	answer_free(&a);
	free(path);
	return state;
}

/* ---- tests ---- */

static void test_define_list_undefine(void **state)
{
	struct fixture *f = *state;
	char *xml = dom_xml("web", 64, "<clock offset='utc'/>");
	struct answer a = http(f->rw, "POST", "/v1/domains", xml);
	char *path;

	assert_int_equal(a.status, 200);
	assert_string_equal(json_string_value(json_object_get(a.json, "name")), "web");
	assert_non_null(strstr(
	    json_string_value(json_array_get(json_object_get(a.json, "warnings"), 0)), "<clock>"));
	answer_free(&a);
	free(xml);
	/* on disk, atomically */
	path = xasprintf("%s/domains/web.xml", f->dir);
	assert_int_equal(access(path, F_OK), 0);

	a = http(f->ro, "GET", "/v1/domains", NULL);
	assert_int_equal(json_array_size(a.json), 0); /* only active ones */
	answer_free(&a);
	a = http(f->ro, "GET", "/v1/domains?all=1", NULL);
	assert_int_equal(json_array_size(a.json), 1);
	assert_true(json_is_null(json_object_get(json_array_get(a.json, 0), "id")));
	assert_string_equal(json_string_value(json_object_get(json_array_get(a.json, 0), "state")),
			    "shut off");
	answer_free(&a);
	a = http(f->ro, "GET", "/v1/domains/web/xml", NULL);
	assert_int_equal(a.status, 200);
	assert_non_null(strstr(a.body, "<clock offset=\"utc\"/>"));
	answer_free(&a);

	assert_true(
	    expect_status(f->rw, "PUT", "/v1/domains/web/autostart", "{\"autostart\": true}", 200));
	assert_true(expect_status(f->rw, "DELETE", "/v1/domains/web", NULL, 200));
	assert_int_equal(access(path, F_OK), -1);
	assert_true(expect_status(f->rw, "GET", "/v1/domains/web", NULL, 404));
	free(path);
}

static void test_lifecycle_rules(void **state)
{
	struct fixture *f = *state;
	struct answer a;

	define(f, "vm", 64, "");
	assert_true(expect_status(f->rw, "POST", "/v1/domains/vm/shutdown", NULL, 409));
	assert_true(expect_status(f->rw, "POST", "/v1/domains/vm/start", NULL, 200));
	assert_string_equal(state_of(f, "vm"), "running");
	a = http(f->rw, "GET", "/v1/domains/vm", NULL);
	assert_int_equal(json_integer_value(json_object_get(a.json, "id")), 1);
	answer_free(&a);
	/* by id and by UUID too */
	assert_true(expect_status(f->ro, "GET", "/v1/domains/1", NULL, 200));
	assert_true(expect_status(f->rw, "POST", "/v1/domains/vm/start", NULL, 409));
	assert_true(expect_status(f->rw, "POST", "/v1/domains/vm/suspend", NULL, 200));
	assert_string_equal(state_of(f, "vm"), "paused");
	assert_true(expect_status(f->rw, "POST", "/v1/domains/vm/resume", NULL, 200));
	a = http(f->rw, "GET", "/v1/domains/vm/console", NULL);
	assert_string_equal(json_string_value(json_object_get(a.json, "path")),
			    "/run/test/vm.console");
	answer_free(&a);
	assert_true(expect_status(f->ro, "GET", "/v1/domains/vm/console", NULL, 403));
	assert_true(expect_status(f->rw, "POST", "/v1/domains/vm/shutdown", NULL, 200));
	assert_int_equal(atomic_load(&powerdowns), 1);
	assert_true(expect_status(f->rw, "POST", "/v1/domains/vm/destroy", NULL, 200));
	assert_string_equal(state_of(f, "vm"), "shut off");
	assert_int_equal(f->d.mem_running, 0);

	/* a transient domain vanishes when it stops */
	{
		char *xml = dom_xml("tmp", 64, "");
		a = http(f->rw, "POST", "/v1/domains?transient=1", xml);
		assert_int_equal(a.status, 200);
		answer_free(&a);
		free(xml);
	}
	assert_string_equal(state_of(f, "tmp"), "running");
	assert_true(
	    expect_status(f->rw, "PUT", "/v1/domains/tmp/autostart", "{\"autostart\": true}", 409));
	assert_true(expect_status(f->rw, "POST", "/v1/domains/tmp/destroy", NULL, 200));
	assert_true(expect_status(f->rw, "GET", "/v1/domains/tmp", NULL, 404));
}

static void test_admission(void **state)
{
	struct fixture *f = *state;
	struct answer a;

	/* 1024 MiB host, 512 MiB reserve: 512 MiB for VMs */
	define(f, "a", 256, "");
	define(f, "b", 200, "");
	define(f, "c", 100, "");
	assert_true(expect_status(f->rw, "POST", "/v1/domains/a/start", NULL, 200));
	assert_true(expect_status(f->rw, "POST", "/v1/domains/b/start", NULL, 200));
	a = http(f->rw, "POST", "/v1/domains/c/start", NULL);
	assert_int_equal(a.status, 507);
	assert_string_equal(err_code(&a), "no-resources");
	assert_non_null(strstr(a.body, "it needs 100 MiB, 56 MiB free"));
	answer_free(&a);
	assert_string_equal(state_of(f, "c"), "shut off");
	a = http(f->ro, "GET", "/v1/node", NULL);
	assert_int_equal(json_integer_value(json_object_get(a.json, "memory_running")), 456 * MiB);
	assert_int_equal(json_integer_value(json_object_get(a.json, "memory_free")), 56 * MiB);
	answer_free(&a);
	assert_true(expect_status(f->rw, "POST", "/v1/domains/b/destroy", NULL, 200));
	assert_true(expect_status(f->rw, "POST", "/v1/domains/c/start", NULL, 200));
}

static void test_bad_requests(void **state)
{
	struct fixture *f = *state;
	struct answer a;
	char *huge;

	a = http(f->rw, "POST", "/v1/domains", "<domain");
	assert_int_equal(a.status, 400);
	assert_string_equal(err_code(&a), "invalid");
	answer_free(&a);
	a = http(f->rw, "POST", "/v1/domains",
		 "<domain type='kvm'><name>x</name><memory>65536"
		 "</memory><os><type>hvm</type><kernel>/k</kernel>"
		 "</os><devices><hostdev/></devices></domain>");
	assert_int_equal(a.status, 422);
	assert_non_null(strstr(a.body, "<hostdev>"));
	answer_free(&a);
	assert_true(expect_status(f->rw, "POST", "/v1/domains", "", 400));
	assert_true(expect_status(f->rw, "GET", "/v1/nowhere", NULL, 404));
	assert_true(expect_status(f->rw, "GET", "/v2/domains", NULL, 404));
	assert_true(expect_status(f->rw, "GET", "/v1/domains/x/y/z", NULL, 404));
	assert_true(expect_status(f->rw, "PATCH", "/v1/domains", NULL, 405));
	assert_true(expect_status(f->rw, "GET", "/v1/domains/nosuch/xml", NULL, 404));
	define(f, "ok", 16, "");
	assert_true(expect_status(f->rw, "PUT", "/v1/domains/ok/autostart", "{bad", 400));
	assert_true(
	    expect_status(f->rw, "PUT", "/v1/domains/ok/autostart", "{\"autostart\":1}", 400));
	assert_true(expect_status(f->rw, "GET", "/v1/domains/ok/launch", NULL, 404));
	assert_true(expect_status(f->ro, "POST", "/v1/domains/ok/start", NULL, 403));
	assert_true(expect_status(f->ro, "DELETE", "/v1/domains/ok", NULL, 403));
	huge = xmalloc(2 * 1024 * 1024 + 1);
	memset(huge, 'x', 2 * 1024 * 1024);
	huge[2 * 1024 * 1024] = '\0';
	a = http(f->rw, "POST", "/v1/domains", huge);
	assert_int_equal(a.status, 400);
	assert_non_null(strstr(a.body, "larger"));
	answer_free(&a);
	free(huge);
	/* the same name with another UUID, or the same UUID under another name: refused */
	{
		char *x = dom_xml("ok", 16, "");
		char *y;
		struct answer g = http(f->rw, "GET", "/v1/domains/ok", NULL);
		char *uuid = xstrdup(json_string_value(json_object_get(g.json, "uuid")));
		answer_free(&g);
		assert_true(expect_status(f->rw, "POST", "/v1/domains", x, 409));
		y = xasprintf("<domain type='kvm'><name>other</name><uuid>%s</uuid><memory>65536"
			      "</memory><os><type>hvm</type><kernel>/k</kernel></os></domain>",
			      uuid);
		assert_true(expect_status(f->rw, "POST", "/v1/domains", y, 409));
		free(x);
		free(y);
		free(uuid);
	}
	/* nothing changed */
	a = http(f->ro, "GET", "/v1/domains?all=1", NULL);
	assert_int_equal(json_array_size(a.json), 1);
	answer_free(&a);
}

static void test_persistence_and_autostart(void **state)
{
	struct fixture *f = *state;
	int before;

	define(f, "keep", 16, "");
	define(f, "auto", 16, "");
	assert_true(expect_status(f->rw, "PUT", "/v1/domains/auto/autostart",
				  "{\"autostart\": true}", 200));
	daemon_down(f);
	before = atomic_load(&starts);
	daemon_up(f);
	berthd_autostart(&f->d);
	assert_int_equal(atomic_load(&starts), before + 1);
	assert_string_equal(state_of(f, "auto"), "running");
	assert_string_equal(state_of(f, "keep"), "shut off");
}

/* A VM process ending: on_poweroff / on_crash decide what happens next. */
static void test_process_ended(void **state)
{
	struct fixture *f = *state;
	struct domain *dom;
	int before;

	define(f, "crashy", 16, "<on_crash>restart</on_crash><on_poweroff>destroy</on_poweroff>");
	assert_true(expect_status(f->rw, "POST", "/v1/domains/crashy/start", NULL, 200));
	dom = domain_list_lookup(&f->d.domains, "crashy");
	before = atomic_load(&starts);
	pthread_mutex_lock(&dom->job);
	t_gone(dom);
	dom_process_ended(&f->d, dom, DOM_EXIT_CRASHED);
	pthread_mutex_unlock(&dom->job);
	assert_int_equal(atomic_load(&starts), before + 1); /* restarted */
	assert_string_equal(state_of(f, "crashy"), "running");
	pthread_mutex_lock(&dom->job);
	t_gone(dom);
	dom_process_ended(&f->d, dom, DOM_EXIT_POWEROFF);
	pthread_mutex_unlock(&dom->job);
	assert_string_equal(state_of(f, "crashy"), "shut off");
	assert_int_equal(f->d.mem_running, 0);
	domain_unref(dom);
}

struct racer {
	struct fixture *f;
	unsigned seed;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;
	static const char *const ops[] = {"start", "destroy", "list", "info"};

	for (int i = 0; i < 40; i++) {
		const char *op = ops[rand_r(&r->seed) % 4];
		char *path = xasprintf("/v1/domains/r%u%s%s", rand_r(&r->seed) % 4,
				       !strcmp(op, "info") || !strcmp(op, "list") ? "" : "/",
				       !strcmp(op, "info") || !strcmp(op, "list") ? "" : op);
		struct answer a =
		    http(r->f->rw, !strcmp(op, "info") || !strcmp(op, "list") ? "GET" : "POST",
			 !strcmp(op, "list") ? "/v1/domains?all=1" : path, NULL);
		/* only the state rules may refuse: already running / not running */
		if (a.status != 200 && a.status != 409)
			fail_msg("%s: %d %s", path, a.status, a.body);
		answer_free(&a);
		free(path);
	}
	return NULL;
}

static void test_concurrency(void **state)
{
	struct fixture *f = *state;
	struct racer racers[20];
	pthread_t threads[20];
	uint64_t held = 0;
	int base = atomic_load(&starts) - atomic_load(&destroys);
	struct answer a;
	size_t i;
	json_t *d;

	for (int n = 0; n < 4; n++) {
		char name[8];
		snprintf(name, sizeof(name), "r%d", n);
		define(f, name, 64, "");
	}
	for (int t = 0; t < 20; t++) {
		racers[t] = (struct racer){f, t + 1};
		pthread_create(&threads[t], NULL, racer_main, &racers[t]);
	}
	for (int t = 0; t < 20; t++)
		pthread_join(threads[t], NULL);
	/* consistent: memory held = running domains; every running one has a VM */
	a = http(f->ro, "GET", "/v1/domains?all=1", NULL);
	json_array_foreach(a.json, i, d)
	{
		struct domain *dom = domain_list_lookup(
		    &f->d.domains, json_string_value(json_object_get(d, "name")));
		bool running = !strcmp(json_string_value(json_object_get(d, "state")), "running");
		assert_int_equal(running, dom->priv != NULL);
		assert_int_equal(running, json_is_integer(json_object_get(d, "id")));
		held += running ? 64 * MiB : 0;
		domain_unref(dom);
	}
	answer_free(&a);
	assert_int_equal(f->d.mem_running, held);
	assert_int_equal(atomic_load(&starts) - atomic_load(&destroys) - base, held / (64 * MiB));
}

/* /v1/networks: define, list, info, XML, autostart, undefine; the routing rules. */
static void test_networks(void **state)
{
	struct fixture *f = *state;
	const char *xml = "<network><name>lan</name><bridge name='brapi0'/>"
			  "<ip address='10.8.0.1' prefix='24'/><dns/></network>";
	struct answer a;

	a = http(f->rw, "POST", "/v1/networks", xml);
	assert_int_equal(a.status, 200);
	assert_string_equal(json_string_value(json_object_get(a.json, "name")), "lan");
	assert_int_equal(json_array_size(json_object_get(a.json, "warnings")), 1); /* <dns> */
	answer_free(&a);
	a = http(f->ro, "GET", "/v1/networks", NULL);
	assert_int_equal(a.status, 200);
	assert_int_equal(json_array_size(a.json), 0); /* none active */
	answer_free(&a);
	a = http(f->ro, "GET", "/v1/networks?all=1", NULL);
	assert_int_equal(json_array_size(a.json), 1);
	answer_free(&a);
	a = http(f->ro, "GET", "/v1/networks/lan", NULL);
	assert_int_equal(a.status, 200);
	assert_string_equal(json_string_value(json_object_get(a.json, "bridge")), "brapi0");
	assert_true(json_is_false(json_object_get(a.json, "active")));
	answer_free(&a);
	a = http(f->ro, "GET", "/v1/networks/lan/xml", NULL);
	assert_int_equal(a.status, 200);
	assert_non_null(strstr(a.body, "<ip address=\"10.8.0.1\" netmask=\"255.255.255.0\"/>"));
	answer_free(&a);

	assert_true(expect_status(f->rw, "PUT", "/v1/networks/lan/autostart",
				  "{\"autostart\": true}", 200));
	assert_true(expect_status(f->rw, "PUT", "/v1/networks/lan/autostart", "{}", 400));
	assert_true(expect_status(f->rw, "POST", "/v1/networks/lan/destroy", NULL, 409));
	assert_true(expect_status(f->ro, "POST", "/v1/networks/lan/start", NULL, 403));
	assert_true(expect_status(f->rw, "GET", "/v1/networks/lan/start", NULL, 405));
	assert_true(expect_status(f->rw, "POST", "/v1/networks/lan/bogus", NULL, 404));
	assert_true(expect_status(f->rw, "POST", "/v1/networks/lan/", NULL, 405));
	assert_true(expect_status(f->rw, "POST", "/v1/networks", "<network/>", 400));
	assert_true(expect_status(f->rw, "POST", "/v1/networks", NULL, 400));
	assert_true(expect_status(f->rw, "GET", "/v1/networks/nosuch", NULL, 404));
	assert_true(expect_status(f->rw, "DELETE", "/v1/networks/lan", NULL, 200));
	assert_true(expect_status(f->rw, "GET", "/v1/networks/lan", NULL, 404));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_define_list_undefine, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lifecycle_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_admission, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_persistence_and_autostart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_process_ended, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrency, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_networks, setup, teardown),
	};
	int ret;

	log_set_level(LOG_WARN);
	xmlInitParser();
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	xmlCleanupParser();
	return ret;
}
