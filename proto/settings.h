/*
 * settings.h: the settings that cross from the supervisor to the workers,
 * described once.
 *
 * Each row of settings_worker[] gives one setting's config key, its kind,
 * where it lives in struct settings, its range and its default. From that
 * table alone the supervisor reads the key from the config file (with the
 * range check, and a message that names file and line), summarises what a
 * reload changed, and packs the CONFIG message; a worker checks every
 * value of a CONFIG message against the same rows and loads it into its
 * own struct settings. Adding a worker setting is one member of struct
 * settings, one row, and its use.
 *
 * The row type also describes the supervisor's own keys (sv_config.c), so
 * that one parser and one summary serve both.
 */
#ifndef WSD_SETTINGS_H
#define WSD_SETTINGS_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

enum setting_kind {
	SETTING_UINT, /* uint64_t in min..max */
	SETTING_INT,  /* int in min..max */
	SETTING_BOOL, /* int, 0 or 1 (true / false in the file) */
	SETTING_ENUM, /* int, an index into names (a name in the file) */
	SETTING_STR,  /* char * (owned), min..max bytes, no NUL */
	SETTING_LIST, /* struct setting_list: min..max strings of elem_max */
};

#define SETTING_SECRET 0x1u /* never shown: summaries print "*" */

struct setting_row {
	const char *key; /* dotted for groups: "heartbeat.interval_ms" */
	enum setting_kind kind;
	size_t off;	   /* of the value in the struct the table describes */
	uint64_t min, max; /* value, length (STR) or count (LIST) */
	uint64_t def;	   /* numbers */
	const char *sdef;  /* STR */
	const char *const *names; /* ENUM: names[0..max] */
	uint32_t elem_max;	  /* LIST: bytes per string */
	unsigned flags;
};

struct setting_list {
	uint32_t n;
	char **v; /* n strings, each owned */
};

/* The settings a worker applies; one CONFIG message carries them all. */
struct settings {
	uint64_t max_message_bytes;
	uint64_t max_header_bytes;
	uint64_t max_queue_bytes;
	uint64_t max_queue_msgs;
	int slow_policy; /* enum proto_slow_policy */
	uint64_t max_rooms_per_conn;
	uint64_t heartbeat_interval_ms;
	uint64_t heartbeat_timeout_ms;
	uint64_t handshake_timeout_ms;
	int allow_anonymous;
	int demo_page;
	int sse; /* the Server-Sent Events fallback (worker/wk_sse.c) */
	char *ws_path;
	char *echo_path;
	char *jwt_secret;
	struct setting_list origins;
	/* Tokens (proto/jwt.h): "KID:ALG:KEY" each, the files already read. */
	struct setting_list jwt_keys;
	uint64_t jwt_leeway_s;
	char *jwt_audience; /* "": not checked */
	char *jwt_issuer;   /* "": not checked */
	uint64_t jwt_info_max_bytes;
	/* A drain's wait for clients to close, the daemon's or one worker's. */
	uint64_t drain_timeout_ms;
	int log_level;	/* enum log_level */
	int log_format; /* enum log_format */
	char *log_file; /* "": stderr (the supervisor's with -d: /dev/null) */
	struct setting_list trusted_proxies;   /* CIDRs (proto/addr.h) */
	uint64_t rate_msgs, rate_msgs_burst;   /* per connection, per second */
	uint64_t rate_bytes, rate_bytes_burst; /* 0: no limit */
	uint64_t rate_grace_ms;
	struct setting_list room_policies; /* "PATTERN=POLICY" */
	uint64_t worker_queue_bytes;	   /* all queues together; 0: none */
	int proxy_header; /* trusted_proxies_header: 0 X-Forwarded-For, 1
			     Forwarded, 2 the PROXY protocol */
	/* compression.*: permessage-deflate (worker/wk_deflate.h). */
	int deflate;
	uint64_t deflate_window_bits, deflate_mem_level, deflate_level;
	uint64_t deflate_min_bytes;
	/* Not keys of the file (their names hold a ':', which libconfig
	 * names cannot), filled by the supervisor. tls_certs: one element
	 * per certificate of a TLS listener, "INDEX\n" (the listener's
	 * index among the client listeners) then the PEM of the chain and
	 * of its private key, as the supervisor read and checked them.
	 * tls_tickets: the session ticket keys, 160 hex digits each (name,
	 * AES key, HMAC key), the first one current. */
	struct setting_list tls_certs;
	struct setting_list tls_tickets;
	/* demo:key, filled by the supervisor too: the demo key, 32 bytes
	 * it draws at start (64 hex digits), that signs and alone verifies
	 * the demo page's tokens (kid "demo", proto/jwt.h). Never saved:
	 * every start makes a new one. "": none. */
	char *demo_key;
};

/* The names of enum proto_slow_policy, in order. */
extern const char *const proto_slow_names[];

/*
 * Read one room_policies entry "PATTERN=POLICY" (the last '=' splits):
 * the pattern's length in *patlen and the policy in *policy. Returns 0,
 * or -1 with the reason in *why.
 */
int settings_room_policy(const char *entry, size_t *patlen, int *policy,
			 const char **why);

extern const struct setting_row settings_worker[];
extern const size_t settings_worker_n;

/*
 * Give every row of rows[0..n) its default in the struct at base (strings
 * are copied). Whatever base held is overwritten, not freed. Returns
 * WSD_OK or WSD_ENOMEM; either way settings_free releases what base holds.
 */
int settings_init(const struct setting_row *rows, size_t n, void *base);

/* Free the strings and lists of rows[0..n) in base and zero them. */
void settings_free(const struct setting_row *rows, size_t n, void *base);

/* The row of key in rows[0..n), or NULL. */
const struct setting_row *settings_find(const struct setting_row *rows,
					size_t n, const char *key);

/*
 * Set a number row (UINT, INT, BOOL, ENUM) to v. Returns WSD_OK, or
 * WSD_EINVAL when v is out of the row's range (base untouched).
 */
int setting_set_num(const struct setting_row *r, void *base, uint64_t v);

/* The value of a number row as a uint64_t. */
uint64_t setting_get_num(const struct setting_row *r, const void *base);

/*
 * Set a STR row to s[0..len) (copied), or append it to a LIST row.
 * Returns WSD_OK, WSD_EINVAL when the string (or the list) breaks the
 * row's limits or holds a NUL (base untouched), or WSD_ENOMEM.
 */
int setting_set_str(const struct setting_row *r, void *base, const char *s,
		    size_t len);

/* Empty a LIST row (before it is set again). */
void setting_list_clear(const struct setting_row *r, void *base);

/* The index of name among an ENUM row's names, or WSD_EINVAL. */
int setting_enum_find(const struct setting_row *r, const char *name);

/* A row that differs: its key and both values as text. */
typedef void settings_diff_fn(void *arg, const char *key, const char *from,
			      const char *to);

/* Call fn for each row that differs between a and b, in table order.
 * Secrets show as "*", enums by name, lists as their length. */
void settings_each_diff(const struct setting_row *rows, size_t n, const void *a,
			const void *b, settings_diff_fn *fn, void *arg);

/*
 * Append to buf (a C string of len bytes) "key a -> b" for each row that
 * differs between a and b, separated by ", " (settings_each_diff's
 * text). Truncates at len.
 */
void settings_diff(const struct setting_row *rows, size_t n, const void *a,
		   const void *b, char *buf, size_t len);

/*
 * The CONFIG block: one msgpack array with a value per row of
 * settings_worker, in table order. Pack s; returns WSD_OK or WSD_ENOMEM
 * (the packer's write failed).
 */
int settings_pack(msgpack_packer *pk, const struct settings *s);

/*
 * Check a decoded CONFIG block: an array with exactly one value per row,
 * each of its row's kind and within its range. Returns WSD_OK or
 * WSD_EPROTO.
 */
int settings_check(const msgpack_object *o);

/*
 * Load a block that passed settings_check into out (zeroed first; strings
 * copied, so out outlives the message). Returns WSD_OK or WSD_ENOMEM (out
 * then holds a partial load that settings_free releases).
 */
int settings_load(struct settings *out, const msgpack_object *o);

#endif
