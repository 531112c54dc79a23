/*
 * virtio-net on the TAP back end, inside a network namespace the test creates
 * (root only; skipped otherwise): the guest's ARP request reaches the host
 * kernel through the TAP interface and the kernel's reply comes back, and
 * host traffic to the guest arrives as frames.
 */
#include "vnet.h"

#include <arpa/inet.h>
#include <linux/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define TAP_NAME "berthtap0"
#define HOST_IP	 "10.9.0.1"
#define GUEST_IP "10.9.0.2"

static bool in_netns;

/* Give the TAP interface HOST_IP/24 and bring it up. */
static void configure_host_side(void)
{
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, TAP_NAME);
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, HOST_IP, &sin->sin_addr);
	assert_int_equal(ioctl(s, SIOCSIFADDR, &ifr), 0);
	inet_pton(AF_INET, "255.255.255.0", &sin->sin_addr);
	assert_int_equal(ioctl(s, SIOCSIFNETMASK, &ifr), 0);
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
}

static int tap_setup(void **state)
{
	(void)state;
	if (!in_netns)
		return 0;
	attach("tap,ifname=" TAP_NAME);
	post_rx_buffers(RXBUF);
	configure_host_side();
	return 0;
}

static int tap_teardown(void **state)
{
	if (in_netns)
		teardown(state);
	return 0;
}

/* An ARP frame (op 1 request, 2 reply) from the guest. */
static void send_arp(uint16_t op, const uint8_t *dst_mac, const char *target_ip)
{
	uint8_t f[60] = {0};
	uint32_t tip, sip;

	inet_pton(AF_INET, GUEST_IP, &sip);
	inet_pton(AF_INET, target_ip, &tip);
	memcpy(f, dst_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	put16(f + 12, 0x0806);
	put16(f + 14, 1);
	put16(f + 16, 0x0800);
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, op);
	memcpy(f + 22, guest_mac, 6);
	memcpy(f + 28, &sip, 4);
	if (op == 2)
		memcpy(f + 32, dst_mac, 6);
	memcpy(f + 38, &tip, 4);
	send_frame(f, sizeof(f));
}

static bool is_arp_reply(const uint8_t *f, size_t len)
{
	return len >= 42 && get16(f + 12) == 0x0806 && get16(f + 20) == 2;
}

static bool is_arp_request_for_guest(const uint8_t *f, size_t len)
{
	uint32_t me;

	inet_pton(AF_INET, GUEST_IP, &me);
	return len >= 42 && get16(f + 12) == 0x0806 && get16(f + 20) == 1 &&
	       !memcmp(f + 38, &me, 4);
}

static void test_arp_through_tap(void **state)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	uint8_t r[RXBUF];
	uint32_t host;

	(void)state;
	if (!in_netns)
		skip();
	inet_pton(AF_INET, HOST_IP, &host);
	send_arp(1, bcast, HOST_IP);
	assert_true(recv_frame(r, is_arp_reply) > 0);
	assert_memory_equal(r, guest_mac, 6);
	assert_memory_equal(r + 28, &host, 4);
}

static void test_host_traffic_reaches_guest(void **state)
{
	struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)};
	uint8_t r[RXBUF];
	int s;

	(void)state;
	if (!in_netns)
		skip();
	inet_pton(AF_INET, GUEST_IP, &to.sin_addr);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	/* The kernel first asks, by ARP on the TAP interface, where the guest is. */
	assert_int_equal(sendto(s, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
	assert_true(recv_frame(r, is_arp_request_for_guest) > 0);
	close(s);
}

static void test_bad_tap_specs(void **state)
{
	struct vdriver d;

	(void)state;
	vd_vm_new(&d);
	assert_null(virtio_net_new(d.vm, d.host, "tap,ifname=waytoolonginterfacename0", guest_mac));
	assert_null(virtio_net_new(d.vm, d.host, "tap,name=x", guest_mac));
	assert_null(virtio_net_new(d.vm, d.host, "tap,ifname=a,b", guest_mac));
	vd_vm_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_tap_specs),
	    cmocka_unit_test_setup_teardown(test_arp_through_tap, tap_setup, tap_teardown),
	    cmocka_unit_test_setup_teardown(test_host_traffic_reaches_guest, tap_setup,
					    tap_teardown),
	};

	/* A private network namespace: the TAP interface never touches the host's network. */
	in_netns = geteuid() == 0 && unshare(CLONE_NEWNET) == 0;
	if (!in_netns)
		fprintf(stderr,
			"test_net_tap: not root or no network namespaces: TAP tests skip\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
