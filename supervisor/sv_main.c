/*
 * sv_main.c: the wsd entry point. In worker mode (`--worker`, used only
 * when the supervisor execs itself) it hands over to wk_main. Otherwise
 * it is the supervisor: parse the command line and config, bind the
 * client listener (before any worker exists, so workers inherit it and a
 * worker restart never refuses a connect), open the control socket and the
 * admin listener, spawn the workers and run the loop. Signals only set
 * flags or feed the loop (libev ev_signal): SIGHUP reloads, SIGTERM and
 * SIGINT drain and exit, a second one exits at once.
 */
#include "sv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "../proto/clock.h"
#include "../proto/log.h"
#include "../worker/wk.h"

#define ROOM_RETAIN_MS (10 * 60 * 1000)
#define DEDUPE_MAX 65536
#define DEDUPE_WINDOW_MS (120 * 1000)

static struct sv sv_global;

static int open_log(const char *log_file, int daemon);
static ev_signal sig_hup, sig_term, sig_int;
static ev_timer drain_timer;
static ev_timer drain_poll;

static void
usage(FILE *f)
{
	fprintf(f, "usage: wsd [-c FILE] [-l ADDR:PORT] [-w N] [-C PATH] "
		   "[-a ADDR:PORT] [-r DIR] [-d] [-t]\n"
		   "  -c FILE       config file (default: built-in defaults)\n"
		   "  -l ADDR:PORT  client listener\n"
		   "  -w N          worker processes\n"
		   "  -C PATH       control socket for wsctl\n"
		   "  -a ADDR:PORT  admin HTTP listener (\"\" to disable)\n"
		   "  -r DIR        run directory\n"
		   "  -d            daemonize and write the pidfile\n"
		   "  -t            check the config and exit\n");
}

int
sv_listen_open(const char *hostport, int backlog)
{
	struct addrinfo hints, *res = NULL, *ai;
	char host[256], port[16];
	int p, fd = -1, one = 1, rc;

	if (sv_parse_hostport(hostport, host, sizeof(host), &p) != 0) {
		log_error("%s is not ADDR:PORT", hostport);
		return -1;
	}
	snprintf(port, sizeof(port), "%d", p);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res)) !=
	    0) {
		log_error("%s: %s", hostport, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
			    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, backlog) == 0)
			break;
		log_error("cannot listen on %s: %s", hostport, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int
make_run_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		log_error("cannot create run_dir %s: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		log_error("run_dir %s is not a directory", dir);
		return -1;
	}
	if (st.st_uid == geteuid() && chmod(dir, 0700) != 0) {
		log_error("cannot chmod run_dir %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

static void
spawn_missing(struct sv *sv)
{
	int i;

	for (i = 0; i < sv->cfg->workers; i++) {
		struct sv_worker *w = &sv->workers[i];

		if (w->state == SV_W_EMPTY) {
			ev_timer_set(&w->restart_timer, 0., 0.);
			ev_timer_start(sv->loop, &w->restart_timer);
			w->state = SV_W_DEAD;
		}
	}
	for (i = sv->cfg->workers; i < SV_MAX_WORKERS; i++)
		if (sv->workers[i].pid > 0)
			kill(sv->workers[i].pid, SIGTERM);
}

int
sv_reload(struct sv *sv, char *msg, size_t len)
{
	struct sv_overrides none = {0};
	struct sv_config *next;
	char err[512];

	next = sv_config_load(sv->cfg->path, &none, err, sizeof(err));
	if (next == NULL) {
		snprintf(msg, len, "reload failed, keeping generation %u: %s",
			 sv->cfg->generation, err);
		log_error("%s", msg);
		return -1;
	}
	/* The listener and the paths keep their running values. */
	if (sv_config_keep_fixed(next, sv->cfg) != WSD_OK) {
		sv_config_free(next);
		snprintf(msg, len, "reload failed: out of memory");
		return -1;
	}
	next->generation = sv->cfg->generation + 1;
	sv_config_diff(sv->cfg, next, msg, len);
	sv_config_free(sv->cfg);
	sv->cfg = next;
	log_set_level((enum log_level)next->log_level);
	open_log(next->log_file, sv->daemon);
	sv->reg.log_cap = (uint32_t)next->replay_size;
	sv_workers_configure(sv);
	spawn_missing(sv);
	log_info("reloaded: generation %u; changed: %s", next->generation, msg);
	return 0;
}

static void
on_drain_poll(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct sv *sv = ev_userdata(loop);
	int i;

	(void)t;
	(void)revents;
	for (i = 0; i < SV_MAX_WORKERS; i++)
		if (sv->workers[i].pid > 0)
			return;
	ev_break(loop, EVBREAK_ALL);
}

static void
on_drain_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)t;
	(void)revents;
	log_warn("drain deadline reached; stopping the remaining workers");
	ev_break(loop, EVBREAK_ALL);
}

void
sv_drain_begin(struct sv *sv, double timeout_s)
{
	int i;

	if (sv->draining) {
		log_warn("second stop request: exiting now");
		ev_break(sv->loop, EVBREAK_ALL);
		return;
	}
	sv->draining = 1;
	if (timeout_s <= 0)
		timeout_s = 10;
	log_info("draining: %u connections, deadline %.1f s", sv->reg.nconns,
		 timeout_s);
	for (i = 0; i < SV_MAX_WORKERS; i++)
		if (sv->workers[i].pid > 0)
			kill(sv->workers[i].pid, SIGTERM);
	ev_timer_init(&drain_timer, on_drain_deadline, timeout_s, 0.);
	ev_timer_start(sv->loop, &drain_timer);
	ev_timer_init(&drain_poll, on_drain_poll, 0.05, 0.05);
	ev_timer_start(sv->loop, &drain_poll);
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct sv *sv = ev_userdata(loop);
	char msg[1024];

	(void)revents;
	if (w->signum == SIGHUP)
		sv_reload(sv, msg, sizeof(msg));
	else
		sv_drain_begin(sv, 0);
}

static void
on_sweep(struct ev_loop *loop, ev_timer *t, int revents)
{
	struct sv *sv = ev_userdata(loop);
	uint32_t n;

	(void)t;
	(void)revents;
	n = sv_reg_room_sweep(&sv->reg, wall_ms() - ROOM_RETAIN_MS);
	if (n > 0)
		log_debug("freed %u idle empty rooms", n);
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
	return 0;
fail:
	log_error("cannot write pidfile %s: %s", path, strerror(errno));
	return -1;
}

/*
 * Point stderr (every process's log) at log_file, appending; with an
 * empty log_file a daemon logs nowhere and a foreground wsd keeps its
 * stderr. Called at start and on reload, so rotation is: move the file,
 * then SIGHUP. Returns 0 or -1 (stderr unchanged).
 */
static int
open_log(const char *log_file, int daemon)
{
	const char *path = log_file[0] ? log_file : "/dev/null";
	int fd;

	if (!log_file[0] && !daemon)
		return 0;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0) {
		log_error("cannot open log_file %s: %s", path, strerror(errno));
		return -1;
	}
	dup2(fd, STDERR_FILENO);
	close(fd);
	return 0;
}

static int
daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	setsid();
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (fd > 2)
			close(fd);
	}
	return 0;
}

static int
run(struct sv *sv, int daemon)
{
	int rc = 1, n;

	if (make_run_dir(sv->cfg->run_dir) != 0)
		return 1;
	if ((sv->listen_fd = sv_listen_open(sv->cfg->listen, 4096)) < 0)
		return 1;
	if (daemon && daemonize() != 0)
		return 1;
	if (open_log(sv->cfg->log_file, daemon) != 0)
		return 1;
	sv->daemon = daemon;
	if (daemon && write_pidfile(sv->cfg->pidfile) != 0)
		return 1;
	n = (int)readlink("/proc/self/exe", sv->self_exe,
			  sizeof(sv->self_exe) - 1);
	if (n <= 0)
		return 1;
	sv->self_exe[n] = '\0';
	sv->loop = ev_default_loop(EVFLAG_AUTO);
	ev_set_userdata(sv->loop, sv);
	sv->started_ms = wall_ms();
	sv->next_epoch = 1;
	sv_registry_init(&sv->reg, (uint32_t)sv->cfg->replay_size);
	sv_dedupe_init(&sv->dedupe, DEDUPE_MAX, DEDUPE_WINDOW_MS);
	if (sv_ctl_start(sv) != 0 || sv_admin_start(sv) != 0)
		goto done;
	if (sv_workers_start(sv) != 0)
		goto done;
	ev_signal_init(&sig_hup, on_signal, SIGHUP);
	ev_signal_init(&sig_term, on_signal, SIGTERM);
	ev_signal_init(&sig_int, on_signal, SIGINT);
	ev_signal_start(sv->loop, &sig_hup);
	ev_signal_start(sv->loop, &sig_term);
	ev_signal_start(sv->loop, &sig_int);
	ev_timer_init(&sv->sweep_timer, on_sweep, 60., 60.);
	ev_timer_start(sv->loop, &sv->sweep_timer);
	log_info("wsd %s listening on ws://%s%s with %d workers; admin %s; "
		 "control %s",
		 WSD_VERSION, sv->cfg->listen, sv->cfg->w.ws_path,
		 sv->cfg->workers,
		 sv->cfg->admin_listen[0] ? sv->cfg->admin_listen : "off",
		 sv->cfg->control_socket);
	ev_run(sv->loop, 0);
	rc = 0;
	log_info("stopped: %u connections at exit, %llu opened, %llu closed",
		 sv->reg.nconns, (unsigned long long)sv->stats.conns_opened,
		 (unsigned long long)sv->stats.conns_closed);
done:
	sv_workers_stop(sv);
	sv_admin_stop(sv);
	sv_ctl_stop(sv);
	sv_registry_fini(&sv->reg);
	sv_dedupe_fini(&sv->dedupe);
	close(sv->listen_fd);
	if (daemon)
		unlink(sv->cfg->pidfile);
	ev_loop_destroy(sv->loop);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	struct sv_overrides ov = {0};
	const char *path = NULL;
	struct sv *sv = &sv_global;
	char err[512];
	int c, test = 0, daemon = 0, rc;

	if (argc > 1 && strcmp(argv[1], "--worker") == 0)
		return wk_main(argc, argv);
	while ((c = getopt_long(argc, argv, "c:l:w:C:a:r:dth", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'l': ov.listen = optarg; break;
		case 'w':
			ov.workers = atoi(optarg);
			if (ov.workers < 1) {
				fprintf(stderr,
					"wsd: -w needs a number >= 1\n");
				return 2;
			}
			break;
		case 'C': ov.control_socket = optarg; break;
		case 'a': ov.admin_listen = optarg; break;
		case 'r': ov.run_dir = optarg; break;
		case 'd': daemon = 1; break;
		case 't': test = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init("supervisor", LOG_LEVEL_INFO);
	sv->cfg = sv_config_load(path, &ov, err, sizeof(err));
	if (sv->cfg == NULL) {
		fprintf(stderr, "wsd: %s\n", err);
		return 1;
	}
	if (test) {
		printf("wsd: %s: configuration ok\n",
		       path ? path : "(defaults)");
		sv_config_free(sv->cfg);
		return 0;
	}
	sv->cfg->generation = 1;
	log_set_level((enum log_level)sv->cfg->log_level);
	umask(077);
	signal(SIGPIPE, SIG_IGN);
	rc = run(sv, daemon);
	sv_config_free(sv->cfg);
	return rc;
}
