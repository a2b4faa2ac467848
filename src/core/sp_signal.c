/*
 * sp_signal.c — recording handlers, the wait mask, the crash handler (see
 * sp_signal.h).
 */
#include "sp_signal.h"

#include <errno.h>
#include <execinfo.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sp_log.h"

#define SP_BACKTRACE_DEPTH 64

static struct sp_signals *sp_signals_current;    /* for the handlers only */

static const int sp_crash_signals[] = {
    SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, 0
};

static void
sp_signal_record(int signo)
{
    struct sp_signals *sig = sp_signals_current;

    if (sig != NULL && signo > 0 && signo < SP_SIGNALS_MAX) {
        sig->received[signo] = 1;
        sig->any = 1;
    }
}

const char *
sp_signal_name(int signo, char *buf, unsigned len)
{
    const char *abbrev = sigabbrev_np(signo);

    if (abbrev == NULL) {
        return "signal";
    }
    snprintf(buf, len, "SIG%s", abbrev);
    return buf;
}

/* Only async-signal-safe calls from here on (backtrace is primed below). */
static void
sp_signal_crash(int signo)
{
    struct sp_signals *sig = sp_signals_current;
    int fd = sig != NULL ? sig->crash_fd : STDERR_FILENO;
    char line[96];
    void *frames[SP_BACKTRACE_DEPTH];
    const char *abbrev = sigabbrev_np(signo);
    int n;

    n = snprintf(line, sizeof(line), "[crash] %ld signal %d (SIG%s) received, "
                 "backtrace:\n", (long)getpid(), signo,
                 abbrev != NULL ? abbrev : "?");
    if (n > 0 && write(fd, line, (size_t)n) < 0) {
        /* nothing better to do while crashing */
    }
    n = backtrace(frames, SP_BACKTRACE_DEPTH);
    backtrace_symbols_fd(frames, n, fd);
    signal(signo, SIG_DFL);         /* SA_RESETHAND did too; be sure */
    raise(signo);                   /* dump core with the default action */
}

int
sp_signals_install(struct sp_signals *sig, const int *signals, int crash_fd)
{
    struct sigaction sa;
    sigset_t block;
    void *prime[1];

    sp_signals_clear(sig);
    sig->crash_fd = crash_fd;
    sp_signals_current = sig;

    sigemptyset(&block);
    memset(&sa, 0, sizeof(sa));
    sigfillset(&sa.sa_mask);        /* one handler at a time */
    sa.sa_handler = sp_signal_record;
    for (const int *s = signals; *s != 0; s++) {
        if (sigaction(*s, &sa, NULL) != 0) {
            return -1;
        }
        sigaddset(&block, *s);
    }

    backtrace(prime, 1);            /* load libgcc now, not while crashing */
    sa.sa_handler = sp_signal_crash;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (const int *s = sp_crash_signals; *s != 0; s++) {
        if (sigaction(*s, &sa, NULL) != 0) {
            return -1;
        }
    }

    sa.sa_handler = SIG_IGN;
    sa.sa_flags = 0;
    if (sigaction(SIGPIPE, &sa, NULL) != 0) {
        return -1;
    }
    if (sigprocmask(SIG_BLOCK, &block, &sig->wait_mask) != 0) {
        return -1;
    }
    /* inside the wait: the mask from before, minus the handled signals */
    for (const int *s = signals; *s != 0; s++) {
        sigdelset(&sig->wait_mask, *s);
    }
    return 0;
}

bool
sp_signals_take(struct sp_signals *sig, int signo)
{
    if (signo <= 0 || signo >= SP_SIGNALS_MAX || !sig->received[signo]) {
        return false;
    }
    sig->received[signo] = 0;
    return true;
}

int
sp_signals_next(struct sp_signals *sig, const int *set, struct sp_log *log)
{
    char name[32];

    if (sig == NULL || !sig->any) {
        return 0;
    }
    for (const int *s = set; *s != 0; s++) {
        if (sp_signals_take(sig, *s)) {
            sp_log_notice(log, "signal %d (%s) received", *s,
                          sp_signal_name(*s, name, sizeof(name)));
            return *s;
        }
    }
    /* handled signals are blocked outside the wait: none can arrive
     * between the scan and this */
    sig->any = 0;
    return 0;
}

void
sp_signals_clear(struct sp_signals *sig)
{
    for (int i = 0; i < SP_SIGNALS_MAX; i++) {
        sig->received[i] = 0;
    }
    sig->any = 0;
}

void
sp_signals_reset(const int *signals)
{
    struct sigaction sa;
    sigset_t none;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (const int *s = signals; *s != 0; s++) {
        sigaction(*s, &sa, NULL);
    }
    sigaction(SIGPIPE, &sa, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}
