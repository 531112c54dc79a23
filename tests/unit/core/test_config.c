/* Unit tests for src/vmm/config.c: berth-vmm's command line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "common/util.h"
#include "vmm/config.h"

static enum config_result parse(struct vmm_config *cfg, char *err, const char **args)
{
	char *argv[32];
	int argc = 0;

	argv[argc++] = "berth-vmm";
	while (*args)
		argv[argc++] = strdupa(*args++);
	argv[argc] = NULL;
	return config_parse(argc, argv, cfg, err, 256);
}

static void test_defaults_and_full(void **state)
{
	struct vmm_config cfg;
	char err[256];
	(void)state;

	assert_int_equal(parse(&cfg, err, (const char *[]){"--kernel", "k", NULL}), CONFIG_OK);
	assert_string_equal(cfg.accel, "auto");
	assert_int_equal(cfg.memory, 512 * MiB);
	assert_int_equal(cfg.cpus, 1);
	assert_string_equal(cfg.serial, "stdio");
	assert_false(cfg.debug_exit);

	assert_int_equal(parse(&cfg, err,
			       (const char *[]){"--kernel", "vmlinuz", "--initrd", "i", "--append",
						"console=ttyS0", "--memory", "1G", "--cpus", "2",
						"--accel", "soft", "--serial", "unix:/tmp/s",
						"--device", "isa-debug-exit,iobase=0x501", "--name",
						"web", "--control", "/tmp/c", "--disk",
						"a.qcow2,format=qcow2,readonly", "--disk", "b.img",
						"--net", "user,hostfwd=tcp::2222-:22", "--no-reboot",
						NULL}),
			 CONFIG_OK);
	assert_int_equal(cfg.memory, GiB);
	assert_int_equal(cfg.cpus, 2);
	assert_string_equal(cfg.accel, "soft");
	assert_string_equal(cfg.append, "console=ttyS0");
	assert_true(cfg.debug_exit);
	assert_int_equal(cfg.debug_exit_port, 0x501);
	assert_string_equal(cfg.name, "web");
	assert_int_equal(cfg.ndisks, 2);
	assert_string_equal(cfg.disks[0].path, "a.qcow2");
	assert_string_equal(cfg.disks[0].format, "qcow2");
	assert_true(cfg.disks[0].readonly);
	assert_null(cfg.disks[1].format);
	assert_int_equal(cfg.nnets, 1);
	assert_string_equal(cfg.nets[0].spec, "user,hostfwd=tcp::2222-:22");
	assert_false(cfg.nets[0].has_mac);
	assert_true(cfg.no_reboot);
	assert_false(cfg.virtio_rng);
	assert_null(cfg.virtio_console);

	assert_int_equal(parse(&cfg, err,
			       (const char *[]){"--kernel", "k", "--device", "virtio-rng", "--device",
						"virtio-console,chardev=unix:/tmp/hvc", NULL}),
			 CONFIG_OK);
	assert_true(cfg.virtio_rng);
	assert_string_equal(cfg.virtio_console, "unix:/tmp/hvc");
	assert_int_equal(parse(&cfg, err,
			       (const char *[]){"--kernel", "k", "--device", "virtio-console", NULL}),
			 CONFIG_OK);
	assert_string_equal(cfg.virtio_console, "null");
	assert_int_equal(parse(&cfg, err,
			       (const char *[]){"--kernel", "k", "--net",
						"tap,ifname=t0,mac=0a:1B:2c:3D:4e:5F", NULL}),
			 CONFIG_OK);
	assert_string_equal(cfg.nets[0].spec, "tap,ifname=t0");
	assert_true(cfg.nets[0].has_mac);
	assert_memory_equal(cfg.nets[0].mac, ((uint8_t[]){0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f}), 6);
}

/* Every bad argument is an error with a message that names what is wrong. */
static void test_errors(void **state)
{
	struct {
		const char *args[6];
		const char *needle;
	} cases[] = {
		{{"--memory", "512M", NULL}, "no kernel"},
		{{"--kernel", "k", "--accel", "hvf", NULL}, "hvf"},
		{{"--kernel", "k", "--memory", "12Q", NULL}, "12Q"},
		{{"--kernel", "k", "--memory", "1M", NULL}, "--memory"},
		{{"--kernel", "k", "--cpus", "0", NULL}, "--cpus"},
		{{"--kernel", "k", "--cpus", "two", NULL}, "two"},
		{{"--kernel", "k", "--device", "e1000", NULL}, "e1000"},
		{{"--kernel", "k", "--device", "virtio-rng,x=1", NULL}, "virtio-rng"},
		{{"--kernel", "k", "--device", "virtio-console,chardev=", NULL}, "virtio-console"},
		{{"--kernel", "k", "--device", "isa-debug-exit,iobase=0x10000", NULL}, "iobase"},
		{{"--kernel", "k", "--serial", "pty", NULL}, "pty"},
		{{"--kernel", "k", "--disk", "x,format=vmdk", NULL}, "format=vmdk"},
		{{"--kernel", "k", "--net", "vde", NULL}, "vde"},
		{{"--kernel", "k", "--net", "user,mac=52:54:00:12:34", NULL}, "malformed mac"},
		{{"--kernel", "k", "--net", "user,mac=52:54:00:12:34:5g", NULL}, "5g"},
		{{"--kernel", "k", "--net", "tap,ifname=t0,mac=01:00:5e:00:00:01", NULL}, "multicast"},
		{{"--kernel", "k", "--bogus", NULL}, "--bogus"},
		{{"--kernel", NULL}, "needs an argument"},
		{{"--kernel", "k", "stray", NULL}, "stray"},
	};
	(void)state;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct vmm_config cfg;
		char err[256] = "";
		assert_int_equal(parse(&cfg, err, cases[i].args), CONFIG_ERROR);
		if (!strstr(err, cases[i].needle))
			fail_msg("case %zu: '%s' does not mention '%s'", i, err, cases[i].needle);
	}
}

static void test_help(void **state)
{
	struct vmm_config cfg;
	char err[256];
	(void)state;

	assert_int_equal(parse(&cfg, err, (const char *[]){"--help", NULL}), CONFIG_HELP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_full),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_help),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
