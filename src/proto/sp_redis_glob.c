/*
 * sp_redis_glob.c — Redis's glob-style matching (util.c stringmatchlen),
 * for PUBSUB CHANNELS patterns.
 */
#include "sp_redis_pubsub.h"

/* ---- Redis's glob ------------------------------------------------------------ */

bool
sp_redis_glob(const char *p, size_t plen, const char *s, size_t slen)
{
    while (plen > 0 && slen > 0) {
        switch (p[0]) {
        case '*':
            while (plen > 1 && p[1] == '*') {
                p++;
                plen--;
            }
            if (plen == 1) {
                return true;
            }
            for (;;) {
                if (sp_redis_glob(p + 1, plen - 1, s, slen)) {
                    return true;
                }
                if (slen == 0) {
                    return false;
                }
                s++;
                slen--;
            }
        case '?':
            s++;
            slen--;
            break;
        case '[': {
            bool negate, match = false;

            p++;
            plen--;
            negate = plen > 0 && p[0] == '^';
            if (negate) {
                p++;
                plen--;
            }
            for (;;) {
                if (plen == 0) {
                    break;              /* an open set: as Redis, ends here */
                }
                if (p[0] == '\\' && plen >= 2) {
                    p++;
                    plen--;
                    match = match || p[0] == s[0];
                } else if (p[0] == ']') {
                    break;
                } else if (plen >= 3 && p[1] == '-') {
                    char lo = p[0], hi = p[2];
                    if (lo > hi) {
                        char t = lo;
                        lo = hi;
                        hi = t;
                    }
                    match = match || (s[0] >= lo && s[0] <= hi);
                    p += 2;
                    plen -= 2;
                } else {
                    match = match || p[0] == s[0];
                }
                p++;
                plen--;
            }
            if (negate) {
                match = !match;
            }
            if (!match) {
                return false;
            }
            s++;
            slen--;
            if (plen == 0) {
                return slen == 0;
            }
            break;
        }
        case '\\':
            if (plen >= 2) {
                p++;
                plen--;
            }
            /* fall through */
        default:
            if (p[0] != s[0]) {
                return false;
            }
            s++;
            slen--;
            break;
        }
        p++;
        plen--;
    }
    while (plen > 0 && p[0] == '*') {
        p++;
        plen--;
    }
    return plen == 0 && slen == 0;
}

