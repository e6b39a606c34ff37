/*
 * sv_cycle.c: the supervisor's life (sv_cycle.h). The listening socket is
 * bound before any worker exists, so workers inherit it and a worker
 * restart never refuses a connect. A reload is a transaction: the new
 * generation is built whole by sv_config_load or not at all, and only
 * then replaces the running one, reaches the workers (CONFIG) and starts
 * or stops worker slots for a new worker count. Every 10 s the engine is
 * swept: expired sessions and replay entries go, and idle rooms with no
 * history and no one present are forgotten.
 */
#include "sv_cycle.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../proto/log.h"
#include "sv.h"
#include "sv_admin.h"
#include "sv_ctl.h"
#include "sv_dispatch.h"
#include "sv_route.h"
#include "sv_listen.h"
#include "sv_notify.h"
#include "sv_session.h"
#include "sv_state.h"

#define LISTEN_BACKLOG 4096
#define SWEEP_INTERVAL 10.
#define DEDUPE_MAX 65536
#define DEDUPE_WINDOW_MS (120 * 1000)
#define DRAIN_POLL_S 0.05
#define ROLL_POLL_S 0.05
#define TICKET_ROTATE_S 3600. /* the workers accept two keys' tickets */

static void on_roll(struct ev_loop *loop, ev_timer *t, int revents);
static void notify_reloaded(struct sv *sv);

/*
 * Give c the running ticket keys, so that a new generation seals and
 * opens tickets as the last one did. Returns WSD_OK or WSD_ENOMEM.
 */
static int
tickets_install(struct sv *sv, struct sv_config *c)
{
	const struct setting_row *r =
	    settings_find(settings_worker, settings_worker_n, "tls:tickets");
	int i;

	setting_list_clear(r, &c->w);
	for (i = 0; i < 2; i++)
		if (sv->tickets[i][0] != '\0' &&
		    setting_set_str(r, &c->w, sv->tickets[i], 160) != WSD_OK)
			return WSD_ENOMEM;
	return WSD_OK;
}

/* n random bytes (at most 80) as 2n hex digits and a NUL in out: a key
 * for the workers. WSD_OK, or WSD_EINVAL without random bytes. */
static int
random_hex(char *out, size_t n)
{
	unsigned char k[80];
	size_t i;

	if (n > sizeof(k) || RAND_bytes(k, (int)n) != 1)
		return WSD_EINVAL;
	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", k[i]);
	OPENSSL_cleanse(k, sizeof(k));
	return WSD_OK;
}

/* A new current ticket key; the current one stays to open tickets. */
static int
tickets_rotate(struct sv *sv)
{
	char next[sizeof(sv->tickets[0])];

	if (random_hex(next, 80) != WSD_OK)
		return WSD_EINVAL;
	memcpy(sv->tickets[1], sv->tickets[0], sizeof(sv->tickets[1]));
	memcpy(sv->tickets[0], next, sizeof(next));
	OPENSSL_cleanse(next, sizeof(next));
	return tickets_install(sv, sv->cfg);
}

/* Give c the demo key. Returns WSD_OK or WSD_ENOMEM. */
static int
demo_key_install(struct sv *sv, struct sv_config *c)
{
	const struct setting_row *r =
	    settings_find(settings_worker, settings_worker_n, "demo:key");

	return setting_set_str(r, &c->w, sv->demo_key, strlen(sv->demo_key)) ==
		       WSD_OK
		   ? WSD_OK
		   : WSD_ENOMEM;
}

/* Draw the demo key, once, at start: 32 random bytes. */
static int
demo_key_make(struct sv *sv)
{
	if (random_hex(sv->demo_key, 32) != WSD_OK)
		return WSD_EINVAL;
	return demo_key_install(sv, sv->cfg);
}

static void
on_ticket_rotate(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct sv *sv = ev_userdata(loop);

	(void)t;
	(void)revents;
	if (tickets_rotate(sv) != WSD_OK) {
		log_error("tls_tickets_failed", "error=%s",
			  log_q("cannot make a key"));
		return;
	}
	log_info("tls_tickets_rotated", "generation=%u", sv->cfg->generation);
	sv_workers_configure(sv);
}

static const struct sv_ctl_actions ctl_actions = {
    .reload = sv_cycle_reload,
    .drain = sv_cycle_drain,
};

static int
make_run_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		log_error("run_dir_failed", "path=%s error=%s", log_q(dir),
			  log_q(strerror(errno)));
		return WSD_EINVAL;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		log_error("run_dir_failed", "path=%s error=%s", log_q(dir),
			  log_q("not a directory"));
		return WSD_EINVAL;
	}
	if (st.st_uid == geteuid() && chmod(dir, 0700) != 0) {
		log_error("run_dir_failed", "path=%s error=%s", log_q(dir),
			  log_q(strerror(errno)));
		return WSD_EINVAL;
	}
	return WSD_OK;
}

/* Write the pidfile whole or not at all: a reader never sees it empty. */
static int
write_pidfile(const char *path)
{
	char tmp[4200];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		goto fail;
	fprintf(f, "%d\n", (int)getpid());
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		goto fail;
	}
	return WSD_OK;
fail:
	log_error("pidfile_failed", "path=%s error=%s", log_q(path),
		  log_q(strerror(errno)));
	return WSD_EINVAL;
}

/*
 * Point stderr (every process's log) at log_file, appending; with an
 * empty log_file a daemon logs nowhere and a foreground wsd keeps its
 * stderr. Called at start and on reload, so rotation is: move the file,
 * then SIGHUP. Returns WSD_OK or WSD_EINVAL (stderr unchanged; logged).
 */
static int
open_log(const char *log_file, int daemon)
{
	const char *path = log_file[0] ? log_file : "/dev/null";

	if (!log_file[0] && !daemon)
		return WSD_OK;
	if (log_reopen(path) != 0) {
		log_error("log_file_failed", "path=%s error=%s", log_q(path),
			  log_q(strerror(errno)));
		return WSD_EINVAL;
	}
	return WSD_OK;
}

/* Fork into the background; the parent exits, the child leads a session
 * with stdin and stdout on /dev/null (stderr waits for open_log). */
static int
daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return WSD_EINVAL;
	if (pid > 0)
		_exit(0);
	setsid();
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (fd > 2)
			close(fd);
	}
	return WSD_OK;
}

/* Is room a connected user's personal room? (Its history is kept.) */
static int
room_in_use(void *arg, const char *room)
{
	struct sv *sv = arg;

	return sv_reg_room_user(&sv->reg, room) != NULL;
}

static void
on_sweep(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct sv *sv = ev_userdata(loop);
	const struct sv_config *c = sv->cfg;
	struct sv_connrate_limits l;

	(void)t;
	(void)revents;
	sv->eng.ops->sweep(&sv->eng, wall_ms(), c->replay_ttl_ms, room_in_use,
			   sv);
	if (sv->eng.ops->counts != NULL)
		sv->eng.ops->counts(&sv->eng, sv->reg.nconns,
				    HASH_COUNT(sv->reg.users));
	sv_connrate_limits(&l, c->connect_rate, c->connect_burst,
			   c->connect_rate_per_address,
			   c->connect_burst_per_address);
	sv_connrate_sweep(&sv->connrate, &l, ev_now(loop));
}

static void
engine_limits(const struct sv_config *c, struct sv_eng_limits *l)
{
	l->replay_size = c->replay_size;
	l->replay_ttl_ms = c->replay_ttl_ms;
	l->replay_max_bytes = c->replay_max_bytes;
	l->max_rooms = c->max_rooms;
	l->sessions_max = c->sessions_max;
	l->sessions_max_bytes = c->sessions_max_bytes;
}

/* The state file of a clean stop, and the periodic snapshot. */
static void
state_path(const struct sv_config *c, int snapshot, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", c->state_dir,
		 snapshot ? "wsd.snapshot" : "wsd.state");
}

/* One line of event (the step: "state_loaded", ...) with what the engine
 * holds; more adds fields (" key=value ..." or ""). */
static void
log_state(struct sv *sv, const char *event, const char *path, const char *more)
{
	struct sv_eng_stats st;

	memset(&st, 0, sizeof(st));
	sv->eng.ops->stats(&sv->eng, &st);
	log_info(event,
		 "path=%s rooms=%llu replay_entries=%llu sessions=%llu%s",
		 log_q(path), (unsigned long long)st.rooms,
		 (unsigned long long)st.replay_entries,
		 (unsigned long long)st.sessions, more);
}

/*
 * Load one state file into the (empty) engine, and move it aside so that
 * it is never loaded twice (its seqs would be behind). Returns WSD_OK,
 * WSD_ENOENT (no file), or an error after which the engine is empty
 * again (reported: the daemon starts without it).
 */
static int
state_load_file(struct sv *sv, const struct sv_eng_limits *lim,
		const char *path)
{
	char aside[4220], err[512];
	msgpack_unpacked u;
	const void *payload;
	const char *why = "not one msgpack object";
	size_t plen, off = 0;
	void *buf;
	int rc;

	rc = sv_state_read(path, &buf, &payload, &plen, err, sizeof(err));
	if (rc == WSD_ENOENT)
		return rc;
	if (rc != WSD_OK) {
		log_warn("state_ignored", "error=%s", log_q(err));
		return rc;
	}
	msgpack_unpacked_init(&u);
	rc = msgpack_unpack_next(&u, payload, plen, &off) ==
			 MSGPACK_UNPACK_SUCCESS &&
		     off == plen
		 ? sv->eng.ops->restore(&sv->eng, &u.data, &why)
		 : WSD_EPROTO;
	msgpack_unpacked_destroy(&u);
	free(buf);
	snprintf(aside, sizeof(aside), "%s.loaded", path);
	rename(path, aside);
	if (rc != WSD_OK) {
		log_warn("state_ignored", "path=%s error=%s", log_q(path),
			 log_q(why));
		sv->eng.ops->close(&sv->eng);
		sv_mem_open(&sv->eng, lim);
	}
	return rc;
}

/*
 * At start: the state file of the last clean stop, or else the last
 * snapshot (the supervisor died without a stop). What was published
 * after a snapshot is unknown, so its rooms get new epochs: a client
 * that resumes learns that its history broke (recovered: false), and
 * its session comes back all the same. A missing file is normal; a bad
 * one is reported and the daemon starts without it.
 */
static void
state_load(struct sv *sv, const struct sv_eng_limits *lim)
{
	char path[4200];
	int rc;

	state_path(sv->cfg, 0, path, sizeof(path));
	rc = state_load_file(sv, lim, path);
	if (rc == WSD_OK) {
		log_state(sv, "state_loaded", path, "");
		state_path(sv->cfg, 1, path, sizeof(path));
		unlink(path); /* older than the clean stop */
		return;
	}
	state_path(sv->cfg, 1, path, sizeof(path));
	if (state_load_file(sv, lim, path) != WSD_OK)
		return;
	sv->eng.ops->new_epochs(&sv->eng);
	/* The last stop was not clean: every room has a new epoch. */
	log_state(sv, "snapshot_loaded", path, " new_epochs=true");
}

/*
 * Write what the engine holds, with the session of every connected
 * client, to the state file (snapshot: to the snapshot file, which a
 * clean stop then removes). Returns how many sessions were saved, or -1
 * (nothing was; logged).
 */
static long long
state_save(struct sv *sv, int snapshot)
{
	struct sv_eng_stats st;
	long long saved = -1;
	uint32_t nlive = 0;
	char path[4200], err[512], more[96];
	msgpack_sbuffer sb;
	msgpack_packer pk;

	state_path(sv->cfg, snapshot, path, sizeof(path));
	if (mkdir(sv->cfg->state_dir, 0700) != 0 && errno != EEXIST) {
		log_error("state_dir_failed", "path=%s error=%s",
			  log_q(sv->cfg->state_dir), log_q(strerror(errno)));
		return -1;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (sv_session_dump(sv, &pk, &nlive) != WSD_OK) {
		log_error("state_save_failed", "error=%s",
			  log_q("out of memory"));
	} else if (sv_state_write(path, sb.data, sb.size, err, sizeof(err)) !=
		   WSD_OK) {
		log_error("state_save_failed", "error=%s", log_q(err));
	} else {
		memset(&st, 0, sizeof(st));
		sv->eng.ops->stats(&sv->eng, &st);
		saved = (long long)(st.sessions + nlive);
		snprintf(more, sizeof(more), " live_sessions=%u bytes=%zu",
			 nlive, sb.size);
		if (snapshot)
			log_debug("snapshot_saved", "path=%s bytes=%zu",
				  log_q(path), sb.size);
		else
			log_state(sv, "state_saved", path, more);
	}
	msgpack_sbuffer_destroy(&sb);
	/* The snapshot is older than a state file just written; without one,
	 * it is all there is. */
	if (!snapshot && saved >= 0) {
		state_path(sv->cfg, 1, path, sizeof(path));
		unlink(path);
	}
	return saved;
}

static void
on_snapshot(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	state_save(ev_userdata(loop), 1);
}

/* Snapshots every state_snapshot_ms (0: none), from now on. */
static void
snapshot_schedule(struct sv *sv)
{
	ev_timer_stop(sv->loop, &sv->snapshot_timer);
	/* A shared engine keeps its state in Redis as it goes. */
	if (sv->cfg->state_snapshot_ms == 0 ||
	    sv->cfg->engine == SV_ENGINE_REDIS)
		return;
	ev_timer_set(&sv->snapshot_timer,
		     (double)sv->cfg->state_snapshot_ms / 1000.,
		     (double)sv->cfg->state_snapshot_ms / 1000.);
	ev_timer_start(sv->loop, &sv->snapshot_timer);
}

/*
 * The configured engine: memory, with the state file of the last stop
 * loaded into it, or Redis, whose state is in Redis (a stop's state file
 * is not read). WSD_OK, or an error logged.
 */
static int
engine_open(struct sv *sv, const struct sv_eng_limits *lim)
{
	const char *why = "out of memory";

	if (sv->cfg->engine == SV_ENGINE_REDIS) {
		if (sv_reng_open(&sv->eng, lim, sv->loop, sv->cfg, &why) ==
		    WSD_OK)
			return WSD_OK;
		log_error("engine_failed", "engine=redis error=%s", log_q(why));
		return WSD_EINVAL;
	}
	if (sv_mem_open(&sv->eng, lim) != WSD_OK) {
		log_error("engine_failed", "engine=memory error=%s",
			  log_q(why));
		return WSD_ENOMEM;
	}
	state_load(sv, lim);
	return WSD_OK;
}

/*
 * With no sessions.keys, the resume token key comes from the key file;
 * when there is none yet, one is made with a random key (mode 0600), so
 * that tokens outlive the process.
 */
static int
ensure_key_file(struct sv_config *c)
{
	unsigned char rnd[32];
	char line[128], err[512];
	size_t i;
	int fd, n, rc;

	if (c->keys.n > 0)
		return WSD_OK;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return WSD_EAGAIN;
	n = snprintf(line, sizeof(line), "k1 ");
	for (i = 0; i < sizeof(rnd); i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%02x",
			      rnd[i]);
	line[n++] = '\n';
	OPENSSL_cleanse(rnd, sizeof(rnd));
	fd = open(c->key_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		rc = write(fd, line, (size_t)n) == n ? WSD_OK : WSD_EINVAL;
		close(fd);
		if (rc != WSD_OK) {
			unlink(c->key_file);
			log_error("key_file_failed", "path=%s error=%s",
				  log_q(c->key_file), log_q("cannot write"));
			return rc;
		}
		log_info("key_file_created", "path=%s", log_q(c->key_file));
	} else if (errno != EEXIST) {
		log_error("key_file_failed", "path=%s error=%s",
			  log_q(c->key_file), log_q(strerror(errno)));
		return WSD_EINVAL;
	}
	OPENSSL_cleanse(line, sizeof(line));
	if (sv_config_read_key_file(c, err, sizeof(err)) != WSD_OK) {
		log_error("key_file_failed", "error=%s", log_q(err));
		return WSD_EINVAL;
	}
	return WSD_OK;
}

int
sv_cycle_start(struct sv *sv, int daemon)
{
	struct sv_eng_limits lim;
	int n;

	sv->listeners.n = 0;
	sv->started_ms = wall_ms();
	sv->daemon = daemon;
	sv_registry_init(&sv->reg);
	sv_drain_init(sv);
	sv_connrate_init(&sv->connrate);
	sv_dedupe_init(&sv->dedupe, DEDUPE_MAX, DEDUPE_WINDOW_MS);
	ev_timer_init(&sv->sweep_timer, on_sweep, SWEEP_INTERVAL,
		      SWEEP_INTERVAL);
	ev_timer_init(&sv->roll_timer, on_roll, 0., ROLL_POLL_S);
	ev_timer_init(&sv->snapshot_timer, on_snapshot, 0., 0.);
	sv->roll_slot = -1;
	if (make_run_dir(sv->cfg->run_dir) != WSD_OK)
		return WSD_EINVAL;
	if (sv_listen_open_all(sv->cfg->listen, LISTEN_BACKLOG, &sv->listeners,
			       NULL, 0) != WSD_OK)
		return WSD_EINVAL;
	if (daemon && daemonize() != WSD_OK)
		return WSD_EINVAL;
	if (open_log(sv->cfg->w.log_file, daemon) != WSD_OK)
		return WSD_EINVAL;
	if (daemon) {
		if (write_pidfile(sv->cfg->pidfile) != WSD_OK)
			return WSD_EINVAL;
		sv->pidfile_written = 1;
	}
	n = (int)readlink("/proc/self/exe", sv->self_exe,
			  sizeof(sv->self_exe) - 1);
	if (n <= 0)
		return WSD_EINVAL;
	sv->self_exe[n] = '\0';
	if (ensure_key_file(sv->cfg) != WSD_OK)
		return WSD_EINVAL;
	if (tickets_rotate(sv) != WSD_OK || demo_key_make(sv) != WSD_OK)
		return WSD_EINVAL;
	ev_timer_init(&sv->ticket_timer, on_ticket_rotate, TICKET_ROTATE_S,
		      TICKET_ROTATE_S);
	ev_timer_start(sv->loop, &sv->ticket_timer);
	engine_limits(sv->cfg, &lim);
	if (engine_open(sv, &lim) != WSD_OK)
		return WSD_EINVAL;
	sv_route_attach(sv);
	if (sv_ctl_start(sv, &ctl_actions) != WSD_OK ||
	    sv_admin_start(sv) != WSD_OK)
		return WSD_ECLOSED;
	sv_workers_init(sv, sv_dispatch_msg, sv_dispatch_exit);
	sv_workers_want(sv, sv->cfg->workers);
	ev_timer_start(sv->loop, &sv->sweep_timer);
	snapshot_schedule(sv);
	sv->up = 1;
	log_info(
	    "started",
	    "version=%s listen=%s ws_path=%s workers=%d admin=%s "
	    "control=%s",
	    log_q(WSD_VERSION), log_q(sv->cfg->listen),
	    log_q(sv->cfg->w.ws_path), sv->cfg->workers,
	    log_q(sv->cfg->admin_listen[0] ? sv->cfg->admin_listen : "off"),
	    log_q(sv->cfg->control_socket));
	return WSD_OK;
}

/* Keys a running daemon cannot change: a reload refuses them. */
static const char *const restart_keys[] = {
    "run_dir",	    "control_socket",	"admin_listen",
    "pidfile",	    "engine",		"redis.addresses",
    "redis.prefix", "redis.timeout_ms", "redis.node_ttl_ms",
    "node_id"};

/* A reload's report: a line per changed key, with how it was applied. */
struct report {
	char *buf;
	size_t len, used;
	struct sv_listeners lnew; /* the new listeners (n 0: none) */
	const char *listen_why;	  /* why a new listener was refused */
	unsigned nchanges;
};

static int
is_restart_key(const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(restart_keys) / sizeof(restart_keys[0]); i++)
		if (strcmp(key, restart_keys[i]) == 0)
			return 1;
	return 0;
}

static void
report_change(void *arg, const char *key, const char *from, const char *to)
{
	struct report *r = arg;
	char how[320];
	int n;

	if (is_restart_key(key))
		snprintf(how, sizeof(how), "refused (needs a restart)");
	else if (strcmp(key, "listen") == 0 && r->lnew.n == 0)
		snprintf(how, sizeof(how), "refused (%s)", r->listen_why);
	else if (strcmp(key, "listen") == 0 || strcmp(key, "workers") == 0)
		snprintf(how, sizeof(how), "rolled");
	else
		snprintf(how, sizeof(how), "live");
	r->nchanges++;
	if (r->used + 1 >= r->len)
		return;
	n = snprintf(r->buf + r->used, r->len - r->used, "%s%s %s -> %s: %s",
		     r->used ? "\n" : "", key, from, to, how);
	r->used = n < 0 ? r->used : r->used + (size_t)n;
	if (r->used >= r->len)
		r->used = r->len - 1;
}

/* Is a reload's roll still going: a slot to move onto the new listener,
 * or one stopping for a smaller worker count? */
static int
rolling(struct sv *sv)
{
	int i;

	if (sv->roll_mask != 0 || sv->roll_slot >= 0)
		return 1;
	for (i = 0; i < SV_MAX_WORKERS; i++)
		if (sv->workers.slot[i].state == SV_SLOT_STOPPING)
			return 1;
	return 0;
}

/*
 * The roll onto a new listener, one slot at a time so that the others
 * serve meanwhile: the slot's worker is restarted (it drains: its
 * clients are told to go and resume elsewhere), and the next slot's turn
 * comes once its successor is ready, or the slot gave up (failed,
 * stopped).
 */
static void
on_roll(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct sv *sv = ev_userdata(loop);
	struct sv_worker *w;
	int i;

	(void)revents;
	if (sv->roll_slot >= 0) {
		w = sv_worker_get(sv, sv->roll_slot);
		if (w->pid == sv->roll_pid && w->state != SV_SLOT_FAILED &&
		    w->state != SV_SLOT_STOPPED)
			return;
		if (w->state != SV_SLOT_READY && w->state != SV_SLOT_FAILED &&
		    w->state != SV_SLOT_STOPPED)
			return;
		log_info("roll_worker_state",
			 "worker=%d state=%s worker_pid=%d", w->id,
			 sv_slot_state_name(w->state), (int)w->pid);
		sv->roll_slot = -1;
	}
	for (i = 0; i < SV_MAX_WORKERS && sv->roll_mask != 0; i++) {
		uint64_t bit = 1ull << i;

		if (!(sv->roll_mask & bit))
			continue;
		sv->roll_mask &= ~bit;
		w = sv_worker_get(sv, i);
		if (w->pid <= 0 || w->state == SV_SLOT_STOPPING)
			continue;
		sv->roll_slot = i;
		sv->roll_pid = w->pid;
		log_info("roll_restart", "worker=%d worker_pid=%d", i,
			 (int)w->pid);
		sv_worker_restart(sv, w);
		return;
	}
	if (sv->roll_slot < 0 && sv->roll_mask == 0) {
		ev_timer_stop(loop, t);
		log_info("roll_done", "generation=%u", sv->cfg->generation);
		if (sv->ready_pending) {
			sv->ready_pending = 0;
			notify_reloaded(sv);
		}
	}
}

/*
 * Move to the new listener fd: the old one is closed here (the workers
 * that hold it keep it until they drain), and every slot with a process
 * is rolled.
 */
static void
roll_listener(struct sv *sv, const struct sv_listeners *l)
{
	int i;

	sv_listen_close_all(&sv->listeners);
	sv->listeners = *l;
	for (i = 0; i < SV_MAX_WORKERS; i++)
		if (sv->workers.slot[i].pid > 0)
			sv->roll_mask |= 1ull << i;
	ev_timer_start(sv->loop, &sv->roll_timer);
}

/*
 * The reload itself, once it may go ahead: a new generation, or none and
 * the reason in msg. Returns what sv_cycle_reload returns.
 */
static int
reload(struct sv *sv, char *msg, size_t len)
{
	struct report rep = {msg, len, 0, {0, {0}}, "", 0};
	char err[512], why[300];
	struct sv_eng_limits lim;
	struct sv_config *next;
	size_t i;
	int rc = WSD_OK;

	/* The command line's overrides hold across reloads. */
	next = sv_config_load(sv->cfg->path, &sv->ov, err, sizeof(err));
	if (next == NULL) {
		snprintf(msg, len, "reload failed, keeping generation %u: %s",
			 sv->cfg->generation, err);
		log_error("reload_failed", "generation=%u error=%s",
			  sv->cfg->generation, log_q(err));
		return WSD_EINVAL;
	}
	if (next->keys.n == 0 && ensure_key_file(next) != WSD_OK) {
		sv_config_free(next);
		snprintf(msg, len, "reload failed: no resume token key");
		return WSD_EINVAL;
	}
	if (tickets_install(sv, next) != WSD_OK ||
	    demo_key_install(sv, next) != WSD_OK)
		rc = WSD_ENOMEM;
	why[0] = '\0';
	if (strcmp(next->listen, sv->cfg->listen) != 0) {
		sv_listen_open_all(next->listen, LISTEN_BACKLOG, &rep.lnew, why,
				   sizeof(why));
		rep.listen_why = why;
	}
	msg[0] = '\0';
	sv_config_changes(sv->cfg, next, report_change, &rep);
	/* What cannot change keeps its running value. */
	for (i = 0; i < sizeof(restart_keys) / sizeof(restart_keys[0]); i++)
		if (sv_config_keep(next, sv->cfg, restart_keys[i]) != WSD_OK)
			rc = WSD_ENOMEM;
	/* New addresses that could not be bound: the running listeners stay,
	 * with the certificates that go with them. */
	if (rep.lnew.n == 0 && strcmp(next->listen, sv->cfg->listen) != 0 &&
	    sv_config_keep_listeners(next, sv->cfg) != WSD_OK)
		rc = WSD_ENOMEM;
	/* The running admin_listen, kept, may be beyond loopback while the
	 * file's (loopback) one let it drop the key. */
	if (rc == WSD_OK &&
	    sv_config_check_admin(next,
				  sv->cfg->path ? sv->cfg->path : "(defaults)",
				  err, sizeof(err)) != WSD_OK) {
		sv_listen_close_all(&rep.lnew);
		sv_config_free(next);
		snprintf(msg, len, "reload failed, keeping generation %u: %s",
			 sv->cfg->generation, err);
		log_error("reload_failed", "generation=%u error=%s",
			  sv->cfg->generation, log_q(err));
		return WSD_EINVAL;
	}
	if (rc != WSD_OK) {
		sv_listen_close_all(&rep.lnew);
		sv_config_free(next);
		snprintf(msg, len, "reload failed: out of memory");
		return rc;
	}
	if (rep.nchanges == 0)
		snprintf(msg, len, "nothing");
	next->generation = sv->cfg->generation + 1;
	sv_config_free(sv->cfg);
	sv->cfg = next;
	log_set_level((enum log_level)next->w.log_level);
	log_set_format((enum log_format)next->w.log_format);
	open_log(next->w.log_file, sv->daemon);
	engine_limits(next, &lim);
	sv->eng.ops->set_limits(&sv->eng, &lim);
	sv_workers_configure(sv);
	snapshot_schedule(sv);
	if (rep.lnew.n > 0)
		roll_listener(sv, &rep.lnew);
	sv_workers_want(sv, next->workers);
	log_info("reloaded", "generation=%u changes=%u", next->generation,
		 rep.nchanges);
	for (i = 0; rep.nchanges > 0 && msg[i] != '\0';) {
		size_t n = strcspn(msg + i, "\n");

		log_info("reload_change", "change=%s", log_qn(msg + i, n));
		i += n + (msg[i + n] == '\n');
	}
	return WSD_OK;
}

/* READY=1 again after a reload, with the generation that runs. */
static void
notify_reloaded(struct sv *sv)
{
	char status[64];

	snprintf(status, sizeof(status), "generation %u", sv->cfg->generation);
	sv_notify_ready(status);
}

/*
 * The service manager hears RELOADING=1 when a reload starts and READY=1
 * when it is over: at once when the new generation is applied or was
 * refused (the running one serves on), or, when the reload rolls the
 * workers onto a new listener, when the roll is done (on_roll). Before
 * the first READY=1 (the workers are still starting) and while draining
 * (STOPPING=1 went out) it hears nothing. A reload refused because the
 * last one still rolls adds nothing either when that one's READY=1 is
 * still to come.
 */
void
sv_cycle_reopen_log(struct sv *sv)
{
	if (sv->cfg->w.log_file[0] == '\0')
		return;
	if (open_log(sv->cfg->w.log_file, sv->daemon) == WSD_OK)
		log_info("log_reopened", "path=%s", log_q(sv->cfg->w.log_file));
	sv_workers_reopen_log(sv);
}

int
sv_cycle_reload(struct sv *sv, char *msg, size_t len)
{
	int notify =
	    sv_notify_was_ready() && !sv->draining && !sv->ready_pending;
	int rc;

	if (notify)
		sv_notify_reloading();
	if (sv->draining) {
		snprintf(msg, len, "reload refused: the daemon is draining");
		log_warn("reload_refused", "reason=%s", log_q(msg));
		rc = WSD_EAGAIN;
	} else if (rolling(sv)) {
		snprintf(msg, len,
			 "reload refused: the last reload is still rolling "
			 "the workers; try again when `wsctl workers` shows "
			 "them ready");
		log_warn("reload_refused", "reason=%s", log_q(msg));
		rc = WSD_EAGAIN;
	} else {
		rc = reload(sv, msg, len);
	}
	if (!notify)
		return rc;
	if (sv->roll_slot >= 0 || sv->roll_mask != 0)
		sv->ready_pending = 1;
	else
		notify_reloaded(sv);
	return rc;
}

/* Every client told (or gone): the workers are stopped, once. */
static void
drain_stop_workers(struct sv *sv)
{
	int i;

	if (sv->drain_stopping)
		return;
	sv->drain_stopping = 1;
	log_info("drain_told", "told=%llu",
		 (unsigned long long)(sv->drain.told - sv->drain_told0));
	/* From here on a connect is refused at once (the daemon is about to
	 * exit) rather than left in the listen queue to be reset later. */
	for (i = 0; i < sv->listeners.n; i++)
		shutdown(sv->listeners.fd[i], SHUT_RDWR);
	sv_workers_want(sv, 0);
}

/* When every client is told and gone, the workers go; when they are
 * gone, the loop ends. */
static void
on_drain_poll(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct sv *sv = ev_userdata(loop);

	(void)t;
	(void)revents;
	if (!sv->drain_stopping && sv_drain_idle(sv) && sv->reg.nconns == 0)
		drain_stop_workers(sv);
	if (sv->drain_stopping && sv_workers_running(sv) == 0)
		ev_break(loop, EVBREAK_ALL);
}

static void
on_drain_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	log_warn("drain_deadline", "%s", "");
	ev_break(loop, EVBREAK_ALL);
}

/*
 * A drain: new upgrades are refused (503 with Retry-After, as the
 * workers still answer), every client is told to go (sv_drain.c), and
 * when all have closed the workers are stopped; when they are gone the
 * loop ends (the state file is written at the stop).
 */
void
sv_cycle_drain(struct sv *sv, double timeout_s)
{
	char status[64];

	if (sv->draining) {
		log_warn("stop_forced", "%s", "");
		ev_break(sv->loop, EVBREAK_ALL);
		return;
	}
	sv->draining = 1;
	sv->ready_pending = 0;
	/* A roll in progress ends here: every worker goes anyway. */
	ev_timer_stop(sv->loop, &sv->roll_timer);
	sv->roll_mask = 0;
	sv->roll_slot = -1;
	if (timeout_s <= 0)
		timeout_s = (double)sv->cfg->w.drain_timeout_ms / 1000.;
	log_info("draining", "conns=%u deadline_s=%.1f", sv->reg.nconns,
		 timeout_s);
	snprintf(status, sizeof(status), "draining: %u connections",
		 sv->reg.nconns);
	sv_notify_stopping(status);
	sv->drain_total = sv->reg.nconns;
	sv->drain_told0 = sv->drain.told;
	sv_drain_conns(sv, -1);
	ev_timer_init(&sv->drain_timer, on_drain_deadline, timeout_s, 0.);
	ev_timer_start(sv->loop, &sv->drain_timer);
	ev_timer_init(&sv->drain_poll, on_drain_poll, DRAIN_POLL_S,
		      DRAIN_POLL_S);
	ev_timer_start(sv->loop, &sv->drain_poll);
}

void
sv_cycle_stop(struct sv *sv)
{
	uint32_t forced = sv->reg.nconns;
	long long saved = -1;

	if (sv->up)
		log_info("stopped", "conns=%u opened=%llu closed=%llu",
			 sv->reg.nconns,
			 (unsigned long long)sv->stats.conns_opened,
			 (unsigned long long)sv->stats.conns_closed);
	ev_timer_stop(sv->loop, &sv->sweep_timer);
	ev_timer_stop(sv->loop, &sv->roll_timer);
	ev_timer_stop(sv->loop, &sv->ticket_timer);
	ev_timer_stop(sv->loop, &sv->snapshot_timer);
	ev_timer_stop(sv->loop, &sv->drain_timer);
	ev_timer_stop(sv->loop, &sv->drain_poll);
	sv_drain_fini(sv);
	sv_workers_fini(sv);
	if (sv->up && sv->eng.ops != NULL)
		saved = state_save(sv, 0);
	if (sv->up && sv->draining)
		log_info("drained", "told=%llu clean=%u forced=%u saved=%lld",
			 (unsigned long long)(sv->drain.told - sv->drain_told0),
			 sv->drain_total > forced ? sv->drain_total - forced
						  : 0,
			 forced, saved < 0 ? 0 : saved);
	sv_admin_stop(sv);
	sv_ctl_stop(sv);
	sv_registry_fini(&sv->reg);
	sv_connrate_fini(&sv->connrate);
	if (sv->eng.ops != NULL)
		sv->eng.ops->close(&sv->eng);
	sv_dedupe_fini(&sv->dedupe);
	sv_listen_close_all(&sv->listeners);
	if (sv->pidfile_written)
		unlink(sv->cfg->pidfile);
}
