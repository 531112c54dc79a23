/* Unit tests for daemon/monitor.c: berthd's side of berth-vmm's control socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/monitor.h"

/* A one-shot fake berth-vmm: accepts one client, reads a line, sends `answer`. */
struct fake {
	char path[108];
	int lfd;
	const char *answer; /* NULL: close without answering */
	char request[1024];
	pthread_t thread;
};

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->lfd, NULL, NULL);
	size_t n = 0;

	while (fd >= 0 && n < sizeof(f->request) - 1 && read(fd, f->request + n, 1) == 1)
		if (f->request[n++] == '\n')
			break;
	f->request[n] = '\0';
	if (fd >= 0 && f->answer)
		write_all(fd, f->answer, strlen(f->answer));
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void fake_start(struct fake *f, const char *answer)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};

	snprintf(f->path, sizeof(f->path), "/tmp/berth-monitor-%d.sock", getpid());
	unlink(f->path);
	strcpy(a.sun_path, f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(f->lfd, 1), 0);
	f->answer = answer;
	pthread_create(&f->thread, NULL, fake_main, f);
}

static void fake_stop(struct fake *f)
{
	pthread_join(f->thread, NULL);
	close(f->lfd);
	unlink(f->path);
}

static void test_command_skips_events(void **state)
{
	struct fake f;
	struct berr err = {0};
	json_t *r;
	(void)state;

	fake_start(&f, "{\"event\":\"STOP\",\"data\":{}}\n"
		       "{\"return\":{\"running\":false},\"id\":1}\n");
	r = monitor_command(f.path, "query-status", NULL, 2000, &err);
	fake_stop(&f);
	assert_non_null(r);
	assert_true(json_is_false(json_object_get(r, "running")));
	assert_non_null(strstr(f.request, "\"execute\":\"query-status\""));
	json_decref(r);
}

static void test_command_error(void **state)
{
	struct fake f;
	struct berr err = {0};
	(void)state;

	fake_start(&f,
		   "{\"error\":{\"class\":\"GenericError\",\"desc\":\"no button\"},\"id\":1}\n");
	assert_null(monitor_command(f.path, "system_powerdown", NULL, 2000, &err));
	fake_stop(&f);
	assert_int_equal(err.cls, BERR_INTERNAL);
	assert_non_null(strstr(err.msg, "no button"));
}

static void test_command_closed_and_missing(void **state)
{
	struct fake f;
	struct berr err = {0};
	(void)state;

	fake_start(&f, NULL);
	assert_null(monitor_command(f.path, "stop", NULL, 2000, &err));
	fake_stop(&f);
	assert_non_null(strstr(err.msg, "connection closed"));
	memset(&err, 0, sizeof(err));
	assert_null(monitor_command("/nonexistent/x.ctl", "stop", NULL, 2000, &err));
	assert_non_null(strstr(err.msg, "/nonexistent/x.ctl"));
}

static void test_line_buf(void **state)
{
	struct line_buf *lb = xcalloc(1, sizeof(*lb));
	size_t consumed = 0;
	int overflow;
	char *line;
	(void)state;

	memcpy(lb->buf, "one\ntwo\nthr", 11);
	lb->len = 11;
	line = line_buf_next(lb, &consumed, &overflow);
	assert_string_equal(line, "one");
	line = line_buf_next(lb, &consumed, &overflow);
	assert_string_equal(line, "two");
	assert_null(line_buf_next(lb, &consumed, &overflow));
	assert_int_equal(overflow, 0);
	line_buf_consume(lb, consumed);
	assert_int_equal(lb->len, 3);
	assert_memory_equal(lb->buf, "thr", 3);
	/* A full buffer without a newline is dropped and reported. */
	memset(lb->buf, 'x', sizeof(lb->buf));
	lb->len = sizeof(lb->buf);
	consumed = 0;
	assert_null(line_buf_next(lb, &consumed, &overflow));
	assert_int_equal(overflow, 1);
	assert_int_equal(lb->len, 0);
	free(lb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_command_skips_events),
	    cmocka_unit_test(test_command_error),
	    cmocka_unit_test(test_command_closed_and_missing),
	    cmocka_unit_test(test_line_buf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
