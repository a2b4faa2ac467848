/*
 * test_cluster_map.c — Redis Cluster's placement (sp_cluster_map.h): key
 * slots against redis-server's CLUSTER KEYSLOT, maps read from CLUSTER
 * SHARDS and CLUSTER SLOTS replies (whole, cut short, malformed), and the
 * shared region's slot map (sp_shared.h).
 */
#include <stdlib.h>
#include <string.h>

#include "sp_cluster_map.h"
#include "sp_conf.h"
#include "sp_shared.h"
#include "sp_test.h"

static uint16_t
slot(const char *key)
{
    return sp_cluster_slot((const uint8_t *)key, strlen(key));
}

START_TEST(test_key_slots)
{
    /* redis-server 7.0's CLUSTER KEYSLOT */
    ck_assert_uint_eq(slot("123456789"), 12739);
    ck_assert_uint_eq(slot("foo"), 12182);
    ck_assert_uint_eq(slot("bar"), 5061);
    ck_assert_uint_eq(slot(""), 0);
    /* the first {...} that is not empty is hashed */
    ck_assert_uint_eq(slot("{user1000}.following"), slot("user1000"));
    ck_assert_uint_eq(slot("foo{bar}{zap}"), slot("bar"));
    ck_assert_uint_eq(slot("foo{}{bar}"), slot("foo{}{bar}"));
    ck_assert_uint_ne(slot("foo{}{bar}"), slot("bar"));
    ck_assert_uint_eq(slot("foo{{bar}}zap"), slot("{bar"));
}
END_TEST

/* A CLUSTER SLOTS reply of three primaries, each with one replica; the
 * second range's primary has an empty address (the node asked). */
static const char slots_reply[] =
    "*3\r\n"
    "*4\r\n:0\r\n:5460\r\n"
    "*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$3\r\naaa\r\n"
    "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$3\r\nddd\r\n"
    "*4\r\n:5461\r\n:10922\r\n"
    "*4\r\n$0\r\n\r\n:7001\r\n$3\r\nbbb\r\n*0\r\n"
    "*3\r\n$9\r\n127.0.0.1\r\n:7004\r\n$3\r\neee\r\n"
    "*3\r\n:10923\r\n:16383\r\n"
    "*3\r\n$9\r\n127.0.0.1\r\n:7002\r\n$3\r\nccc\r\n";

START_TEST(test_parse_slots)
{
    struct sp_cluster_map *map = malloc(sizeof(*map));
    char err[128];

    sp_cluster_map_init(map);
    ck_assert_int_eq(sp_cluster_map_parse(map, false, slots_reply,
                                          strlen(slots_reply), "10.0.0.9",
                                          err, sizeof(err)), 0);
    ck_assert_uint_eq(map->nnodes, 5);
    ck_assert_uint_eq(map->nserved, 16384);
    int64_t a = sp_cluster_map_find(map, "127.0.0.1", 7000);
    int64_t b = sp_cluster_map_find(map, "10.0.0.9", 7001);
    int64_t d = sp_cluster_map_find(map, "127.0.0.1", 7003);
    ck_assert_int_ge(a, 0);
    ck_assert_int_ge(b, 0);
    ck_assert_int_ge(d, 0);
    ck_assert_uint_eq(map->slots[0], a);
    ck_assert_uint_eq(map->slots[5460], a);
    ck_assert_uint_eq(map->slots[5461], b);
    ck_assert(map->nodes[a].primary);
    ck_assert(!map->nodes[d].primary);
    ck_assert_uint_eq(map->nodes[d].primary_of, a);
    ck_assert_str_eq(map->nodes[b].id, "bbb");
    ck_assert_uint_eq(sp_cluster_map_slots_of(map, (uint32_t)b), 5462);
    ck_assert_int_eq(sp_cluster_reply_len(slots_reply, strlen(slots_reply)),
                     (long)strlen(slots_reply));
    /* cut short: not whole yet, at every length */
    for (size_t n = 0; n < strlen(slots_reply); n++) {
        ck_assert_int_eq(sp_cluster_reply_len(slots_reply, n), 0);
    }
    /* an error reply, and a range out of bounds */
    const char *off = "-ERR This instance has cluster support disabled\r\n";
    ck_assert_int_eq(sp_cluster_map_parse(map, false, off, strlen(off), "h",
                                          err, sizeof(err)), -1);
    ck_assert_str_eq(err, "ERR This instance has cluster support disabled");
    const char *bad = "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:1\r\n";
    ck_assert_int_eq(sp_cluster_map_parse(map, false, bad, strlen(bad), "h",
                                          err, sizeof(err)), -1);
    ck_assert_int_eq(sp_cluster_reply_len("*1\r\n%2\r\n", 9), -1);
    sp_cluster_map_free(map);
    free(map);
}
END_TEST

/* One CLUSTER SHARDS shard in RESP2: a flat map. */
#define SHARD(ranges, nodes) \
    "*4\r\n$5\r\nslots\r\n" ranges "$5\r\nnodes\r\n" nodes
#define NODE(id, port, role, health) \
    "*14\r\n$2\r\nid\r\n$3\r\n" id "\r\n$4\r\nport\r\n:" port "\r\n" \
    "$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n" \
    "$4\r\nrole\r\n$" role "\r\n$18\r\nreplication-offset\r\n:99\r\n" \
    "$6\r\nhealth\r\n$" health "\r\n"

static const char shards_reply[] =
    "*2\r\n"
    SHARD("*4\r\n:0\r\n:100\r\n:200\r\n:8000\r\n",
          "*2\r\n" NODE("aaa", "7000", "6\r\nmaster", "6\r\nonline")
                   NODE("ddd", "7003", "7\r\nreplica", "6\r\nonline"))
    SHARD("*2\r\n:8001\r\n:16383\r\n",
          "*2\r\n" NODE("bbb", "7001", "6\r\nmaster", "6\r\nfailed")
                   NODE("eee", "7004", "7\r\nreplica", "7\r\nloading"));

START_TEST(test_parse_shards)
{
    struct sp_cluster_map *map = malloc(sizeof(*map));
    char err[128];

    sp_cluster_map_init(map);
    ck_assert_int_eq(sp_cluster_map_parse(map, true, shards_reply,
                                          strlen(shards_reply), "x", err,
                                          sizeof(err)), 0);
    ck_assert_uint_eq(map->nnodes, 4);
    int64_t a = sp_cluster_map_find(map, "127.0.0.1", 7000);
    int64_t b = sp_cluster_map_find(map, "127.0.0.1", 7001);
    int64_t e = sp_cluster_map_find(map, "127.0.0.1", 7004);
    ck_assert_uint_eq(map->slots[100], a);
    ck_assert_uint_eq(map->slots[101], SP_CLUSTER_NO_NODE);  /* a hole */
    ck_assert_uint_eq(map->slots[200], a);
    ck_assert_uint_eq(map->slots[16383], b);
    ck_assert_uint_eq(map->nserved, 16384 - 99);
    ck_assert(map->nodes[b].failed);
    ck_assert(map->nodes[e].failed);
    ck_assert(!map->nodes[a].failed);
    ck_assert_uint_eq(map->nodes[e].primary_of, b);
    ck_assert_str_eq(map->nodes[a].id, "aaa");
    for (size_t n = 0; n < strlen(shards_reply); n++) {
        ck_assert_int_eq(sp_cluster_reply_len(shards_reply, n), 0);
    }
    /* a shard that is no map */
    const char *bad = "*1\r\n*3\r\n$5\r\nslots\r\n*0\r\n$5\r\nnodes\r\n";
    ck_assert_int_eq(sp_cluster_map_parse(map, true, bad, strlen(bad), "x",
                                          err, sizeof(err)), -1);
    sp_cluster_map_free(map);
    free(map);
}
END_TEST

START_TEST(test_shared_map)
{
    struct sp_conf *conf = NULL;
    struct sp_shared shared;
    char err[SP_CONF_ERRLEN];
    const char *yaml =
        "plain:\n  listen: 127.0.0.1:22120\n  servers:\n   - 127.0.0.1:1:1\n"
        "zcl:\n  listen: 127.0.0.1:22121\n  redis: true\n"
        "  distribution: redis_cluster\n  cluster_max_nodes: 4\n"
        "  servers:\n   - 127.0.0.1:7000:1\n";
    uint16_t *slots = malloc(SP_CLUSTER_SLOTS * sizeof(*slots));
    uint16_t *copy = malloc(SP_CLUSTER_SLOTS * sizeof(*copy));
    struct sp_cluster_role roles[4] = {
        { SP_CLUSTER_NO_NODE, SP_SHARED_NODE_PRIMARY, 0 },
        { 0, SP_SHARED_NODE_REPLICA, 1 },
    }, got[4];
    unsigned version = 0;

    ck_assert_int_eq(sp_conf_load_buffer("t.yml", yaml, strlen(yaml), &conf,
                                         err, sizeof(err)), 0);
    ck_assert_int_eq(sp_shared_create(&shared, conf, 2), 0);
    /* pools in nutcracker's order: "zcl" (shorter) first */
    ck_assert_str_eq(conf->pools[0].name, "zcl");
    ck_assert_ptr_null(sp_shared_cluster(&shared, conf, 1));
    struct sp_shared_cluster *c = sp_shared_cluster(&shared, conf, 0);
    ck_assert_ptr_nonnull(c);
    /* no map yet */
    ck_assert_int_eq(sp_shared_cluster_read(c, 4, &version, copy, got), 0);
    for (uint32_t s = 0; s < SP_CLUSTER_SLOTS; s++) {
        slots[s] = s < 8000 ? 0 : SP_CLUSTER_NO_NODE;
    }
    sp_shared_cluster_write(c, 4, slots, roles);
    ck_assert_int_eq(sp_shared_cluster_read(c, 4, &version, copy, got), 1);
    ck_assert_uint_eq(version, 2);
    ck_assert_uint_eq(copy[7999], 0);
    ck_assert_uint_eq(copy[8000], SP_CLUSTER_NO_NODE);
    ck_assert_uint_eq(got[1].role, SP_SHARED_NODE_REPLICA);
    ck_assert_uint_eq(got[1].failed, 1);
    ck_assert_uint_eq(got[1].primary_of, 0);
    /* unchanged: nothing copied */
    ck_assert_int_eq(sp_shared_cluster_read(c, 4, &version, copy, got), 0);
    /* the region lies before the stats slots: writing them spares it */
    memset(sp_shared_slot(&shared, 0), 0xff, shared.header->slot_size);
    version = 0;
    ck_assert_int_eq(sp_shared_cluster_read(c, 4, &version, copy, got), 1);
    ck_assert_uint_eq(copy[0], 0);
    sp_shared_destroy(&shared);
    sp_conf_free(conf);
    free(slots);
    free(copy);
}
END_TEST

Suite *
sp_test_cluster_map_suite(void)
{
    Suite *s = suite_create("cluster_map");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_key_slots);
    tcase_add_test(tc, test_parse_slots);
    tcase_add_test(tc, test_parse_shards);
    tcase_add_test(tc, test_shared_map);
    suite_add_tcase(s, tc);
    return s;
}
