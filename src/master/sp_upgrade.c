/*
 * sp_upgrade.c — exec the new binary with our sockets; pid files (see
 * sp_upgrade.h).
 */
#include "sp_upgrade.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sp_channel.h"
#include "sp_signal.h"

extern char **environ;

void
sp_upgrade_oldbin_path(const char *pid_file, char *buf, size_t len)
{
    snprintf(buf, len, "%s.oldbin", pid_file);
}

int
sp_pid_file_write(const char *path, struct sp_log *log)
{
    char text[32];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());

    if (fd < 0 || write(fd, text, (size_t)n) != n) {
        sp_log_error(log, errno, "cannot write pid file '%s'", path);
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    close(fd);
    return 0;
}

static bool
sp_upgrade_is(const char *entry, const char *key)
{
    size_t len = strlen(key);

    return strncmp(entry, key, len) == 0 && entry[len] == '=';
}

/* environ with our two variables in place of any earlier ones. */
static char **
sp_upgrade_env(const char *fds, int peer)
{
    size_t n = 0, at = 0;
    char **env;

    while (environ[n] != NULL) {
        n++;
    }
    env = calloc(n + 3, sizeof(*env));
    if (env == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!sp_upgrade_is(environ[i], SP_LISTEN_ENV)
            && !sp_upgrade_is(environ[i], SP_UPGRADE_PEER_ENV)) {
            env[at++] = environ[i];
        }
    }
    if (asprintf(&env[at++], "%s=%s", SP_LISTEN_ENV, fds) < 0
        || asprintf(&env[at++], "%s=%d", SP_UPGRADE_PEER_ENV, peer) < 0) {
        return NULL;
    }
    return env;
}

pid_t
sp_upgrade_start(const char *exe, char *const *argv,
                 const struct sp_listen_set *set, const char *pid_file,
                 const int *signals, int *peer_fd, struct sp_log *log)
{
    char oldbin[4096];
    int peer[2];
    pid_t pid;

    if (sp_channel_open(peer) != 0) {
        sp_log_error(log, errno, "upgrade: socketpair() failed");
        return -1;
    }
    if (pid_file != NULL) {
        sp_upgrade_oldbin_path(pid_file, oldbin, sizeof(oldbin));
        if (rename(pid_file, oldbin) != 0) {
            sp_log_error(log, errno, "upgrade: cannot rename '%s' to '%s'",
                         pid_file, oldbin);
            close(peer[0]);
            close(peer[1]);
            return -1;
        }
    }
    pid = fork();
    if (pid < 0) {
        sp_log_error(log, errno, "upgrade: fork() failed");
        if (pid_file != NULL) {
            rename(oldbin, pid_file);
        }
        close(peer[0]);
        close(peer[1]);
        return -1;
    }
    if (pid == 0) {
        char *names = sp_listen_export(set);     /* clears close-on-exec */
        char **env = names != NULL ? sp_upgrade_env(names, peer[1]) : NULL;

        fcntl(peer[1], F_SETFD, 0);

        sp_signals_reset(signals);
        if (env != NULL) {
            execve(exe, argv, env);
        }
        sp_log_error(log, errno, "upgrade: execve(\"%s\") failed", exe);
        _exit(127);
    }
    close(peer[1]);
    *peer_fd = peer[0];
    sp_log_notice(log, "upgrade: started %s as pid %ld with our sockets%s%s",
                  exe, (long)pid, pid_file != NULL ? "; our pid file is now " : "",
                  pid_file != NULL ? oldbin : "");
    return pid;
}

void
sp_upgrade_abandon(const char *pid_file, struct sp_log *log)
{
    char oldbin[4096];

    if (pid_file == NULL) {
        return;
    }
    sp_upgrade_oldbin_path(pid_file, oldbin, sizeof(oldbin));
    if (rename(oldbin, pid_file) != 0) {
        sp_log_error(log, errno, "upgrade: cannot move '%s' back to '%s'",
                     oldbin, pid_file);
    }
}
