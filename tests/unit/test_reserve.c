/*
 * test_reserve.c — the descriptors held for server connections: held and
 * given back one by one, a server socket finds one when every other
 * descriptor is taken, at most half the limit is held.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sp_log.h"
#include "sp_reserve.h"
#include "sp_test.h"

/* Descriptors open in this process. */
static int
open_fds(void)
{
    DIR *dir = opendir("/proc/self/fd");
    int n = 0;

    ck_assert_ptr_nonnull(dir);
    while (readdir(dir) != NULL) {
        n++;
    }
    closedir(dir);
    return n - 3;       /* ".", ".." and the directory's own */
}

START_TEST(test_held_and_given_back)
{
    struct sp_log log;
    struct sp_reserve reserve;
    int base = open_fds();

    ck_assert_int_eq(sp_log_open(&log, NULL, SP_LOG_WARN), 0);
    ck_assert_int_eq(sp_reserve_init(&reserve, 3, &log), 0);
    ck_assert_int_eq(reserve.held, 3);
    ck_assert_int_eq(open_fds(), base + 3);
    sp_reserve_release(&reserve);       /* a server socket opens */
    ck_assert_int_eq(open_fds(), base + 2);
    sp_reserve_release(&reserve);
    ck_assert_int_eq(reserve.out, 2);
    sp_reserve_return(&reserve);        /* one closed */
    ck_assert_int_eq(open_fds(), base + 2);
    ck_assert_int_eq(reserve.held + reserve.out, 3);
    sp_reserve_return(&reserve);
    ck_assert_int_eq(reserve.held, 3);
    sp_reserve_deinit(&reserve);
    ck_assert_int_eq(open_fds(), base);
    sp_reserve_return(&reserve);        /* after deinit: nothing held */
    ck_assert_int_eq(open_fds(), base);
    sp_log_close(&log);
}
END_TEST

START_TEST(test_socket_finds_one_at_the_limit)
{
    struct sp_log log;
    struct sp_reserve reserve;
    struct rlimit old, low;
    int fds[64], n = 0, sock;

    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = (rlim_t)open_fds() + 40;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    ck_assert_int_eq(sp_log_open(&log, NULL, SP_LOG_WARN), 0);
    ck_assert_int_eq(sp_reserve_init(&reserve, 2, &log), 0);
    /* "clients" take every other descriptor */
    while (n < 64 && (fds[n] = open("/dev/null", O_RDONLY)) >= 0) {
        n++;
    }
    ck_assert_int_lt(n, 64);
    ck_assert_int_eq(errno, EMFILE);
    ck_assert_int_lt(socket(AF_INET, SOCK_STREAM, 0), 0);
    sp_reserve_release(&reserve);       /* a server connection's turn */
    sock = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(sock, 0);
    close(sock);
    sp_reserve_return(&reserve);        /* held again, not left free */
    ck_assert_int_eq(reserve.held, 2);
    ck_assert_int_lt(open("/dev/null", O_RDONLY), 0);
    while (n > 0) {
        close(fds[--n]);
    }
    sp_reserve_deinit(&reserve);
    sp_log_close(&log);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
}
END_TEST

START_TEST(test_at_most_half_the_limit)
{
    struct sp_log log;
    struct sp_reserve reserve;
    struct rlimit old, low;

    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = (rlim_t)open_fds() + 60;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    ck_assert_int_eq(sp_log_open(&log, NULL, SP_LOG_ERR), 0);
    ck_assert_int_eq(sp_reserve_init(&reserve, 100000, &log), 0);
    ck_assert_uint_eq(reserve.want, low.rlim_cur / 2);
    ck_assert_uint_eq(reserve.held, low.rlim_cur / 2);
    sp_reserve_deinit(&reserve);
    sp_log_close(&log);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
}
END_TEST

Suite *
sp_test_reserve_suite(void)
{
    return SP_TEST_SUITE("reserve", test_held_and_given_back,
                         test_socket_finds_one_at_the_limit,
                         test_at_most_half_the_limit);
}
