/* 16550A UART: registers, interrupt priorities, FIFO, THRE semantics, flow control. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "fake_vm.h"
#include "vmm/hw/chardev.h"
#include "vmm/hw/ns16550.h"

#define P   PC_COM1_PORT
#define IRQ PC_COM1_IRQ

struct uart_env {
	struct vm *vm;
	struct chardev *chr;
	struct ns16550 *u;
	char path[64];
};

static uint8_t rd(struct uart_env *e, unsigned reg)
{
	return (uint8_t)vm_pio_read(e->vm, P + reg, 1);
}

static void wr(struct uart_env *e, unsigned reg, uint8_t v)
{
	vm_pio_write(e->vm, P + reg, v, 1);
}

/* A UART whose output is appended to a temporary file. */
static int setup(void **state)
{
	struct uart_env *e = xcalloc(1, sizeof(*e));
	char spec[80];
	int fd;

	e->vm = fake_vm_new(16 * MiB);
	snprintf(e->path, sizeof(e->path), "/tmp/berth-uart-XXXXXX");
	fd = mkstemp(e->path);
	assert_true(fd >= 0);
	close(fd);
	snprintf(spec, sizeof(spec), "file:%s", e->path);
	e->chr = chardev_new(e->vm, spec);
	assert_non_null(e->chr);
	e->u = ns16550_new(e->vm, P, IRQ, e->chr);
	assert_non_null(e->u);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct uart_env *e = *state;

	ns16550_free(e->u);
	chardev_free(e->chr);
	unlink(e->path);
	fake_vm_free(e->vm);
	free(e);
	return 0;
}

static size_t output(struct uart_env *e, char *buf, size_t len)
{
	FILE *f = fopen(e->path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, len, f);
	fclose(f);
	return n;
}

static void test_reset_state_and_scratch(void **state)
{
	struct uart_env *e = *state;

	assert_int_equal(rd(e, 1), 0x00);	 /* IER */
	assert_int_equal(rd(e, 2), 0x01);	 /* IIR: nothing pending, no FIFO */
	assert_int_equal(rd(e, 5), 0x60);	 /* LSR: THRE | TEMT */
	assert_int_equal(rd(e, 6) & 0xf0, 0xb0); /* MSR: DCD, DSR, CTS */
	wr(e, 7, 0xa5);
	assert_int_equal(rd(e, 7), 0xa5);
	wr(e, 1, 0xff); /* only the low nibble of IER exists (Linux's XScale probe) */
	assert_int_equal(rd(e, 1), 0x0f);
	assert_false(fake.level[IRQ]); /* OUT2 is off */
}

static void test_dlab(void **state)
{
	struct uart_env *e = *state;

	wr(e, 1, 0x05);
	wr(e, 3, 0x83);
	wr(e, 0, 0x34);
	wr(e, 1, 0x12);
	assert_int_equal(rd(e, 0), 0x34);
	assert_int_equal(rd(e, 1), 0x12);
	assert_int_equal(rd(e, 3), 0x83);
	wr(e, 3, 0x03);
	assert_int_equal(rd(e, 1), 0x05); /* IER untouched by the divisor writes */
	/* The divisor writes did not transmit anything. */
	char buf[8];
	assert_int_equal(output(e, buf, sizeof(buf)), 0);
}

/* The THRE probes of Linux's serial8250_do_startup and the re-arm on IER writes. */
static void test_thre_interrupt(void **state)
{
	struct uart_env *e = *state;
	char buf[8];

	wr(e, 4, 0x08); /* OUT2 */
	wr(e, 1, 0x02); /* enable THRI with THR empty: interrupt */
	assert_int_equal(rd(e, 2), 0x02);
	assert_false(fake.level[IRQ]); /* the IIR read acknowledged it */
	assert_int_equal(rd(e, 2), 0x01);
	wr(e, 1, 0x02); /* rewriting the same value does not re-arm */
	assert_int_equal(rd(e, 2), 0x01);
	wr(e, 1, 0x00);
	wr(e, 1, 0x02); /* toggling does */
	assert_true(fake.level[IRQ]);
	assert_int_equal(fake.edges[IRQ], 2);
	assert_int_equal(rd(e, 5) & 0x60, 0x60);
	wr(e, 0, 'h'); /* transmit: THR empties at once, THRE re-arms */
	wr(e, 0, 'i');
	assert_true(fake.level[IRQ]);
	assert_int_equal(rd(e, 2), 0x02);
	assert_false(fake.level[IRQ]);
	wr(e, 1, 0x00);
	assert_int_equal(output(e, buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "hi", 2);
	/* Disabling THRI drops a pending THRE. */
	wr(e, 1, 0x02);
	assert_true(fake.level[IRQ]);
	wr(e, 1, 0x00);
	assert_false(fake.level[IRQ]);
	assert_int_equal(rd(e, 2), 0x01);
}

/* Line status > received data > THRE > modem status. */
static void test_iir_priorities(void **state)
{
	struct uart_env *e = *state;

	wr(e, 4, 0x10); /* loopback, 16450 mode */
	wr(e, 1, 0x0f);
	wr(e, 0, 'a');
	wr(e, 0, 'b');	/* overruns the one-byte holding register */
	wr(e, 4, 0x12); /* RTS on: CTS changes in loopback -> DCTS */
	assert_int_equal(rd(e, 2), 0x06);
	assert_int_equal(rd(e, 5), 0x63); /* THRE TEMT OE DR */
	assert_int_equal(rd(e, 5), 0x61); /* OE cleared by reading */
	assert_int_equal(rd(e, 2), 0x04);
	assert_int_equal(rd(e, 0), 'b');
	assert_int_equal(rd(e, 2), 0x02);
	assert_int_equal(rd(e, 2), 0x00);
	assert_int_equal(rd(e, 6) & 0x0f, 0x0b); /* DCTS DDSR DDCD (entering loopback, RTS) */
	assert_int_equal(rd(e, 2), 0x01);
	assert_false(fake.level[IRQ]); /* loopback keeps the line low */
}

static void test_loopback_modem_lines(void **state)
{
	struct uart_env *e = *state;
	char buf[8];

	wr(e, 4, 0x1a); /* Linux's autoconfig check: LOOP | OUT2 | RTS */
	assert_int_equal(rd(e, 6) & 0xf0, 0x90);
	wr(e, 4, 0x15);			  /* LOOP | OUT1 | DTR: RI on, CTS/DCD off */
	assert_int_equal(rd(e, 6), 0x6b); /* DSR RI; deltas DCTS DDSR DDCD */
	wr(e, 4, 0x11);			  /* OUT1 off: trailing edge of RI */
	assert_int_equal(rd(e, 6), 0x24);
	wr(e, 0, 'z');
	assert_int_equal(rd(e, 5) & 0x01, 0x01);
	assert_int_equal(rd(e, 0), 'z');
	assert_int_equal(chardev_feed(e->chr, (const uint8_t *)"x", 1), 0); /* input waits */
	wr(e, 4, 0x00);
	assert_int_equal(rd(e, 6), 0xb0 | 0x08 | 0x01); /* back to CTS DSR DCD */
	assert_int_equal(chardev_feed(e->chr, (const uint8_t *)"x", 1), 1);
	assert_int_equal(output(e, buf, sizeof(buf)), 0); /* looped bytes never left */
}

/* A break started in loopback arrives as a NUL with BI, a line status interrupt. */
static void test_loopback_break(void **state)
{
	struct uart_env *e = *state;

	wr(e, 2, 0x01);
	wr(e, 4, 0x10);
	wr(e, 1, 0x04);
	wr(e, 3, 0x43);
	assert_int_equal(rd(e, 2), 0xc6);
	assert_int_equal(rd(e, 5), 0xf1); /* FIFO error, TEMT, THRE, BI, DR */
	assert_int_equal(rd(e, 5), 0x61);
	assert_int_equal(rd(e, 0), 0x00);
	wr(e, 3, 0x43); /* no new break while it is held */
	assert_int_equal(rd(e, 5), 0x60);
	wr(e, 3, 0x03);
}

static void test_out2_gates_irq(void **state)
{
	struct uart_env *e = *state;

	wr(e, 1, 0x01);
	assert_int_equal(chardev_feed(e->chr, (const uint8_t *)"k", 1), 1);
	assert_int_equal(rd(e, 2), 0x04);
	assert_false(fake.level[IRQ]);
	wr(e, 4, 0x08);
	assert_true(fake.level[IRQ]);
	wr(e, 4, 0x00);
	assert_false(fake.level[IRQ]);
	wr(e, 4, 0x08);
	assert_int_equal(rd(e, 0), 'k');
	assert_false(fake.level[IRQ]);
	assert_int_equal(rd(e, 5), 0x60);
}

static void test_fifo_trigger_levels(void **state)
{
	static const struct {
		uint8_t fcr;
		unsigned level;
	} cases[] = {{0x01, 1}, {0x41, 4}, {0x81, 8}, {0xc1, 14}};
	struct uart_env *e = *state;
	const uint8_t data[16] = "0123456789abcdef";

	wr(e, 4, 0x08);
	wr(e, 1, 0x01);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		wr(e, 2, cases[i].fcr | 0x02); /* enable, clear RX */
		assert_int_equal(rd(e, 2) & 0xc0, 0xc0);
		assert_int_equal(chardev_feed(e->chr, data, cases[i].level - 1),
				 cases[i].level - 1);
		assert_int_equal(rd(e, 2), 0xc1); /* below the trigger: nothing yet */
		assert_false(fake.level[IRQ]);
		assert_int_equal(chardev_feed(e->chr, data, 1), 1);
		assert_int_equal(rd(e, 2), 0xc4);
		assert_true(fake.level[IRQ]);
		assert_int_equal(rd(e, 0), '0');
		if (cases[i].level > 1)
			assert_int_equal(rd(e, 2), 0xc1); /* below the trigger again */
	}
	wr(e, 2, 0x00); /* FIFO off: IIR bits 7:6 clear, FIFO emptied */
	assert_int_equal(rd(e, 2), 0x01);
	assert_int_equal(rd(e, 5) & 0x01, 0);
}

/* The FIFO takes 16 bytes, 16450 mode one: the back end is never read further. */
static void test_input_flow_control(void **state)
{
	struct uart_env *e = *state;
	uint8_t data[20];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)('A' + i);
	assert_int_equal(chardev_feed(e->chr, data, 3), 1);
	assert_int_equal(chardev_feed(e->chr, data, 3), 0);
	assert_int_equal(rd(e, 0), 'A');
	wr(e, 2, 0x07);
	assert_int_equal(chardev_feed(e->chr, data, sizeof(data)), 16);
	assert_int_equal(chardev_feed(e->chr, data, sizeof(data)), 0);
	assert_int_equal(rd(e, 5) & 0x03, 0x01); /* DR, no overrun */
	for (int i = 0; i < 16; i++)
		assert_int_equal(rd(e, 0), 'A' + i);
	assert_int_equal(rd(e, 5) & 0x01, 0);
	assert_int_equal(chardev_feed(e->chr, data, 2), 2);
	wr(e, 2, 0x03); /* clear RX */
	assert_int_equal(rd(e, 5) & 0x01, 0);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Data below the trigger level raises the character timeout interrupt. */
static void test_character_timeout(void **state)
{
	struct uart_env *e = *state;
	struct fake_loop_thread lt;
	uint8_t iir;

	wr(e, 3, 0x83);
	wr(e, 0, 12); /* 9600 baud: 4 characters = 4.2 ms */
	wr(e, 1, 0);
	wr(e, 3, 0x03);
	wr(e, 4, 0x08);
	wr(e, 1, 0x01);
	wr(e, 2, 0xc1);
	fake_loop_start(&lt, e->vm);
	assert_int_equal(chardev_feed(e->chr, (const uint8_t *)"abc", 3), 3);
	assert_int_equal(rd(e, 2), 0xc1);
	for (int i = 0; i < 200 && !fake.level[IRQ]; i++)
		sleep_ms(1);
	iir = rd(e, 2);
	assert_int_equal(iir, 0xcc);
	assert_int_equal(rd(e, 0), 'a'); /* reading restarts the timer */
	assert_int_equal(rd(e, 2), 0xc1);
	for (int i = 0; i < 200 && !fake.level[IRQ]; i++)
		sleep_ms(1);
	assert_int_equal(rd(e, 2), 0xcc);
	assert_int_equal(rd(e, 0), 'b');
	assert_int_equal(rd(e, 0), 'c');
	sleep_ms(20);
	assert_int_equal(rd(e, 2), 0xc1); /* empty FIFO: no timeout */
	fake_loop_stop(&lt);
}

/* Multi-byte port accesses address consecutive registers. */
static void test_wide_access(void **state)
{
	struct uart_env *e = *state;

	vm_pio_write(e->vm, P + 6, 0x5a00, 2); /* MSR ignored, SCR = 0x5a */
	assert_int_equal(rd(e, 7), 0x5a);
	assert_int_equal(vm_pio_read(e->vm, P + 5, 2) & 0xff, 0x60);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reset_state_and_scratch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dlab, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_thre_interrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_iir_priorities, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_loopback_modem_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_loopback_break, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_out2_gates_irq, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fifo_trigger_levels, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_input_flow_control, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_character_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wide_access, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
