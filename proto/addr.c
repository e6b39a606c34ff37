/*
 * addr.c: trusted proxies and forwarded client addresses (addr.h).
 * inet_pton does the address syntax; this file does the lists, the
 * prefixes and the walk along a forwarding chain.
 */
#include "addr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHAIN_MAX 32 /* hops of a chain looked at, from the nearest */

static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int
is_v4(const struct addr_ip *ip)
{
	return memcmp(ip->b, v4_prefix, sizeof(v4_prefix)) == 0;
}

int
addr_parse_ip(const char *s, size_t len, struct addr_ip *out)
{
	char buf[ADDR_TEXT_MAX + 2];
	struct in_addr a4;

	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
		if (len == 0 || len >= sizeof(buf))
			return -1;
		memcpy(buf, s, len);
		buf[len] = '\0';
		return inet_pton(AF_INET6, buf, out->b) == 1 ? 0 : -1;
	}
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		memcpy(out->b, v4_prefix, sizeof(v4_prefix));
		memcpy(out->b + 12, &a4, 4);
		return 0;
	}
	return inet_pton(AF_INET6, buf, out->b) == 1 ? 0 : -1;
}

int
addr_parse_cidr(const char *s, struct addr_cidr *out, const char **why)
{
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long bits;
	char *end;

	if (addr_parse_ip(s, alen, &out->ip) != 0) {
		*why = "not an IPv4 or IPv6 address";
		return -1;
	}
	if (slash == NULL) {
		out->bits = 128;
		return 0;
	}
	bits = strtoul(slash + 1, &end, 10);
	if (slash[1] < '0' || slash[1] > '9' || *end != '\0' ||
	    bits > (is_v4(&out->ip) ? 32u : 128u)) {
		*why = "the prefix length is not 0-32 (IPv4) or 0-128 (IPv6)";
		return -1;
	}
	out->bits = (uint8_t)(is_v4(&out->ip) ? 96 + bits : bits);
	return 0;
}

int
addr_cidrs_parse(char *const *list, uint32_t n, struct addr_cidrs *out,
		 uint32_t *bad, const char **why)
{
	uint32_t i;

	out->n = 0;
	out->v = NULL;
	if (n == 0)
		return 0;
	if ((out->v = calloc(n, sizeof(*out->v))) == NULL)
		return -2;
	for (i = 0; i < n; i++) {
		if (addr_parse_cidr(list[i], &out->v[i], why) != 0) {
			*bad = i;
			addr_cidrs_free(out);
			return -1;
		}
	}
	out->n = n;
	return 0;
}

void
addr_cidrs_free(struct addr_cidrs *c)
{
	free(c->v);
	c->v = NULL;
	c->n = 0;
}

static int
in_block(const struct addr_cidr *c, const struct addr_ip *ip)
{
	unsigned full = c->bits / 8, rest = c->bits % 8;

	if (memcmp(c->ip.b, ip->b, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((c->ip.b[full] ^ ip->b[full]) &
		(uint8_t)(0xff << (8 - rest))) == 0;
}

int
addr_cidrs_match(const struct addr_cidrs *c, const struct addr_ip *ip)
{
	uint32_t i;

	for (i = 0; i < c->n; i++)
		if (in_block(&c->v[i], ip))
			return 1;
	return 0;
}

void
addr_format(const struct addr_ip *ip, char out[ADDR_TEXT_MAX])
{
	if (is_v4(ip))
		inet_ntop(AF_INET, ip->b + 12, out, ADDR_TEXT_MAX);
	else
		inet_ntop(AF_INET6, ip->b, out, ADDR_TEXT_MAX);
}

/* Trim spaces and tabs (and, for Forwarded, the quotes) around [*s, *e). */
static void
trim(const char **s, const char **e, int quotes)
{
	while (*s < *e && (**s == ' ' || **s == '\t'))
		(*s)++;
	while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
	if (quotes && *e - *s >= 2 && **s == '"' && (*e)[-1] == '"') {
		(*s)++;
		(*e)--;
	}
}

/*
 * One hop of a chain: an address, maybe with a port ("1.2.3.4:80",
 * "[::1]:80"). Returns 0 or -1 ("unknown", an obfuscated name, junk).
 */
static int
parse_hop(const char *s, const char *e, struct addr_ip *out)
{
	const char *colon;

	if (e > s && *s == '[') {
		const char *rb = memchr(s, ']', (size_t)(e - s));

		if (rb == NULL || (rb + 1 != e && rb[1] != ':'))
			return -1;
		return addr_parse_ip(s, (size_t)(rb + 1 - s), out);
	}
	colon = memchr(s, ':', (size_t)(e - s));
	/* One colon: IPv4 with a port; more: a bare IPv6 address. */
	if (colon != NULL &&
	    memchr(colon + 1, ':', (size_t)(e - colon - 1)) == NULL)
		e = colon;
	return addr_parse_ip(s, (size_t)(e - s), out);
}

/* The `for=` value of one Forwarded element [s, e), or -1. */
static int
forwarded_for(const char *s, const char *e, const char **vs, const char **ve)
{
	while (s < e) {
		const char *semi = memchr(s, ';', (size_t)(e - s));
		const char *pe = semi ? semi : e, *ps = s;

		trim(&ps, &pe, 0);
		if (pe - ps > 4 && strncasecmp(ps, "for=", 4) == 0) {
			*vs = ps + 4;
			*ve = pe;
			trim(vs, ve, 1);
			return 0;
		}
		s = semi ? semi + 1 : e;
	}
	return -1;
}

/*
 * The next hop of a header, walking from its right end (the nearest hop)
 * to the left: X-Forwarded-For is "a, b, c"; Forwarded is "for=a;by=x,
 * for=b". *e is where the walk stands (the end of what is left). Returns
 * 1 with *out set, 0 at the left end, -1 when the hop does not parse.
 */
static int
next_hop(const char *h, const char **e, int forwarded, struct addr_ip *out)
{
	const char *s = *e, *vs, *ve;

	if (*e <= h)
		return 0;
	while (s > h && s[-1] != ',')
		s--;
	vs = s;
	ve = *e;
	*e = s > h ? s - 1 : h;
	if (forwarded) {
		if (forwarded_for(s, ve, &vs, &ve) != 0)
			return -1;
	} else {
		trim(&vs, &ve, 0);
	}
	return parse_hop(vs, ve, out) == 0 ? 1 : -1;
}

#define PROXY_V1_MAX 107 /* "PROXY TCP6 " + two addresses, ports, CRLF */

static const uint8_t proxy_v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
					 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* v1: "PROXY TCP4|TCP6|UNKNOWN SRC DST SPORT DPORT\r\n". */
static int
proxy_v1(const uint8_t *p, size_t n, struct addr_ip *out, int *have)
{
	const uint8_t *cr =
	    memchr(p, '\r', n < PROXY_V1_MAX ? n : PROXY_V1_MAX);
	const char *s = (const char *)p + 6, *sp;
	size_t len;

	if (cr == NULL)
		return n < PROXY_V1_MAX ? 0 : -1;
	if ((size_t)(cr - p) + 1 >= n)
		return 0;
	if (cr[1] != '\n')
		return -1;
	len = (size_t)(cr - p);
	*have = 0;
	if (len >= 13 && memcmp(s, "UNKNOWN", 7) == 0)
		return (int)len + 2;
	if (len < 11 ||
	    (memcmp(s, "TCP4 ", 5) != 0 && memcmp(s, "TCP6 ", 5) != 0))
		return -1;
	s += 5;
	sp = memchr(s, ' ', (size_t)((const char *)cr - s));
	if (sp == NULL || addr_parse_ip(s, (size_t)(sp - s), out) != 0)
		return -1;
	*have = 1;
	return (int)len + 2;
}

/* v2: the signature, version and command, family, length, addresses. */
static int
proxy_v2(const uint8_t *p, size_t n, struct addr_ip *out, int *have)
{
	size_t total;

	if (n < 16)
		return 0;
	if ((p[12] & 0xf0) != 0x20 || (p[12] & 0x0f) > 1)
		return -1;
	total = 16 + (((size_t)p[14] << 8) | p[15]);
	if (n < total)
		return 0;
	*have = 0;
	if ((p[12] & 0x0f) == 1 && p[13] == 0x11 && total >= 16 + 12) {
		memcpy(out->b, v4_prefix, sizeof(v4_prefix));
		memcpy(out->b + 12, p + 16, 4);
		*have = 1;
	} else if ((p[12] & 0x0f) == 1 && p[13] == 0x21 && total >= 16 + 36) {
		memcpy(out->b, p + 16, 16);
		*have = 1;
	}
	return (int)total;
}

int
addr_proxy_parse(const uint8_t *p, size_t n, struct addr_ip *out, int *have)
{
	static const char v1[] = "PROXY ";
	size_t k;

	k = n < 6 ? n : 6;
	if (memcmp(p, v1, k) == 0)
		return k < 6 ? 0 : proxy_v1(p, n, out, have);
	k = n < 12 ? n : 12;
	if (memcmp(p, proxy_v2_sig, k) == 0)
		return k < 12 ? 0 : proxy_v2(p, n, out, have);
	return -1;
}

int
addr_forwarded_client(const struct addr_cidrs *trusted,
		      const struct addr_ip *peer, const char *xff, size_t xlen,
		      const char *fwd, size_t flen, struct addr_ip *out)
{
	const char *h = fwd != NULL ? fwd : xff;
	const char *e = h != NULL ? h + (fwd != NULL ? flen : xlen) : NULL;
	struct addr_ip hop;
	int n, rc;

	if (h == NULL || !addr_cidrs_match(trusted, peer))
		return 0;
	for (n = 0; n < CHAIN_MAX; n++) {
		rc = next_hop(h, &e, fwd != NULL, &hop);
		if (rc < 0 || (rc == 0 && n == 0))
			return 0;
		if (rc == 0)
			return 1; /* only trusted hops: the farthest one */
		*out = hop;
		if (!addr_cidrs_match(trusted, &hop))
			return 1;
	}
	return 1;
}
