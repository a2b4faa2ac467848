/*
 * sp_proctitle.h — the process title ps and /proc/<pid>/cmdline show:
 * "shardproxy: master process /usr/sbin/shardproxy -c ...",
 * "shardproxy: worker process #0".
 *
 * Linux has no setproctitle: the title is written over the memory that held
 * argv and the environment (contiguous at process start), as nginx does.
 * sp_proctitle_init must run first thing in main: it moves every argv and
 * environ string to the heap (argv[i] and environ[i] point at the copies,
 * so options parsed later stay valid) and keeps the original area.
 */
#ifndef SP_PROCTITLE_H
#define SP_PROCTITLE_H

#include <stddef.h>

struct sp_proctitle {
    char   *area;       /* where argv[0] was; NULL: titles unavailable */
    size_t  size;       /* contiguous argv + environ bytes */
    char   *cmdline;    /* the original command line, joined by spaces */
    char  **argv;       /* the arguments (heap copies), NULL-terminated */
};

void sp_proctitle_init(struct sp_proctitle *title, int argc, char **argv);

void sp_proctitle_free(struct sp_proctitle *title);

/* Show "shardproxy: " + text. */
void sp_proctitle_set(const struct sp_proctitle *title, const char *text);

#endif /* SP_PROCTITLE_H */
