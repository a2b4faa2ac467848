/*
 * sp_upgrade.h — the binary upgrade (USR2) and the pid file.
 *
 * The master forks; the child execs the binary on disk (the path this one
 * was started from, which now holds the new build) with the same arguments
 * and the listening sockets named in SHARDPROXY_LISTEN_FDS (sp_listen.h).
 * Before that the pid file moves to "<pidfile>.oldbin"; the new master
 * writes "<pidfile>" (it does not daemonize again: it is the old master's
 * child). The two masters keep a channel between them (sp_channel.h): when
 * one stops its workers while the other serves (WINCH to the old one, or
 * QUIT to the new one for a rollback), the clients are handed over through
 * it, so not one is closed. If the child exits while the old master lives (a failed start,
 * or a rollback: QUIT to the new master), the old master moves its pid
 * file back.
 */
#ifndef SP_UPGRADE_H
#define SP_UPGRADE_H

#include <sys/types.h>

#include "sp_listen.h"
#include "sp_log.h"

/* "<path>.oldbin" into buf. */
void sp_upgrade_oldbin_path(const char *pid_file, char *buf, size_t len);

/* Write our pid to path. 0, or -1 after logging. */
int sp_pid_file_write(const char *path, struct sp_log *log);

#define SP_UPGRADE_PEER_ENV "SHARDPROXY_UPGRADE_CHANNEL"

/*
 * Start the new binary `exe` with argv, handing it set's sockets and one
 * end of a channel between the two masters (SP_UPGRADE_PEER_ENV; the other
 * end goes to *peer_fd): whichever master stops while the other serves
 * hands its clients over through it. Returns the child's pid, or -1 after
 * logging (nothing changed).
 */
pid_t sp_upgrade_start(const char *exe, char *const *argv,
                       const struct sp_listen_set *set, const char *pid_file,
                       const int *signals, int *peer_fd, struct sp_log *log);

/* The new binary is gone: our pid file is "<pid_file>" again. */
void sp_upgrade_abandon(const char *pid_file, struct sp_log *log);

#endif /* SP_UPGRADE_H */
