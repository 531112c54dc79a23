/*
 * Character back ends for the serial console: where the UART's output goes and
 * where its input comes from.
 *
 *   stdio       berth-vmm's stdin/stdout. On a terminal, the terminal is put in
 *               raw mode (restored at exit and on fatal signals) and Ctrl-A is an
 *               escape: Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A.
 *   null        output discarded, no input.
 *   file:PATH   output appended to PATH, no input.
 *   unix:PATH   a listening UNIX stream socket; one client at a time reads the
 *               output and types input (a second client is told the console is
 *               busy and closed). Output is dropped while nobody is connected
 *               or while the client does not keep up: it is never buffered
 *               without bound.
 *
 * Threads and locks: chardev_write() and chardev_accept_input() may be called
 * from any thread (the UART calls them from vCPU threads with vm->lock held).
 * Input is read on the I/O thread (vm->loop) and handed to the front end
 * through its callbacks, which are called with NO lock held: the front end
 * takes vm->lock itself.
 *
 * Flow control: before reading, the chardev asks the front end how many bytes
 * it can take (can_read) and never reads more from the back end. When the
 * answer is 0 it stops polling the back end until the front end calls
 * chardev_accept_input() to say it has room again.
 */
#ifndef BERTH_VMM_HW_CHARDEV_H
#define BERTH_VMM_HW_CHARDEV_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct chardev;

struct chardev_frontend {
	/* How many bytes the front end can accept now (0 = none). */
	size_t (*can_read)(void *opaque);
	/* Deliver len <= can_read() bytes of input. */
	void (*read)(void *opaque, const uint8_t *buf, size_t len);
};

/*
 * Open a back end from its --serial spec ("stdio", "null", "file:PATH",
 * "unix:PATH") and register it on vm->loop. Returns NULL after logging.
 */
struct chardev *chardev_new(struct vm *vm, const char *spec);
/* Close the back end (restores the terminal for stdio; removes the socket file). */
void chardev_free(struct chardev *chr);

/* Attach the front end (one per chardev); input is only read once one is attached. */
void chardev_set_frontend(struct chardev *chr, const struct chardev_frontend *fe, void *opaque);

/* Send output to the back end (any thread). Never blocks on a socket client. */
void chardev_write(struct chardev *chr, const uint8_t *buf, size_t len);

/* The front end has room for input again (any thread; cheap when input never stalled). */
void chardev_accept_input(struct chardev *chr);

/*
 * Hand buf to the front end as if it had arrived from the back end, as much as
 * the front end can take now; returns how many bytes it took. Runs the front
 * end's callbacks, so call it without vm->lock held (the control socket can use
 * it to type into the console; tests use it to drive the UART).
 */
size_t chardev_feed(struct chardev *chr, const uint8_t *buf, size_t len);

#endif
