/*
 * sp_memcache.h — the memcached ASCII protocol (classic and meta commands):
 * the command table, and resumable parsers for requests and replies.
 *
 * Same contract as sp_redis.h: the parsers never copy and never allocate;
 * they are fed contiguous chunks of a connection's byte stream in stream
 * order, may stop between any two bytes, and report positions as absolute
 * stream offsets. Data blocks are stepped over, never scanned.
 *
 * What memcached 1.6 does, and so what we do (each point checked against a
 * real memcached 1.6.18, see tests/unit/test_memcache.c):
 * - A command line ends at LF; a CR just before the LF is dropped. Tokens
 *   are separated by spaces only (a tab is part of a token), and a NUL ends
 *   the line's tokens (the rest of the line is ignored, as memcached's
 *   strlen does). Command names are case-sensitive.
 * - An empty line, an unknown command and a known command with the wrong
 *   number of tokens are answered "ERROR" and the connection stays open.
 * - A malformed argument of a known command is answered with memcached's
 *   CLIENT_ERROR text (SP_MEMCACHE_ERR_*); a key longer than 250 bytes is
 *   "CLIENT_ERROR bad command line format".
 * - A command line of more than 2048 bytes before its LF is a framing
 *   error (memcached closes the connection, without a word, once it holds
 *   2049 bytes of a line; only get and gets lines may be longer, for us up
 *   to SP_MEMCACHE_MAX_GET_LINE). We send "CLIENT_ERROR line too long"
 *   before closing.
 *
 * Where we depart from memcached, on purpose:
 * - A request whose first byte is 0x80 (the binary protocol's request
 *   magic) is a framing error, SP_MEMCACHE_ERR_BINARY, at that byte: the
 *   proxy speaks the text protocol only and answers it in binary
 *   (sp_memcache_binary_refusal) before closing. memcached picks the
 *   protocol by a connection's first byte; no text command starts with
 *   0x80, so this is only ever a binary client.
 * - Of the commands that are not routed by key, flush_all goes to every
 *   server, version, stats and verbosity are answered by the proxy, and
 *   the rest (lru_crawler, slabs, watch, ...) are not in the table: the
 *   caller answers them "ERROR". "stats <args>" is answered
 *   SP_MEMCACHE_ERR_STATS (the proxy has no slabs or items of its own).
 * - verbosity's level is read strictly as a number, as flush_all's delay
 *   and every number below are (memcached's strtoul would take "-0").
 * - A storage command (set add replace append prepend cas ms) whose line is
 *   malformed but whose <bytes> is sound has its data block swallowed before
 *   the error is reported. memcached replies the error and then runs the
 *   data block as a command line, which makes a second reply the client does
 *   not expect. A storage command whose <bytes> cannot be read (missing, not
 *   a number, negative, above 2^31 - 3) or whose token count is wrong is a
 *   framing error: where its data ends cannot be known. (memcached answers
 *   and reads on, running the data block as commands.)
 * - Numbers are read strictly: an optional sign ('+'; '-' only where
 *   memcached takes a negative number) then decimal digits, within 64 bits.
 *   memcached's strtol would also skip leading tabs and stop at one; no
 *   client sends those. For storage commands this can only be stricter than
 *   memcached, never looser, so a line we forward is never one memcached
 *   rejects without swallowing its data (which would break the server
 *   connection's reply order).
 */
#ifndef SP_MEMCACHE_H
#define SP_MEMCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sp_parse.h"

#define SP_MEMCACHE_MAX_KEY        250           /* memcached KEY_MAX_LENGTH */
#define SP_MEMCACHE_MAX_LINE       2048          /* bytes before the LF */
#define SP_MEMCACHE_MAX_GET_LINE   (1024 * 1024) /* get/gets with many keys */
#define SP_MEMCACHE_MAX_NAME       9             /* "flush_all" */
#define SP_MEMCACHE_VALUE_DEFAULT  (1024 * 1024) /* memcached's -I default */
#define SP_MEMCACHE_VALUE_LIMIT    (1024 * 1024 * 1024) /* memcached -I max */
#define SP_MEMCACHE_META_MAX_TOKENS 19 /* ms: name key datalen + 16 flags */

/*
 * The memcached release whose text protocol the proxy speaks, as `version`
 * reports it: clients read the first number of that reply as the server's
 * (libmemcached refuses a major version 0, failing its ping and stats;
 * memccapable expects 1.6's answers only from a "1.6" server), so the
 * proxy's own name and version follow it: "VERSION 1.6.0 shardproxy-X.Y.Z".
 */
#define SP_MEMCACHE_PROTOCOL_VERSION "1.6.0"

/* What the proxy answers itself instead of forwarding (the line, no CRLF). */
#define SP_MEMCACHE_ERR_UNKNOWN    "ERROR"
#define SP_MEMCACHE_ERR_FORMAT     "CLIENT_ERROR bad command line format"
#define SP_MEMCACHE_ERR_DELETE     "CLIENT_ERROR bad command line format.  " \
                                   "Usage: delete <key> [noreply]"
#define SP_MEMCACHE_ERR_EXPTIME    "CLIENT_ERROR invalid exptime argument"
#define SP_MEMCACHE_ERR_DELTA      "CLIENT_ERROR invalid numeric delta argument"
#define SP_MEMCACHE_ERR_FLAGS      "CLIENT_ERROR options flags too long"
#define SP_MEMCACHE_ERR_CHUNK      "CLIENT_ERROR bad data chunk"
#define SP_MEMCACHE_ERR_TOO_LARGE  "SERVER_ERROR object too large for cache"
#define SP_MEMCACHE_ERR_LINE       "CLIENT_ERROR line too long"
#define SP_MEMCACHE_ERR_STATS      "CLIENT_ERROR the proxy answers stats " \
                                   "with no arguments only"
/* Not a line: a binary-protocol request (answered in binary, then closed). */
#define SP_MEMCACHE_ERR_BINARY     "binary protocol request"

/* ---- replies --------------------------------------------------------------- */

/* The kind of a server's reply: its first word, or its last line for get. */
typedef enum sp_memcache_reply_type {
    SP_MEMCACHE_REPLY_NONE,         /* no reply parsed yet */
    SP_MEMCACHE_REPLY_ERROR,        /* ERROR */
    SP_MEMCACHE_REPLY_CLIENT_ERROR, /* CLIENT_ERROR <message> */
    SP_MEMCACHE_REPLY_SERVER_ERROR, /* SERVER_ERROR <message> */
    SP_MEMCACHE_REPLY_STORED,
    SP_MEMCACHE_REPLY_NOT_STORED,
    SP_MEMCACHE_REPLY_EXISTS,
    SP_MEMCACHE_REPLY_NOT_FOUND,
    SP_MEMCACHE_REPLY_DELETED,
    SP_MEMCACHE_REPLY_TOUCHED,
    SP_MEMCACHE_REPLY_END,          /* get/gets/gat/gats: END after zero or
                                       more VALUE items */
    SP_MEMCACHE_REPLY_NUMBER,       /* incr/decr: the new value */
    SP_MEMCACHE_REPLY_VERSION,      /* VERSION <text> */
    SP_MEMCACHE_REPLY_OK,           /* meta HD under -o meta_response_old */
    SP_MEMCACHE_REPLY_HD,           /* meta: success, no value */
    SP_MEMCACHE_REPLY_NS,           /* meta: not stored */
    SP_MEMCACHE_REPLY_EX,           /* meta: CAS mismatch */
    SP_MEMCACHE_REPLY_NF,           /* meta: not found */
    SP_MEMCACHE_REPLY_EN,           /* meta: miss */
    SP_MEMCACHE_REPLY_MN,           /* meta no-op */
    SP_MEMCACHE_REPLY_VA,           /* meta: VA <size> <flags>* + data */
    SP_MEMCACHE_REPLY_ME            /* meta debug: ME <key> <k>=<v>* */
} sp_memcache_reply_type_t;

#define SP_MEMCACHE_REPLY_BIT(type) (UINT32_C(1) << (type))

/* ---- command table ------------------------------------------------------- */

/* How a command is handled. */
typedef enum sp_memcache_kind {
    SP_MEMCACHE_FORWARD,    /* routed by its key to one server */
    SP_MEMCACHE_FANOUT,     /* split per server by its keys; the VALUE items
                               are merged in key order, then one END */
    SP_MEMCACHE_BROADCAST,  /* the request as it came, to every server of
                               the pool: OK when every one said OK, else the
                               first error */
    SP_MEMCACHE_LOCAL       /* answered by the proxy */
} sp_memcache_kind_t;

/* Commands the proxy answers itself. */
typedef enum sp_memcache_local {
    SP_MEMCACHE_LOCAL_NONE,
    SP_MEMCACHE_LOCAL_QUIT,     /* close, no reply */
    SP_MEMCACHE_LOCAL_VERSION,  /* "VERSION <PROTOCOL_VERSION> shardproxy-<v>" */
    SP_MEMCACHE_LOCAL_NOOP,     /* mn: "MN", once every earlier reply is out */
    SP_MEMCACHE_LOCAL_STATS,    /* the proxy's counters: "STAT <name> <value>"
                                   lines, then "END" */
    SP_MEMCACHE_LOCAL_VERBOSITY /* "OK" (nothing to set in the proxy) */
} sp_memcache_local_t;

/* How a command line is read: which token means what. */
typedef enum sp_memcache_syntax {
    SP_MEMCACHE_SYNTAX_STORE,   /* <cmd> <key> <flags> <exptime> <bytes>
                                   [noreply], then a data block */
    SP_MEMCACHE_SYNTAX_CAS,     /* cas <key> <flags> <exptime> <bytes>
                                   <cas unique> [noreply], then data */
    SP_MEMCACHE_SYNTAX_GET,     /* <cmd> <key>+ */
    SP_MEMCACHE_SYNTAX_GAT,     /* <cmd> <exptime> <key>* */
    SP_MEMCACHE_SYNTAX_DELETE,  /* delete <key> [0] [noreply] */
    SP_MEMCACHE_SYNTAX_ARITH,   /* incr/decr <key> <delta> [noreply] */
    SP_MEMCACHE_SYNTAX_TOUCH,   /* touch <key> <exptime> [noreply] */
    SP_MEMCACHE_SYNTAX_META,    /* mg md ma: <cmd> <key> <flag>* */
    SP_MEMCACHE_SYNTAX_META_SET, /* ms <key> <datalen> <flag>*, then data */
    SP_MEMCACHE_SYNTAX_META_DEBUG, /* me <key> [b] */
    SP_MEMCACHE_SYNTAX_FLUSH,   /* flush_all [delay] [noreply]: the delay a
                                   signed number (else ERR_EXPTIME) */
    SP_MEMCACHE_SYNTAX_VERBOSITY, /* verbosity <level> [noreply]: the level
                                   an unsigned number (else ERR_FORMAT);
                                   a third token is ignored */
    SP_MEMCACHE_SYNTAX_STATS,   /* stats: any argument is ERR_STATS */
    SP_MEMCACHE_SYNTAX_BARE     /* <cmd>, any further tokens ignored */
} sp_memcache_syntax_t;

/*
 * One row per command. min_tokens/max_tokens count the tokens of the line,
 * the name included (max 0: no limit), as memcached checks them; outside
 * them the reply is "ERROR". `replies` is the set of reply types a server
 * may answer the command with (SP_MEMCACHE_REPLY_BIT), besides ERROR,
 * CLIENT_ERROR and SERVER_ERROR which every command may get.
 */
struct sp_memcache_command {
    const char             *name;
    sp_memcache_kind_t      kind;
    sp_memcache_local_t     local;
    sp_memcache_syntax_t    syntax;
    uint8_t                 min_tokens;
    uint8_t                 max_tokens;
    bool                    data;       /* a data block follows the line */
    bool                    noreply;    /* takes a trailing "noreply" */
    bool                    long_line;  /* line up to MAX_GET_LINE bytes */
    bool                    write;      /* modifies data (for stats) */
    uint32_t                replies;
};

/* The row for name[0..len) (exact case, as memcached), or NULL. */
const struct sp_memcache_command *sp_memcache_command_lookup(const char *name,
                                                             size_t len);

/* Number of rows, and the rows (tests). */
size_t sp_memcache_command_count(void);
const struct sp_memcache_command *sp_memcache_command_at(size_t i);

/* ---- request parser ------------------------------------------------------ */

/*
 * Request parser state. The caller provides the key array (so the parser
 * allocates nothing): a request with more keys than keys_cap records the
 * first keys_cap and sets keys_truncated (a FANOUT request the caller cannot
 * split: answer it an error; a FORWARD request has one key).
 *
 * After SP_PARSE_DONE:
 * - error == NULL: forward the bytes [start, end) (FORWARD), split them by
 *   keys (FANOUT: "get|gets <keys>\r\n", "gat|gats <arg1> <keys>\r\n"; with
 *   no key, as "gat 10" has, the reply is "END"), or answer it (LOCAL).
 * - error != NULL: do not forward; answer "<error>\r\n" unless noreply is
 *   set (memcached suppresses even its errors then). command is NULL for an
 *   unknown command or an empty line, and error is then "ERROR".
 * - noreply: a classic command ended with "noreply" (as memcached reads
 *   it: the last token, once the token count is right, unless it is the
 *   key; flush_all's and verbosity's first argument may be it); the server
 *   sends nothing back for it, so expect no reply.
 * - quiet: a meta command (mg ms md ma) has the q flag: the server omits
 *   its nominal reply (mg: EN; ms md: HD; ma: HD or VA) and still sends any
 *   other (NS EX NF, errors). Since whether a reply comes is then unknown,
 *   a proxy forwarding it can write "mn\r\n" after it on the same server
 *   connection: the reply parser accepts MN for any meta command, so the
 *   next reply is either MN (nothing to relay) or the real reply, then MN.
 * - key_base64: the key is base64 (meta b flag); keys[0] is its encoded
 *   text. Routing it as the same item as the plain key needs it decoded.
 *
 * The results, the keys array included, are valid until the next call.
 */
struct sp_memcache_req_parser {
    /* results of the last SP_PARSE_DONE */
    const struct sp_memcache_command *command; /* NULL: unknown or empty */
    uint64_t  start;                /* stream offset of the request */
    uint64_t  end;                  /* one past its last byte (after the
                                       data block's CRLF, if any) */
    uint32_t  ntokens;              /* tokens on the line, name included */
    struct sp_span *keys;      /* caller's array */
    uint32_t  keys_cap;
    uint32_t  nkeys;
    bool      keys_truncated;
    struct sp_span arg1;       /* second token (gat/gats: exptime) */
    struct sp_span value;      /* data block, CRLF excluded */
    bool      noreply;
    bool      quiet;
    bool      key_base64;
    bool      binary;               /* SP_PARSE_ERROR at a binary-protocol
                                       request's magic */
    const char *error;              /* DONE: the line to answer instead of
                                       forwarding; SP_PARSE_ERROR: the line
                                       to send before closing, or
                                       SP_MEMCACHE_ERR_BINARY (no line: the
                                       refusal, in binary) */

    /* private state */
    uint64_t  offset;               /* stream offset of the next byte */
    int       state;
    uint32_t  max_value;
    uint32_t  line_limit;
    bool      in_token;
    bool      cr_pending;           /* a CR that ends the line if LF follows */
    bool      nul_seen;             /* tokens ended by a NUL */
    uint64_t  token_start;
    uint32_t  token_len;
    uint8_t   token_first;
    uint8_t   noreply_match;        /* bytes of "noreply" matched so far */
    uint64_t  number;               /* the token read as a number */
    uint32_t  digits;
    char      sign;                 /* '+', '-' or 0 */
    bool      number_bad;           /* not a number, or above 64 bits */
    bool      last_noreply;         /* the last token was "noreply" */
    bool      bad_key;
    bool      bad_format;           /* flags, exptime or cas of a store;
                                       verbosity's level */
    bool      bad_exptime;          /* also flush_all's delay */
    bool      bad_delta;
    bool      hold_zero;            /* delete <key> 0 */
    bool      bytes_ok;
    bool      data_bad;             /* no CRLF after the data block */
    uint32_t  bytes;
    uint64_t  data_left;
    char      name[SP_MEMCACHE_MAX_NAME + 1];
    uint32_t  name_len;
};

/*
 * Start parsing a stream at stream offset `offset`. keys/keys_cap is where
 * key positions go. A data block above max_value bytes (0:
 * SP_MEMCACHE_VALUE_DEFAULT; at most SP_MEMCACHE_VALUE_LIMIT) is swallowed
 * and answered SP_MEMCACHE_ERR_TOO_LARGE, as memcached answers a value
 * above its -I. Set it to the backends' -I or above: a value the backend
 * finds too large is still framed correctly and the server answers it.
 * Note memcached also deletes the key's old value when it refuses a too
 * large `set` or `ms` (any mode; not add replace append prepend cas): a
 * proxy refusing one itself should send "delete <key> noreply" to match.
 */
void sp_memcache_req_init(struct sp_memcache_req_parser *p, uint64_t offset,
                          struct sp_span *keys, uint32_t keys_cap,
                          uint32_t max_value);

/* At a request boundary: no byte of a request read yet (the state is then
 * nothing but the stream offset, and may be set up afresh). */
bool sp_memcache_req_idle(const struct sp_memcache_req_parser *p);

/*
 * Feed the chunk data[0..len), which starts at stream offset p->offset.
 * On SP_PARSE_DONE *consumed is the number of bytes of this chunk that belong
 * to the finished request (feed the rest again for the next one); on
 * SP_PARSE_AGAIN it is len; on SP_PARSE_ERROR it counts the bytes before
 * the offending one (for a line that is wrong as a whole, its LF; for a
 * binary request, its magic: its header is data[*consumed..len)), and
 * every later call fails the same way.
 *
 * A data block is its <bytes> bytes then two more, which must be CRLF:
 * memcached reads exactly that many whatever they hold, so do we, and
 * otherwise answer SP_MEMCACHE_ERR_CHUNK and go on after them.
 */
sp_parse_status_t sp_memcache_req_parse(struct sp_memcache_req_parser *p,
                                        const uint8_t *data, size_t len,
                                        size_t *consumed);

/* ---- the binary protocol, refused ------------------------------------------ */

#define SP_MEMCACHE_BINARY_REQUEST  0x80    /* request magic */
#define SP_MEMCACHE_BINARY_RESPONSE 0x81    /* response magic */
#define SP_MEMCACHE_BINARY_HEADER   24
#define SP_MEMCACHE_BINARY_UNKNOWN  0x0081  /* status "Unknown command" */
#define SP_MEMCACHE_BINARY_TEXT     "Unknown command: this proxy speaks only " \
                                    "the memcached text protocol"
#define SP_MEMCACHE_BINARY_REFUSAL  (SP_MEMCACHE_BINARY_HEADER \
                                     + sizeof(SP_MEMCACHE_BINARY_TEXT) - 1)

/*
 * The answer to a binary-protocol request: a response header (magic 0x81,
 * the request's opcode and opaque echoed, status "Unknown command", no key,
 * no extras, CAS 0) and SP_MEMCACHE_BINARY_TEXT as its body. req[0..len)
 * are the request's bytes from its magic on, as far as they are known: a
 * field not among them is answered 0. Writes SP_MEMCACHE_BINARY_REFUSAL
 * bytes to out and returns that.
 */
size_t sp_memcache_binary_refusal(const uint8_t *req, size_t len,
                                  uint8_t out[SP_MEMCACHE_BINARY_REFUSAL]);

/* ---- reply parser -------------------------------------------------------- */

/* One VALUE item of a get reply: its whole encoding, and its key. */
struct sp_memcache_item {
    uint64_t offset;        /* the 'V' of "VALUE" */
    uint64_t key_offset;
    uint32_t len;           /* through the CRLF after its data block */
    uint32_t key_len;
};

/*
 * Reply parser state. A reply can only be framed knowing its request (a
 * get's ends at END, a set's is one line, incr's is a number), so before
 * each reply the caller names the request's command with
 * sp_memcache_reply_expect(). For get/gets/gat/gats the caller may pass an
 * item array to learn where each VALUE item lies and its key, so fragments
 * can be merged in key order without re-parsing; only the first items_cap
 * are recorded (items_truncated says some were left out).
 *
 * A reply whose first word is not one `command` can get (its row's
 * `replies`, or an error line) is a framing error: the server connection is
 * out of step. A get reply may end with an error line instead of END, after
 * any items (type is then that error). Lines are at most
 * SP_MEMCACHE_MAX_LINE bytes and end with CRLF; a CR elsewhere in a line is
 * a byte of its token (memcached echoes keys and opaques as the request had
 * them, CR included: "mg a\rb k O\r1" gets "EN ka\rb O\r1"), and a LF
 * without its CR is a framing error. Data blocks are at most
 * SP_MEMCACHE_VALUE_LIMIT bytes and end with CRLF.
 *
 * A value too large for the server: memcached answers a storage command
 * "SERVER_ERROR object too large for cache" and swallows its data block.
 * 1.6 writes that reply once the data is swallowed; older servers write it
 * as soon as they read the line. Either way it is the one reply to that
 * request: match it to the request in flight and keep writing the request's
 * data block (the server is reading it to drop it); never treat the early
 * reply as stray. With noreply, memcached sends nothing at all.
 *
 * The results are valid until the next call.
 */
struct sp_memcache_reply_parser {
    /* results of the last SP_PARSE_DONE */
    sp_memcache_reply_type_t type;
    uint64_t  start;
    uint64_t  end;
    uint64_t  number;               /* NUMBER: the value; VA: data size */
    struct sp_memcache_item *items; /* caller's */
    uint32_t  items_cap;
    uint32_t  nitems;
    bool      items_truncated;
    const char *error;              /* SP_PARSE_ERROR */

    /* private state */
    const struct sp_memcache_command *command;
    uint64_t  offset;
    int       state;
    int       line;                 /* type of the line being read */
    uint64_t  line_start;
    uint64_t  word_start;           /* the line's first word */
    uint32_t  ntokens;
    bool      in_token;
    bool      cr_pending;           /* a CR that ends the line if LF follows */
    uint64_t  token_start;
    uint32_t  token_len;
    uint64_t  num;                  /* the token read as a number */
    uint32_t  digits;
    bool      num_bad;
    bool      line_bad;             /* a VALUE/VA token is malformed */
    char      word[13];             /* first token ("CLIENT_ERROR" + NUL) */
    uint64_t  key_offset;
    uint32_t  key_len;
    uint64_t  data_left;
};

void sp_memcache_reply_init(struct sp_memcache_reply_parser *p,
                            uint64_t offset, struct sp_memcache_item *items,
                            uint32_t items_cap);

/*
 * The next reply answers a request of `command` (a row of the table). Call
 * it between replies: after init, or after SP_PARSE_DONE; the command stays
 * for the replies after until changed.
 */
void sp_memcache_reply_expect(struct sp_memcache_reply_parser *p,
                              const struct sp_memcache_command *command);

sp_parse_status_t sp_memcache_reply_parse(struct sp_memcache_reply_parser *p,
                                          const uint8_t *data, size_t len,
                                          size_t *consumed);

#endif /* SP_MEMCACHE_H */
