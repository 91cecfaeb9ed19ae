"""tests/unit/test_hash_vectors.py: the worker an object goes to, computed here from the rule
alone (issue 10, defect 6), compared with what common/hash.c picks (tests/unit/hash_slots.c).

The rule: key = XXH3_64(name, seed = XXH3_64(class, seed = 0x6475726f2d763100)); the slot of n
is the i in [0, n) with the highest XXH3_64(key as 8 little-endian bytes + i as 4 little-endian
bytes, seed = 0x6475726f2d763100), the lowest i on a tie. XXH3 is written out below from its
specification for inputs of at most 16 bytes, with Python integers: no host byte order enters,
so a gateway that read host-endian bytes would disagree on a big-endian machine only, while
this test would fail on any machine if hash.c's byte order were not the fixed one.

Run: DURO_HASH_SLOTS=build/tests/hash_slots python3 tests/unit/test_hash_vectors.py -v
"""
import os
import struct
import subprocess
import unittest

HASH_SLOTS = os.environ.get("DURO_HASH_SLOTS", "")
SEED = 0x6475726F2D763100  # "duro-v1\0"
M64 = (1 << 64) - 1
P64_2, P64_3 = 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
# The first 72 bytes of XXH3's default secret (kSecret), all a short input reads.
SECRET = bytes.fromhex(
    "b8fe6c3923a44bbe7c01812cf721ad1cded46de9839097db7240a4a4b7b3671f"
    "cb79e64eccc0e578825ad07dccff7221b8084674f743248ee03590e6813a264c"
    "3c2852bb91c300cb")


def le32(b, at):
    return struct.unpack_from("<I", b, at)[0]


def le64(b, at):
    return struct.unpack_from("<Q", b, at)[0]


def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def xxh64_avalanche(h):
    h ^= h >> 33
    h = (h * P64_2) & M64
    h ^= h >> 29
    h = (h * P64_3) & M64
    return h ^ (h >> 32)


def xxh3_avalanche(h):
    h ^= h >> 37
    h = (h * 0x165667919E3779F9) & M64
    return h ^ (h >> 32)


def rrmxmx(h, n):
    h ^= rotl(h, 49) ^ rotl(h, 24)
    h = (h * 0x9FB21C651E98DF25) & M64
    h ^= (h >> 35) + n
    h = (h * 0x9FB21C651E98DF25) & M64
    return h ^ (h >> 28)


def xxh3_64(data, seed):
    """XXH3_64bits_withSeed for len(data) <= 16."""
    n = len(data)
    assert n <= 16, "this test keeps classes and names to 16 bytes"
    if n == 0:
        return xxh64_avalanche(seed ^ le64(SECRET, 56) ^ le64(SECRET, 64))
    if n <= 3:
        combined = (data[0] << 16) | (data[n >> 1] << 24) | data[n - 1] | (n << 8)
        bitflip = ((le32(SECRET, 0) ^ le32(SECRET, 4)) + seed) & M64
        return xxh64_avalanche(combined ^ bitflip)
    if n <= 8:
        s32 = seed & 0xFFFFFFFF
        seed ^= int.from_bytes(s32.to_bytes(4, "little"), "big") << 32
        bitflip = ((le64(SECRET, 8) ^ le64(SECRET, 16)) - seed) & M64
        input64 = (le32(data, n - 4) + (le32(data, 0) << 32)) & M64
        return rrmxmx(input64 ^ bitflip, n)
    bitflip1 = ((le64(SECRET, 24) ^ le64(SECRET, 32)) + seed) & M64
    bitflip2 = ((le64(SECRET, 40) ^ le64(SECRET, 48)) - seed) & M64
    lo = le64(data, 0) ^ bitflip1
    hi = le64(data, n - 8) ^ bitflip2
    product = lo * hi
    fold = (product & M64) ^ (product >> 64)
    swapped = int.from_bytes(lo.to_bytes(8, "little"), "big")
    return xxh3_avalanche((n + swapped + hi + fold) & M64)


def object_key(cls, name):
    return xxh3_64(name, xxh3_64(cls, SEED))


def pick_slot(key, nslots):
    best, best_w = 0, -1
    for i in range(nslots):
        w = xxh3_64(struct.pack("<QI", key, i), SEED)
        if w > best_w:
            best, best_w = i, w
    return best


CASES = [(b"seed", b"foo"), (b"echo", b"foo"), (b"seed", b"bar"), (b"chat", b"room-1"),
         (b"chat", b"room-2"), (b"a", b"b"), (b"ab", b"c"), (b"presence", b"lobby"),
         (b"probe", b"0123456789abcdef"), (b"echo", b"x"), (b"sixteen-byte-cls", b"name9")]
CASES += [(b"seed", b"object-%d" % i) for i in range(200)]


@unittest.skipUnless(HASH_SLOTS, "DURO_HASH_SLOTS is not set")
class HashVectorsTest(unittest.TestCase):
    def test_the_python_rule_matches_the_pinned_values_of_test_hash(self):
        # tests/unit/test_hash.c pins these; agreeing with them checks the rule written here.
        self.assertEqual(object_key(b"seed", b"foo"), 0x37774A9CF8E70CF9)
        self.assertEqual(object_key(b"chat", b"room-1"), 0x4DC890DB9B7E5995)
        self.assertEqual([pick_slot(0x37774A9CF8E70CF9, n) for n in range(1, 9)],
                         [0, 1, 1, 1, 1, 1, 1, 7])
        self.assertEqual([pick_slot(0xA05E4D5B70C13324, n) for n in range(1, 9)],
                         [0, 0, 2, 2, 2, 2, 6, 6])

    def test_hash_c_picks_the_worker_the_rule_picks(self):
        text = "".join(f"{c.decode()} {n.decode()}\n" for c, n in CASES)
        out = subprocess.run([HASH_SLOTS], input=text, capture_output=True, text=True,
                             timeout=30, check=True).stdout.splitlines()
        self.assertEqual(len(out), len(CASES))
        for (cls, name), line in zip(CASES, out):
            key = object_key(cls, name)
            want = f"{key:016x} " + " ".join(str(pick_slot(key, n)) for n in range(1, 9))
            self.assertEqual(line, want, f"{cls!r} {name!r}")


if __name__ == "__main__":
    unittest.main()
