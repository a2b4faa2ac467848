/*
 * sp_redis.h — the Redis protocol (RESP2): the command table, and
 * resumable parsers for requests and replies.
 *
 * The parsers never copy and never allocate per message. They are fed
 * contiguous chunks of a connection's byte stream, one after another in
 * stream order (a chunk is the filled part of one buffer), and they may stop
 * anywhere: between any two bytes, the state is kept in the parser. Positions
 * are reported as absolute stream offsets (bytes since the connection
 * opened), so the caller maps them onto its buffer chain; the parser never
 * sees buffers.
 *
 * A request is a multibulk array of bulk strings (*N\r\n$len\r\nARG\r\n...)
 * or an inline command (words ended by \n or \r\n, split as Redis's
 * sdssplitargs splits them, quotes and escapes included), as Redis accepts
 * them; the proxy forwards an inline request re-encoded as the multibulk
 * request Redis would build from it (sp_redis_inline_encode). For each
 * request the parser reports the command (looked up in the table from its
 * first argument, case-insensitively, copied into the parser's small name
 * buffer as it streams past; a container's subcommand row from its second
 * argument the same way) and the offsets of the arguments that are keys,
 * so routing can hash them and multi-key commands can be split.
 *
 * Input is bounded as Redis bounds it: at most SP_REDIS_MAX_ARGS arguments,
 * bulk lengths of at most SP_REDIS_MAX_BULK, inline lines of at most
 * SP_REDIS_MAX_INLINE bytes; anything else is a framing error with a
 * message to send before closing ("-ERR Protocol error: ...").
 */
#ifndef SP_REDIS_H
#define SP_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sp_parse.h"
#include "sp_seg.h"

#define SP_REDIS_MAX_ARGS     (1024 * 1024)         /* Redis 7 allows INT_MAX */
#define SP_REDIS_MAX_BULK     (512LL * 1024 * 1024) /* Redis proto-max-bulk-len */
#define SP_REDIS_MAX_INLINE   (64 * 1024)
#define SP_REDIS_MAX_NAME     32                    /* longest command name */
#define SP_REDIS_MAX_KEYS     SP_REDIS_MAX_ARGS

/* ---- command table ------------------------------------------------------ */

/*
 * The table is generated (src/proto/sp_redis_cmdtab.c, by
 * tools/gen_redis_commands.py) from what redis-server 7 reports of its
 * commands: arity, flags, key specs, and the bytes of their COMMAND INFO
 * and COMMAND DOCS entries; the script's routing policy gives each row its
 * kind. A container command (OBJECT, XINFO, SCRIPT, CLIENT, ...) has a row
 * of its own and a sorted array of subcommand rows, found by the second
 * argument.
 */

/* How a command is handled. */
typedef enum sp_redis_kind {
    SP_REDIS_FORWARD,       /* routed by its keys to one server: every key
                               must map to it, else -CROSSSERVER */
    SP_REDIS_FANOUT,        /* split per server by key, replies merged */
    SP_REDIS_ALL,           /* sent whole to every server of the pool,
                               replies merged (SCRIPT LOAD, FUNCTION LOAD) */
    SP_REDIS_LOCAL,         /* answered by the proxy (PING, ECHO, COMMAND) */
    SP_REDIS_TRANSACTION,   /* MULTI EXEC DISCARD WATCH UNWATCH */
    SP_REDIS_UNSUPPORTED    /* refused, for the row's reason */
} sp_redis_kind_t;

/* How the replies of a split (FANOUT) or every-server (ALL) command are
 * merged; any server's error is the reply (the first one). */
typedef enum sp_redis_merge {
    SP_REDIS_MERGE_NONE,
    SP_REDIS_MERGE_ARRAY,   /* MGET: one array of the values, in key order */
    SP_REDIS_MERGE_SUM,     /* DEL UNLINK TOUCH EXISTS: sum of integers */
    SP_REDIS_MERGE_OK,      /* MSET, SCRIPT FLUSH: +OK if every part said it */
    SP_REDIS_MERGE_FIRST,   /* SCRIPT LOAD: the first server's reply */
    SP_REDIS_MERGE_AND,     /* SCRIPT EXISTS: element by element AND */
    SP_REDIS_MERGE_CONCAT,  /* KEYS: every server's array, one after another */
    SP_REDIS_MERGE_RANDOM   /* RANDOMKEY: a non-nil reply, from a server
                               drawn at random */
} sp_redis_merge_t;

/* Commands the proxy answers itself. */
typedef enum sp_redis_local {
    SP_REDIS_LOCAL_NONE,
    SP_REDIS_LOCAL_PING,
    SP_REDIS_LOCAL_ECHO,
    SP_REDIS_LOCAL_QUIT,
    SP_REDIS_LOCAL_AUTH,
    SP_REDIS_LOCAL_COMMAND,
    SP_REDIS_LOCAL_SELECT,
    SP_REDIS_LOCAL_ROLE,
    SP_REDIS_LOCAL_HELLO,
    SP_REDIS_LOCAL_INFO,
    SP_REDIS_LOCAL_RESET,
    SP_REDIS_LOCAL_CLIENT,
    SP_REDIS_LOCAL_SUBSCRIBE,   /* the SUBSCRIBE family (sp_redis_pubsub.c) */
    SP_REDIS_LOCAL_PUBLISH,     /* PUBLISH, SPUBLISH: by channel */
    SP_REDIS_LOCAL_PUBSUB,
    SP_REDIS_LOCAL_MULTI,   /* kind TRANSACTION: which one (sp_redis_txn.c) */
    SP_REDIS_LOCAL_EXEC,
    SP_REDIS_LOCAL_DISCARD,
    SP_REDIS_LOCAL_WATCH,
    SP_REDIS_LOCAL_UNWATCH,
    SP_REDIS_LOCAL_SCAN     /* one server at a time (sp_redis_keyspace.c) */
} sp_redis_local_t;

/* Why an UNSUPPORTED row is refused (the error text says it). */
typedef enum sp_redis_refuse {
    SP_REDIS_REFUSE_NONE,
    SP_REDIS_REFUSE_BLOCKING,   /* WAIT: about the server's replicas */
    SP_REDIS_REFUSE_PUBSUB,     /* SUBSCRIBE PUBLISH ...: issue 14 */
    SP_REDIS_REFUSE_ADMIN,      /* CONFIG SHUTDOWN ...: one server's business */
    SP_REDIS_REFUSE_OTHER,      /* MOVE ...: no key to route by */
    SP_REDIS_REFUSE_SESSION     /* CLIENT TRACKING PAUSE ...: about one
                                   server connection */
} sp_redis_refuse_t;

/* Row flags. */
#define SP_REDIS_F_WRITE             (1u << 0)  /* the server's "write" */
#define SP_REDIS_F_READONLY          (1u << 1)
#define SP_REDIS_F_BLOCKING          (1u << 2)  /* may block: a lent connection
                                                   (sp_redis_block.c) */
#define SP_REDIS_F_PUBSUB            (1u << 3)
#define SP_REDIS_F_ADMIN             (1u << 4)
#define SP_REDIS_F_NO_MANDATORY_KEYS (1u << 5)  /* EVAL: may have no key */
#define SP_REDIS_F_MULTIKEY          (1u << 6)  /* may have several keys: the
                                                   proxy finds them all from
                                                   the key specs */
#define SP_REDIS_F_NOKEY_FIRST       (1u << 7)  /* no key: the first server
                                                   (else the empty key's) */
#define SP_REDIS_F_BLOCK_OPTION      (1u << 8)  /* XREAD: blocks only with BLOCK */
#define SP_REDIS_F_KEYS              (1u << 9)  /* has key specs */
#define SP_REDIS_F_LISTED            (1u << 10) /* served: COMMAND lists it */

/* ACL category bits (COMMAND LIST FILTERBY ACLCAT). */
enum sp_redis_acl {
    SP_REDIS_ACL_KEYSPACE, SP_REDIS_ACL_READ, SP_REDIS_ACL_WRITE,
    SP_REDIS_ACL_SET, SP_REDIS_ACL_SORTEDSET, SP_REDIS_ACL_LIST,
    SP_REDIS_ACL_HASH, SP_REDIS_ACL_STRING, SP_REDIS_ACL_BITMAP,
    SP_REDIS_ACL_HYPERLOGLOG, SP_REDIS_ACL_GEO, SP_REDIS_ACL_STREAM,
    SP_REDIS_ACL_PUBSUB, SP_REDIS_ACL_ADMIN, SP_REDIS_ACL_FAST,
    SP_REDIS_ACL_SLOW, SP_REDIS_ACL_BLOCKING, SP_REDIS_ACL_DANGEROUS,
    SP_REDIS_ACL_CONNECTION, SP_REDIS_ACL_TRANSACTION,
    SP_REDIS_ACL_SCRIPTING, SP_REDIS_ACL_COUNT
};
#define SP_REDIS_ACL(c) (1u << SP_REDIS_ACL_##c)

/*
 * A Redis 7 key spec: where the keys begin (an argument index, or the
 * argument after a keyword searched from `index` on, backwards when
 * negative) and how many there are (a range, or a count in an argument).
 * See Redis's "key specifications" and sp_redis_keys.c.
 */
typedef enum sp_redis_ks_begin {
    SP_KS_INDEX,            /* index: the first key's argument */
    SP_KS_KEYWORD,          /* keyword, searched from index (startfrom) */
    SP_KS_SORT_STORE,       /* SORT ... STORE dst, as Redis's sortGetKeys */
    SP_KS_IGNORE,           /* keys named by patterns: not known */
    SP_KS_UNKNOWN
} sp_redis_ks_begin_t;

typedef enum sp_redis_ks_find {
    SP_KF_RANGE,            /* a: lastkey, b: keystep, c: limit */
    SP_KF_KEYNUM,           /* a: keynumidx, b: firstkey, c: keystep */
    SP_KF_UNKNOWN
} sp_redis_ks_find_t;

struct sp_redis_keyspec {
    uint8_t     begin;      /* sp_redis_ks_begin_t */
    uint8_t     find;       /* sp_redis_ks_find_t */
    bool        not_key;    /* a channel, not a key (SPUBLISH) */
    int16_t     index;
    const char *keyword;    /* lower case */
    int16_t     a, b, c;
};

/*
 * first_key, last_key, key_step and keys_from_numkeys are what the
 * streaming request parser records as the request passes (the first key
 * spec, when it is a plain index spec): a FANOUT row's every key, a
 * FORWARD row's routing key. A MULTIKEY row's keys are found from its key
 * specs once the request is whole (sp_redis_keys_find); a row with
 * first_key 0 has no key the parser records.
 */
struct sp_redis_command {
    const char        *name;        /* lower case; "container|sub" */
    uint8_t            name_skip;   /* a subcommand: strlen("container|") */
    int32_t            arity;       /* Redis: N exact (incl. name), -N at least
                                       N; a subcommand's counts both words */
    int16_t            first_key;   /* argument index of the first key; 0: none */
    int16_t            last_key;    /* -1: the last argument; -2: one before */
    int16_t            key_step;    /* 1: every argument; 2: key value pairs */
    sp_redis_kind_t    kind;
    sp_redis_merge_t   merge;
    sp_redis_local_t   local;
    bool               write;       /* modifies data */
    bool               keys_from_numkeys; /* the argument before first_key
                                             counts the keys from first_key
                                             on (EVAL: argument 2; ZUNION:
                                             argument 1) */
    sp_redis_refuse_t  refuse;
    uint32_t           flags;       /* SP_REDIS_F_* */
    uint32_t           acl;         /* SP_REDIS_ACL() bits */
    uint16_t           spec_first;  /* its key specs in sp_redis_keyspecs */
    uint16_t           nspecs;
    uint16_t           nsubs;       /* a container's subcommands, by name */
    const struct sp_redis_command *subs;
    uint16_t           id;          /* 0 .. sp_redis_command_ids() - 1 */
    uint32_t           info_off;    /* its COMMAND INFO entry (RESP3 bytes in */
    uint32_t           info_len;    /* the table's text; 0: not served) */
    uint32_t           docs_off;    /* its COMMAND DOCS value, the same */
    uint32_t           docs_len;
};

/* The row for name[0..len) (any case), or NULL. */
const struct sp_redis_command *sp_redis_command_lookup(const char *name,
                                                       size_t len);

/* A container's subcommand row for sub[0..len) (any case), or NULL. */
const struct sp_redis_command *sp_redis_subcommand_lookup(
    const struct sp_redis_command *container, const char *sub, size_t len);

/* The row of a full name, "get" or "object|encoding" (any case), or NULL. */
const struct sp_redis_command *sp_redis_command_by_fullname(const char *name,
                                                           size_t len);

/*
 * Whether a request of nargs arguments (including the name) has the row's
 * arity and, for rows of key value pairs up to the last argument (MSET),
 * a value for every key. The caller answers "-ERR wrong number of
 * arguments for '<name>' command" otherwise, as Redis does.
 */
bool sp_redis_command_arity_ok(const struct sp_redis_command *cmd,
                               uint32_t nargs);

/* Top-level rows (sorted by name), and the row at i (tests, COMMAND). */
size_t sp_redis_command_count(void);
const struct sp_redis_command *sp_redis_command_at(size_t i);

/* Every row, subcommands included, by id (the refusal counters); the
 * generator keeps the ids below SP_REDIS_COMMAND_IDS_MAX. */
#define SP_REDIS_COMMAND_IDS_MAX 448
size_t sp_redis_command_ids(void);
const struct sp_redis_command *sp_redis_command_by_id(size_t id);

/* The row's key specs. */
const struct sp_redis_keyspec *sp_redis_command_specs(
    const struct sp_redis_command *cmd);

/* The redis-server version the table was generated from ("7.0.15"). */
const char *sp_redis_command_version(void);

/* ---- keys ---------------------------------------------------------------- */

/*
 * The arguments of a whole request (argv[0] is the command name), spans
 * relative to the start of `req` (a multibulk request in a segment list).
 */
struct sp_redis_args {
    const struct sp_seglist *req;
    const struct sp_span    *argv;
    uint32_t                 argc;
};

/*
 * The argument indexes of the keys of a request of command cmd, found
 * from its key specs as Redis finds them (getKeysUsingKeySpecs), in spec
 * order: at most cap go to out, *nkeys gets their number. Returns 0, or -1
 * when a spec does not fit the request (a bad key count, a range past the
 * end: Redis answers such a request with an error of its own); *nkeys then
 * counts the keys found by the specs that fit.
 */
int sp_redis_keys_find(const struct sp_redis_command *cmd,
                       const struct sp_redis_args *args, uint32_t *out,
                       uint32_t cap, uint32_t *nkeys);

/* ---- reading arguments (sp_redis_args.c): in place, nothing copied
 * but a short word ---------------------------------------------------------- */

/* Whether argument i is the word `lower` (lower case), case-insensitively. */
bool sp_redis_arg_is(const struct sp_redis_args *args, uint32_t i,
                     const char *lower);

/* Argument i as a C string in buf (cap bytes); false when it is missing,
 * does not fit or holds a NUL. */
bool sp_redis_arg_str(const struct sp_redis_args *args, uint32_t i,
                      char *buf, size_t cap);

/* Argument i as Redis's string2ll reads it: an optional '-', digits, no
 * leading zero, no '+' or blank, within 64 bits. */
bool sp_redis_arg_int(const struct sp_redis_args *args, uint32_t i,
                      int64_t *value);

/*
 * XREAD/XREADGROUP: the argument index of a BLOCK option that comes before
 * STREAMS (its milliseconds follow it), 0 when there is none (options
 * walked as Redis reads them: COUNT n, BLOCK ms, GROUP g c, NOACK).
 */
uint32_t sp_redis_block_option(const struct sp_redis_args *args);

/* ---- the SCAN cursor (sp_redis_keyspace.c) ---------------------------------- */

/*
 * The proxy's SCAN cursor walks a pool's servers one after another: it is
 * the server's own cursor times the number of servers, plus the server's
 * index (its place in the pool's `servers` list). 0 is server 0's start;
 * when server i's walk ends (its cursor 0) the next cursor is i + 1, server
 * i + 1's start, and after the last server's end it is 0. So a cursor
 * stays valid while the pool's list of servers stays the same.
 */
bool sp_redis_scan_cursor_decode(uint64_t cursor, uint32_t nservers,
                                 uint32_t *server, uint64_t *server_cursor);

/* The proxy's cursor after server `server` answered `server_next`. false:
 * it does not fit in 64 bits (no real server cursor is that large). */
bool sp_redis_scan_cursor_next(uint32_t server, uint64_t server_next,
                               uint32_t nservers, uint64_t *cursor);

/* ---- inline requests ------------------------------------------------------ */

/*
 * The words of an inline line, exactly as Redis's sdssplitargs() splits
 * them: blanks between words (space, \t, \r, \v, \f) are skipped; a word
 * ends at a space, \t or \r (\v and \f inside a word are its bytes);
 * "..." takes the escapes \xHH \n \r \t \b \a and \<byte> (that byte), '...'
 * only \' ; a word may begin bare and go on quoted (a"b c" is "ab c"); a
 * closing quote must be followed by a blank or the line's end, and a quote
 * left open is an error, both answered as Redis answers them ("unbalanced
 * quotes in request"). A NUL byte is an error anywhere in the line (Redis
 * looks for the line's end with strchr(), stops at the NUL and waits for
 * ever; the proxy answers instead).
 *
 * One resumable lexer, fed one byte at a time (the LF that ends the line
 * included): the request parser frames and checks lines with it, and
 * sp_redis_inline_encode builds the multibulk form of a whole line with it.
 */
struct sp_redis_inline {
    uint8_t state;
    uint8_t hex;                    /* a held hex digit; the failure bits */
};

enum {                              /* what a byte did: bits */
    SP_INLINE_WORD_BEGIN = 1,       /* a word begins (before the bytes out) */
    SP_INLINE_WORD_END   = 2,       /* the word ends (after them) */
    SP_INLINE_LINE_END   = 4,       /* the LF that ends the line */
    SP_INLINE_BAD_QUOTES = 8,       /* error: unbalanced quotes */
    SP_INLINE_BAD_NUL    = 16       /* error: a NUL byte */
};

#define SP_REDIS_INLINE_OUT   3     /* decoded bytes one byte may yield */
#define SP_REDIS_INLINE_SLACK 24    /* room sp_redis_inline_encode needs */

void sp_redis_inline_init(struct sp_redis_inline *lx);

/* Feed one byte; the decoded bytes of the current word it yields (none to
 * SP_REDIS_INLINE_OUT: a byte held back may be given with it) go to out,
 * their count to *nout. Returns SP_INLINE_* bits; after an error every
 * byte returns it again. */
unsigned sp_redis_inline_byte(struct sp_redis_inline *lx, uint8_t ch,
                              uint8_t out[SP_REDIS_INLINE_OUT],
                              uint32_t *nout);

/*
 * The size of the multibulk form (*N $len word ...) of line[0..len), which
 * must be exactly one inline line with at least one word, its LF last;
 * *nargs gets N. 0 when it is not.
 */
size_t sp_redis_inline_size(const uint8_t *line, size_t len, uint32_t *nargs);

/* Write that form into out, which holds sp_redis_inline_size() +
 * SP_REDIS_INLINE_SLACK bytes; returns its size (0: not such a line). */
size_t sp_redis_inline_encode(const uint8_t *line, size_t len, uint8_t *out);

/* ---- request parser ------------------------------------------------------ */

/*
 * Request parser state. The caller provides the key-position array (so the
 * parser allocates nothing); a request with more keys than `keys_cap`
 * records only the first keys_cap and sets keys_truncated (the caller then
 * treats a FANOUT request as an error reply, not a framing error; a FORWARD
 * request needs only keys[0]). A FORWARD command with first_key > 0 whose
 * nkeys is 0 cannot be routed: its arity is wrong, or (keys_from_numkeys)
 * its key count is 0, negative or not a number; the caller replies an error.
 *
 * A container command's row (nsubs > 0) is replaced by its subcommand's
 * row when the second argument names one (`command` stays the container's
 * when it does not: the caller answers "unknown subcommand").
 *
 * An inline request reports its framing (start, end), nargs and its command
 * (from its decoded first word) but no keys and no arg1: its words are not
 * spans of the stream once quotes and escapes are decoded. The caller
 * re-encodes the line (sp_redis_inline_encode) and parses that multibulk
 * form for them.
 *
 * The results, the keys array included, are valid until the next call.
 */
struct sp_redis_req_parser {
    /* results of the last SP_PARSE_DONE */
    const struct sp_redis_command *command;    /* NULL: unknown */
    char      name[SP_REDIS_MAX_NAME + 1];     /* lower-cased first argument
                                                  (truncated if longer) */
    uint32_t  name_len;                        /* its full length */
    char      sub[SP_REDIS_MAX_NAME + 1];      /* a container's (OBJECT,
                                                  SCRIPT): the lower-cased
                                                  second argument, by which
                                                  `command` became the
                                                  subcommand's row */
    uint32_t  sub_len;                         /* its full length */
    uint32_t  nargs;                           /* including the name */
    uint64_t  start;                           /* stream offset of the request */
    uint64_t  end;                             /* one past its last byte */
    bool      inline_form;                     /* came as an inline command */
    struct sp_span *keys;                 /* caller's array */
    uint32_t  keys_cap;
    uint32_t  nkeys;
    bool      keys_truncated;
    struct sp_span arg1;                  /* second argument (ECHO, AUTH,
                                                  PING msg, SELECT, numkeys) */
    const char *error;                         /* SP_PARSE_ERROR: the message
                                                  after "-ERR Protocol error: " */

    /* private state */
    uint64_t  offset;                          /* stream offset of next byte */
    int       state;
    uint32_t  count;                           /* multibulk: arguments declared */
    int64_t   bulk_left;
    uint32_t  arg_index;                       /* argument being read */
    uint64_t  arg_start;
    uint64_t  number;                          /* length being read */
    uint32_t  digits;
    bool      negative;
    bool      numkeys_ok;                      /* numkeys is a valid count */
    uint32_t  numkeys;                         /* EVAL: from the numkeys arg */
    uint32_t  word_len;                        /* inline: decoded bytes so far */
    struct sp_redis_inline lex;                /* inline: the word splitter */
    char      error_buf[40];                   /* error text with the byte seen */
};

/*
 * Start parsing a stream at stream offset `offset` (0 for a new connection,
 * or where a handed-over connection's stream resumes). keys/keys_cap is
 * where key positions go.
 */
void sp_redis_req_init(struct sp_redis_req_parser *p, uint64_t offset,
                       struct sp_span *keys, uint32_t keys_cap);

/* At a request boundary: no byte of a request read yet (the state is then
 * nothing but the stream offset, and may be set up afresh). */
bool sp_redis_req_idle(const struct sp_redis_req_parser *p);

/*
 * Feed the chunk data[0..len), which starts at stream offset p->offset.
 * On SP_PARSE_DONE *consumed is the number of bytes of this chunk that belong
 * to the finished request (feed the rest again for the next one); on
 * SP_PARSE_AGAIN it is len; on SP_PARSE_ERROR it counts the bytes before
 * the offending one, and every later call fails the same way.
 *
 * Skipped as Redis skips them, with no request: empty or blank inline lines,
 * and multibulks of zero or negative count (*0, *-1); their bytes belong to
 * the next request but lie before its `start`. An unknown command is not an
 * error: DONE with command NULL (the caller replies "-ERR unknown command").
 *
 * Inline requests: the line ends at LF (at most SP_REDIS_MAX_INLINE bytes
 * before it, wherever the chunks break) and is split into words as Redis
 * splits it (see "inline requests" above); unbalanced quotes and a NUL byte
 * are framing errors.
 */
sp_parse_status_t sp_redis_req_parse(struct sp_redis_req_parser *p,
                                     const uint8_t *data, size_t len,
                                     size_t *consumed);

/* ---- reply parser -------------------------------------------------------- */

typedef enum sp_redis_reply_type {
    SP_REDIS_REPLY_STATUS,      /* +... */
    SP_REDIS_REPLY_ERROR,       /* -... (RESP3 also !N ...) */
    SP_REDIS_REPLY_INTEGER,     /* :N */
    SP_REDIS_REPLY_BULK,        /* $N ... or $-1 (nil); RESP3 =N verbatim */
    SP_REDIS_REPLY_ARRAY,       /* *N ... (nested to any depth) or *-1 */
    SP_REDIS_REPLY_NULL,        /* RESP3 _ */
    SP_REDIS_REPLY_MAP,         /* RESP3 %N: N pairs, 2N elements */
    SP_REDIS_REPLY_SET,         /* RESP3 ~N */
    SP_REDIS_REPLY_PUSH,        /* RESP3 >N: out of band, not a reply */
    SP_REDIS_REPLY_SCALAR       /* RESP3 # , ( (boolean, double, big number) */
} sp_redis_reply_type_t;

/*
 * Reply parser state. For a top-level array (MGET's reply), the caller may
 * pass an element array to learn where each element starts and ends (its
 * whole encoding, nested arrays included), so fragments can be merged
 * without re-parsing; only the first elements_cap are recorded (nelements
 * below `integer` says some were left out). Open arrays live on the
 * caller's stack array of `stack_cap` levels: a reply nested deeper stops
 * the parser with SP_PARSE_ERROR and `need_stack` set, which is no framing
 * error -- the caller gives it a bigger stack (sp_redis_reply_stack) and
 * feeds again from the byte it stopped at. Only a reply nested deeper than
 * SP_REDIS_REPLY_MAX_DEPTH is refused. The results are valid until the next
 * call.
 */
struct sp_redis_reply_parser {
    /* results of the last SP_PARSE_DONE */
    sp_redis_reply_type_t type;
    bool      nil;                  /* $-1 or *-1, or RESP3's _ */
    int64_t   integer;              /* :N, and N of $N / *N at top level */
    uint64_t  start;
    uint64_t  end;
    struct sp_span *elements;  /* caller's; top-level array elements,
                                       each covering its whole encoding */
    uint32_t  elements_cap;
    uint32_t  nelements;
    const char *error;              /* SP_PARSE_ERROR */
    bool      need_stack;           /* SP_PARSE_ERROR: only the stack is full */

    /* private state */
    uint64_t  offset;
    int       state;
    int64_t  *stack;                /* caller's: elements left per level */
    uint32_t  stack_cap;
    uint32_t  depth;
    uint64_t  number;               /* magnitude of the number being read */
    uint32_t  digits;
    bool      negative;
    int64_t   bulk_left;            /* bulk bytes left; in a +/- line, the
                                       bytes it may still grow by */
    uint64_t  element_start;
    char      first;                /* type byte of the current value */
};

/*
 * Replies are bounded as requests are: bulks of at most SP_REDIS_MAX_BULK,
 * +/- lines of at most SP_REDIS_MAX_BULK bytes, arrays of at most
 * UINT32_MAX elements, a recorded element of at most UINT32_MAX bytes.
 * RESP3's types are parsed as well (a RESP3 client's server connections
 * speak it); its attribute type '|' is a framing error.
 */
void sp_redis_reply_init(struct sp_redis_reply_parser *p, uint64_t offset,
                         int64_t *stack, uint32_t stack_cap,
                         struct sp_span *elements, uint32_t elements_cap);

sp_parse_status_t sp_redis_reply_parse(struct sp_redis_reply_parser *p,
                                       const uint8_t *data, size_t len,
                                       size_t *consumed);

/*
 * Deepest nesting of a reply passed through: a level costs the reply at least
 * 4 bytes ("*1\r\n") and the stack 8, so this bounds the stack by what a
 * server can send (Redis's own replies, Lua tables included, stay far
 * below it), not by a guess at what it will.
 */
#define SP_REDIS_REPLY_MAX_DEPTH (64u * 1024 * 1024)

/*
 * Go on with a stack of stack_cap levels whose first levels hold what the
 * old one did (a realloc of it), after SP_PARSE_ERROR with need_stack.
 */
void sp_redis_reply_stack(struct sp_redis_reply_parser *p, int64_t *stack,
                          uint32_t stack_cap);

/* ---- a whole bulk string at once ------------------------------------------- */

/*
 * The parsers' fast path: a whole, well-formed "$<n>\r\n<n bytes>\r\n" at s
 * (its '$') before end, n at most SP_REDIS_MAX_BULK in at most 10 digits
 * (and none led by a zero when `strict`). True with n, its digit count and
 * where its bytes start; false for anything else, which the byte states
 * then read (and say what is wrong with).
 */
static inline bool
sp_redis_bulk_whole_at(const uint8_t *s, const uint8_t *end, bool strict,
                       uint64_t *n_out, uint32_t *ndigits_out,
                       const uint8_t **body_out)
{
    const uint8_t *digits = s + 1, *q = digits;
    uint64_t n = 0;

    while (q < end && q - digits < 10 && *q >= '0' && *q <= '9') {
        n = n * 10 + (uint64_t)(*q - '0');
        q++;
    }
    size_t ndigits = (size_t)(q - digits);
    if (ndigits == 0 || (strict && ndigits > 1 && digits[0] == '0')
        || n > (uint64_t)SP_REDIS_MAX_BULK || end - q < 2
        || q[0] != '\r' || q[1] != '\n') {
        return false;
    }
    const uint8_t *body = q + 2;
    if ((uint64_t)(end - body) < n + 2 || body[n] != '\r'
        || body[n + 1] != '\n') {
        return false;
    }
    *n_out = n;
    *ndigits_out = (uint32_t)ndigits;
    *body_out = body;
    return true;
}

/* ---- RESP encoding ------------------------------------------------------ */

/* The decimal digits of n. */
static inline uint32_t
sp_decimal_digits(uint64_t n)
{
    uint32_t d = 1;

    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/*
 * "<type><n>\r\n" (a RESP array or bulk head) at out, which has room for
 * 23 bytes; returns its length. By hand: snprintf costs ~800 instructions,
 * paid per fragment and per merged reply of every MGET/MSET/DEL.
 */
static inline size_t
sp_resp_head(void *out, char type, uint64_t n)
{
    uint8_t *o = out;
    uint32_t d = sp_decimal_digits(n);

    o[0] = (uint8_t)type;
    for (uint32_t i = d; i > 0; i--) {
        o[i] = (uint8_t)('0' + n % 10);
        n /= 10;
    }
    o[d + 1] = '\r';
    o[d + 2] = '\n';
    return d + 3;
}

#endif /* SP_REDIS_H */
