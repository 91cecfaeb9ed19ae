/* tests/unit/test_hash.c: object keys, rendezvous slot choice, object IDs.
 *
 * The pinned values were computed once from this implementation and must never change:
 * a change moves every object to another worker and gives every object a new ID. The IDs were
 * checked independently: HMAC-SHA256(key = "duro-object-id:" + class, message = name). */
#include "common/hash.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/duro_limits.h"

#define NAMES_COUNT 10000u

struct pinned {
    const char *cls;
    const char *name;
    uint64_t key;
    unsigned slot[8]; /* hash_pick_slot(key, n) for n = 1..8 */
    const char *id;
};

static const struct pinned pins[] = {
    { "seed", "foo", 0x37774a9cf8e70cf9ull, { 0, 1, 1, 1, 1, 1, 1, 7 },
      "49c458231d0408aa38e6802720ff14f782c429142e43230e35eca14fda05c4e6" },
    { "echo", "foo", 0xa05e4d5b70c13324ull, { 0, 0, 2, 2, 2, 2, 6, 6 },
      "b122c77ea24b1697e876c9db6457fa7c076eec3976d6a377087964a40f232b89" },
    { "seed", "bar", 0xb38251a1f5652d39ull, { 0, 1, 1, 1, 1, 1, 1, 1 },
      "f4a26d3d357a3996a161ca1ceb16a0dfb350ef8b708817674d3c6517e26e6c4d" },
    { "seed", "", 0x65092bb1b1d087aaull, { 0, 0, 0, 0, 0, 0, 0, 0 },
      "0b90501eb0d97edc85410cd35806331ed1c3bbc45d934a8b7ce9308769ddf45b" },
    { "chat", "room-1", 0x4dc890db9b7e5995ull, { 0, 0, 2, 2, 2, 2, 2, 2 },
      "d7c24cf836d1dea064755c0dbf98ad3aa1145c977e016ad03876d43c65c45297" },
};

static uint64_t key_of(const char *cls, const char *name)
{
    return hash_object_key(cls, strlen(cls), name, strlen(name));
}

static uint64_t key_of_index(unsigned i)
{
    char name[32];
    int n = snprintf(name, sizeof name, "object-%u", i);
    return hash_object_key("seed", 4, name, (size_t)n);
}

static void pinned_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof pins / sizeof pins[0]; i++) {
        const struct pinned *p = &pins[i];
        uint64_t key = key_of(p->cls, p->name);
        char id[65];

        assert_int_equal(key, p->key);
        for (unsigned n = 1; n <= 8; n++) {
            assert_int_equal(hash_pick_slot(key, n), p->slot[n - 1]);
        }
        hash_object_id(p->cls, strlen(p->cls), p->name, strlen(p->name), id);
        assert_string_equal(id, p->id);
    }
}

static void key_is_deterministic_and_reads_only_len_bytes(void **state)
{
    (void)state;
    /* The lengths decide, not NUL terminators: trailing bytes past len are ignored. */
    assert_int_equal(hash_object_key("seedXX", 4, "fooYY", 3), key_of("seed", "foo"));
    assert_int_equal(key_of("seed", "foo"), key_of("seed", "foo"));
    assert_int_not_equal(key_of("seed", "foo"), key_of("seed", "fop"));
    assert_int_not_equal(key_of("seed", "foo"), key_of("echo", "foo"));
}

static void key_separates_class_from_name(void **state)
{
    (void)state;
    assert_int_not_equal(key_of("ab", "c"), key_of("a", "bc"));
    assert_int_not_equal(key_of("", "abc"), key_of("abc", ""));
    assert_int_not_equal(key_of("seed", "foo"), key_of("", "seedfoo"));
}

static void slot_is_in_range(void **state)
{
    (void)state;
    for (unsigned i = 0; i < 1000; i++) {
        uint64_t key = key_of_index(i);
        assert_int_equal(hash_pick_slot(key, 1), 0);
        for (unsigned n = 2; n <= DURO_WORKERS_MAX_COUNT; n++) {
            assert_in_range(hash_pick_slot(key, n), 0, n - 1);
        }
    }
}

static void slots_are_even(void **state)
{
    (void)state;
    const unsigned nslots = 4;
    unsigned count[4] = { 0 };

    for (unsigned i = 0; i < NAMES_COUNT; i++) {
        count[hash_pick_slot(key_of_index(i), nslots)]++;
    }
    for (unsigned s = 0; s < nslots; s++) {
        /* within 10% of NAMES_COUNT / nslots = 2500 */
        assert_in_range(count[s], 2250, 2750);
    }
}

/* Rendezvous hashing: growing 4 -> 5 moves only what the new slot wins, about 1/5. */
static void growing_moves_only_to_the_new_slot(void **state)
{
    (void)state;
    unsigned moved = 0;

    for (unsigned i = 0; i < NAMES_COUNT; i++) {
        uint64_t key = key_of_index(i);
        unsigned before = hash_pick_slot(key, 4);
        unsigned after = hash_pick_slot(key, 5);
        if (before != after) {
            assert_int_equal(after, 4);
            moved++;
        }
    }
    assert_in_range(moved, NAMES_COUNT * 15 / 100, NAMES_COUNT * 25 / 100);
}

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

static void object_id_shape_and_identity(void **state)
{
    (void)state;
    char a[65];
    char b[65];
    char c[65];
    char d[65];

    memset(a, 'X', sizeof a);
    hash_object_id("seed", 4, "foo", 3, a);
    assert_int_equal(strlen(a), DURO_OBJECT_ID_HEX_BYTES);
    assert_true(is_lower_hex(a, DURO_OBJECT_ID_HEX_BYTES));

    hash_object_id("seed", 4, "foo", 3, b);
    assert_string_equal(a, b); /* stable */
    hash_object_id("echo", 4, "foo", 3, c);
    assert_string_not_equal(a, c); /* per class */
    hash_object_id("seed", 4, "fop", 3, d);
    assert_string_not_equal(a, d); /* per name */
    assert_true(is_lower_hex(c, DURO_OBJECT_ID_HEX_BYTES));
    assert_true(is_lower_hex(d, DURO_OBJECT_ID_HEX_BYTES));

    /* Only `len` bytes count. */
    hash_object_id("seedZ", 4, "foo!", 3, b);
    assert_string_equal(a, b);
}

static void object_ids_are_distinct(void **state)
{
    (void)state;
    static char ids[1000][DURO_OBJECT_ID_HEX_BYTES + 1];

    for (unsigned i = 0; i < 1000; i++) {
        char name[32];
        int n = snprintf(name, sizeof name, "object-%u", i);
        hash_object_id("seed", 4, name, (size_t)n, ids[i]);
        assert_int_equal(strlen(ids[i]), DURO_OBJECT_ID_HEX_BYTES);
        assert_true(is_lower_hex(ids[i], DURO_OBJECT_ID_HEX_BYTES));
        for (unsigned j = 0; j < i; j++) {
            assert_string_not_equal(ids[i], ids[j]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pinned_values),
        cmocka_unit_test(key_is_deterministic_and_reads_only_len_bytes),
        cmocka_unit_test(key_separates_class_from_name),
        cmocka_unit_test(slot_is_in_range),
        cmocka_unit_test(slots_are_even),
        cmocka_unit_test(growing_moves_only_to_the_new_slot),
        cmocka_unit_test(object_id_shape_and_identity),
        cmocka_unit_test(object_ids_are_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
