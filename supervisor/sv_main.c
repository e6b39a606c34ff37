/*
 * sv_main.c: the wsd entry point. In worker mode (`--worker`, used only
 * when the supervisor execs itself) it hands over to wk_main. Otherwise
 * it is the supervisor: it reads the command line and the first config
 * generation, runs the loop that sv_cycle.c brings up, and turns signals
 * into the cycle's actions. Signals only feed the loop (libev ev_signal):
 * SIGHUP reloads, SIGUSR1 opens log_file again (here and in every
 * worker), SIGTERM and SIGINT drain and exit, a second one exits at once.
 */
#include "sv.h"

#include <getopt.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../proto/log.h"
#include "../proto/version.h"
#include "../worker/wk_main.h"
#include "sv_cycle.h"

static struct sv sv_global;
static ev_signal sig_hup, sig_term, sig_int, sig_usr1;

static void
usage(FILE *f)
{
	fprintf(
	    f, "usage: wsd [-c FILE] [-l ADDR:PORT] [-w N] [-C PATH] "
	       "[-a ADDR:PORT] [-r DIR] [-d] [-t] [-V]\n"
	       "  -c FILE       config file (default: built-in defaults)\n"
	       "  -l ADDR:PORT  client listener\n"
	       "  -w N          worker processes\n"
	       "  -C PATH       control socket for wsctl\n"
	       "  -a ADDR:PORT  admin HTTP listener (\"\" to disable)\n"
	       "  -r DIR        run directory\n"
	       "  -d            daemonize and write the pidfile\n"
	       "  -t            check the config and exit\n"
	       "  -V, --version print the versions of wsd and its libraries\n");
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct sv *sv = ev_userdata(loop);
	char msg[1024];

	(void)revents;
	if (w->signum == SIGHUP)
		sv_cycle_reload(sv, msg, sizeof(msg));
	else if (w->signum == SIGUSR1)
		sv_cycle_reopen_log(sv);
	else
		sv_cycle_drain(sv, 0);
}

static int
run(struct sv *sv, int daemon)
{
	int rc = 1;

	sv->loop = ev_default_loop(EVFLAG_AUTO);
	ev_set_userdata(sv->loop, sv);
	if (sv_cycle_start(sv, daemon) == WSD_OK) {
		ev_signal_init(&sig_hup, on_signal, SIGHUP);
		ev_signal_init(&sig_term, on_signal, SIGTERM);
		ev_signal_init(&sig_int, on_signal, SIGINT);
		ev_signal_start(sv->loop, &sig_hup);
		ev_signal_start(sv->loop, &sig_term);
		ev_signal_start(sv->loop, &sig_int);
		ev_signal_init(&sig_usr1, on_signal, SIGUSR1);
		ev_signal_start(sv->loop, &sig_usr1);
		ev_run(sv->loop, 0);
		rc = 0;
	}
	sv_cycle_stop(sv);
	ev_loop_destroy(sv->loop);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0}};
	struct sv_overrides ov = {0};
	const char *path = NULL;
	struct sv *sv = &sv_global;
	char err[512];
	int c, test = 0, daemon = 0, rc;

	if (argc > 1 && strcmp(argv[1], "--worker") == 0)
		return wk_main(argc, argv);
	while ((c = getopt_long(argc, argv, "c:l:w:C:a:r:dthV", longopts,
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
		case 'V':
			return proto_version_print(stdout, "wsd") == 0 ? 0 : 1;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init("supervisor", -1, LOG_LEVEL_INFO, LOG_FORMAT_JSON);
	sv->ov = ov;
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
	log_set_level((enum log_level)sv->cfg->w.log_level);
	log_set_format((enum log_format)sv->cfg->w.log_format);
	umask(077);
	signal(SIGPIPE, SIG_IGN);
	/* Nothing is bound to the user signals yet: they must not kill. */
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	prctl(PR_SET_NAME, "wsd: supervisor");
	rc = run(sv, daemon);
	sv_config_free(sv->cfg);
	return rc;
}
