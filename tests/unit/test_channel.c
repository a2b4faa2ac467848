/*
 * test_channel.c — the master/worker channel: whole messages both ways, a
 * descriptor carried with SCM_RIGHTS (and usable at the other end), EAGAIN
 * when empty, EOF when the peer is gone.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sp_channel.h"
#include "sp_test.h"

START_TEST(test_messages_and_descriptors)
{
    int ch[2], pair[2], fd;
    struct sp_channel_msg out = { SP_CHANNEL_ADOPT, 3, 1234, SP_CHANNEL_AUTHENTICATED,
                                  42, "alpha" }, in;
    char buf[8];

    ck_assert_int_eq(sp_channel_open(ch), 0);
    ck_assert_int_eq(sp_channel_recv(ch[1], &in, &fd, NULL), -1);
    ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    ck_assert_int_eq(sp_channel_send(ch[0], &out, pair[0]), 0);
    close(pair[0]);                         /* in flight: still alive */
    ck_assert_int_eq(sp_channel_send(ch[0], &out, -1), 0);

    ck_assert_int_eq(sp_channel_recv(ch[1], &in, &fd, NULL), 1);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(in.command, SP_CHANNEL_ADOPT);
    ck_assert_int_eq(in.slot, 3);
    ck_assert_int_eq(in.pid, 1234);
    ck_assert_int_eq(in.arg, SP_CHANNEL_AUTHENTICATED);
    ck_assert_uint_eq(in.auth, 42);
    ck_assert_str_eq(in.name, "alpha");
    ck_assert_int_eq(write(fd, "hi", 2), 2);        /* the same socket */
    ck_assert_int_eq(read(pair[1], buf, sizeof(buf)), 2);
    close(fd);

    ck_assert_int_eq(sp_channel_recv(ch[1], &in, &fd, NULL), 1);
    ck_assert_int_eq(fd, -1);
    ck_assert_str_eq(sp_channel_cmd_name(in.command), "ADOPT");

    close(ch[0]);
    ck_assert_int_eq(sp_channel_recv(ch[1], &in, &fd, NULL), 0);   /* EOF */
    close(ch[1]);
    close(pair[1]);
}
END_TEST

Suite *
sp_test_channel_suite(void)
{
    return SP_TEST_SUITE("channel", test_messages_and_descriptors);
}
