/*
 * addr.h: client addresses: the trusted proxy list (addresses and CIDR
 * blocks, IPv4 and IPv6) and the client address a request carries when it
 * comes through such proxies (X-Forwarded-For, Forwarded). Pure: no
 * sockets, so the supervisor checks the config with the same parser the
 * workers apply, and each rule is tested alone (tests/unit/test_addr.c).
 *
 * The rule for a forwarded address, as nginx's real_ip_recursive: walk
 * the chain from the nearest hop (the TCP peer, then the list from its
 * right end) and take the first address that is not a trusted proxy; a
 * chain made only of trusted proxies gives its farthest address. A
 * malformed chain gives nothing, and the TCP peer stays the client.
 */
#ifndef WSD_ADDR_H
#define WSD_ADDR_H

#include <stddef.h>
#include <stdint.h>

#define ADDR_TEXT_MAX 46 /* INET6_ADDRSTRLEN */

/* An IPv4 address is held as ::ffff:a.b.c.d, so one form serves both. */
struct addr_ip {
	uint8_t b[16];
};

struct addr_cidr {
	struct addr_ip ip;
	uint8_t bits; /* prefix length over the 128 bits */
};

struct addr_cidrs {
	uint32_t n;
	struct addr_cidr *v;
};

/* Parse "1.2.3.4", "::1", "[::1]" (a bracketed IPv6 address).
 * Returns 0 or -1. */
int addr_parse_ip(const char *s, size_t len, struct addr_ip *out);

/* Parse "ADDR" or "ADDR/PREFIX" (IPv4 prefix 0-32, IPv6 0-128). Returns 0,
 * or -1 with a reason in *why. */
int addr_parse_cidr(const char *s, struct addr_cidr *out, const char **why);

/* Parse every element of list[0..n) into out (allocated; free with
 * addr_cidrs_free). Returns 0, -1 with *bad the index of the element that
 * does not parse and *why the reason, or -2 (out of memory). */
int addr_cidrs_parse(char *const *list, uint32_t n, struct addr_cidrs *out,
		     uint32_t *bad, const char **why);

void addr_cidrs_free(struct addr_cidrs *c);

/* Is ip inside one of the blocks? */
int addr_cidrs_match(const struct addr_cidrs *c, const struct addr_ip *ip);

/* ip as text: "1.2.3.4" for IPv4, the RFC 5952 form for IPv6. */
void addr_format(const struct addr_ip *ip, char out[ADDR_TEXT_MAX]);

/*
 * The client address of a request from the TCP peer `peer`, given its
 * X-Forwarded-For value (xff, xlen; NULL: none) and Forwarded value (fwd,
 * flen; NULL: none), by the rule above; Forwarded wins when both are
 * there. Returns 1 with *out set when the headers name the client, 0 when
 * the peer is not trusted, there are no such headers or they do not
 * parse (the peer is the client).
 */
int addr_forwarded_client(const struct addr_cidrs *trusted,
			  const struct addr_ip *peer, const char *xff,
			  size_t xlen, const char *fwd, size_t flen,
			  struct addr_ip *out);

/*
 * The PROXY protocol header (HAProxy's, v1 text or v2 binary) at the start
 * of p[0..n): returns the bytes it takes (> 0), with *have 1 and *out the
 * client's address (v1 TCP4/TCP6, v2 PROXY over TCP4/TCP6), or *have 0
 * (v1 UNKNOWN, v2 LOCAL or another family: the peer is the client);
 * 0 when p is a prefix of a header that is not whole yet; -1 when it is
 * not a PROXY header.
 */
int addr_proxy_parse(const uint8_t *p, size_t n, struct addr_ip *out,
		     int *have);

#endif
