/*
 * sp_signal.h — signals for one process: handlers that only record, a mask
 * that lets them in only while the event loop waits, names for the log, and
 * the crash handler.
 *
 * Handlers set a flag per signal in the process's struct sp_signals and do
 * nothing else (twemproxy reopened logs inside its handler, and its
 * changelog records the deadlock). The handled signals are blocked at all
 * times except inside the loop's wait (sp_event_set_wait_sigmask with
 * wait_mask, i.e. epoll_pwait), which is sigsuspend's atomic unblock-and-
 * wait, so a signal can never interrupt code halfway and is acted on as
 * soon as the wait returns: the owner calls sp_signals_take for each.
 *
 * SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT log "signal 11 (SIGSEGV)
 * received" and a backtrace to the log descriptor, then re-raise with the
 * default action so the process dumps core. SIGPIPE is ignored.
 *
 * A handler finds its struct through one static pointer (a signal handler
 * has no argument); that pointer is the only process-level state here, set
 * once by sp_signals_install.
 */
#ifndef SP_SIGNAL_H
#define SP_SIGNAL_H

#include <signal.h>
#include <stdbool.h>

#define SP_SIGNALS_MAX 65       /* signal numbers below this are tracked */

struct sp_signals {
    volatile sig_atomic_t received[SP_SIGNALS_MAX];
    volatile sig_atomic_t any;
    volatile sig_atomic_t crash_fd;     /* where the crash handler writes */
    sigset_t              wait_mask;    /* the mask inside the loop's wait */
};

/*
 * Handle `signals` (0-terminated) by recording them, block them outside the
 * loop's wait, ignore SIGPIPE, and install the crash handler writing to
 * crash_fd. Returns 0, or -1 with errno.
 */
int sp_signals_install(struct sp_signals *sig, const int *signals,
                       int crash_fd);

/* Whether signo arrived since the last take (and forget it). */
bool sp_signals_take(struct sp_signals *sig, int signo);

/*
 * The next signal of set (0-terminated) that arrived during the wait, taken
 * and logged ("signal 1 (SIGHUP) received"); 0 when none is left. A loop
 * acts on each: while ((signo = sp_signals_next(sig, set, log)) != 0) ...
 */
struct sp_log;
int sp_signals_next(struct sp_signals *sig, const int *set, struct sp_log *log);

/* Forget everything received (a child after fork starts clean). */
void sp_signals_clear(struct sp_signals *sig);

/* "SIGHUP" for 1; "signal" when unknown. */
const char *sp_signal_name(int signo, char *buf, unsigned len);

/* Restore default dispositions and an empty mask (before exec). */
void sp_signals_reset(const int *signals);

#endif /* SP_SIGNAL_H */
