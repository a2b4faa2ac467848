#!/usr/bin/python3
"""nc_hash_ref.py -- reference model of nutcracker 0.5.0's twelve key hashes.

An implementation independent of src/core/sp_hash*.c (different language,
CRC tables computed from their polynomials at start-up, MD5 from hashlib),
written from the algorithms' definitions and checked against the exported
hash_* functions of Debian's /usr/sbin/nutcracker 0.5.0+dfsg-2 on x86-64.
It produces the non-standard known-answer vectors in tests/unit/test_hash.c.

Semantics modelled (nutcracker passes keys as `const char *`; char is signed
on x86-64, so some functions see bytes >= 0x80 sign-extended):

  one_at_a_time  Bob Jenkins' one-at-a-time over sign-extended bytes.
  md5            first four MD5 digest bytes, little-endian.
  crc16          table CRC with the CRC-16/XMODEM table (poly 0x1021, not
                 reflected), computed in a 32-bit accumulator that is never
                 masked:  crc = (crc << 8) ^ tab[((crc >> 8) ^ b) & 0xff].
                 The low 16 bits are CRC-16/XMODEM; the high 16 bits keep
                 bits shifted out of the top (e.g. "123456789" -> 0x869031c3).
  crc32          libmemcached's variant: ((~CRC-32) >> 16) & 0x7fff.
  crc32a         standard CRC-32 (reflected 0xEDB88320, init/xorout ~0).
  fnv1_64        FNV-1 64-bit over sign-extended bytes, truncated to 32 bits.
  fnv1a_64       nutcracker keeps its state in 32 bits (offset basis and
                 prime truncated); equals the low 32 bits of true FNV-1a 64.
  fnv1_32        FNV-1 32-bit over sign-extended bytes.
  fnv1a_32       FNV-1a 32-bit over sign-extended bytes.
  hsieh          SuperFastHash with initial hash 0 (not len); 16-bit reads
                 little-endian of unsigned bytes; the 3-byte tail's last byte
                 is sign-extended before the << 18.
  murmur         MurmurHash2, seed 0xdeadbeef * len, little-endian words.
  jenkins        lookup3 hashlittle(key, len, initval=13); len 0 gives
                 0xdeadbeef + 13 with no final mixing.

Usage:
  nc_hash_ref.py                 print the vector table (function, key, value)
  nc_hash_ref.py --c             print the vectors as C initialiser rows
  nc_hash_ref.py --stdin-hex     for each line of hex on stdin print the line
                                 then the 12 values, tab-separated, as %08x
  nc_hash_ref.py --selftest      check this model against published vectors
  nc_hash_ref.py NAME KEY        print one hash of KEY (a str, UTF-8 encoded)
"""

import hashlib
import sys

M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF

NAMES = ("one_at_a_time", "md5", "crc16", "crc32", "crc32a", "fnv1_64",
         "fnv1a_64", "fnv1_32", "fnv1a_32", "hsieh", "murmur", "jenkins")


def schar32(b):
    """A byte read as x86-64 `char` (signed) and converted to uint32_t."""
    return (b - 256) & M32 if b >= 0x80 else b


def schar64(b):
    """A byte read as signed `char` and converted to uint64_t."""
    return (b - 256) & M64 if b >= 0x80 else b


def rotl32(x, n):
    return ((x << n) | (x >> (32 - n))) & M32


def le16(buf, i):
    return int.from_bytes(buf[i:i + 2], "little")


def le32(buf, i):
    return int.from_bytes(buf[i:i + 4], "little")


def _crc_table_msb(poly):
    """Table for a non-reflected 16-bit CRC: entry i is i << 8 shifted 8 times."""
    table = []
    for i in range(256):
        r = i << 8
        for _ in range(8):
            r = ((r << 1) ^ poly) if (r & 0x8000) else (r << 1)
            r &= 0xFFFF
        table.append(r)
    return table


def _crc_table_lsb(poly):
    """Table for a reflected CRC: entry i is i shifted right 8 times."""
    table = []
    for i in range(256):
        r = i
        for _ in range(8):
            r = (r >> 1) ^ poly if (r & 1) else (r >> 1)
        table.append(r)
    return table


CRC16_XMODEM_TAB = _crc_table_msb(0x1021)
CRC32_TAB = _crc_table_lsb(0xEDB88320)


def one_at_a_time(key):
    h = 0
    for b in key:
        h = (h + schar32(b)) & M32
        h = (h + (h << 10)) & M32
        h ^= h >> 6
    h = (h + (h << 3)) & M32
    h ^= h >> 11
    h = (h + (h << 15)) & M32
    return h


def md5(key):
    return le32(hashlib.md5(key).digest(), 0)


def crc16(key):
    crc = 0
    for b in key:
        crc = ((crc << 8) ^ CRC16_XMODEM_TAB[((crc >> 8) ^ b) & 0xFF]) & M32
    return crc


def _crc32_raw(key):
    crc = M32
    for b in key:
        crc = (crc >> 8) ^ CRC32_TAB[(crc ^ b) & 0xFF]
    return crc


def crc32(key):
    return ((~_crc32_raw(key) & M32) >> 16) & 0x7FFF


def crc32a(key):
    return ~_crc32_raw(key) & M32


FNV64_BASIS = 0xCBF29CE484222325
FNV64_PRIME = 0x100000001B3
FNV32_BASIS = 2166136261
FNV32_PRIME = 16777619


def fnv1_64_full(key):
    h = FNV64_BASIS
    for b in key:
        h = (h * FNV64_PRIME) & M64
        h ^= schar64(b)
    return h


def fnv1a_64_full(key):
    h = FNV64_BASIS
    for b in key:
        h ^= schar64(b)
        h = (h * FNV64_PRIME) & M64
    return h


def fnv1_64(key):
    return fnv1_64_full(key) & M32


def fnv1a_64(key):
    # nutcracker: uint32_t hash = (uint32_t) FNV_64_INIT; hash *= (uint32_t) FNV_64_PRIME
    h = FNV64_BASIS & M32
    for b in key:
        h ^= schar32(b)
        h = (h * (FNV64_PRIME & M32)) & M32
    return h


def fnv1_32(key):
    h = FNV32_BASIS
    for b in key:
        h = (h * FNV32_PRIME) & M32
        h ^= schar32(b)
    return h


def fnv1a_32(key):
    h = FNV32_BASIS
    for b in key:
        h ^= schar32(b)
        h = (h * FNV32_PRIME) & M32
    return h


def hsieh(key):
    n = len(key)
    if n == 0:
        return 0
    h = 0
    rem = n & 3
    i = 0
    for _ in range(n >> 2):
        h = (h + le16(key, i)) & M32
        tmp = ((le16(key, i + 2) << 11) & M32) ^ h
        h = ((h << 16) & M32) ^ tmp
        i += 4
        h = (h + (h >> 11)) & M32
    if rem == 3:
        h = (h + le16(key, i)) & M32
        h ^= (h << 16) & M32
        h ^= (schar32(key[i + 2]) << 18) & M32
        h = (h + (h >> 11)) & M32
    elif rem == 2:
        h = (h + le16(key, i)) & M32
        h ^= (h << 11) & M32
        h = (h + (h >> 17)) & M32
    elif rem == 1:
        h = (h + key[i]) & M32
        h ^= (h << 10) & M32
        h = (h + (h >> 1)) & M32
    h ^= (h << 3) & M32
    h = (h + (h >> 5)) & M32
    h ^= (h << 4) & M32
    h = (h + (h >> 17)) & M32
    h ^= (h << 25) & M32
    h = (h + (h >> 6)) & M32
    return h


def murmur(key):
    m = 0x5BD1E995
    n = len(key)
    h = ((0xDEADBEEF * n) & M32) ^ (n & M32)
    i = 0
    while n - i >= 4:
        k = le32(key, i)
        k = (k * m) & M32
        k ^= k >> 24
        k = (k * m) & M32
        h = (h * m) & M32
        h ^= k
        i += 4
    tail = key[i:]
    if tail:
        # the switch falls through: every tail byte is folded in, then one multiply
        for j in range(len(tail) - 1, -1, -1):
            h ^= tail[j] << (8 * j)
        h = (h * m) & M32
    h ^= h >> 13
    h = (h * m) & M32
    h ^= h >> 15
    return h


def _lookup3_mix(a, b, c):
    a = (a - c) & M32; a ^= rotl32(c, 4);  c = (c + b) & M32
    b = (b - a) & M32; b ^= rotl32(a, 6);  a = (a + c) & M32
    c = (c - b) & M32; c ^= rotl32(b, 8);  b = (b + a) & M32
    a = (a - c) & M32; a ^= rotl32(c, 16); c = (c + b) & M32
    b = (b - a) & M32; b ^= rotl32(a, 19); a = (a + c) & M32
    c = (c - b) & M32; c ^= rotl32(b, 4);  b = (b + a) & M32
    return a, b, c


def _lookup3_final(a, b, c):
    c ^= b; c = (c - rotl32(b, 14)) & M32
    a ^= c; a = (a - rotl32(c, 11)) & M32
    b ^= a; b = (b - rotl32(a, 25)) & M32
    c ^= b; c = (c - rotl32(b, 16)) & M32
    a ^= c; a = (a - rotl32(c, 4)) & M32
    b ^= a; b = (b - rotl32(a, 14)) & M32
    c ^= b; c = (c - rotl32(b, 24)) & M32
    return a, b, c


def hashlittle(key, initval):
    """Bob Jenkins' lookup3 hashlittle(), byte-order independent form."""
    n = len(key)
    a = b = c = (0xDEADBEEF + n + initval) & M32
    i = 0
    while n - i > 12:
        a = (a + le32(key, i)) & M32
        b = (b + le32(key, i + 4)) & M32
        c = (c + le32(key, i + 8)) & M32
        a, b, c = _lookup3_mix(a, b, c)
        i += 12
    if n - i == 0:
        return c
    # zero-pad the last block to 12 bytes: same sums as the fall-through switch
    last = key[i:] + bytes(12 - (n - i))
    a = (a + le32(last, 0)) & M32
    b = (b + le32(last, 4)) & M32
    c = (c + le32(last, 8)) & M32
    a, b, c = _lookup3_final(a, b, c)
    return c


def jenkins(key):
    return hashlittle(key, 13)


FUNCS = {
    "one_at_a_time": one_at_a_time, "md5": md5, "crc16": crc16,
    "crc32": crc32, "crc32a": crc32a, "fnv1_64": fnv1_64,
    "fnv1a_64": fnv1a_64, "fnv1_32": fnv1_32, "fnv1a_32": fnv1a_32,
    "hsieh": hsieh, "murmur": murmur, "jenkins": jenkins,
}


# ---------------------------------------------------------------- vectors

LONG_KEY = (b"The quick brown fox jumps over the lazy dog; "
            b"pack my box with five dozen liquor jugs; "
            b"sphinx of black quartz, judge my vow.")
TAIL_ASCII = b"abcdefghijklm"
TAIL_HIGH = b"\x80\x81\xfe\xffk\xc3\xa9y\x90\x7f\x00\xa5\x5a"


def vector_keys():
    """The keys test_hash.c checks every function on, in table order."""
    keys = [b"", b"a", b"foo", b"123456789", LONG_KEY,
            b"\xff", b"k\x80\xfe\x90y", b"caf\xc3\xa9"]
    keys += [TAIL_ASCII[:n] for n in range(1, len(TAIL_ASCII) + 1)]
    keys += [TAIL_HIGH[:n] for n in range(1, len(TAIL_HIGH) + 1)]
    unique = []
    for key in keys:                    # "a" is also TAIL_ASCII[:1]
        if key not in unique:
            unique.append(key)
    return unique


def c_string(key):
    """A C string literal for key; hex escapes never run into a hex digit."""
    out = ['"']
    prev_hex = False
    for b in key:
        ch = chr(b)
        printable = 0x20 <= b < 0x7F and ch not in '"\\?'
        if printable and not (prev_hex and ch in "0123456789abcdefABCDEF"):
            out.append(ch)
            prev_hex = False
        elif printable:
            out.append('" "' + ch)
            prev_hex = False
        else:
            out.append("\\x%02x" % b)
            prev_hex = True
    out.append('"')
    return "".join(out)


def print_table():
    keys = vector_keys()
    for name in NAMES:
        for key in keys:
            print("%-14s %08x  %s" % (name, FUNCS[name](key), c_string(key)))


def print_c():
    """The vector table of tests/unit/test_hash.c, values in sp_hash_type_t order."""
    print("/* BEGIN generated by tests/tools/nc_hash_ref.py --c */")
    print("#define LONG_KEY \\")
    words = LONG_KEY.split(b" ")
    for i in range(0, len(words), 6):
        chunk = b" ".join(words[i:i + 6]) + (b" " if i + 6 < len(words) else b"")
        print("    %s%s" % (c_string(chunk), " \\" if i + 6 < len(words) else ""))
    print("")
    print("static const struct hash_vector hash_vectors[] = {")
    for key in vector_keys():
        lit = "LONG_KEY" if key == LONG_KEY else c_string(key)
        vals = ["0x%08xu" % FUNCS[n](key) for n in NAMES]
        print("    { %s, %d, {" % (lit, len(key)))
        for i in range(0, len(vals), 4):
            print("        " + ", ".join(vals[i:i + 4]) + ",")
        print("    } },")
    print("};")
    print("/* END generated */")


def stdin_hex():
    for line in sys.stdin:
        line = line.strip()
        key = bytes.fromhex(line)
        print(line + "".join("\t%08x" % FUNCS[n](key) for n in NAMES))


def selftest():
    """Published vectors; exit status 1 on any mismatch."""
    checks = [
        # CRC catalogue check values for "123456789"
        ("crc32a 123456789 (CRC-32)", crc32a(b"123456789"), 0xCBF43926),
        ("crc16 low bits (CRC-16/XMODEM)", crc16(b"123456789") & 0xFFFF, 0x31C3),
        # FNV test suite (Landon Curt Noll, test_fnv.c)
        ("fnv1_32 a", fnv1_32(b"a"), 0x050C5D7E),
        ("fnv1a_32 a", fnv1a_32(b"a"), 0xE40C292C),
        ("fnv1_32 foobar", fnv1_32(b"foobar"), 0x31F0B262),
        ("fnv1a_32 foobar", fnv1a_32(b"foobar"), 0xBF9CF968),
        ("FNV-1 64 a", fnv1_64_full(b"a"), 0xAF63BD4C8601B7BE),
        ("FNV-1a 64 a", fnv1a_64_full(b"a"), 0xAF63DC4C8601EC8C),
        ("FNV-1 64 foobar", fnv1_64_full(b"foobar"), 0x340D8765A4DDA9C2),
        ("FNV-1a 64 foobar", fnv1a_64_full(b"foobar"), 0x85944171F73967E8),
        # lookup3.c driver5()
        ("hashlittle '' 0", hashlittle(b"", 0), 0xDEADBEEF),
        ("hashlittle '' deadbeef", hashlittle(b"", 0xDEADBEEF), 0xBD5B7DDE),
        ("hashlittle four score 0",
         hashlittle(b"Four score and seven years ago", 0), 0x17770551),
        ("hashlittle four score 1",
         hashlittle(b"Four score and seven years ago", 1), 0xCD628161),
        # one-at-a-time (Wikipedia, "Jenkins hash function")
        ("one_at_a_time a", one_at_a_time(b"a"), 0xCA2E9442),
        ("one_at_a_time fox",
         one_at_a_time(b"The quick brown fox jumps over the lazy dog"), 0x519E91F5),
    ]
    # the 32-bit fnv1a_64 equals the low half of true FNV-1a 64, and the
    # computed CRC-16 table starts as the XMODEM one
    for key in vector_keys():
        checks.append(("fnv1a_64 low half %r" % key, fnv1a_64(key),
                       fnv1a_64_full(key) & M32))
    checks.append(("crc16 table", tuple(CRC16_XMODEM_TAB[:4]),
                   (0x0000, 0x1021, 0x2042, 0x3063)))
    checks.append(("crc32 table", tuple(CRC32_TAB[:4]),
                   (0x00000000, 0x77073096, 0xEE0E612C, 0x990951BA)))
    bad = 0
    for what, got, want in checks:
        if got != want:
            bad += 1
            print("FAIL %s: got %r want %r" % (what, got, want))
    print("%d checks, %d failed" % (len(checks), bad))
    return 1 if bad else 0


def main(argv):
    if len(argv) == 1:
        print_table()
        return 0
    if argv[1] == "--c":
        print_c()
        return 0
    if argv[1] == "--stdin-hex":
        stdin_hex()
        return 0
    if argv[1] == "--selftest":
        return selftest()
    if len(argv) == 3 and argv[1] in FUNCS:
        print("%08x" % FUNCS[argv[1]](argv[2].encode("utf-8", "surrogateescape")))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except BrokenPipeError:             # e.g. piped into head
        sys.exit(0)
