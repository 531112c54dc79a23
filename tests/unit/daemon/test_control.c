/*
 * Unit tests for berth-vmm's control socket (src/vmm/control.c), driven over
 * a real UNIX socket with the event loop on its own thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/util.h"
#include "vmm/control.h"
#include "vmm/hw/acpi_pm.h"
#include "vmm/machine/pc.h"
#include "vmm/vm.h"

static void nop_irq(struct vm *vm, unsigned gsi, bool level)
{
	(void)vm;
	(void)gsi;
	(void)level;
}

static void nop_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
	(void)vm;
	(void)addr;
	(void)data;
}

static const struct accel_ops test_accel = {
    .name = "test", .set_irq = nop_irq, .send_msi = nop_msi};

struct fixture {
	struct vm vm;
	struct pc_machine pc;
	struct control *ctl;
	pthread_t thread;
	char path[108];
};

static void *loop_main(void *arg)
{
	struct fixture *f = arg;
	evloop_run(f->vm.loop);
	return NULL;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	f->vm.name = "ctltest";
	f->vm.ram_size = 64 * MiB;
	f->vm.ncpus = 0; /* no vCPU threads: pause completes at once */
	f->vm.accel = &test_accel;
	f->vm.pio.name = "pio";
	f->vm.mmio.name = "mmio";
	pthread_mutex_init(&f->vm.lock, NULL);
	pthread_mutex_init(&f->vm.pause_lock, NULL);
	pthread_cond_init(&f->vm.pause_cond, NULL);
	f->vm.loop = evloop_new();
	f->vm.pc = &f->pc;
	f->pc.acpi_pm = acpi_pm_new(&f->vm);
	assert_non_null(f->pc.acpi_pm);
	snprintf(f->path, sizeof(f->path), "/tmp/berth-test-ctl-%d.sock", getpid());
	f->ctl = control_new(&f->vm, f->path);
	assert_non_null(f->ctl);
	pthread_create(&f->thread, NULL, loop_main, f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	evloop_stop(f->vm.loop);
	pthread_join(f->thread, NULL);
	control_free(f->ctl);
	assert_int_equal(access(f->path, F_OK), -1); /* the socket is removed */
	acpi_pm_free(f->pc.acpi_pm);
	evloop_free(f->vm.loop);
	iobus_free(&f->vm.pio);
	iobus_free(&f->vm.mmio);
	free(f);
	return 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(a.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void send_str(int fd, const char *s)
{
	assert_int_equal(write_all(fd, s, strlen(s)), 0);
}

/* Read one line (with a 5 s timeout) and parse it. */
static json_t *recv_msg(int fd)
{
	char line[65536];
	size_t n = 0;

	while (n < sizeof(line) - 1) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 5000) != 1)
			fail_msg("no message within 5 s");
		if (read(fd, line + n, 1) != 1)
			return NULL;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	return json_loads(line, 0, NULL);
}

static json_t *command(int fd, const char *req)
{
	send_str(fd, req);
	return recv_msg(fd);
}

static void test_query_status(void **state)
{
	struct fixture *f = *state;
	int fd = connect_to(f->path);
	json_t *r = command(fd, "{\"execute\":\"query-status\",\"id\":7}\n"), *ret;

	assert_non_null(r);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 7);
	ret = json_object_get(r, "return");
	assert_string_equal(json_string_value(json_object_get(ret, "name")), "ctltest");
	assert_true(json_is_true(json_object_get(ret, "running")));
	assert_string_equal(json_string_value(json_object_get(ret, "status")), "running");
	assert_int_equal(json_integer_value(json_object_get(ret, "pid")), getpid());
	assert_string_equal(json_string_value(json_object_get(ret, "accelerator")), "test");
	assert_int_equal(json_integer_value(json_object_get(ret, "memory")), 64 * MiB);
	json_decref(r);
	close(fd);
}

static const char *error_class(json_t *r)
{
	return json_string_value(json_object_get(json_object_get(r, "error"), "class"));
}

static void test_malformed(void **state)
{
	struct fixture *f = *state;
	int fd = connect_to(f->path);
	json_t *r;

	r = command(fd, "this is not json\n");
	assert_string_equal(error_class(r), "GenericError");
	json_decref(r);
	r = command(fd, "[1,2]\n");
	assert_string_equal(error_class(r), "GenericError");
	json_decref(r);
	r = command(fd, "{\"id\":\"x\"}\n");
	assert_string_equal(error_class(r), "GenericError");
	assert_string_equal(json_string_value(json_object_get(r, "id")), "x");
	json_decref(r);
	r = command(fd, "{\"execute\":\"query-status\",\"arguments\":5}\n");
	assert_string_equal(error_class(r), "GenericError");
	json_decref(r);
	r = command(fd, "{\"execute\":\"self-destruct\",\"id\":{\"a\":1}}\n");
	assert_string_equal(error_class(r), "CommandNotFound");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "id"), "a")), 1);
	json_decref(r);
	/* Blank lines are ignored, and the connection still works after all that. */
	r = command(fd, "\n\n{\"execute\":\"query-status\"}\n");
	assert_non_null(json_object_get(r, "return"));
	json_decref(r);
	close(fd);
}

static void test_stop_cont_events(void **state)
{
	struct fixture *f = *state;
	int a = connect_to(f->path), b = connect_to(f->path);
	json_t *r;

	r = command(a, "{\"execute\":\"stop\"}\n");
	assert_non_null(json_object_get(r, "return"));
	json_decref(r);
	/* The other client sees STOP, with a timestamp. */
	r = recv_msg(b);
	assert_string_equal(json_string_value(json_object_get(r, "event")), "STOP");
	assert_true(json_is_integer(json_object_get(json_object_get(r, "timestamp"), "seconds")));
	json_decref(r);
	assert_true(atomic_load(&f->vm.pause_requested));
	r = command(b, "{\"execute\":\"query-status\"}\n");
	assert_true(json_is_false(json_object_get(json_object_get(r, "return"), "running")));
	json_decref(r);
	r = command(b, "{\"execute\":\"cont\"}\n");
	assert_non_null(json_object_get(r, "return"));
	json_decref(r);
	assert_false(atomic_load(&f->vm.pause_requested));
	/* a got STOP (after its reply) and RESUME. */
	r = recv_msg(a);
	assert_string_equal(json_string_value(json_object_get(r, "event")), "STOP");
	json_decref(r);
	r = recv_msg(a);
	assert_string_equal(json_string_value(json_object_get(r, "event")), "RESUME");
	json_decref(r);
	close(a);
	close(b);
}

static void test_powerdown(void **state)
{
	struct fixture *f = *state;
	int fd = connect_to(f->path);
	json_t *r;

	assert_int_equal(vm_pio_read(&f->vm, PC_ACPI_PM1_EVT, 2) & 0x100, 0);
	r = command(fd, "{\"execute\":\"system_powerdown\"}\n");
	assert_non_null(json_object_get(r, "return"));
	json_decref(r);
	/* PWRBTN_STS (bit 8 of PM1a_STS) is now set for the guest to see. */
	assert_int_equal(vm_pio_read(&f->vm, PC_ACPI_PM1_EVT, 2) & 0x100, 0x100);
	close(fd);
}

static void test_serial_and_quit(void **state)
{
	struct fixture *f = *state;
	int fd = connect_to(f->path);
	json_t *r;

	r = command(fd, "{\"execute\":\"query-serial\"}\n");
	assert_true(json_is_null(json_object_get(json_object_get(r, "return"), "path")));
	json_decref(r);
	control_set_serial_path(f->ctl, "/run/x.console");
	r = command(fd, "{\"execute\":\"query-serial\"}\n");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(r, "return"), "path")),
	    "/run/x.console");
	json_decref(r);
	r = command(fd, "{\"execute\":\"quit\"}\n");
	assert_non_null(json_object_get(r, "return"));
	json_decref(r);
	assert_int_equal(atomic_load(&f->vm.stop_reason), VM_STOP_SIGNAL);
	/* main emits SHUTDOWN on its way out, after the loop stopped. */
	pthread_join(f->thread, NULL);
	control_emit_shutdown(f->ctl);
	r = recv_msg(fd);
	assert_string_equal(json_string_value(json_object_get(r, "event")), "SHUTDOWN");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(r, "data"), "reason")), "signal");
	assert_true(json_is_false(json_object_get(json_object_get(r, "data"), "guest")));
	json_decref(r);
	/* teardown joins again: restart a thread that returns at once */
	pthread_create(&f->thread, NULL, loop_main, f);
	close(fd);
}

static void test_long_line(void **state)
{
	struct fixture *f = *state;
	int fd = connect_to(f->path);
	size_t len = 70 * 1024;
	char *junk = xmalloc(len);
	json_t *r;
	char c;

	memset(junk, 'x', len);
	/* The server answers once the limit is hit and hangs up; a write may see that. */
	write_all(fd, junk, len);
	r = recv_msg(fd);
	assert_non_null(r);
	assert_non_null(
	    strstr(json_string_value(json_object_get(json_object_get(r, "error"), "desc")),
		   "longer than"));
	json_decref(r);
	assert_true(read(fd, &c, 1) <= 0);
	free(junk);
	close(fd);
}

/* A client that sends and never reads is cut off once its replies pile up. */
static void test_flood(void **state)
{
	struct fixture *f = *state;
	int fd = connect_to(f->path), rcv = 4096;
	const char *req = "{\"execute\":\"query-status\"}\n";
	size_t sent = 0;
	bool cut = false;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	for (int i = 0; i < 1000000 && !cut; i++) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (poll(&p, 1, 5000) != 1)
			fail_msg("server stopped reading after %zu bytes without cutting us off",
				 sent);
		if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0) {
			assert_true(errno == EPIPE || errno == ECONNRESET);
			cut = true;
		}
		sent += strlen(req);
	}
	assert_true(cut);
	close(fd);
	/* The server still serves others. */
	fd = connect_to(f->path);
	json_t *r = command(fd, "{\"execute\":\"query-status\"}\n");
	assert_non_null(json_object_get(r, "return"));
	json_decref(r);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_query_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_cont_events, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_powerdown, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_serial_and_quit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_long_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flood, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
