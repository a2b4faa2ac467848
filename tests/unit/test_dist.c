/*
 * test_dist.c — distributions and routing: ketama continuum shape and point
 * values (MD5 of "<identity>-<k>", computed independently with Python's
 * hashlib), nutcracker's float point counts, modula weight expansion,
 * random, ejection, wrap-around, and the router's hash_tag rules.
 */
#include <string.h>

#include "sp_dist.h"
#include "sp_route.h"
#include "sp_test.h"


static struct sp_dist_server
server(const char *identity, uint32_t weight, bool live)
{
    struct sp_dist_server s = { identity, strlen(identity), weight, live };
    return s;
}

static uint32_t
points_of(const struct sp_dist *d, uint32_t index)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < d->npoints; i++) {
        n += d->points[i].server == index;
    }
    return n;
}

START_TEST(test_ketama_equal_weights)
{
    struct sp_dist_server s[] = {
        server("127.0.0.1:6379", 1, true), server("127.0.0.1:6380", 1, true),
        server("127.0.0.1:6381", 1, true),
    };
    struct sp_dist d;

    sp_dist_init(&d, SP_DIST_KETAMA);
    ck_assert_int_eq(sp_dist_build(&d, s, NELEMS(s)), 0);
    ck_assert_uint_eq(d.npoints, 480);
    ck_assert_uint_eq(d.nlive, 3);
    for (uint32_t i = 0; i < NELEMS(s); i++) {
        ck_assert_uint_eq(points_of(&d, i), 160);
    }
    for (uint32_t i = 1; i < d.npoints; i++) {
        ck_assert_uint_le(d.points[i - 1].value, d.points[i].value);
    }
    sp_dist_free(&d);
}
END_TEST

START_TEST(test_ketama_point_values)
{
    /* MD5("127.0.0.1:6379-0") read as four little-endian words */
    static const uint32_t expect[] = {
        0x8bb75706, 0x081066aa, 0x6c98c6fe, 0x28ff9e77,
    };
    struct sp_dist_server s[] = { server("127.0.0.1:6379", 1, true) };
    struct sp_dist d;

    sp_dist_init(&d, SP_DIST_KETAMA);
    ck_assert_int_eq(sp_dist_build(&d, s, 1), 0);
    ck_assert_uint_eq(d.npoints, 160);
    for (size_t k = 0; k < NELEMS(expect); k++) {
        bool found = false;
        for (uint32_t i = 0; i < d.npoints; i++) {
            found = found || d.points[i].value == expect[k];
        }
        ck_assert_msg(found, "point 0x%08x missing", expect[k]);
    }
    /* "<identity>-39" is the last digest for a 160-point server */
    bool found = false;
    for (uint32_t i = 0; i < d.npoints; i++) {
        found = found || d.points[i].value == 0x5ab08c31;
    }
    ck_assert(found);
    sp_dist_free(&d);
}
END_TEST

START_TEST(test_ketama_weighted_point_counts)
{
    /* nutcracker's float arithmetic: weights 1,2,3,5 -> 56,116,172,288 */
    struct sp_dist_server s[] = {
        server("a", 1, true), server("b", 2, true), server("c", 3, true),
        server("d", 5, true),
    };
    static const uint32_t expect[] = { 56, 116, 172, 288 };
    struct sp_dist d;

    sp_dist_init(&d, SP_DIST_KETAMA);
    ck_assert_int_eq(sp_dist_build(&d, s, NELEMS(s)), 0);
    for (uint32_t i = 0; i < NELEMS(s); i++) {
        ck_assert_uint_eq(points_of(&d, i), expect[i]);
    }
    ck_assert_uint_eq(d.npoints, 56 + 116 + 172 + 288);
    sp_dist_free(&d);
}
END_TEST

START_TEST(test_ketama_dispatch_and_wrap)
{
    struct sp_dist_server s[] = {
        server("alpha", 1, true), server("beta", 1, true),
    };
    struct sp_dist d;

    sp_dist_init(&d, SP_DIST_KETAMA);
    ck_assert_int_eq(sp_dist_build(&d, s, NELEMS(s)), 0);
    /* a hash equal to a point goes to that point's server */
    for (uint32_t i = 0; i < d.npoints; i += 37) {
        ck_assert_uint_eq(sp_dist_dispatch(&d, d.points[i].value),
                          d.points[i].server);
    }
    /* past the last point wraps to the first */
    uint32_t last = d.points[d.npoints - 1].value;
    if (last < UINT32_MAX) {
        ck_assert_uint_eq(sp_dist_dispatch(&d, last + 1), d.points[0].server);
    }
    ck_assert_uint_eq(sp_dist_dispatch(&d, 0), d.points[0].server);
    /* one above a point goes to the next point */
    ck_assert_uint_eq(sp_dist_dispatch(&d, d.points[10].value + 1),
                      d.points[11].server);
    sp_dist_free(&d);
}
END_TEST

/* The continuum's server for hash by a walk of every point. */
static uint32_t
ketama_by_scan(const struct sp_dist *d, uint32_t hash)
{
    for (uint32_t i = 0; i < d->npoints; i++) {
        if (d->points[i].value >= hash) {
            return d->points[i].server;
        }
    }
    return d->points[0].server;
}

/* The slice index (sp_dist.h) finds what a walk of the continuum finds: at
 * every point, one either side, the ends, and a spread of other hashes;
 * after rebuilds that shrink and grow the continuum too. */
START_TEST(test_ketama_index_matches_scan)
{
    struct sp_dist_server s[] = {
        server("a:1", 1, true), server("b:2", 3, true), server("c:3", 2, true),
        server("d:4", 1, true), server("e:5", 5, true), server("f:6", 1, true),
        server("g:7", 2, true),
    };
    struct sp_dist d;
    const uint32_t lives[] = { NELEMS(s), 4, 1, 6 };
    uint32_t x = 12345;

    sp_dist_init(&d, SP_DIST_KETAMA);
    for (uint32_t l = 0; l < NELEMS(lives); l++) {
        uint32_t live = lives[l];
        for (uint32_t i = 0; i < NELEMS(s); i++) {
            s[i].live = i < live;
        }
        ck_assert_int_eq(sp_dist_build(&d, s, NELEMS(s)), 0);
        for (uint32_t i = 0; i < d.npoints; i++) {
            uint32_t v = d.points[i].value;
            ck_assert_uint_eq(sp_dist_dispatch(&d, v), ketama_by_scan(&d, v));
            ck_assert_uint_eq(sp_dist_dispatch(&d, v - 1),
                              ketama_by_scan(&d, v - 1));
            ck_assert_uint_eq(sp_dist_dispatch(&d, v + 1),
                              ketama_by_scan(&d, v + 1));
        }
        ck_assert_uint_eq(sp_dist_dispatch(&d, 0), ketama_by_scan(&d, 0));
        ck_assert_uint_eq(sp_dist_dispatch(&d, UINT32_MAX),
                          ketama_by_scan(&d, UINT32_MAX));
        for (int i = 0; i < 20000; i++) {
            x = x * 1103515245u + 12345u;
            ck_assert_uint_eq(sp_dist_dispatch(&d, x), ketama_by_scan(&d, x));
        }
    }
    sp_dist_free(&d);
}
END_TEST

START_TEST(test_ketama_ejection_moves_only_its_keys)
{
    struct sp_dist_server s[] = {
        server("a", 1, true), server("b", 1, true), server("c", 1, true),
    };
    struct sp_dist all, two;
    uint32_t moved_from_live = 0;

    sp_dist_init(&all, SP_DIST_KETAMA);
    sp_dist_init(&two, SP_DIST_KETAMA);
    ck_assert_int_eq(sp_dist_build(&all, s, 3), 0);
    s[1].live = false;
    ck_assert_int_eq(sp_dist_build(&two, s, 3), 0);
    ck_assert_uint_eq(two.nlive, 2);
    ck_assert_uint_eq(points_of(&two, 1), 0);
    /* 2 servers rescale to 160 points each */
    ck_assert_uint_eq(two.npoints, 320);
    for (uint32_t h = 0; h < 100000; h++) {
        uint32_t hash = h * 42949u;
        uint32_t before = sp_dist_dispatch(&all, hash);
        uint32_t after = sp_dist_dispatch(&two, hash);
        ck_assert_uint_ne(after, 1);
        moved_from_live += before != 1 && before != after;
    }
    ck_assert_uint_eq(moved_from_live, 0);
    sp_dist_free(&all);
    sp_dist_free(&two);
}
END_TEST

START_TEST(test_no_live_server)
{
    struct sp_dist_server s[] = { server("a", 1, false) };
    struct sp_dist d;

    sp_dist_init(&d, SP_DIST_KETAMA);
    ck_assert_int_eq(sp_dist_build(&d, s, 1), 0);
    ck_assert(sp_dist_empty(&d));
    sp_dist_free(&d);
}
END_TEST

START_TEST(test_modula_weights_expand)
{
    struct sp_dist_server s[] = {
        server("a", 2, true), server("b", 1, true), server("c", 3, true),
    };
    static const uint32_t expect[] = { 0, 0, 1, 2, 2, 2 };
    struct sp_dist d;

    sp_dist_init(&d, SP_DIST_MODULA);
    ck_assert_int_eq(sp_dist_build(&d, s, NELEMS(s)), 0);
    ck_assert_uint_eq(d.npoints, 6);
    for (uint32_t h = 0; h < 60; h++) {
        ck_assert_uint_eq(sp_dist_dispatch(&d, h), expect[h % 6]);
    }
    s[0].live = false;
    ck_assert_int_eq(sp_dist_build(&d, s, NELEMS(s)), 0);
    ck_assert_uint_eq(d.npoints, 4);
    ck_assert_uint_eq(sp_dist_dispatch(&d, 0), 1);
    ck_assert_uint_eq(sp_dist_dispatch(&d, 1), 2);
    sp_dist_free(&d);
}
END_TEST

START_TEST(test_random_ignores_weight)
{
    struct sp_dist_server s[] = {
        server("a", 5, true), server("b", 1, true), server("c", 1, false),
    };
    struct sp_dist d;

    sp_dist_init(&d, SP_DIST_RANDOM);
    ck_assert_int_eq(sp_dist_build(&d, s, NELEMS(s)), 0);
    ck_assert_uint_eq(d.npoints, 2);
    ck_assert_uint_eq(sp_dist_dispatch(&d, 0), 0);
    ck_assert_uint_eq(sp_dist_dispatch(&d, 1), 1);
    sp_dist_free(&d);
}
END_TEST

START_TEST(test_names)
{
    ck_assert_int_eq(sp_dist_lookup("ketama", 6), SP_DIST_KETAMA);
    ck_assert_int_eq(sp_dist_lookup("modula", 6), SP_DIST_MODULA);
    ck_assert_int_eq(sp_dist_lookup("random", 6), SP_DIST_RANDOM);
    ck_assert_int_eq(sp_dist_lookup("ketam", 5), SP_DIST_NTYPES);
    ck_assert_str_eq(sp_dist_name(SP_DIST_MODULA), "modula");
}
END_TEST

/* ---- router ------------------------------------------------------------ */

static void
hash_input(const char *tag, const char *key, const char *expect)
{
    struct sp_router r;
    const uint8_t *in;
    size_t len;

    sp_router_init(&r, SP_HASH_MD5, SP_DIST_KETAMA, tag, 2, 1);
    sp_router_hash_input(&r, (const uint8_t *)key, strlen(key), &in, &len);
    ck_assert_uint_eq(len, strlen(expect));
    ck_assert(memcmp(in, expect, len) == 0);
    sp_router_free(&r);
}

START_TEST(test_hash_tag)
{
    hash_input("{}", "user{42}:name", "42");
    hash_input("{}", "{42}", "42");
    hash_input("{}", "a{b}c{d}", "b");
    hash_input("{}", "{}empty", "{}empty");     /* empty tag: whole key */
    hash_input("{}", "a{b", "a{b");             /* no closing: whole key */
    hash_input("{}", "x}y{z}", "z");            /* close before open */
    hash_input("{}", "plain", "plain");
    hash_input("$$", "a$bc$d", "bc");           /* same char both ends */
    hash_input("$$", "a$$b", "a$$b");
    hash_input(NULL, "user{42}", "user{42}");
}
END_TEST

START_TEST(test_router_shortcuts)
{
    struct sp_router one, two;
    struct sp_dist_server s[] = { server("a", 1, true), server("b", 1, true) };

    sp_router_init(&one, SP_HASH_MD5, SP_DIST_MODULA, NULL, 1, 1);
    ck_assert_uint_eq(sp_router_hash(&one, (const uint8_t *)"k", 1), 0);
    sp_router_init(&two, SP_HASH_MD5, SP_DIST_MODULA, NULL, 2, 1);
    ck_assert_uint_eq(sp_router_hash(&two, (const uint8_t *)"", 0), 0);
    ck_assert_uint_eq(sp_router_hash(&two, (const uint8_t *)"k", 1),
                      sp_hash_md5((const uint8_t *)"k", 1));
    ck_assert_int_eq(sp_router_route(&two, (const uint8_t *)"k", 1), -1);
    ck_assert_int_eq(sp_router_rebuild(&two, s), 0);
    ck_assert_int_eq(sp_router_route(&two, (const uint8_t *)"k", 1),
                     sp_hash_md5((const uint8_t *)"k", 1) % 2);
    sp_router_free(&one);
    sp_router_free(&two);
}
END_TEST

START_TEST(test_router_random_spreads)
{
    struct sp_router r;
    struct sp_dist_server s[] = {
        server("a", 1, true), server("b", 1, true), server("c", 1, true),
    };
    uint32_t seen[3] = { 0 };

    sp_router_init(&r, SP_HASH_MD5, SP_DIST_RANDOM, NULL, 3, 12345);
    ck_assert_int_eq(sp_router_rebuild(&r, s), 0);
    for (int i = 0; i < 3000; i++) {
        int64_t idx = sp_router_route(&r, (const uint8_t *)"same", 4);
        ck_assert(idx >= 0 && idx < 3);
        seen[idx]++;
    }
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_gt(seen[i], 800);
    }
    sp_router_free(&r);
}
END_TEST

Suite *
sp_test_dist_suite(void)
{
    return SP_TEST_SUITE("dist", test_ketama_equal_weights,
                         test_ketama_point_values,
                         test_ketama_weighted_point_counts,
                         test_ketama_dispatch_and_wrap,
                         test_ketama_index_matches_scan,
                         test_ketama_ejection_moves_only_its_keys,
                         test_no_live_server, test_modula_weights_expand,
                         test_random_ignores_weight, test_names, test_hash_tag,
                         test_router_shortcuts, test_router_random_spreads);
}
