/*
 * url.c: query value decoding (url.h).
 */
#include "url.h"

#include <openssl/crypto.h>

int
url_decode(const char *in, size_t len, char *out)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		int hi, lo;

		if (in[i] == '+') {
			out[n++] = ' ';
		} else if (in[i] != '%') {
			if (in[i] == '\0')
				return -1;
			out[n++] = in[i];
		} else if (i + 2 >= len ||
			   (hi = OPENSSL_hexchar2int(
				(unsigned char)in[i + 1])) < 0 ||
			   (lo = OPENSSL_hexchar2int(
				(unsigned char)in[i + 2])) < 0 ||
			   (hi == 0 && lo == 0)) {
			return -1;
		} else {
			out[n++] = (char)(hi << 4 | lo);
			i += 2;
		}
	}
	out[n] = '\0';
	return (int)n;
}
