/* Unit tests for the AML emitter (src/vmm/boot/aml.c): encodings byte by byte. */
#include "boot_test.h"
#include "vmm/boot/aml.h"

#define EXPECT(a, ...)                                                                             \
	do {                                                                                       \
		const uint8_t want_[] = {__VA_ARGS__};                                             \
		assert_int_equal((a)->len, sizeof(want_));                                         \
		assert_memory_equal((a)->buf, want_, sizeof(want_));                               \
		aml_free(a);                                                                       \
	} while (0)

static void test_integers(void **state)
{
	struct aml a = {0};

	(void)state;
	aml_int(&a, 0);
	aml_int(&a, 1);
	aml_int(&a, 2);
	aml_int(&a, 0xff);
	aml_int(&a, 0x100);
	aml_int(&a, 0x12345678);
	aml_int(&a, 0x100000000ULL);
	EXPECT(&a, 0x00, 0x01, 0x0a, 0x02, 0x0a, 0xff, 0x0b, 0x00, 0x01, 0x0c, 0x78, 0x56, 0x34,
	       0x12, 0x0e, 0, 0, 0, 0, 1, 0, 0, 0);
	aml_string(&a, "ab");
	EXPECT(&a, 0x0d, 'a', 'b', 0);
}

static void test_names(void **state)
{
	struct aml a = {0};

	(void)state;
	aml_name(&a, "_S5");
	EXPECT(&a, '_', 'S', '5', '_');
	aml_name(&a, "\\_SB");
	EXPECT(&a, '\\', '_', 'S', 'B', '_');
	aml_name(&a, "\\_SB.PCI0");
	EXPECT(&a, '\\', 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0');
	aml_name(&a, "^_SB.PCI0.ISA");
	EXPECT(&a, '^', 0x2f, 3, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'I', 'S', 'A', '_');
	aml_name(&a, "\\");
	EXPECT(&a, '\\', 0x00);
	aml_name_decl(&a, "_UID");
	aml_int(&a, 0);
	EXPECT(&a, 0x08, '_', 'U', 'I', 'D', 0x00);
}

static void test_eisaid(void **state)
{
	struct aml a = {0};

	(void)state;
	aml_eisaid(&a, "PNP0A03");
	EXPECT(&a, 0x0c, 0x41, 0xd0, 0x0a, 0x03);
	aml_eisaid(&a, "PNP0C02");
	EXPECT(&a, 0x0c, 0x41, 0xd0, 0x0c, 0x02);
}

/* PkgLength: one byte up to 63, then 2, 3 bytes with the low nibble in the lead byte. */
static void test_pkglength(void **state)
{
	struct aml a = {0};
	struct aml_mark m;

	(void)state;
	m = aml_package(&a, 2);
	aml_int(&a, 1);
	aml_int(&a, 0);
	aml_close(&a, m);
	EXPECT(&a, 0x12, 0x04, 0x02, 0x01, 0x00);

	/* 61 body bytes + 1 length byte = 62: still one byte. */
	m = aml_package(&a, 60);
	for (int i = 0; i < 60; i++)
		aml_int(&a, 0);
	aml_close(&a, m);
	assert_int_equal(a.len, 63);
	assert_int_equal(a.buf[1], 62);
	aml_free(&a);

	/* 63 body bytes: 2-byte encoding of 65 = 0x41. */
	m = aml_package(&a, 62);
	for (int i = 0; i < 62; i++)
		aml_int(&a, 0);
	aml_close(&a, m);
	assert_int_equal(a.len, 66);
	assert_int_equal(a.buf[1], 0x40 | (65 & 0xf));
	assert_int_equal(a.buf[2], 65 >> 4);
	assert_int_equal(a.buf[3], 62);
	aml_free(&a);

	/* 5000 body bytes in a scope: 3-byte encoding of 5003. */
	m = aml_scope(&a, "ABCD");
	for (int i = 0; i < 4996; i++)
		aml_byte(&a, 0xa3);
	aml_close(&a, m);
	assert_int_equal(a.len, 1 + 3 + 5000);
	assert_int_equal(a.buf[0], 0x10);
	assert_int_equal(a.buf[1], 0x80 | (5003 & 0xf));
	assert_int_equal(a.buf[2], (5003 >> 4) & 0xff);
	assert_int_equal(a.buf[3], 5003 >> 12);
	assert_memory_equal(a.buf + 4, "ABCD", 4);
	aml_free(&a);
}

static void test_device_and_buffer(void **state)
{
	struct aml a = {0};
	struct aml_mark d, b;

	(void)state;
	d = aml_device(&a, "DEV0");
	b = aml_buffer(&a);
	aml_res_io(&a, 0x3f8, 8);
	aml_res_end(&a);
	aml_close(&a, b);
	aml_close(&a, d);
	EXPECT(&a, 0x5b, 0x82, 0x13, 'D', 'E', 'V', '0', 0x11, 0x0d, 0x0a, 0x0a, 0x47, 0x01, 0xf8,
	       0x03, 0xf8, 0x03, 0x01, 0x08, 0x79, 0x00);
}

static void test_resources(void **state)
{
	struct aml a = {0};

	(void)state;
	aml_res_word(&a, AML_SPACE_BUS, 0, 255);
	EXPECT(&a, 0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0, 0, 0, 0, 0xff, 0, 0, 0, 0x00, 0x01);
	aml_res_word(&a, AML_SPACE_IO, 0xd00, 0xffff);
	EXPECT(&a, 0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0, 0, 0x00, 0x0d, 0xff, 0xff, 0, 0, 0x00,
	       0xf3);
	aml_res_dword_mem(&a, 0xc0000000, 0xdfffffff);
	EXPECT(&a, 0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff, 0xff,
	       0xdf, 0, 0, 0, 0, 0, 0, 0, 0x20);
	aml_res_mem32_fixed(&a, 0xe0000000, 0x10000000);
	EXPECT(&a, 0x86, 0x09, 0x00, 0x01, 0, 0, 0, 0xe0, 0, 0, 0, 0x10);
	aml_res_irq(&a, 4);
	aml_res_irq(&a, 12);
	EXPECT(&a, 0x22, 0x10, 0x00, 0x22, 0x00, 0x10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_integers),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_eisaid),
	    cmocka_unit_test(test_pkglength),
	    cmocka_unit_test(test_device_and_buffer),
	    cmocka_unit_test(test_resources),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
