/*
 * test_log.c — log lines: format, level filtering, errno text, file output,
 * reopen after logrotate moved the file, level stepping within bounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sp_log.h"
#include "sp_test.h"

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    static char buf[8192];
    size_t n;

    ck_assert_ptr_nonnull(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void
temp_path(char *buf, size_t len, const char *suffix)
{
    snprintf(buf, len, "/tmp/sp-test-log-%ld%s", (long)getpid(), suffix);
    unlink(buf);
}

START_TEST(test_format_and_levels)
{
    char path[128];
    struct sp_log log;
    char *text;

    temp_path(path, sizeof(path), ".log");
    ck_assert_int_eq(sp_log_open(&log, path, SP_LOG_NOTICE), 0);
    sp_log_notice(&log, "hello %d", 42);
    sp_log_info(&log, "hidden at notice");
    sp_log_error(&log, ECONNREFUSED, "connect to %s failed", "a:1");
    sp_log_close(&log);

    text = slurp(path);
    ck_assert_ptr_null(strstr(text, "hidden"));
    /* [YYYY-MM-DD HH:MM:SS.mmm] PID level: message */
    char expect_tail[128];
    snprintf(expect_tail, sizeof(expect_tail), "] %ld notice: hello 42\n",
             (long)getpid());
    ck_assert_ptr_nonnull(strstr(text, expect_tail));
    ck_assert_int_eq(text[0], '[');
    ck_assert_int_eq(text[5], '-');
    ck_assert_int_eq(text[20], '.');
    ck_assert_int_eq(text[24], ']');
    ck_assert_ptr_nonnull(strstr(text, "error: connect to a:1 failed: "
                                       "Connection refused\n"));
    unlink(path);
}
END_TEST

START_TEST(test_reopen_after_rotate)
{
    char path[128], rotated[128];
    struct sp_log log;

    temp_path(path, sizeof(path), ".log");
    temp_path(rotated, sizeof(rotated), ".log.1");
    ck_assert_int_eq(sp_log_open(&log, path, SP_LOG_NOTICE), 0);
    sp_log_notice(&log, "before rotate");
    ck_assert_int_eq(rename(path, rotated), 0);
    sp_log_notice(&log, "still old file");
    int fd = log.fd;
    ck_assert_int_eq(sp_log_reopen(&log), 0);
    /* the number never changes: the crash handler holds it */
    ck_assert_int_eq(log.fd, fd);
    ck_assert_int_eq(fcntl(log.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    sp_log_notice(&log, "after reopen");
    sp_log_close(&log);

    ck_assert_ptr_nonnull(strstr(slurp(rotated), "still old file"));
    char *fresh = slurp(path);
    ck_assert_ptr_nonnull(strstr(fresh, "after reopen"));
    ck_assert_ptr_null(strstr(fresh, "before rotate"));
    unlink(path);
    unlink(rotated);
}
END_TEST

START_TEST(test_open_failure_keeps_stderr)
{
    struct sp_log log;

    ck_assert_int_eq(sp_log_open(&log, "/nonexistent/dir/x.log", 5), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(log.fd, STDERR_FILENO);
    ck_assert_int_eq(sp_log_reopen(&log), 0);   /* stderr: nothing to do */
    sp_log_close(&log);
}
END_TEST

START_TEST(test_level_step_bounds)
{
    struct sp_log log;

    ck_assert_int_eq(sp_log_open(&log, NULL, SP_LOG_LEVEL_MAX), 0);
    sp_log_level_step(&log, +1);
    ck_assert_int_eq(log.level, SP_LOG_LEVEL_MAX);
    for (int i = 0; i < 20; i++) {
        sp_log_level_step(&log, -1);
    }
    ck_assert_int_eq(log.level, SP_LOG_LEVEL_MIN);
    sp_log_close(&log);
}
END_TEST

Suite *
sp_test_log_suite(void)
{
    return SP_TEST_SUITE("log", test_format_and_levels,
                         test_reopen_after_rotate,
                         test_open_failure_keeps_stderr,
                         test_level_step_bounds);
}
