/*
 * sp_log.h — timestamped log lines to stderr or a file, with nutcracker's
 * verbosity levels (-v 0..11) and a reopen for logrotate.
 *
 * A log is an explicit object owned by the process context and passed to
 * whoever logs (nginx style). Each line is one write(2) to an O_APPEND
 * descriptor, so lines from several processes never interleave:
 *   [2026-11-20 23:55:45.123] 4242 notice: message: strerror(err)
 * Not async-signal-safe: signal handlers set flags, loops log.
 */
#ifndef SP_LOG_H
#define SP_LOG_H

#include <stdarg.h>

enum sp_log_level {
    SP_LOG_EMERG,       /* 0: system in unusable state */
    SP_LOG_ALERT,       /* 1 */
    SP_LOG_CRIT,        /* 2 */
    SP_LOG_ERR,         /* 3 */
    SP_LOG_WARN,        /* 4 */
    SP_LOG_NOTICE,      /* 5: default */
    SP_LOG_INFO,        /* 6 */
    SP_LOG_DEBUG,       /* 7 */
    SP_LOG_VERB,        /* 8 */
    SP_LOG_VVERB,       /* 9 */
    SP_LOG_VVVERB,      /* 10 */
    SP_LOG_PVERB        /* 11: periodic */
};

#define SP_LOG_LEVEL_MIN      SP_LOG_EMERG
#define SP_LOG_LEVEL_MAX      SP_LOG_PVERB
#define SP_LOG_LEVEL_DEFAULT  SP_LOG_NOTICE

struct sp_log {
    int   level;
    int   fd;           /* 2 when logging to stderr */
    char *path;         /* NULL for stderr */
    unsigned long nerror;   /* lines that could not be written */
};

/* Log to path (NULL: stderr). Returns 0, or -1 with errno set. */
int sp_log_open(struct sp_log *log, const char *path, int level);

/* Reopen the file (after logrotate moved it) onto the same descriptor
 * number, which the crash handler holds. No-op for stderr. */
int sp_log_reopen(struct sp_log *log);

/* Reopen (logrotate moved the file) and say so in the new file, or why
 * not in the old one. */
void sp_log_rotate(struct sp_log *log);

void sp_log_close(struct sp_log *log);

/* Raise (+1) or lower (-1) the level within bounds (SIGTTIN / SIGTTOU). */
void sp_log_level_step(struct sp_log *log, int step);

/* Write one line if level <= log->level; err != 0 appends strerror(err). */
void sp_log_write(struct sp_log *log, int level, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void sp_log_vwrite(struct sp_log *log, int level, int err, const char *fmt,
                   va_list ap);

#define sp_log_at(log, lvl, err, ...)                                         \
    do {                                                                      \
        if ((lvl) <= (log)->level) {                                          \
            sp_log_write((log), (lvl), (err), __VA_ARGS__);                   \
        }                                                                     \
    } while (0)

#define sp_log_error(log, err, ...)  sp_log_at(log, SP_LOG_ERR, err, __VA_ARGS__)
#define sp_log_warn(log, err, ...)   sp_log_at(log, SP_LOG_WARN, err, __VA_ARGS__)
#define sp_log_notice(log, ...)      sp_log_at(log, SP_LOG_NOTICE, 0, __VA_ARGS__)
#define sp_log_info(log, ...)        sp_log_at(log, SP_LOG_INFO, 0, __VA_ARGS__)
#define sp_log_debug(log, ...)       sp_log_at(log, SP_LOG_DEBUG, 0, __VA_ARGS__)

#endif /* SP_LOG_H */
