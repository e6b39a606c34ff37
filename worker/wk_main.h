/*
 * wk_main.h: the one entry point of the worker, all that the supervisor's
 * main knows of it: `wsd --worker ...` runs wk_main instead of the
 * supervisor.
 */
#ifndef WSD_WK_MAIN_H
#define WSD_WK_MAIN_H

/* Run a worker process; returns its exit status. */
int wk_main(int argc, char **argv);

#endif
