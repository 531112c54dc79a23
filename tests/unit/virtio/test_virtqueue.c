/*
 * The split virtqueue core on its own: chains become the right iovecs, used
 * entries and indexes land in guest RAM, unpop/reset/generation behave, the
 * notification rules hold, and a broken ring reports exactly one error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>

#include "../hw/fake_vm.h"
#include "vmm/virtio/virtqueue.h"

#define RAM   (4 * MiB)
#define QSIZE 16
#define DESC  0x10000
#define AVAIL 0x11000
#define USED  0x12000
#define DATA  0x20000

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static struct vm *vm;
static struct virtq *vq;
static unsigned errors;
static char last_error[200];

static void on_error(void *opaque, struct virtq *q, const char *msg)
{
	(void)opaque;
	(void)q;
	errors++;
	snprintf(last_error, sizeof(last_error), "%s", msg);
}

static struct desc *desc_table(void)
{
	return (struct desc *)(vm->ram + DESC);
}

static uint16_t *avail(void)
{
	return (uint16_t *)(vm->ram + AVAIL);
}

static uint16_t *used(void)
{
	return (uint16_t *)(vm->ram + USED);
}

static int setup(void **state)
{
	struct virtq_params *p;

	(void)state;
	vm = fake_vm_new(RAM);
	vm->ram = xcalloc(1, RAM);
	errors = 0;
	vq = virtq_new(vm, 0, QSIZE, on_error, NULL);
	assert_non_null(vq);
	p = virtq_params(vq);
	assert_int_equal(p->size, QSIZE);
	p->desc = DESC;
	p->avail = AVAIL;
	p->used = USED;
	assert_true(virtq_enable(vq, 1ULL << VIRTIO_F_INDIRECT_DESC));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	virtq_free(vq);
	free(vm->ram);
	fake_vm_free(vm);
	return 0;
}

static void publish(uint16_t head)
{
	uint16_t idx = avail()[1];

	avail()[2 + idx % QSIZE] = head;
	avail()[1] = idx + 1;
}

static void test_new_rejects_bad_sizes(void **state)
{
	(void)state;
	assert_null(virtq_new(vm, 1, 0, on_error, NULL));
	assert_null(virtq_new(vm, 1, 24, on_error, NULL));
	assert_int_equal(virtq_max_size(vq), QSIZE);
}

static void test_pop_splits_out_and_in(void **state)
{
	struct virtq_elem *e;

	(void)state;
	desc_table()[3] = (struct desc){DATA, 100, 1, 7};
	desc_table()[7] = (struct desc){DATA + 100, 50, 1, 1};
	desc_table()[1] = (struct desc){DATA + 200, 30, 3, 2};
	desc_table()[2] = (struct desc){DATA + 300, 20, 2, 0};
	assert_false(virtq_has_avail(vq));
	assert_null(virtq_pop(vq));
	publish(3);
	assert_true(virtq_has_avail(vq));
	e = virtq_pop(vq);
	assert_non_null(e);
	assert_int_equal(e->head, 3);
	assert_int_equal(e->nout, 2);
	assert_int_equal(e->nin, 2);
	assert_int_equal(e->out_len, 150);
	assert_int_equal(e->in_len, 50);
	assert_ptr_equal(e->out[0].iov_base, vm->ram + DATA);
	assert_int_equal(e->out[1].iov_len, 50);
	assert_ptr_equal(e->in[0].iov_base, vm->ram + DATA + 200);
	assert_int_equal(e->in_gpa[1], DATA + 300);
	assert_false(virtq_has_avail(vq));
	virtq_push(vq, e, 42);
	assert_int_equal(used()[1], 1);
	assert_int_equal(*(uint32_t *)(vm->ram + USED + 4), 3);
	assert_int_equal(*(uint32_t *)(vm->ram + USED + 8), 42);
	assert_int_equal(errors, 0);
}

static void test_unpop_returns_the_chain(void **state)
{
	struct virtq_elem *e;

	(void)state;
	desc_table()[0] = (struct desc){DATA, 10, 2, 0};
	publish(0);
	e = virtq_pop(vq);
	assert_non_null(e);
	virtq_unpop(vq, e);
	assert_true(virtq_has_avail(vq));
	e = virtq_pop(vq);
	assert_non_null(e);
	assert_int_equal(e->head, 0);
	virtq_discard(e);
}

static void test_push_after_reset_is_dropped(void **state)
{
	struct virtq_elem *e;
	uint32_t gen = virtq_generation(vq);

	(void)state;
	desc_table()[0] = (struct desc){DATA, 10, 2, 0};
	publish(0);
	e = virtq_pop(vq);
	assert_non_null(e);
	assert_int_equal(e->generation, gen);
	virtq_reset(vq);
	assert_int_not_equal(virtq_generation(vq), gen);
	assert_false(virtq_enabled(vq));
	virtq_push(vq, e, 10);
	assert_int_equal(used()[1], 0);
}

static void test_enable_starts_at_zero(void **state)
{
	struct virtq_params *p = virtq_params(vq);

	(void)state;
	virtq_reset(vq);
	p->desc = DESC;
	p->avail = AVAIL;
	p->used = USED;
	p->size = 8;
	used()[0] = 0xffff; /* garbage the device must overwrite */
	used()[1] = 5;
	avail()[1] = 0;
	assert_true(virtq_enable(vq, 0));
	assert_int_equal(used()[0], 0);
	assert_int_equal(used()[1], 0);
	assert_false(virtq_has_avail(vq));
	desc_table()[0] = (struct desc){DATA, 10, 2, 0};
	avail()[2] = 0;
	avail()[1] = 1;
	assert_true(virtq_has_avail(vq));
}

static void test_notify_without_event_idx(void **state)
{
	(void)state;
	assert_true(virtq_should_notify(vq));
	avail()[0] = VIRTQ_AVAIL_F_NO_INTERRUPT;
	assert_false(virtq_should_notify(vq));
}

static void test_notify_with_event_idx(void **state)
{
	struct virtq_params *p = virtq_params(vq);
	struct virtq_elem *e;

	(void)state;
	virtq_reset(vq);
	p->desc = DESC;
	p->avail = AVAIL;
	p->used = USED;
	assert_true(virtq_enable(vq, 1ULL << VIRTIO_F_EVENT_IDX));
	avail()[2 + QSIZE] = 1; /* used_event: interrupt when used idx passes 1 */
	for (int i = 0; i < 3; i++) {
		desc_table()[i] = (struct desc){DATA, 10, 2, 0};
		publish((uint16_t)i);
	}
	e = virtq_pop(vq);
	/* avail_event follows what the device consumed, also when it gives a chain back. */
	assert_int_equal(used()[2 + 4 * QSIZE], 1);
	virtq_unpop(vq, e);
	assert_int_equal(used()[2 + 4 * QSIZE], 0);
	e = virtq_pop(vq);
	virtq_push(vq, e, 0);
	assert_true(virtq_should_notify(vq)); /* first time: always */
	virtq_push(vq, virtq_pop(vq), 0);
	assert_true(virtq_should_notify(vq)); /* 1 -> 2 crosses used_event 1 */
	virtq_push(vq, virtq_pop(vq), 0);
	assert_false(virtq_should_notify(vq)); /* 2 -> 3 does not */
}

static void test_broken_queue_reports_once(void **state)
{
	(void)state;
	publish(QSIZE + 3);
	assert_null(virtq_pop(vq));
	assert_int_equal(errors, 1);
	assert_true(virtq_broken(vq));
	assert_non_null(strstr(last_error, "head descriptor"));
	publish(0);
	assert_null(virtq_pop(vq));
	assert_false(virtq_has_avail(vq));
	assert_int_equal(errors, 1);
	/* A reset clears it. */
	virtq_reset(vq);
	assert_false(virtq_broken(vq));
}

static void test_zero_length_buffer(void **state)
{
	struct virtq_elem *e;

	(void)state;
	/* Zero-length buffers are legal (and need no valid address). */
	desc_table()[0] = (struct desc){0xdead0000000ULL, 0, 1, 1};
	desc_table()[1] = (struct desc){DATA, 4, 2, 0};
	publish(0);
	e = virtq_pop(vq);
	assert_non_null(e);
	assert_int_equal(e->out_len, 0);
	assert_int_equal(e->in_len, 4);
	virtq_discard(e);
	assert_int_equal(errors, 0);
}

static void test_iov_helpers(void **state)
{
	uint8_t a[3] = {0}, b[5] = {0}, out[8];
	struct iovec iov[2] = {{a, 3}, {b, 5}};

	(void)state;
	assert_int_equal(iov_from_buf(iov, 2, 2, "wxyz", 4), 4);
	assert_memory_equal(a, "\0\0w", 3);
	assert_memory_equal(b, "xyz\0\0", 5);
	assert_int_equal(iov_to_buf(iov, 2, 1, out, 8), 7);
	assert_memory_equal(out, "\0wxyz\0\0", 7);
	assert_int_equal(iov_from_buf(iov, 2, 7, "12", 2), 1);
	assert_int_equal(iov_to_buf(iov, 2, 9, out, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_new_rejects_bad_sizes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pop_splits_out_and_in, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unpop_returns_the_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_push_after_reset_is_dropped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_enable_starts_at_zero, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_notify_without_event_idx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_notify_with_event_idx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_broken_queue_reports_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_zero_length_buffer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_iov_helpers, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
