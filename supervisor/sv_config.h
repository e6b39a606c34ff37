/*
 * sv_config.h: the parsed configuration, one generation at a time.
 *
 * The supervisor owns it. A generation is built whole by sv_config_load
 * (defaults, then the file, then command-line overrides) or not at all; a
 * reload that fails leaves the running generation untouched. The settings
 * workers apply are its member w, described by proto/settings.h's table
 * and sent as it stands in a PROTO_CONFIG message; the supervisor's own
 * keys are described by a table of the same kind in sv_config.c.
 */
#ifndef WSD_SV_CONFIG_H
#define WSD_SV_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "../proto/settings.h"
#include "sv_token.h"

#define SV_MAX_WORKERS 64
#define SV_LISTENERS_MAX 8 /* client listeners */
#define SV_CERTS_MAX 8	   /* certificates of one TLS listener (SNI) */

/*
 * One element of the file's `listeners`: an address, and for a TLS
 * listener the certificate chain and key files (the first pair is the
 * default; the others are chosen by SNI). The files are read and checked
 * at every load: what the workers get is their contents (w.tls_certs).
 */
struct sv_listener {
	char *listen;
	int tls;
	uint32_t ncerts;
	char *cert[SV_CERTS_MAX], *key[SV_CERTS_MAX];
	int line; /* of the element in the file, for messages */
};

struct sv_config {
	uint32_t generation;
	char *path; /* the file, or NULL when running on defaults */

	/* The supervisor's own keys (the table in sv_config.c). */
	char *listen; /* "ADDR:PORT", or the listeners' "ADDR:PORT,..." */
	int workers;
	int workers_auto; /* workers = "auto": sized when loaded (see
			     sv_config.c) */
	char *run_dir;
	char *control_socket;	  /* a filesystem path */
	char *admin_listen;	  /* "ADDR:PORT" or "" */
	char *admin_key;	  /* the admin API's bearer key, or "" */
	char *admin_key_file;	  /* read into admin_key when that is "" */
	int admin_metrics_public; /* /metrics without the key */
	char *pidfile;
	char *state_dir; /* the state file's directory ("": run_dir) */
	uint64_t state_snapshot_ms; /* a snapshot this often; 0: none */
	uint64_t max_connections;
	uint64_t max_connections_per_user;
	uint64_t max_connections_per_address; /* by client IP; 0: no limit */
	uint64_t connect_rate, connect_burst; /* new connections a second */
	uint64_t connect_rate_per_address, connect_burst_per_address;
	uint64_t max_rooms;
	uint64_t restart_max_exits, restart_window_ms; /* crash loops */
	uint64_t ready_min_workers; /* /ready wants this many READY */
	uint64_t drain_spread_ms;   /* reconnect delays spread over it */
	uint64_t replay_size, replay_ttl_ms, replay_max_bytes;
	uint64_t session_ttl_ms, sessions_max, sessions_max_bytes, token_ttl_ms;
	struct setting_list session_keys; /* "ID:SECRET" */
	char *key_file;			  /* used when session_keys is empty */
	struct setting_list presence_query, presence_announce; /* patterns */
	int engine;			     /* enum sv_engine_kind */
	struct setting_list redis_addresses; /* "HOST:PORT", the shards */
	char *redis_prefix;		     /* of every key and channel */
	uint64_t redis_timeout_ms;	     /* a reply later drops the link */
	uint64_t redis_node_ttl_ms; /* a silent node's presence expires */
	char *node_id;		    /* this node among others ("": HOST:PORT) */
	struct sv_keys keys;	    /* parsed from session_keys or key_file */

	/* The file's listeners (0: the one plain listener `listen`), in the
	 * order of listen's addresses. */
	struct sv_listener listeners[SV_LISTENERS_MAX];
	uint32_t nlisteners;
	int listen_in_file; /* the file set listen */

	/* What the workers get (proto/settings.h's settings_worker). */
	struct settings w;
};

enum sv_engine_kind { SV_ENGINE_MEMORY, SV_ENGINE_REDIS };

/* Command-line values that win over the file (NULL or 0: not given). */
struct sv_overrides {
	const char *listen;
	int workers;
	const char *control_socket;
	const char *admin_listen;
	const char *run_dir;
};

/*
 * Build a configuration: defaults, then the file at path (NULL: none),
 * then the overrides. Returns a new generation, or NULL with a message
 * "FILE:LINE: problem" (or "FILE: problem") in err.
 */
struct sv_config *sv_config_load(const char *path,
				 const struct sv_overrides *ov, char *err,
				 size_t errlen);

/*
 * (Re)read c's key file into c->keys. Returns WSD_OK, WSD_ENOENT (no such
 * file: keys empty), or WSD_EINVAL with "FILE:LINE: problem" in err.
 */
int sv_config_read_key_file(struct sv_config *c, char *err, size_t errlen);

/* Free a generation and every string it owns. NULL is allowed. */
void sv_config_free(struct sv_config *c);

/*
 * Whether c's admin listener may run: on a loopback address, or with
 * admin.key set. Returns WSD_OK, or WSD_EINVAL with a sentence that
 * starts with file and names admin_listen and admin.key in err. A reload checks
 * it again after it kept the running admin_listen, which the file's check did
 * not see.
 */
int sv_config_check_admin(const struct sv_config *c, const char *file,
			  char *err, size_t errlen);

/*
 * Give next the running value of the string key (a supervisor key such
 * as "listen" or "run_dir": a reload refused to change it). Returns
 * WSD_OK, WSD_ENOMEM, or WSD_EINVAL (no such string key).
 */
int sv_config_keep(struct sv_config *next, const struct sv_config *cur,
		   const char *key);

/*
 * Give next the running listeners: listen's addresses and the TLS
 * certificates that go with them (a reload could not bind the new
 * addresses). Returns WSD_OK or WSD_ENOMEM.
 */
int sv_config_keep_listeners(struct sv_config *next,
			     const struct sv_config *cur);

/* Call fn for every key whose value differs between a and b (the
 * supervisor's keys, then the worker settings; settings_each_diff). */
void sv_config_changes(const struct sv_config *a, const struct sv_config *b,
		       settings_diff_fn *fn, void *arg);

/*
 * Write a human summary of what differs between a and b into buf, e.g.
 * "workers 2 -> 4, heartbeat.interval_ms 25000 -> 1000", or "nothing".
 */
void sv_config_diff(const struct sv_config *a, const struct sv_config *b,
		    char *buf, size_t len);

/*
 * Split "ADDR:PORT" (ADDR may be "[v6]" or empty for all addresses).
 * Returns WSD_OK and fills host (at least 64 bytes) and port, or
 * WSD_EINVAL.
 */
int sv_parse_hostport(const char *s, char *host, size_t hostlen, int *port);

#define SV_HOSTPORT_MAX 300

/*
 * Split listen's "ADDR:PORT,ADDR:PORT,..." into out. Returns the number
 * of addresses (1 to SV_LISTENERS_MAX), or -1 when one is not ADDR:PORT
 * or there are too many.
 */
int sv_listen_split(const char *list,
		    char out[SV_LISTENERS_MAX][SV_HOSTPORT_MAX]);

#endif
