/*
 * sp_log.c — log lines and log files (see sp_log.h).
 */
#include "sp_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define SP_LOG_LINE_MAX 2048

static const char *const sp_log_level_names[] = {
    "emerg", "alert", "crit", "error", "warn", "notice",
    "info", "debug", "verb", "vverb", "vvverb", "pverb",
};

static int
sp_log_open_fd(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

int
sp_log_open(struct sp_log *log, const char *path, int level)
{
    log->level = level;
    log->nerror = 0;
    log->path = NULL;
    log->fd = STDERR_FILENO;
    if (path == NULL || path[0] == '\0') {
        return 0;
    }
    log->path = strdup(path);
    if (log->path == NULL) {
        return -1;
    }
    log->fd = sp_log_open_fd(path);
    if (log->fd < 0) {
        int err = errno;
        free(log->path);
        log->path = NULL;
        log->fd = STDERR_FILENO;
        errno = err;
        return -1;
    }
    return 0;
}

int
sp_log_reopen(struct sp_log *log)
{
    int fd;

    if (log->path == NULL) {
        return 0;
    }
    fd = sp_log_open_fd(log->path);
    if (fd < 0) {
        return -1;      /* keep writing to the old file */
    }
    if (log->fd == STDERR_FILENO) {
        log->fd = fd;
        return 0;
    }
    /*
     * The new file takes the old one's descriptor number, which never
     * changes: the crash handler (sp_signal.c) writes to the number it was
     * given, and after a close that number could belong to a client socket.
     */
    if (dup3(fd, log->fd, O_CLOEXEC) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;      /* keep writing to the old file */
    }
    close(fd);
    return 0;
}

void
sp_log_close(struct sp_log *log)
{
    if (log->path != NULL && log->fd != STDERR_FILENO) {
        close(log->fd);
    }
    free(log->path);
    log->path = NULL;
    log->fd = STDERR_FILENO;
}

void
sp_log_level_step(struct sp_log *log, int step)
{
    int level = log->level + step;

    if (level < SP_LOG_LEVEL_MIN) {
        level = SP_LOG_LEVEL_MIN;
    } else if (level > SP_LOG_LEVEL_MAX) {
        level = SP_LOG_LEVEL_MAX;
    }
    log->level = level;
}

void
sp_log_vwrite(struct sp_log *log, int level, int err, const char *fmt,
              va_list ap)
{
    char line[SP_LOG_LINE_MAX];
    struct timeval tv;
    struct tm tm;
    size_t n;
    int rc;

    if (level > log->level) {
        return;
    }
    if (level < SP_LOG_LEVEL_MIN) {
        level = SP_LOG_LEVEL_MIN;
    } else if (level > SP_LOG_LEVEL_MAX) {
        level = SP_LOG_LEVEL_MAX;
    }

    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof(line), "[%Y-%m-%d %H:%M:%S", &tm);
    rc = snprintf(line + n, sizeof(line) - n, ".%03ld] %ld %s: ",
                  (long)(tv.tv_usec / 1000), (long)getpid(),
                  sp_log_level_names[level]);
    n += rc > 0 ? (size_t)rc : 0;

    rc = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    n += rc > 0 ? (size_t)rc : 0;
    if (n >= sizeof(line)) {
        n = sizeof(line) - 1;
    }
    if (err != 0) {
        rc = snprintf(line + n, sizeof(line) - n, ": %s", strerror(err));
        n += rc > 0 ? (size_t)rc : 0;
        if (n >= sizeof(line)) {
            n = sizeof(line) - 1;
        }
    }
    line[n++] = '\n';

    if (write(log->fd, line, n) != (ssize_t)n) {
        log->nerror++;
    }
}

void
sp_log_write(struct sp_log *log, int level, int err, const char *fmt, ...)
{
    va_list ap;
    int saved = errno;

    va_start(ap, fmt);
    sp_log_vwrite(log, level, err, fmt, ap);
    va_end(ap);
    errno = saved;
}

void
sp_log_rotate(struct sp_log *log)
{
    if (sp_log_reopen(log) != 0) {
        sp_log_error(log, errno, "cannot reopen the log file");
    } else {
        sp_log_notice(log, "log file reopened");
    }
}
