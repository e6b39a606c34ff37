/*
 * test_addr.c: trusted proxies and forwarded client addresses
 * (proto/addr.h): address and CIDR parsing for both families, prefix
 * matching at and around the boundaries, and the walk along an
 * X-Forwarded-For or Forwarded chain (the nearest untrusted hop is the
 * client; a spoofed left part is never believed; junk gives the peer).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../proto/addr.h"

static struct addr_ip
ip(const char *s)
{
	struct addr_ip a;

	assert_int_equal(addr_parse_ip(s, strlen(s), &a), 0);
	return a;
}

static const char *
text(const struct addr_ip *a)
{
	static char buf[ADDR_TEXT_MAX];

	addr_format(a, buf);
	return buf;
}

static void
test_parse_ip(void **state)
{
	struct addr_ip a;
	static const char *const bad[] = {
	    "",	    "1.2.3", "1.2.3.4.5", "256.1.1.1",	"::g",
	    "[::1", "[]",    "1.2.3.4 ",  "example.com"};
	size_t i;

	(void)state;
	a = ip("192.0.2.7");
	assert_string_equal(text(&a), "192.0.2.7");
	a = ip("2001:db8::1");
	assert_string_equal(text(&a), "2001:db8::1");
	a = ip("[2001:db8::1]");
	assert_string_equal(text(&a), "2001:db8::1");
	/* An IPv4 address and its mapped IPv6 form are the same address. */
	assert_memory_equal(ip("10.0.0.1").b, ip("::ffff:10.0.0.1").b, 16);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(addr_parse_ip(bad[i], strlen(bad[i]), &a), -1);
}

/* Is the address s inside one of c's blocks? */
static int
in(const struct addr_cidrs *c, const char *s)
{
	struct addr_ip a = ip(s);

	return addr_cidrs_match(c, &a);
}

static void
test_cidr(void **state)
{
	char *list[] = {"10.0.0.0/8", "192.168.1.128/25", "2001:db8::/32",
			"127.0.0.1", "::1"};
	struct addr_cidrs c;
	struct addr_cidr one;
	const char *why = NULL;
	uint32_t bad = 99;

	(void)state;
	assert_int_equal(addr_cidrs_parse(list, 5, &c, &bad, &why), 0);
	assert_true(in(&c, "10.255.0.1"));
	assert_true(in(&c, "10.0.0.0"));
	assert_false(in(&c, "11.0.0.0"));
	assert_true(in(&c, "192.168.1.128"));
	assert_true(in(&c, "192.168.1.255"));
	assert_false(in(&c, "192.168.1.127"));
	assert_true(in(&c, "2001:db8:ffff::9"));
	assert_false(in(&c, "2001:db9::"));
	assert_true(in(&c, "127.0.0.1"));
	assert_false(in(&c, "127.0.0.2"));
	assert_true(in(&c, "::1"));
	/* An IPv4 block does not match IPv6 addresses outside the mapping. */
	assert_false(in(&c, "::a00:1"));
	addr_cidrs_free(&c);
	/* Prefix 0 matches everything of its family. */
	assert_int_equal(addr_parse_cidr("0.0.0.0/0", &one, &why), 0);
	c.n = 1;
	c.v = &one;
	assert_true(in(&c, "8.8.8.8"));
	assert_false(in(&c, "2001::1"));
	/* Bad entries name themselves. */
	{
		char *badlist[] = {"10.0.0.0/8", "10.0.0.0/33"};

		assert_int_equal(addr_cidrs_parse(badlist, 2, &c, &bad, &why),
				 -1);
		assert_int_equal(bad, 1);
		assert_non_null(strstr(why, "prefix"));
	}
	assert_int_equal(addr_parse_cidr("::/129", &one, &why), -1);
	assert_int_equal(addr_parse_cidr("1.2.3.4/", &one, &why), -1);
	assert_int_equal(addr_parse_cidr("1.2.3.4/-1", &one, &why), -1);
	assert_int_equal(addr_parse_cidr("proxy.local", &one, &why), -1);
	assert_non_null(strstr(why, "address"));
}

/* The client of a request from peer with these headers, or "peer". */
static const char *
client(const struct addr_cidrs *t, const char *peer, const char *xff,
       const char *fwd)
{
	struct addr_ip p = ip(peer), out;

	if (!addr_forwarded_client(t, &p, xff, xff ? strlen(xff) : 0, fwd,
				   fwd ? strlen(fwd) : 0, &out))
		return "peer";
	return text(&out);
}

static void
test_forwarded(void **state)
{
	char *list[] = {"10.0.0.0/8", "2001:db8::/32"};
	struct addr_cidrs t;
	const char *why;
	uint32_t bad;

	(void)state;
	assert_int_equal(addr_cidrs_parse(list, 2, &t, &bad, &why), 0);
	/* An untrusted peer's headers are not read. */
	assert_string_equal(client(&t, "203.0.113.9", "1.1.1.1", NULL), "peer");
	/* A trusted peer: the nearest untrusted hop is the client. */
	assert_string_equal(client(&t, "10.0.0.2", "198.51.100.4", NULL),
			    "198.51.100.4");
	assert_string_equal(
	    client(&t, "10.0.0.2", "198.51.100.4, 10.1.1.1", NULL),
	    "198.51.100.4");
	/* What the client wrote itself (the left part) is not believed. */
	assert_string_equal(
	    client(&t, "10.0.0.2", "6.6.6.6, 198.51.100.4, 10.1.1.1", NULL),
	    "198.51.100.4");
	/* Only trusted hops: the farthest one. */
	assert_string_equal(client(&t, "10.0.0.2", "10.9.9.9, 10.1.1.1", NULL),
			    "10.9.9.9");
	/* Ports, brackets, spaces. */
	assert_string_equal(client(&t, "10.0.0.2", " 198.51.100.4:5555 ", NULL),
			    "198.51.100.4");
	assert_string_equal(client(&t, "10.0.0.2", "[2001:db9::7]:80", NULL),
			    "2001:db9::7");
	assert_string_equal(client(&t, "10.0.0.2", "2001:db9::7", NULL),
			    "2001:db9::7");
	/* Junk anywhere it is reached: the peer. */
	assert_string_equal(client(&t, "10.0.0.2", "unknown", NULL), "peer");
	assert_string_equal(client(&t, "10.0.0.2", "1.2.3.4,,", NULL), "peer");
	assert_string_equal(client(&t, "10.0.0.2", "", NULL), "peer");
	/* Junk beyond the client is never reached. */
	assert_string_equal(client(&t, "10.0.0.2", "junk, 198.51.100.4", NULL),
			    "198.51.100.4");
	/* Forwarded (RFC 7239), which wins over X-Forwarded-For. */
	assert_string_equal(client(&t, "10.0.0.2", "7.7.7.7",
				   "for=192.0.2.60;proto=http;by=203.0.113.43"),
			    "192.0.2.60");
	assert_string_equal(client(&t, "10.0.0.2", NULL,
				   "for=198.51.100.1, for=\"[2001:db8:cafe::17]"
				   ":4711\""),
			    "198.51.100.1");
	assert_string_equal(
	    client(&t, "10.0.0.2", NULL, "For=\"[2001:db9::17]:4711\""),
	    "2001:db9::17");
	assert_string_equal(client(&t, "10.0.0.2", NULL, "by=1.2.3.4"), "peer");
	assert_string_equal(client(&t, "10.0.0.2", NULL, "for=_hidden"),
			    "peer");
	/* A very long chain: only the nearest hops are looked at. */
	{
		char chain[32 * 16 + 64] = "";
		int i;

		for (i = 0; i < 40; i++)
			strcat(chain, "10.0.0.1, ");
		strcat(chain, "198.51.100.4");
		assert_string_equal(client(&t, "10.0.0.2", chain, NULL),
				    "198.51.100.4");
	}
	addr_cidrs_free(&t);
}

/* Parse all of s; returns the rc, the client in out as text (or "-"). */
static int
proxy(const void *s, size_t n, char out[ADDR_TEXT_MAX])
{
	struct addr_ip ip;
	int have = -1, rc = addr_proxy_parse(s, n, &ip, &have);

	if (rc > 0 && have)
		addr_format(&ip, out);
	else
		strcpy(out, "-");
	return rc;
}

static void
test_proxy_v1(void **state)
{
	static const char tcp4[] = "PROXY TCP4 198.51.100.22 203.0.113.7 "
				   "35646 80\r\nGET /";
	static const char tcp6[] = "PROXY TCP6 2001:db8::1 2001:db8::2 "
				   "4000 443\r\n";
	char out[ADDR_TEXT_MAX];
	size_t i, hlen = strlen(tcp4) - 5;

	(void)state;
	assert_int_equal(proxy(tcp4, strlen(tcp4), out), (int)hlen);
	assert_string_equal(out, "198.51.100.22");
	assert_int_equal(proxy(tcp6, strlen(tcp6), out), (int)strlen(tcp6));
	assert_string_equal(out, "2001:db8::1");
	assert_int_equal(proxy("PROXY UNKNOWN\r\n", 15, out), 15);
	assert_string_equal(out, "-");
	/* Every cut before the end asks for more. */
	for (i = 0; i < hlen; i++)
		assert_int_equal(proxy(tcp4, i, out), 0);
	/* Not a PROXY header, or a broken one. */
	assert_int_equal(proxy("GET / HTTP/1.1\r\n", 16, out), -1);
	assert_int_equal(proxy("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", 32, out),
			 -1);
	assert_int_equal(proxy("PROXY TCP4 junk 5.6.7.8 1 2\r\n", 29, out), -1);
	assert_int_equal(proxy("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", 32, out),
			 -1);
	{
		char big[200];

		memset(big, 'a', sizeof(big));
		memcpy(big, "PROXY ", 6);
		assert_int_equal(proxy(big, sizeof(big), out), -1);
	}
}

static void
test_proxy_v2(void **state)
{
	uint8_t h[16 + 36 + 8] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				  0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
	char out[ADDR_TEXT_MAX];
	size_t i;

	(void)state;
	/* PROXY over TCP4, with 4 bytes of TLVs after the addresses. */
	h[12] = 0x21;
	h[13] = 0x11;
	h[14] = 0;
	h[15] = 12 + 4;
	h[16] = 192, h[17] = 0, h[18] = 2, h[19] = 44;
	assert_int_equal(proxy(h, 16 + 16, out), 32);
	assert_string_equal(out, "192.0.2.44");
	for (i = 0; i < 32; i++)
		assert_int_equal(proxy(h, i, out), 0);
	/* LOCAL: the peer is the client. */
	h[12] = 0x20;
	assert_int_equal(proxy(h, 32, out), 32);
	assert_string_equal(out, "-");
	/* TCP6. */
	h[12] = 0x21;
	h[13] = 0x21;
	h[15] = 36;
	memset(h + 16, 0, 16);
	h[16] = 0x20, h[17] = 0x01, h[18] = 0x0d, h[19] = 0xb8, h[31] = 9;
	assert_int_equal(proxy(h, 16 + 36, out), 52);
	assert_string_equal(out, "2001:db8::9");
	/* A wrong version, a wrong command, a broken signature. */
	h[12] = 0x11;
	assert_int_equal(proxy(h, 52, out), -1);
	h[12] = 0x22;
	assert_int_equal(proxy(h, 52, out), -1);
	h[12] = 0x21;
	h[3] = 0x0b;
	assert_int_equal(proxy(h, 52, out), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_ip),  cmocka_unit_test(test_cidr),
	    cmocka_unit_test(test_forwarded), cmocka_unit_test(test_proxy_v1),
	    cmocka_unit_test(test_proxy_v2),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
