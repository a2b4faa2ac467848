#!/usr/bin/env bash
# tests/fuzz/run.sh — build the libFuzzer targets and run each one for a while.
#
#   tests/fuzz/run.sh [BUILD_DIR [SECONDS]]     (defaults: build-fuzz 10)
#
# Builds every target in tests/fuzz/ with clang, libFuzzer, ASan and UBSan
# into BUILD_DIR (relative to the current directory; the default is
# build-fuzz/ in the repository), then runs each for SECONDS seconds, seeded
# from a temporary copy of tests/fuzz/corpus/<target>/ (the repository's
# corpus is never written), with tests/fuzz/<target>.dict when there is one.
# Prints each target's executions and a last line
#   fuzz: N targets, M executions, C crashes
# and exits 1 if any target crashed, leaked, hung or failed a check; a
# crashing input is kept in BUILD_DIR/artifacts/<target>/ and every
# libFuzzer log in BUILD_DIR/logs/. Exits 77 when clang or its libFuzzer
# runtime is missing (apt-get install clang libclang-rt-14-dev).
#
# Environment: FUZZ_TARGETS="fuzz_conf ..." runs only those targets;
# FUZZ_JOBS=2 runs two targets at a time (each still gets SECONDS);
# FUZZ_EXPAND=1 lets the protocol targets expand runs of bytes, a slower
# pass that reaches the 64 KiB limits (see tests/fuzz/fuzz_split.h).
set -u

case "${1:-}" in
    "") build="" ;;
    /*) build="$1" ;;
    *)  build="$PWD/$1" ;;
esac
seconds="${2:-10}"
case "$seconds" in
    ''|*[!0-9]*) echo "fuzz: SECONDS must be a whole number, not '$seconds'" >&2
                 exit 2 ;;
esac

cd "$(dirname "$0")/../.." || exit 2
repo="$(pwd -P)"
build="${build:-$repo/build-fuzz}"
jobs="${FUZZ_JOBS:-1}"

CC="${CC_FUZZ:-clang}"
CFLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
        -D_GNU_SOURCE -std=c11 -Isrc/core -Isrc/core/conf -Isrc/core/topology -Isrc/core/stats -Isrc/core/proxy -Isrc/core/tls -Isrc/proto
        -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes"

# ---- the targets: name, sources besides tests/fuzz/<name>.c, libraries, max_len
#
# max_len stays small for speed: the protocol targets reach 64 KiB lines and
# large payloads through run expansion (see fuzz_split.h).
declare -A SRCS LIBS MAXLEN
ALL_TARGETS="fuzz_redis_req fuzz_redis_reply fuzz_mc_req fuzz_mc_reply fuzz_conf"

SRCS[fuzz_redis_req]="src/proto/sp_redis_req.c src/proto/sp_redis_inline.c src/proto/sp_redis_cmd.c src/proto/sp_redis_cmdtab.c"
LIBS[fuzz_redis_req]=""
MAXLEN[fuzz_redis_req]=4096

SRCS[fuzz_redis_reply]="src/proto/sp_redis_reply.c"
LIBS[fuzz_redis_reply]=""
MAXLEN[fuzz_redis_reply]=4096

SRCS[fuzz_mc_req]="src/proto/sp_memcache_req.c src/proto/sp_memcache_cmd.c"
LIBS[fuzz_mc_req]=""
MAXLEN[fuzz_mc_req]=4096

SRCS[fuzz_mc_reply]="src/proto/sp_memcache_reply.c src/proto/sp_memcache_cmd.c"
LIBS[fuzz_mc_reply]=""
MAXLEN[fuzz_mc_reply]=4096

SRCS[fuzz_conf]="$(echo src/core/conf/sp_conf*.c src/core/topology/sp_hash*.c src/core/topology/sp_md5.c src/core/topology/sp_dist.c src/core/tls/sp_tls_ctx.c)"
LIBS[fuzz_conf]="-lyaml -lssl -lcrypto -lm -ldl"
MAXLEN[fuzz_conf]=4096

targets="${FUZZ_TARGETS:-$ALL_TARGETS}"

# ---- toolchain ------------------------------------------------------------

if ! command -v "$CC" >/dev/null 2>&1; then
    echo "fuzz: $CC not found (apt-get install clang libclang-rt-14-dev)" >&2
    exit 77
fi
rt="$("$CC" -print-file-name="libclang_rt.fuzzer-$(uname -m).a" 2>/dev/null)"
if [ ! -f "$rt" ]; then
    echo "fuzz: the libFuzzer runtime of $CC is missing" \
         "(apt-get install libclang-rt-14-dev)" >&2
    exit 77
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/sp-fuzz.XXXXXX")" || exit 2
pids=""
cleanup() {
    for pid in $pids; do
        kill "$pid" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$build/logs" || exit 2

# ---- build ----------------------------------------------------------------

for t in $targets; do
    if [ -z "${SRCS[$t]+set}" ]; then
        echo "fuzz: unknown target '$t' (known: $ALL_TARGETS)" >&2
        exit 2
    fi
    # shellcheck disable=SC2086  # word splitting of flag and file lists
    if ! $CC $CFLAGS -o "$build/$t" "tests/fuzz/$t.c" ${SRCS[$t]} \
            ${LIBS[$t]} </dev/null >"$build/logs/$t.build.log" 2>&1; then
        cat "$build/logs/$t.build.log" >&2
        echo "fuzz: building $t failed" >&2
        exit 1
    fi
    if [ -s "$build/logs/$t.build.log" ]; then
        cat "$build/logs/$t.build.log" >&2     # warnings
    fi
done

# ---- run ------------------------------------------------------------------

run_target() {
    local t="$1" work="$tmp/$1" dict=()

    mkdir -p "$work/corpus" "$work/artifacts"
    if [ -d "tests/fuzz/corpus/$t" ]; then
        cp -R "tests/fuzz/corpus/$t/." "$work/corpus/"
    fi
    if [ -f "tests/fuzz/$t.dict" ]; then
        dict=("-dict=tests/fuzz/$t.dict")
    fi
    "$build/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=30 \
        -max_len="${MAXLEN[$t]}" -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/" "${dict[@]}" "$work/corpus" \
        </dev/null >"$build/logs/$t.log" 2>&1
    echo $? >"$work/rc"
}

# how long: rounds of $jobs targets, $seconds each (plus a little start-up)
ntargets=0
for t in $targets; do
    ntargets=$((ntargets + 1))
done
rounds=$(( (ntargets + jobs - 1) / jobs ))
pass="plain"
if [ -n "${FUZZ_EXPAND:-}" ] && [ "${FUZZ_EXPAND}" != "0" ]; then
    pass="expanding (FUZZ_EXPAND=1)"
fi
echo "fuzz: $ntargets targets, ${seconds} s each, $jobs at a time, $pass:" \
     "about $(( (rounds * seconds + 59) / 60 )) min"

running=0
for t in $targets; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    run_target "$t" &
    pids="$pids $!"
    running=$((running + 1))
done
wait
pids=""

ntargets=0
total=0
crashes=0
for t in $targets; do
    log="$build/logs/$t.log"
    rc="$(cat "$tmp/$t/rc" 2>/dev/null || echo 1)"
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
    if [ -z "$execs" ]; then
        # no final stats after a crash: the last status line's count
        execs="$(sed -n 's/^#\([0-9][0-9]*\)[[:space:]].*/\1/p' "$log" \
                 | tail -n 1)"
    fi
    execs="${execs:-0}"
    ntargets=$((ntargets + 1))
    total=$((total + execs))
    if [ "$rc" -eq 0 ]; then
        echo "fuzz: $t: $execs executions (${rate:-?}/s), ok"
        continue
    fi
    crashes=$((crashes + 1))
    mkdir -p "$build/artifacts/$t"
    cp "$tmp/$t/artifacts/"* "$build/artifacts/$t/" 2>/dev/null
    echo "fuzz: $t: FAILED (libFuzzer exit $rc) after $execs executions;" \
         "input kept in $build/artifacts/$t/, log $log" >&2
    grep -m 1 -B 2 -A 40 -E 'ERROR: |DIFFERENTIAL|check failed|runtime error' \
        "$log" >&2 || tail -n 40 "$log" >&2
done

echo "fuzz: $ntargets targets, $total executions, $crashes crashes"
[ "$crashes" -eq 0 ]
