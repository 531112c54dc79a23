/* Character back ends: unix socket server with flow control, file, null, bad specs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fake_vm.h"
#include "vmm/hw/chardev.h"

/* A front end with a configurable amount of room, fed on the loop thread. */
struct sink {
	pthread_mutex_t lock;
	size_t room;
	uint8_t got[256];
	size_t len;
	size_t max_offered; /* largest read() handed over */
};

static size_t sink_can_read(void *opaque)
{
	struct sink *s = opaque;
	size_t r;

	pthread_mutex_lock(&s->lock);
	r = s->room;
	pthread_mutex_unlock(&s->lock);
	return r;
}

static void sink_read(void *opaque, const uint8_t *buf, size_t len)
{
	struct sink *s = opaque;

	pthread_mutex_lock(&s->lock);
	assert_true(len <= s->room);
	memcpy(s->got + s->len, buf, len);
	s->len += len;
	s->room -= len;
	if (len > s->max_offered)
		s->max_offered = len;
	pthread_mutex_unlock(&s->lock);
}

static const struct chardev_frontend sink_fe = {sink_can_read, sink_read};

static size_t sink_len(struct sink *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->len;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = ms * 1000000L};
	nanosleep(&ts, NULL);
}

static void wait_len(struct sink *s, size_t n)
{
	for (int i = 0; i < 2000 && sink_len(s) < n; i++)
		sleep_ms(1);
}

static int connect_to(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(a.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static ssize_t recv_timeout(int fd, void *buf, size_t len)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	if (poll(&p, 1, 2000) != 1)
		return -1;
	return recv(fd, buf, len, 0);
}

/* A unix-socket chardev in a fresh directory, feeding a sink; the loop is not started yet. */
struct unix_chr {
	struct vm *vm;
	struct sink s;
	struct fake_loop_thread lt;
	char dir[32], path[128];
	struct chardev *chr;
};

static void unix_chr_open(struct unix_chr *u, size_t room)
{
	char spec[140];

	memset(u, 0, sizeof(*u));
	u->vm = fake_vm_new(16 * MiB);
	u->s.room = room;
	pthread_mutex_init(&u->s.lock, NULL);
	snprintf(u->dir, sizeof(u->dir), "/tmp/berth-chr-XXXXXX");
	assert_non_null(mkdtemp(u->dir));
	snprintf(u->path, sizeof(u->path), "%s/console.sock", u->dir);
	snprintf(spec, sizeof(spec), "unix:%s", u->path);
	u->chr = chardev_new(u->vm, spec);
	assert_non_null(u->chr);
	chardev_set_frontend(u->chr, &sink_fe, &u->s);
}

/* Stop the loop and free everything; the socket file must be gone. */
static void unix_chr_close(struct unix_chr *u)
{
	fake_loop_stop(&u->lt);
	chardev_free(u->chr);
	assert_int_equal(access(u->path, F_OK), -1);
	rmdir(u->dir);
	pthread_mutex_destroy(&u->s.lock);
	fake_vm_free(u->vm);
}

static void test_unix_socket(void **state)
{
	struct unix_chr u;
	struct sink *s = &u.s;
	char buf[128];
	int c1, c2;
	ssize_t n;

	(void)state;
	unix_chr_open(&u, 2);
	chardev_write(u.chr, (const uint8_t *)"lost", 4); /* nobody connected: dropped */
	fake_loop_start(&u.lt, u.vm);

	c1 = connect_to(u.path);
	/* Input: only as much as the front end has room for. */
	assert_int_equal(send(c1, "hello", 5, 0), 5);
	wait_len(s, 2);
	sleep_ms(30);
	assert_int_equal(sink_len(s), 2);
	assert_memory_equal(s->got, "he", 2);
	pthread_mutex_lock(&s->lock);
	s->room = 100;
	pthread_mutex_unlock(&s->lock);
	chardev_accept_input(u.chr);
	wait_len(s, 5);
	assert_int_equal(sink_len(s), 5);
	assert_memory_equal(s->got, "hello", 5);
	assert_true(s->max_offered <= 3);

	/* Output reaches the client; the earlier output was not buffered. */
	chardev_write(u.chr, (const uint8_t *)"out", 3);
	n = recv_timeout(c1, buf, sizeof(buf));
	assert_int_equal(n, 3);
	assert_memory_equal(buf, "out", 3);

	/* A second client is turned away while the first is attached. */
	c2 = connect_to(u.path);
	n = recv_timeout(c2, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = 0;
	assert_non_null(strstr(buf, "in use"));
	assert_int_equal(recv_timeout(c2, buf, sizeof(buf)), 0);
	close(c2);

	/* After the first leaves, a new client is accepted. */
	close(c1);
	sleep_ms(30);
	chardev_write(u.chr, (const uint8_t *)"gone", 4);
	c2 = connect_to(u.path);
	sleep_ms(30);
	chardev_write(u.chr, (const uint8_t *)"new", 3);
	n = recv_timeout(c2, buf, sizeof(buf));
	assert_int_equal(n, 3);
	assert_memory_equal(buf, "new", 3);
	close(c2);

	unix_chr_close(&u); /* also checks the socket file is removed */
}

/* A client that types and leaves while the front end is full: its input still arrives. */
static void test_unix_hangup_keeps_pending_input(void **state)
{
	struct unix_chr u;
	struct sink *s = &u.s;
	int c;

	(void)state;
	unix_chr_open(&u, 1);
	fake_loop_start(&u.lt, u.vm);
	c = connect_to(u.path);
	assert_int_equal(send(c, "bye!", 4, 0), 4);
	wait_len(s, 1);
	close(c);
	sleep_ms(50); /* the hangup arrives while input is paused */
	assert_int_equal(sink_len(s), 1);
	pthread_mutex_lock(&s->lock);
	s->room = 10;
	pthread_mutex_unlock(&s->lock);
	chardev_accept_input(u.chr);
	wait_len(s, 4);
	assert_int_equal(sink_len(s), 4);
	assert_memory_equal(s->got, "bye!", 4);
	/* Then the client is gone and a new one is accepted. */
	sleep_ms(20);
	c = connect_to(u.path);
	assert_int_equal(send(c, "x", 1, 0), 1);
	wait_len(s, 5);
	assert_int_equal(sink_len(s), 5);
	close(c);
	unix_chr_close(&u);
}

static void test_file_appends(void **state)
{
	struct vm *vm = fake_vm_new(16 * MiB);
	char path[] = "/tmp/berth-chr-file-XXXXXX", spec[64], buf[32];
	struct chardev *chr;
	struct sink s = {.room = 10};
	FILE *f;
	int fd;

	(void)state;
	pthread_mutex_init(&s.lock, NULL);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "old:", 4), 4);
	close(fd);
	snprintf(spec, sizeof(spec), "file:%s", path);
	chr = chardev_new(vm, spec);
	assert_non_null(chr);
	chardev_write(chr, (const uint8_t *)"new", 3);
	/* chardev_feed hands input to the front end within its room. */
	chardev_set_frontend(chr, &sink_fe, &s);
	assert_int_equal(chardev_feed(chr, (const uint8_t *)"0123456789abc", 13), 10);
	assert_int_equal(chardev_feed(chr, (const uint8_t *)"x", 1), 0);
	chardev_free(chr);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fread(buf, 1, sizeof(buf), f), 7);
	assert_memory_equal(buf, "old:new", 7);
	fclose(f);
	unlink(path);
	pthread_mutex_destroy(&s.lock);
	fake_vm_free(vm);
}

static void test_bad_specs(void **state)
{
	struct vm *vm = fake_vm_new(16 * MiB);
	char path[] = "/tmp/berth-chr-plain-XXXXXX", spec[64];
	struct chardev *chr;
	int fd;

	(void)state;
	assert_null(chardev_new(vm, "tcp:1234"));
	assert_null(chardev_new(vm, "file:/nonexistent-dir/x"));
	assert_null(chardev_new(vm, "unix:"));
	fd = mkstemp(path);
	close(fd);
	snprintf(spec, sizeof(spec), "unix:%s", path);
	assert_null(chardev_new(vm, spec)); /* refuses to replace a regular file */
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);
	chr = chardev_new(vm, "null");
	assert_non_null(chr);
	chardev_write(chr, (const uint8_t *)"x", 1);
	chardev_accept_input(chr);
	chardev_free(chr);
	fake_vm_free(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unix_socket),
	    cmocka_unit_test(test_unix_hangup_keeps_pending_input),
	    cmocka_unit_test(test_file_appends),
	    cmocka_unit_test(test_bad_specs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
