/*
 * virtio-net on the user-mode (libslirp) back end, with the test as the
 * guest: ARP for the gateway, a DHCP exchange, a TCP connection from the
 * guest to a server on the host's loopback through the gateway address,
 * hostfwd reaching the guest, and the device's checks on what the guest
 * posts (transmit buffers without a header, receive buffers too small).
 */
#include "vnet.h"
#include "vmm/config.h"
#include "vmm/virtio/devices.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* ---- packet building ---- */

static uint16_t csum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Ethernet + IPv4 header for proto with payload_len bytes after it; returns the IP header. */
static uint8_t *ip_frame(uint8_t *f, const uint8_t dst_mac[6], uint32_t src, uint32_t dst,
			 uint8_t proto, size_t payload_len)
{
	uint8_t *ip = f + 14;

	memcpy(f, dst_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0800);
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + payload_len));
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, &src, 4);
	memcpy(ip + 16, &dst, 4);
	put16(ip + 10, csum(ip, 20, 0));
	return ip;
}

static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static bool is_arp_reply(const uint8_t *f, size_t len)
{
	return len >= 42 && get16(f + 12) == 0x0806 && get16(f + 20) == 2;
}

/* An ARP request from the guest (10.0.2.15) for the gateway, 10.0.2.2. */
static void send_arp_request(void)
{
	uint8_t f[64] = {0};
	uint32_t gw = inet_addr("10.0.2.2"), me = inet_addr("10.0.2.15");

	memcpy(f, broadcast, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0806);
	put16(f + 14, 1);      /* Ethernet */
	put16(f + 16, 0x0800); /* IPv4 */
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, 1); /* request */
	memcpy(f + 22, guest_mac, 6);
	memcpy(f + 28, &me, 4);
	memcpy(f + 38, &gw, 4);
	send_frame(f, 60);
}

static void test_arp_gateway(void **state)
{
	uint8_t r[RXBUF];
	uint32_t gw = inet_addr("10.0.2.2"), me = inet_addr("10.0.2.15");

	(void)state;
	send_arp_request();
	assert_true(recv_frame(r, is_arp_reply) >= 42);
	assert_memory_equal(r, guest_mac, 6);	   /* to us */
	assert_memory_equal(r + 28, &gw, 4);	   /* sender: the gateway */
	assert_memory_equal(r + 32, guest_mac, 6); /* target: us */
	assert_memory_equal(r + 38, &me, 4);
}

static bool is_dhcp_reply(const uint8_t *f, size_t len)
{
	return len > 282 && get16(f + 12) == 0x0800 && f[23] == 17 && get16(f + 34) == 67 &&
	       get16(f + 36) == 68;
}

/* The value of DHCP option code in the BOOTP message at bootp, or -1. */
static int dhcp_option(const uint8_t *bootp, size_t len, uint8_t code)
{
	for (size_t i = 240; i + 1 < len && bootp[i] != 255;) {
		if (bootp[i] == 0) {
			i++;
			continue;
		}
		if (bootp[i] == code)
			return bootp[i + 2];
		i += 2 + bootp[i + 1];
	}
	return -1;
}

/* One DHCP message of the given type; returns the reply's BOOTP part. */
static const uint8_t *dhcp(uint8_t *r, uint8_t type, uint32_t requested)
{
	uint8_t f[400] = {0}, *udp, *b;
	size_t blen = 300, n;

	ip_frame(f, broadcast, 0, 0xffffffff, 17, 8 + blen);
	udp = f + 34;
	put16(udp, 68);
	put16(udp + 2, 67);
	put16(udp + 4, (uint16_t)(8 + blen));
	b = udp + 8;
	b[0] = 1;
	b[1] = 1;
	b[2] = 6;
	memcpy(b + 4, "\x12\x34\x56\x78", 4);
	memcpy(b + 28, guest_mac, 6);
	memcpy(b + 236, "\x63\x82\x53\x63", 4);
	b[240] = 53;
	b[241] = 1;
	b[242] = type;
	b[243] = 50;
	b[244] = 4;
	memcpy(b + 245, &requested, 4);
	b[249] = 255;
	send_frame(f, 34 + 8 + blen);
	n = recv_frame(r, is_dhcp_reply);
	assert_true(n > 0);
	b = r + 42;
	assert_int_equal(b[0], 2); /* BOOTREPLY */
	assert_memory_equal(b + 4, "\x12\x34\x56\x78", 4);
	return b;
}

static void test_dhcp_lease(void **state)
{
	uint8_t r[RXBUF];
	const uint8_t *b;
	uint32_t me = inet_addr("10.0.2.15");

	(void)state;
	b = dhcp(r, 1, 0);				     /* DISCOVER */
	assert_int_equal(dhcp_option(b, RXBUF - 42, 53), 2); /* OFFER */
	assert_memory_equal(b + 16, &me, 4);		     /* yiaddr */
	b = dhcp(r, 3, me);				     /* REQUEST */
	assert_int_equal(dhcp_option(b, RXBUF - 42, 53), 5); /* ACK */
	assert_memory_equal(b + 16, &me, 4);
}

/* TCP segment from the guest (10.0.2.15:sport) with flags; checksums computed. */
static void send_tcp(uint32_t dst, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
		     uint8_t flags)
{
	static const uint8_t gw_mac[6] = {0x52, 0x55, 0x0a, 0x00, 0x02, 0x02};
	uint8_t f[80] = {0}, pseudo[12 + 20], *tcp;
	uint32_t src = inet_addr("10.0.2.15"), v;

	ip_frame(f, gw_mac, src, dst, 6, 20);
	tcp = f + 34;
	put16(tcp, sport);
	put16(tcp + 2, dport);
	v = htonl(seq);
	memcpy(tcp + 4, &v, 4);
	v = htonl(ack);
	memcpy(tcp + 8, &v, 4);
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	put16(tcp + 14, 65535);
	memcpy(pseudo, &src, 4);
	memcpy(pseudo + 4, &dst, 4);
	pseudo[8] = 0;
	pseudo[9] = 6;
	put16(pseudo + 10, 20);
	memcpy(pseudo + 12, tcp, 20);
	put16(tcp + 16, csum(pseudo, sizeof(pseudo), 0));
	send_frame(f, 54);
}

static bool is_tcp(const uint8_t *f, size_t len)
{
	return len >= 54 && get16(f + 12) == 0x0800 && f[23] == 6;
}

/* A listening TCP socket on 127.0.0.1 with an ephemeral port; returns fd, sets port. */
static int listener(uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	struct timeval tv = {.tv_sec = VD_TIMEOUT_MS / 1000};

	assert_true(fd >= 0);
	/* accept() gives up (EAGAIN) rather than hanging the test. */
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void test_guest_reaches_host_loopback(void **state)
{
	uint8_t r[RXBUF];
	uint16_t port;
	int lfd = listener(&port), cfd;
	uint32_t seq, ack;

	(void)state;
	/* slirp learns our MAC from the ARP request. */
	send_arp_request();
	assert_true(recv_frame(r, is_arp_reply) > 0);
	/* SYN to the gateway: slirp connects to the host's 127.0.0.1:port. */
	send_tcp(inet_addr("10.0.2.2"), 40000, port, 1000, 0, 0x02);
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);
	/* And the guest gets the SYN-ACK. */
	assert_true(recv_frame(r, is_tcp) > 0);
	assert_int_equal(get16(r + 34), port);
	assert_int_equal(get16(r + 36), 40000);
	assert_int_equal(r[47] & 0x12, 0x12);
	memcpy(&seq, r + 38, 4);
	memcpy(&ack, r + 42, 4);
	assert_int_equal(ntohl(ack), 1001);
	send_tcp(inet_addr("10.0.2.2"), 40000, port, 1001, ntohl(seq) + 1, 0x10);
	close(cfd);
	close(lfd);
}

static void test_hostfwd_reaches_guest(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	uint8_t r[RXBUF];
	uint16_t port;
	int probe = listener(&port), fd;
	char spec[96];

	(void)state;
	/* Re-plug with a forward of a free host port to guest port 80. */
	close(probe);
	teardown(NULL);
	snprintf(spec, sizeof(spec), "user,hostfwd=tcp:127.0.0.1:%u-:80", port);
	attach(spec);
	post_rx_buffers(RXBUF);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	a.sin_port = htons(port);
	/* The host's connect is accepted by slirp, which then opens to the guest. */
	connect(fd, (struct sockaddr *)&a, sizeof(a));
	/* slirp does not know our MAC yet: it asks by ARP, or sends the SYN. */
	assert_true(recv_frame(r, NULL) > 0);
	if (get16(r + 12) == 0x0806) {
		uint32_t me = inet_addr("10.0.2.15");
		assert_int_equal(get16(r + 20), 1);
		assert_memory_equal(r + 38, &me, 4);
	} else {
		assert_true(is_tcp(r, 54));
		assert_int_equal(get16(r + 36), 80);
		assert_int_equal(r[47] & 0x02, 0x02);
	}
	close(fd);
}

static void test_tx_without_header_needs_reset(void **state)
{
	uint64_t buf = vd_alloc(&drv, 8, 8);
	struct vd_buf b = {buf, 8, false};

	(void)state;
	vd_publish(&drv, TXQ, vd_chain(&drv, TXQ, &b, 1));
	vd_kick(&drv, TXQ);
	assert_true(vd_wait_needs_reset(&drv));
	assert_int_equal(vd_msi_count(&drv, 0x40), 1);
}

static void test_small_rx_buffers_drop_frames(void **state)
{
	uint8_t r[RXBUF];

	(void)state;
	teardown(NULL);
	attach("user");
	post_rx_buffers(HDR + 20); /* too small for an ARP reply */
	send_arp_request();
	vd_sleep_ms(50);
	assert_int_equal(recv_frame_within(r, NULL, 200), 0);
	assert_int_equal(vd_used(&drv, RXQ)[1], 0);
	assert_false(vd_status(&drv) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_frames_wait_for_buffers(void **state)
{
	uint8_t r[RXBUF];

	(void)state;
	teardown(NULL);
	attach("user");
	/* The reply to this arrives while the guest has no receive buffer... */
	send_arp_request();
	vd_sleep_ms(50);
	assert_int_equal(vd_used(&drv, RXQ)[1], 0);
	/* ...and is handed over once it posts some. */
	post_rx_buffers(RXBUF);
	assert_true(recv_frame(r, is_arp_reply) > 0);
}

static void test_config_and_bad_backends(void **state)
{
	struct vdriver d;

	(void)state;
	assert_int_equal(vm_mmio_read(drv.vm, drv.device, 4), 0x12005452);
	assert_int_equal(vm_mmio_read(drv.vm, drv.device + 4, 2), 0x5634);
	assert_int_equal(vm_mmio_read(drv.vm, drv.device + 6, 2), 1); /* link up */
	vd_vm_new(&d);
	assert_null(virtio_net_new(d.vm, d.host, "user,hostfwd=tcp::99999-:22", guest_mac));
	assert_null(virtio_net_new(d.vm, d.host, "user,hostfwd=sctp::2222-:22", guest_mac));
	assert_null(virtio_net_new(d.vm, d.host, "user,bogus=1", guest_mac));
	assert_null(virtio_net_new(d.vm, d.host, "tap", guest_mac));
	assert_null(virtio_net_new(d.vm, d.host, "tap,ifname=", guest_mac));
	assert_null(virtio_net_new(d.vm, d.host, "vde", guest_mac));
	vd_vm_free(&d);
}

/* The MAC in the config space: --net's mac= where given, QEMU's default otherwise. */
static void test_mac_from_command_line(void **state)
{
	char *argv[] = {"berth-vmm", "--kernel", "k", "--net", "user,mac=02:AB:cd:00:ef:10",
			"--net", "user", NULL};
	static const uint8_t want[2][6] = {{0x02, 0xab, 0xcd, 0x00, 0xef, 0x10},
					   {0x52, 0x54, 0x00, 0x12, 0x34, 0x57}};
	struct virtio_devices *devs;
	struct vmm_config cfg;
	struct vdriver d;
	char err[256];
	int found = 0;

	(void)state;
	assert_int_equal(config_parse((int)ARRAY_SIZE(argv) - 1, argv, &cfg, err, sizeof(err)),
			 CONFIG_OK);
	assert_string_equal(cfg.nets[0].spec, "user");
	vd_vm_new(&d);
	devs = virtio_devices_create(d.vm, d.host, &cfg);
	assert_non_null(devs);
	for (unsigned slot = 0; slot < 32 && found < 2; slot++) {
		d.slot = slot;
		if (vd_cfg_read(&d, PCI_VENDOR_ID, 2) != 0x1af4 ||
		    vd_cfg_read(&d, PCI_DEVICE_ID, 2) != 0x1040 + VIRTIO_ID_NET)
			continue;
		vd_attach(&d, slot);
		for (int i = 0; i < 6; i++)
			assert_int_equal(vm_mmio_read(d.vm, d.device + i, 1), want[found][i]);
		vd_detach(&d);
		found++;
	}
	assert_int_equal(found, 2);
	virtio_devices_free(devs);
	vd_vm_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_config_and_bad_backends, setup, teardown),
	    cmocka_unit_test(test_mac_from_command_line),
	    cmocka_unit_test_setup_teardown(test_arp_gateway, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dhcp_lease, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_guest_reaches_host_loopback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostfwd_reaches_guest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_without_header_needs_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_small_rx_buffers_drop_frames, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_frames_wait_for_buffers, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
