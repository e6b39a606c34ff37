/*
 * wsbench: what the server costs, read from /proc.
 *
 * The server is named by one process id (wsd's supervisor, the node
 * process, the libwebsockets test server); its tree is that process and
 * every descendant, found through /proc/PID/task/TID/children, so wsd's
 * workers are counted without asking wsd. For each process we read CPU
 * time twice: exactly, as the sum of every thread's run time in
 * /proc/PID/task/TID/schedstat (nanoseconds), and split into user and
 * system time from /proc/PID/stat (clock ticks, sampled; used only for
 * the user share). When asked, we read the proportional set size from
 * /proc/PID/smaps_rollup.
 * The kernel's share is read machine-wide: the socket count and TCP
 * buffer pages from /proc/net/sockstat and the slab total from
 * /proc/meminfo; the client's sockets are in them too, so the caller
 * takes differences and says which ends they cover.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wb.h"

#define MAX_TREE 256

static int
read_text(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return -1;
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
	return (int)n;
}

/* Append the children of pid to tree (deduplicated); returns the count. */
static int
add_children(pid_t pid, pid_t *tree, int n)
{
	char path[64], buf[4096], *p, *end;
	struct dirent *d;
	DIR *dir;
	long child;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return n;
	while ((d = readdir(dir)) != NULL && n < MAX_TREE) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/children",
			 (int)pid, d->d_name);
		if (read_text(path, buf, sizeof(buf)) <= 0)
			continue;
		for (p = buf; n < MAX_TREE; p = end) {
			child = strtol(p, &end, 10);
			if (end == p)
				break;
			for (i = 0; i < n && tree[i] != (pid_t)child; i++)
				;
			if (i == n)
				tree[n++] = (pid_t)child;
		}
	}
	closedir(dir);
	return n;
}

/* The run time of every thread of pid, in ns; 0 without schedstat. */
static uint64_t
run_ns_of(pid_t pid)
{
	char path[96], buf[256];
	struct dirent *d;
	uint64_t sum = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return 0;
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/schedstat",
			 (int)pid, d->d_name);
		if (read_text(path, buf, sizeof(buf)) > 0)
			sum += strtoull(buf, NULL, 10);
	}
	closedir(dir);
	return sum;
}

static void
cpu_of(pid_t pid, uint64_t *total, uint64_t *user)
{
	static long hz;
	unsigned long long ut, st;
	char path[64], buf[2048], *p;

	if (hz == 0)
		hz = sysconf(_SC_CLK_TCK);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_text(path, buf, sizeof(buf)) <= 0 ||
	    (p = strrchr(buf, ')')) == NULL)
		return;
	/* After ")": state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime (fields 3 to 15). */
	if (sscanf(p + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
		   &st) != 2)
		return;
	*total += (uint64_t)(ut + st) * (1000000000ull / (uint64_t)hz);
	*user += (uint64_t)ut * (1000000000ull / (uint64_t)hz);
}

static uint64_t
pss_of(pid_t pid)
{
	char path[64], buf[4096], *p;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	if (read_text(path, buf, sizeof(buf)) <= 0 ||
	    (p = strstr(buf, "\nPss:")) == NULL)
		return 0;
	return strtoull(p + 5, NULL, 10) * 1024;
}

static int64_t
field_after(const char *buf, const char *key)
{
	const char *p = strstr(buf, key);

	return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

void
wb_sample_take(pid_t root, int with_pss, struct wb_sample *s)
{
	pid_t tree[MAX_TREE];
	char buf[4096], *tcp;
	int n = 0, i;

	memset(s, 0, sizeof(*s));
	if (root > 0) {
		tree[n++] = root;
		for (i = 0; i < n; i++)
			n = add_children(tree[i], tree, n);
		for (i = 0; i < n; i++) {
			uint64_t pss = with_pss ? pss_of(tree[i]) : 0;

			cpu_of(tree[i], &s->tick_ns, &s->user_ns);
			s->cpu_ns += run_ns_of(tree[i]);
			s->pss += pss;
			if (i < WB_SAMPLE_PROCS) {
				s->pid[i] = tree[i];
				s->pss_of[i] = pss;
			}
		}
		s->nprocs = n;
		if (s->cpu_ns == 0)
			s->cpu_ns =
			    s->tick_ns; /* no schedstat in this kernel */
	}
	if (read_text("/proc/net/sockstat", buf, sizeof(buf)) > 0) {
		s->sockets_used = field_after(buf, "sockets: used ");
		tcp = strstr(buf, "TCP:");
		s->tcp_mem_pages = tcp ? field_after(tcp, " mem ") : -1;
	}
	if (read_text("/proc/meminfo", buf, sizeof(buf)) > 0)
		s->slab_kb = field_after(buf, "\nSlab:");
}
