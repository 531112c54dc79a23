/* Unit tests for daemon/domain_conf.c: what is honoured, kept with a warning, refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <libxml/parser.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "daemon/domain_conf.h"

#define MINIMAL                                                                                    \
	"<domain type='kvm'><name>t1</name><memory unit='MiB'>64</memory>"                         \
	"<os><type>hvm</type><kernel>/boot/k</kernel></os></domain>"

static struct domain_def *parse(const char *xml, struct strlist *w, struct berr *err)
{
	memset(err, 0, sizeof(*err));
	return domain_def_parse(xml, strlen(xml), w, err);
}

static bool has_warning(struct strlist *w, const char *needle)
{
	for (size_t i = 0; i < w->count; i++)
		if (strstr(w->items[i], needle))
			return true;
	return false;
}

static void test_minimal(void **state)
{
	struct berr err;
	struct strlist w = {0};
	struct domain_def *def = parse(MINIMAL, &w, &err);
	char *xml;
	(void)state;

	assert_non_null(def);
	assert_string_equal(def->name, "t1");
	assert_int_equal(def->virt, DOM_VIRT_KVM);
	assert_int_equal(def->memory, 64 * MiB);
	assert_int_equal(def->current_memory, 64 * MiB);
	assert_int_equal(def->vcpus, 1);
	assert_string_equal(def->kernel, "/boot/k");
	assert_null(def->initrd);
	assert_int_equal(def->on_poweroff, DOM_ACTION_DESTROY);
	assert_int_equal(def->on_reboot, DOM_ACTION_RESTART);
	assert_int_equal(def->on_crash, DOM_ACTION_DESTROY);
	assert_int_equal(def->serial.type, DOM_CHR_NONE);
	assert_int_equal(w.count, 0);
	/* A generated UUID is written into the document. */
	xml = domain_def_format(def);
	assert_non_null(strstr(xml, "<uuid>"));
	free(xml);
	domain_def_free(def);
}

/* What virt-install --print-xml writes for a direct-kernel-boot guest. */
static const char virt_install_xml[] =
    "<domain type=\"qemu\">\n"
    "  <name>deb</name>\n"
    "  <uuid>6e3f3c1e-62a5-4bd9-9cbb-2f5a0c4b8a11</uuid>\n"
    "  <title>Debian</title>\n"
    "  <metadata>\n"
    "    <libosinfo:libosinfo xmlns:libosinfo=\"http://libosinfo.org/xmlns/libvirt/domain/1.0\">\n"
    "      <libosinfo:os id=\"http://debian.org/debian/12\"/>\n"
    "    </libosinfo:libosinfo>\n"
    "  </metadata>\n"
    "  <memory>524288</memory>\n"
    "  <currentMemory>524288</currentMemory>\n"
    "  <vcpu>2</vcpu>\n"
    "  <os>\n"
    "    <type arch=\"x86_64\" machine=\"q35\">hvm</type>\n"
    "    <kernel>/var/lib/vm/vmlinuz</kernel>\n"
    "    <initrd>/var/lib/vm/initrd.gz</initrd>\n"
    "    <cmdline>console=ttyS0 &amp; quiet</cmdline>\n"
    "    <boot dev=\"hd\"/>\n"
    "  </os>\n"
    "  <features><acpi/><apic/></features>\n"
    "  <cpu mode=\"host-passthrough\"/>\n"
    "  <clock offset=\"utc\"><timer name=\"rtc\" tickpolicy=\"catchup\"/></clock>\n"
    "  <pm><suspend-to-mem enabled=\"no\"/></pm>\n"
    "  <on_crash>restart</on_crash>\n"
    "  <devices>\n"
    "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
    "    <disk type=\"file\" device=\"disk\">\n"
    "      <driver name=\"qemu\" type=\"qcow2\" discard=\"unmap\"/>\n"
    "      <source file=\"/var/lib/vm/deb.qcow2\"/>\n"
    "      <target dev=\"vda\" bus=\"virtio\"/>\n"
    "      <address type=\"pci\" domain=\"0x0000\" bus=\"0x04\" slot=\"0x00\" function=\"0x0\"/>\n"
    "    </disk>\n"
    "    <disk type=\"file\" device=\"disk\">\n"
    "      <source file=\"/var/lib/vm/data.img\"/>\n"
    "      <target dev=\"vdb\"/>\n"
    "      <readonly/>\n"
    "    </disk>\n"
    "    <controller type=\"usb\" model=\"qemu-xhci\" ports=\"15\"/>\n"
    "    <controller type=\"pci\" model=\"pcie-root\"/>\n"
    "    <interface type=\"user\">\n"
    "      <mac address=\"52:54:00:AB:cd:01\"/>\n"
    "      <model type=\"virtio\"/>\n"
    "    </interface>\n"
    "    <interface type=\"bridge\">\n"
    "      <source bridge=\"br0\"/>\n"
    "      <model type=\"virtio\"/>\n"
    "    </interface>\n"
    "    <serial type=\"pty\"><target type=\"isa-serial\" port=\"0\"><model "
    "name=\"isa-serial\"/></target></serial>\n"
    "    <console type=\"pty\"><target type=\"serial\" port=\"0\"/></console>\n"
    "    <channel type=\"unix\"><source mode=\"bind\"/><target type=\"virtio\" "
    "name=\"org.qemu.guest_agent.0\"/></channel>\n"
    "    <memballoon model=\"virtio\"/>\n"
    "    <rng model=\"virtio\"><backend model=\"random\">/dev/urandom</backend></rng>\n"
    "  </devices>\n"
    "</domain>\n";

static void test_virt_install(void **state)
{
	struct berr err;
	struct strlist w = {0};
	struct domain_def *def = parse(virt_install_xml, &w, &err);
	char uuid[DOM_UUID_STRLEN], *xml;
	(void)state;

	if (!def)
		fail_msg("refused: %s", err.msg);
	assert_int_equal(def->virt, DOM_VIRT_QEMU);
	uuid_format(def->uuid, uuid);
	assert_string_equal(uuid, "6e3f3c1e-62a5-4bd9-9cbb-2f5a0c4b8a11");
	assert_string_equal(def->title, "Debian");
	assert_int_equal(def->memory, 512 * MiB);
	assert_int_equal(def->vcpus, 2);
	assert_string_equal(def->initrd, "/var/lib/vm/initrd.gz");
	assert_string_equal(def->cmdline, "console=ttyS0 & quiet");
	assert_int_equal(def->on_crash, DOM_ACTION_RESTART);
	assert_int_equal(def->ndisks, 2);
	assert_string_equal(def->disks[0].target, "vda");
	assert_int_equal(def->disks[0].format, DOM_DISK_QCOW2);
	assert_false(def->disks[0].readonly);
	assert_int_equal(def->disks[1].format, DOM_DISK_RAW);
	assert_true(def->disks[1].readonly);
	assert_int_equal(def->nnets, 2);
	assert_int_equal(def->nets[0].type, DOM_NET_USER);
	assert_string_equal(def->nets[0].mac, "52:54:00:ab:cd:01");
	assert_int_equal(def->nets[1].type, DOM_NET_BRIDGE);
	assert_string_equal(def->nets[1].source, "br0");
	assert_int_equal(strncmp(def->nets[1].mac, "52:54:00:", 9), 0);
	assert_int_equal(def->serial.type, DOM_CHR_PTY);
	/* Every element without effect is named. */
	assert_true(has_warning(&w, "<emulator>"));
	assert_true(has_warning(&w, "<features>"));
	assert_true(has_warning(&w, "<clock>"));
	assert_true(has_warning(&w, "<pm>"));
	assert_true(has_warning(&w, "<cpu>"));
	assert_true(has_warning(&w, "<controller>"));
	assert_true(has_warning(&w, "<memballoon>"));
	assert_true(has_warning(&w, "<channel>"));
	assert_true(has_warning(&w, "<boot>"));
	assert_true(has_warning(&w, "<address>"));
	assert_true(has_warning(&w, "discard"));
	assert_true(has_warning(&w, "machine='q35'"));
	assert_false(has_warning(&w, "<metadata>"));
	/* ... and kept in the stored document, metadata as is. */
	xml = domain_def_format(def);
	assert_non_null(strstr(xml, "<emulator>/usr/bin/qemu-system-x86_64</emulator>"));
	assert_non_null(strstr(xml, "libosinfo:os id=\"http://debian.org/debian/12\""));
	assert_non_null(strstr(xml, "<controller type=\"usb\""));
	assert_non_null(strstr(xml, "<source bridge=\"br0\"/>"));
	/* The generated MAC is recorded. */
	assert_non_null(strstr(xml, def->nets[1].mac));
	assert_null(strstr(xml, "<?xml"));
	free(xml);
	strlist_clear(&w);
	domain_def_free(def);
}

/* Formatting and parsing again gives the same definition. */
static void test_roundtrip(void **state)
{
	struct berr err;
	struct domain_def *a = parse(virt_install_xml, NULL, &err), *b;
	char *xa, *xb;
	(void)state;

	assert_non_null(a);
	xa = domain_def_format(a);
	b = domain_def_parse(xa, strlen(xa), NULL, &err);
	assert_non_null(b);
	xb = domain_def_format(b);
	assert_string_equal(xa, xb);
	assert_memory_equal(a->uuid, b->uuid, 16);
	assert_string_equal(a->nets[1].mac, b->nets[1].mac);
	free(xa);
	free(xb);
	domain_def_free(a);
	domain_def_free(b);
}

static void expect_refused(const char *xml, enum berr_class cls, const char *needle)
{
	struct berr err;
	struct domain_def *def = parse(xml, NULL, &err);

	if (def)
		fail_msg("accepted, expected an error naming '%s': %s", needle, xml);
	assert_int_equal(err.cls, cls);
	if (!strstr(err.msg, needle))
		fail_msg("error '%s' does not name '%s'", err.msg, needle);
}

#define DOM_WITH(devices)                                                                          \
	"<domain type='kvm'><name>x</name><memory>65536</memory>"                                  \
	"<os><type>hvm</type><kernel>/k</kernel></os><devices>" devices "</devices></domain>"

static void test_refused(void **state)
{
	(void)state;
	expect_refused("<domain", BERR_INVALID, "malformed XML");
	expect_refused("", BERR_INVALID, "malformed XML");
	expect_refused("<vm/>", BERR_INVALID, "<vm>");
	expect_refused("<domain type='xen'/>", BERR_UNSUPPORTED, "xen");
	expect_refused("<domain type='kvm'><memory>65536</memory></domain>", BERR_INVALID,
		       "<name>");
	expect_refused("<domain type='kvm'><name>a/b</name></domain>", BERR_INVALID, "a/b");
	expect_refused("<domain type='kvm'><name>x</name><memory unit='parsec'>1</memory></domain>",
		       BERR_INVALID, "parsec");
	expect_refused("<domain type='kvm'><name>x</name><memory>-5</memory></domain>",
		       BERR_INVALID, "-5");
	expect_refused(
	    "<domain type='kvm'><name>x</name><memory>99999999999999999999</memory></domain>",
	    BERR_INVALID, "not a valid size");
	expect_refused("<domain type='kvm'><name>x</name><memory>65536</memory>"
		       "<os><type>hvm</type></os></domain>",
		       BERR_UNSUPPORTED, "<kernel>");
	expect_refused("<domain type='kvm'><name>x</name><memory>65536</memory>"
		       "<os firmware='efi'><type>hvm</type><kernel>/k</kernel></os></domain>",
		       BERR_UNSUPPORTED, "firmware");
	expect_refused("<domain type='kvm'><name>x</name><memory>65536</memory>"
		       "<os><type>hvm</type><loader>/x</loader><kernel>/k</kernel></os></domain>",
		       BERR_UNSUPPORTED, "<loader>");
	expect_refused("<domain type='kvm'><name>x</name><memory>65536</memory><vcpu>0</vcpu>"
		       "<os><type>hvm</type><kernel>/k</kernel></os></domain>",
		       BERR_INVALID, "<vcpu>");
	expect_refused("<domain type='kvm'><name>x</name><memory>65536</memory><blah/>"
		       "<os><type>hvm</type><kernel>/k</kernel></os></domain>",
		       BERR_UNSUPPORTED, "<blah>");
	expect_refused(DOM_WITH("<disk type='file' device='disk'><source file='/d'/>"
				"<target dev='sda' bus='sata'/></disk>"),
		       BERR_UNSUPPORTED, "sata");
	expect_refused(DOM_WITH("<disk type='file' device='disk'><source file='/d'/>"
				"<target dev='hda'/></disk>"),
		       BERR_UNSUPPORTED, "bus");
	expect_refused(DOM_WITH("<disk type='file' device='cdrom'><source file='/d'/>"
				"<target dev='vda'/></disk>"),
		       BERR_UNSUPPORTED, "cdrom");
	expect_refused(DOM_WITH("<disk type='file'><driver name='qemu' type='vmdk'/>"
				"<source file='/d'/><target dev='vda'/></disk>"),
		       BERR_UNSUPPORTED, "vmdk");
	expect_refused(DOM_WITH("<disk type='file'><source file='rel'/><target dev='vda'/></disk>"),
		       BERR_INVALID, "absolute");
	expect_refused(DOM_WITH("<hostdev mode='subsystem' type='pci'/>"), BERR_UNSUPPORTED,
		       "<hostdev>");
	expect_refused(DOM_WITH("<graphics type='vnc'/>"), BERR_UNSUPPORTED, "<graphics>");
	expect_refused(DOM_WITH("<frobnicator/>"), BERR_UNSUPPORTED, "<frobnicator>");
	expect_refused(DOM_WITH("<interface type='direct'/>"), BERR_UNSUPPORTED, "direct");
	expect_refused(DOM_WITH("<interface type='user'><model type='e1000'/></interface>"),
		       BERR_UNSUPPORTED, "e1000");
	expect_refused(
	    DOM_WITH("<interface type='user'><mac address='01:00:00:00:00:01'/></interface>"),
	    BERR_INVALID, "MAC");
	expect_refused(DOM_WITH("<serial type='tcp'/>"), BERR_UNSUPPORTED, "tcp");
	expect_refused(
	    DOM_WITH("<serial type='pty'/><serial type='pty'><target port='1'/></serial>"),
	    BERR_UNSUPPORTED, "port");
	expect_refused(DOM_WITH("<console type='pty'><target type='virtio'/></console>"),
		       BERR_UNSUPPORTED, "virtio");
	expect_refused(DOM_WITH("<serial type='unix'><source mode='connect' path='/s'/></serial>"),
		       BERR_UNSUPPORTED, "bind");
	expect_refused("<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
		       "<name>x</name><memory>65536</memory><os><type>hvm</type><kernel>/k</kernel>"
		       "</os><qemu:commandline/></domain>",
		       BERR_UNSUPPORTED, "commandline");
	expect_refused("<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><domain type='kvm'>"
		       "<name>&e;</name></domain>",
		       BERR_INVALID, "DOCTYPE");
	expect_refused("<domain type='kvm'><name>x</name><name>y</name><memory>65536</memory>"
		       "<os><type>hvm</type><kernel>/k</kernel></os></domain>",
		       BERR_INVALID, "<name> appears 2 times");
}

static void test_units_and_chr(void **state)
{
	struct berr err;
	struct strlist w = {0};
	struct domain_def *def;
	(void)state;

	def = parse("<domain type='kvm'><name>u</name><memory unit='G'>1</memory>"
		    "<currentMemory unit='M'>512</currentMemory><vcpu current='2'>2</vcpu>"
		    "<os><type>hvm</type><kernel>/k</kernel></os>"
		    "<on_poweroff>restart</on_poweroff><on_reboot>destroy</on_reboot>"
		    "<devices><serial type='unix'><source mode='bind' path='/tmp/s'/></serial>"
		    "<console type='unix'><source mode='bind' path='/tmp/s'/></console></devices>"
		    "</domain>",
		    &w, &err);
	if (!def)
		fail_msg("%s", err.msg);
	assert_int_equal(def->memory, GiB);
	assert_int_equal(def->current_memory, 512 * MiB);
	assert_true(has_warning(&w, "currentMemory"));
	assert_int_equal(def->vcpus, 2);
	assert_int_equal(def->on_poweroff, DOM_ACTION_RESTART);
	assert_int_equal(def->on_reboot, DOM_ACTION_DESTROY);
	assert_int_equal(def->serial.type, DOM_CHR_UNIX);
	assert_string_equal(def->serial.path, "/tmp/s");
	strlist_clear(&w);
	domain_def_free(def);
}

static void test_names_and_uuids(void **state)
{
	unsigned char u[16];
	char s[DOM_UUID_STRLEN];
	(void)state;

	assert_true(domain_name_valid("web-1.example_2"));
	assert_false(domain_name_valid(""));
	assert_false(domain_name_valid(".hidden"));
	assert_false(domain_name_valid("-x"));
	assert_false(domain_name_valid("a b"));
	assert_false(domain_name_valid("../etc"));
	assert_int_equal(uuid_parse("6E3F3C1E-62A5-4BD9-9CBB-2F5A0C4B8A11", u), 0);
	uuid_format(u, s);
	assert_string_equal(s, "6e3f3c1e-62a5-4bd9-9cbb-2f5a0c4b8a11");
	assert_int_equal(uuid_parse("6e3f3c1e62a54bd99cbb2f5a0c4b8a11", u), 0);
	assert_int_equal(uuid_parse("6e3f3c1e-62a5-4bd9-9cbb-2f5a0c4b8a1", u), -1);
	assert_int_equal(uuid_parse("6e3f3c1e-62a5-4bd9-9cbb-2f5a0c4b8a111", u), -1);
	assert_int_equal(uuid_parse("xe3f3c1e-62a5-4bd9-9cbb-2f5a0c4b8a11", u), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_minimal),	  cmocka_unit_test(test_virt_install),
	    cmocka_unit_test(test_roundtrip),	  cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_units_and_chr), cmocka_unit_test(test_names_and_uuids),
	};
	int ret;

	xmlInitParser();
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	xmlCleanupParser();
	return ret;
}
