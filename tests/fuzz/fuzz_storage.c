/* tests/fuzz/fuzz_storage.c: the storage engine (worker/storage.h) driven by arbitrary input.
 *
 * The input is a sequence of operations: one byte selects put, get, delete, list (with the
 * option bits taken from the input), a SQL statement (the rest of the line, as a class would
 * pass it) or a savepoint block, and a commit or rollback. Invariants: every call returns one of
 * its documented codes, a refused statement never opens or ends duro's transaction behind its
 * back (a put after it still belongs to the open transaction, a commit always succeeds), and a
 * value read back after a put is the value written. One store per process, in a fresh folder. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/fuzz/fuzz_check.h"
#include "worker/storage.h"

static struct store *st;

static void open_store(void)
{
    static char dir[64];
    char err[256];
    snprintf(dir, sizeof dir, "/tmp/duro-fuzz-storage-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    st = store_open(dir, "fuzz", "00", 0, 8u << 20, err, sizeof err);
    CHECK(st != NULL);
}

static int on_kv(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    size_t *n = arg;
    (void)key;
    (void)val;
    CHECK(key_len <= DURO_STORAGE_KEY_MAX_BYTES && val_len <= DURO_STORAGE_VALUE_MAX_BYTES);
    return ++*n > 64;
}

static int on_row(void *arg, const struct duro_sql_value *cols, const char *const *names,
                  size_t ncols)
{
    (void)names;
    for (size_t i = 0; i < ncols; i++) {
        CHECK(cols[i].type >= DURO_SQL_NULL && cols[i].type <= DURO_SQL_BLOB);
    }
    return ++*(size_t *)arg > 64;
}

static int in_savepoint(void *arg)
{
    const uint8_t *d = arg;
    return store_put(st, "sp", 2, d, 1) == 0 ? (d[0] & 1) : -1;
}

static int known(int rc)
{
    return rc >= DURO_ENOSYS && rc <= 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (st == NULL) {
        open_store();
    }
    size_t i = 0;
    while (i < size) {
        uint8_t op = data[i++];
        size_t rest = size - i;
        const uint8_t *nl = memchr(data + i, '\n', rest);
        size_t len = nl != NULL ? (size_t)(nl - (data + i)) : rest;
        const uint8_t *arg = data + i;
        i += len + (nl != NULL);
        const void *v;
        size_t vl;
        size_t n = 0;
        char err[256];
        switch (op % 7) {
        case 0: {
            size_t kl = len / 2;
            int rc = store_put(st, arg, kl, arg + kl, len - kl);
            CHECK(rc == 0 || rc == DURO_ETOOBIG);
            if (rc == 0) {
                CHECK(store_get(st, arg, kl, &v, &vl) == 0);
                CHECK(vl == len - kl && (vl == 0 || memcmp(v, arg + kl, vl) == 0));
            }
            break;
        }
        case 1:
            CHECK(known(store_get(st, arg, len, &v, &vl)));
            break;
        case 2:
            CHECK(known(store_delete(st, arg, len)));
            break;
        case 3: {
            struct duro_list_opts o = { .prefix = len > 0 ? arg : NULL, .prefix_len = len / 3,
                                        .reverse = len & 1, .limit = len % 5,
                                        .start_after = (len >> 1) & 1 };
            CHECK(store_list(st, &o, on_kv, &n) >= 0);
            break;
        }
        case 4: {
            int rc = store_exec(st, (const char *)arg, len, NULL, 0, on_row, &n, err, sizeof err);
            CHECK(rc >= 0 || rc == DURO_ESQL || rc == DURO_EREFUSED || rc == DURO_EINVAL ||
                  rc == DURO_ETOOBIG || rc == DURO_ESTORAGE);
            break;
        }
        case 5:
            if (len > 0) {
                CHECK(known(store_savepoint(st, in_savepoint, (void *)arg)));
            }
            break;
        default:
            if (len & 1) {
                store_rollback(st);
            } else {
                CHECK(store_commit(st, err, sizeof err) == 0);
            }
            break;
        }
    }
    store_rollback(st);
    return 0;
}
