/*
 * `wsctl checkconfig FILE`, the one command that never talks to the daemon:
 * it runs `wsd -t -c FILE`, which parses the file exactly as the daemon
 * would and names the file, line and problem of the first error. The wsd
 * that belongs with this wsctl is the one installed or built beside it, so
 * that one is preferred over whatever wsd is first on PATH.
 */
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wsctl.h"

extern char **environ;

/*
 * The path of the wsd beside our own executable, in buf, if there is an
 * executable file there. Returns 0, or -1 when there is none.
 */
static int
sibling_wsd(char *buf, size_t size)
{
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -1;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash == NULL)
		return -1;
	*slash = '\0';
	if ((size_t)snprintf(buf, size, "%s/wsd", self) >= size)
		return -1;
	return access(buf, X_OK) == 0 ? 0 : -1;
}

/*
 * Read everything from fd into a new NUL-terminated buffer that the caller
 * frees. Returns NULL when out of memory or on a read error.
 */
static char *
read_all(int fd)
{
	char *buf = NULL, *grown;
	size_t len = 0, cap = 0;
	ssize_t n;

	for (;;) {
		if (cap - len < 4096) {
			cap = cap == 0 ? 8192 : cap * 2;
			grown = realloc(buf, cap);
			if (grown == NULL)
				goto fail;
			buf = grown;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;

fail:
	free(buf);
	return NULL;
}

/*
 * Make a JSON string of wsd's output, which should be UTF-8 text; if it is
 * not, every non-ASCII byte is replaced with '?'. out is borrowed. Returns a
 * new reference, or NULL when out of memory.
 */
static json_t *
output_string(const char *out)
{
	json_t *s;
	char *copy, *p;

	s = json_string(out);
	if (s != NULL)
		return s;
	copy = strdup(out);
	if (copy == NULL)
		return NULL;
	for (p = copy; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	s = json_string(copy);
	free(copy);
	return s;
}

/* Print the --json result of a check; returns the exit status. */
static int
print_json(int passed, const char *why, const char *out)
{
	json_t *res = NULL;
	char *line = NULL;

	res = json_object();
	if (res == NULL ||
	    json_object_set_new(res, "ok", json_boolean(passed)) ||
	    (!passed && json_object_set_new(res, "error", json_string(why))) ||
	    json_object_set_new(res, "output", output_string(out)))
		goto fail;
	line = json_dumps(res, JSON_COMPACT);
	if (line == NULL)
		goto fail;
	printf("%s\n", line);
	free(line);
	json_decref(res);
	return passed ? CTL_EXIT_OK : CTL_EXIT_REFUSED;

fail:
	fputs("wsctl: out of memory\n", stderr);
	json_decref(res);
	return CTL_EXIT_REFUSED;
}

int
ctl_checkconfig_run(const char *file, int json)
{
	char path[PATH_MAX];
	char *argv[] = {"wsd", "-t", "-c", (char *)file, NULL};
	posix_spawn_file_actions_t fa;
	int have_fa = 0;
	int pipefd[2] = {-1, -1};
	char *out = NULL;
	char why[160];
	pid_t pid;
	int rv, wstatus, passed, status = CTL_EXIT_REFUSED;

	/* With --json, wsd's stdout and stderr are captured through a pipe. */
	if (json) {
		if (pipe(pipefd) != 0) {
			fprintf(stderr, "wsctl: pipe: %s\n", strerror(errno));
			goto fail;
		}
		if ((rv = posix_spawn_file_actions_init(&fa)) != 0) {
			fprintf(stderr, "wsctl: cannot run wsd: %s\n",
				strerror(rv));
			goto fail;
		}
		have_fa = 1;
		if ((rv = posix_spawn_file_actions_adddup2(&fa, pipefd[1],
							   1)) != 0 ||
		    (rv = posix_spawn_file_actions_adddup2(&fa, pipefd[1],
							   2)) != 0 ||
		    (rv = posix_spawn_file_actions_addclose(&fa, pipefd[0])) !=
			0 ||
		    (rv = posix_spawn_file_actions_addclose(&fa, pipefd[1])) !=
			0) {
			fprintf(stderr, "wsctl: cannot run wsd: %s\n",
				strerror(rv));
			goto fail;
		}
	}

	/* Our own buffered output must not end up after wsd's. */
	fflush(stdout);
	if (sibling_wsd(path, sizeof(path)) == 0)
		rv = posix_spawn(&pid, path, have_fa ? &fa : NULL, NULL, argv,
				 environ);
	else
		rv = posix_spawnp(&pid, "wsd", have_fa ? &fa : NULL, NULL, argv,
				  environ);
	if (rv != 0) {
		snprintf(
		    why, sizeof(why),
		    "cannot run wsd (looked beside wsctl, then on PATH): %s",
		    strerror(rv));
		fprintf(stderr, "wsctl: %s\n", why);
		if (json)
			print_json(0, why, "");
		goto fail;
	}

	if (json) {
		close(pipefd[1]);
		pipefd[1] = -1;
		out = read_all(pipefd[0]);
	}
	while ((rv = waitpid(pid, &wstatus, 0)) < 0 && errno == EINTR)
		;
	if (rv < 0) {
		fprintf(stderr, "wsctl: waitpid: %s\n", strerror(errno));
		goto fail;
	}

	passed = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
	if (WIFEXITED(wstatus))
		snprintf(why, sizeof(why), "wsd -t exited with status %d",
			 WEXITSTATUS(wstatus));
	else
		snprintf(why, sizeof(why), "wsd -t was killed by signal %d",
			 WTERMSIG(wstatus));
	if (json) {
		if (out == NULL) {
			fputs("wsctl: cannot read the output of wsd\n", stderr);
			goto fail;
		}
		status = print_json(passed, why, out);
	} else {
		/* wsd names the problem itself, unless it did not exit at all.
		 */
		if (!WIFEXITED(wstatus))
			fprintf(stderr, "wsctl: %s\n", why);
		status = passed ? CTL_EXIT_OK : CTL_EXIT_REFUSED;
	}

fail:
	free(out);
	if (have_fa)
		posix_spawn_file_actions_destroy(&fa);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	return status;
}
