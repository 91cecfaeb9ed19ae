/* tests/unit/test_storage.c: the SQLite engine behind the storage API: limits, refused
 * statements, list ranges, savepoints, commit and reopen, the alarms index. Each test works in
 * its own temporary folder and checks that no descriptor leaks. */
#include "worker/storage.h"

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define ID "00000000000000000000000000000000000000000000000000000000000000ab"

struct fixture {
    char dir[64];
    int fds;
    struct store *st;
};

static int count_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        return -1;
    }
    while (readdir(d) != NULL) {
        n++;
    }
    closedir(d);
    return n;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/duro-test-storage-XXXXXX");
    if (f == NULL || mkdtemp(f->dir) == NULL) {
        return -1;
    }
    f->fds = count_fds();
    char err[256];
    f->st = store_open(f->dir, "cls", ID, 1, 1u << 20, err, sizeof err);
    if (f->st == NULL) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    store_close(f->st);
    assert_int_equal(count_fds(), f->fds);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static int put(struct store *st, const char *k, const char *v)
{
    return store_put(st, k, strlen(k), v, strlen(v));
}

static void get_put_delete_commit_reopen(void **state)
{
    struct fixture *f = *state;
    const void *v;
    size_t n;
    char err[256];
    assert_int_equal(store_get(f->st, "a", 1, &v, &n), DURO_ENOTFOUND);
    assert_false(store_dirty(f->st));
    assert_int_equal(put(f->st, "a", "1"), 0);
    assert_true(store_dirty(f->st));
    assert_int_equal(store_get(f->st, "a", 1, &v, &n), 0);
    assert_int_equal(n, 1);
    assert_memory_equal(v, "1", 1);
    assert_int_equal(put(f->st, "b", "2"), 0);
    assert_int_equal(store_delete(f->st, "b", 1), 1);
    assert_int_equal(store_delete(f->st, "b", 1), 0);
    assert_int_equal(store_commit(f->st, err, sizeof err), 0);
    assert_false(store_dirty(f->st));

    assert_int_equal(put(f->st, "lost", "x"), 0);
    store_close(f->st); /* an uncommitted write is rolled back */
    f->st = store_open(f->dir, "cls", ID, 1, 1u << 20, err, sizeof err);
    assert_non_null(f->st);
    assert_int_equal(store_get(f->st, "a", 1, &v, &n), 0);
    assert_int_equal(store_get(f->st, "lost", 4, &v, &n), DURO_ENOTFOUND);
    assert_true(store_size(f->st) > 0);
}

static void key_and_value_limits(void **state)
{
    struct fixture *f = *state;
    static char big[DURO_STORAGE_VALUE_MAX_BYTES + 1];
    const void *v;
    size_t n;
    memset(big, 'k', sizeof big);
    assert_int_equal(store_put(f->st, big, DURO_STORAGE_KEY_MAX_BYTES, "v", 1), 0);
    assert_int_equal(store_put(f->st, big, DURO_STORAGE_KEY_MAX_BYTES + 1, "v", 1), DURO_EINVAL);
    assert_int_equal(store_get(f->st, big, DURO_STORAGE_KEY_MAX_BYTES + 1, &v, &n), DURO_EINVAL);
    assert_int_equal(store_put(f->st, "k", 1, big, DURO_STORAGE_VALUE_MAX_BYTES), 0);
    assert_int_equal(store_put(f->st, "k", 1, big, DURO_STORAGE_VALUE_MAX_BYTES + 1),
                     DURO_EINVAL);
}

static void object_size_limit(void **state)
{
    struct fixture *f = *state;
    static char big[DURO_STORAGE_VALUE_MAX_BYTES];
    memset(big, 'v', sizeof big);
    int rc = 0;
    /* 1 MiB file limit: the ninth 128 KiB value cannot fit. */
    for (int i = 0; i < 16 && rc == 0; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        rc = store_put(f->st, k, strlen(k), big, sizeof big);
    }
    assert_int_equal(rc, DURO_ETOOBIG);
}

static void transaction_statements_refused(void **state)
{
    struct fixture *f = *state;
    char err[256];
    static const char *const refused[] = {
        "BEGIN", "begin immediate", "COMMIT", "END", "ROLLBACK", "SAVEPOINT x", "RELEASE x",
        "ATTACH 'other.db' AS o", "DETACH o", "VACUUM", "  /* c */ vacuum",
        "PRAGMA synchronous=OFF", "PRAGMA journal_mode=DELETE", "INSERT INTO _duro_kv VALUES(1,2)",
        "DELETE FROM _duro_alarm", "DROP TABLE _duro_kv",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        int rc = store_exec(f->st, refused[i], strlen(refused[i]), NULL, 0, NULL, NULL, err,
                            sizeof err);
        if (rc != DURO_EREFUSED) {
            fail_msg("'%s' gave %d (%s)", refused[i], rc, err);
        }
    }
    const char *ok = "CREATE TABLE t(a INTEGER, b TEXT)";
    assert_int_equal(store_exec(f->st, ok, strlen(ok), NULL, 0, NULL, NULL, err, sizeof err), 0);
    const char *two = "SELECT 1; SELECT 2";
    assert_int_equal(store_exec(f->st, two, strlen(two), NULL, 0, NULL, NULL, err, sizeof err),
                     DURO_ESQL);
    const char *bad = "SELEC nonsense";
    assert_int_equal(store_exec(f->st, bad, strlen(bad), NULL, 0, NULL, NULL, err, sizeof err),
                     DURO_ESQL);
}

struct rows {
    int64_t sum;
    char text[64];
    size_t n;
};

static int on_row(void *arg, const struct duro_sql_value *cols, const char *const *names,
                  size_t ncols)
{
    struct rows *r = arg;
    assert_int_equal(ncols, 2);
    assert_string_equal(names[0], "a");
    assert_int_equal(cols[0].type, DURO_SQL_INTEGER);
    assert_int_equal(cols[1].type, DURO_SQL_TEXT);
    r->sum += cols[0].i;
    size_t len = strlen(r->text);
    snprintf(r->text + len, sizeof r->text - len, "%.*s", (int)cols[1].len,
             (const char *)cols[1].p);
    r->n++;
    return 0;
}

static void sql_with_parameters_and_rows(void **state)
{
    struct fixture *f = *state;
    char err[256];
    const char *create = "CREATE TABLE t(a INTEGER, b TEXT)";
    assert_int_equal(store_exec(f->st, create, strlen(create), NULL, 0, NULL, NULL, err,
                                sizeof err), 0);
    const char *ins = "INSERT INTO t VALUES (?1, ?2)";
    for (int i = 1; i <= 3; i++) {
        struct duro_sql_value p[2] = { { .type = DURO_SQL_INTEGER, .i = i },
                                       { .type = DURO_SQL_TEXT, .p = "xyz" + (i - 1), .len = 1 } };
        assert_int_equal(store_exec(f->st, ins, strlen(ins), p, 2, NULL, NULL, err, sizeof err),
                         1);
    }
    struct rows r = { 0 };
    const char *sel = "SELECT a, b FROM t ORDER BY a";
    assert_int_equal(store_exec(f->st, sel, strlen(sel), NULL, 0, on_row, &r, err, sizeof err),
                     0);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.sum, 6);
    assert_string_equal(r.text, "xyz");
    assert_true(store_dirty(f->st));
}

struct seen {
    char keys[256];
    int n;
    int stop_after;
};

static int on_kv(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    struct seen *s = arg;
    (void)val;
    (void)val_len;
    size_t len = strlen(s->keys);
    snprintf(s->keys + len, sizeof s->keys - len, "%s%.*s", len ? "," : "", (int)key_len,
             (const char *)key);
    return ++s->n == s->stop_after;
}

static const char *list(struct store *st, const struct duro_list_opts *o)
{
    static struct seen s;
    memset(&s, 0, sizeof s);
    assert_true(store_list(st, o, on_kv, &s) >= 0);
    return s.keys;
}

static void list_prefix_range_reverse_limit(void **state)
{
    struct fixture *f = *state;
    static const char *const keys[] = { "a", "ab", "abc", "b", "ba", "c" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        assert_int_equal(put(f->st, keys[i], "v"), 0);
    }
    assert_string_equal(list(f->st, NULL), "a,ab,abc,b,ba,c");
    struct duro_list_opts o = { .prefix = "ab", .prefix_len = 2 };
    assert_string_equal(list(f->st, &o), "ab,abc");
    o = (struct duro_list_opts){ .start = "ab", .start_len = 2, .end = "ba", .end_len = 2 };
    assert_string_equal(list(f->st, &o), "ab,abc,b");
    o.start_after = 1;
    assert_string_equal(list(f->st, &o), "abc,b");
    o = (struct duro_list_opts){ .reverse = 1, .limit = 2 };
    assert_string_equal(list(f->st, &o), "c,ba");
    o = (struct duro_list_opts){ .prefix = "b", .prefix_len = 1, .reverse = 1 };
    assert_string_equal(list(f->st, &o), "ba,b");
    /* A walk with a cursor: two at a time, each page starting after the last key seen. */
    char cursor[256] = "";
    char all[600] = "";
    for (int page = 0; page < 4; page++) {
        o = (struct duro_list_opts){ .limit = 2, .start = cursor, .start_len = strlen(cursor),
                                     .start_after = 1 };
        const char *got = list(f->st, &o);
        if (got[0] == '\0') {
            break;
        }
        snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", all[0] ? "," : "", got);
        const char *last = strrchr(got, ',');
        snprintf(cursor, sizeof cursor, "%s", last ? last + 1 : got);
    }
    assert_string_equal(all, "a,ab,abc,b,ba,c");
    /* The callback stops the walk. */
    struct seen s = { .stop_after = 2 };
    assert_int_equal(store_list(f->st, NULL, on_kv, &s), 2);
    assert_int_equal(store_delete_all(f->st), 0);
    assert_string_equal(list(f->st, NULL), "");
}

static int write_and_fail(void *arg)
{
    struct store *st = arg;
    assert_int_equal(put(st, "inner", "1"), 0);
    return 7;
}

static int write_and_keep(void *arg)
{
    struct store *st = arg;
    return put(st, "kept", "1");
}

static void savepoints_roll_back_or_keep(void **state)
{
    struct fixture *f = *state;
    const void *v;
    size_t n;
    assert_int_equal(put(f->st, "outer", "1"), 0);
    assert_int_equal(store_savepoint(f->st, write_and_fail, f->st), 7);
    assert_int_equal(store_get(f->st, "inner", 5, &v, &n), DURO_ENOTFOUND);
    assert_int_equal(store_savepoint(f->st, write_and_keep, f->st), 0);
    assert_int_equal(store_get(f->st, "kept", 4, &v, &n), 0);
    assert_int_equal(store_get(f->st, "outer", 5, &v, &n), 0);
}

static void alarm_in_the_object_file(void **state)
{
    struct fixture *f = *state;
    char err[256];
    uint32_t retry = 9;
    assert_int_equal(store_alarm_get(f->st, &retry), 0);
    assert_int_equal(store_alarm_set(f->st, 1234, 2), 0);
    assert_int_equal(store_commit(f->st, err, sizeof err), 0);
    assert_int_equal(store_alarm_get(f->st, &retry), 1234);
    assert_int_equal(retry, 2);
    assert_int_equal(store_alarm_set(f->st, 0, 0), 0);
    assert_int_equal(store_alarm_get(f->st, NULL), 0);
}

static void on_entry(void *arg, const char *cls, const char *name, size_t name_len, int64_t at)
{
    char *out = arg;
    size_t len = strlen(out);
    snprintf(out + len, 128 - len, "%s/%.*s@%lld;", cls, (int)name_len, name, (long long)at);
}

static void alarms_index(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct alarm_index *ix = alarm_index_open(f->dir, err, sizeof err);
    assert_non_null(ix);
    assert_int_equal(alarm_index_put(ix, "counter", "a", 1, "id-a", 100), 0);
    assert_int_equal(alarm_index_put(ix, "counter", "b", 1, "id-b", 200), 0);
    assert_int_equal(alarm_index_put(ix, "counter", "a", 1, "id-a", 300), 0);
    assert_int_equal(alarm_index_put(ix, "counter", "b", 1, "id-b", 0), 0);
    char out[128] = "";
    assert_int_equal(alarm_index_each(ix, on_entry, out), 1);
    assert_string_equal(out, "counter/a@300;");
    alarm_index_close(ix);
}

/* Workers start together and open the shared alarms index (and, in a hand-over, an object's
 * file) at the same moment: a fresh file's switch to WAL could answer "database is locked"
 * at once, which left a worker without storage. Processes released together by one pipe, on
 * fresh directories, each must open it. */
static void index_opened_by_racing_processes(void **state)
{
    (void)state;
    enum { ROUNDS = 40, PROCS = 4 };
    int failures = 0;
    for (int r = 0; r < ROUNDS; r++) {
        char dir[64];
        snprintf(dir, sizeof dir, "/tmp/duro-test-index-XXXXXX");
        assert_non_null(mkdtemp(dir));
        int gate[2];
        assert_int_equal(pipe(gate), 0);
        pid_t kids[PROCS];
        for (int i = 0; i < PROCS; i++) {
            kids[i] = fork();
            assert_true(kids[i] >= 0);
            if (kids[i] == 0) {
                close(gate[1]);
                char c;
                (void)!read(gate[0], &c, 1); /* released when the parent closes the pipe */
                char err[256];
                struct alarm_index *ix = alarm_index_open(dir, err, sizeof err);
                if (ix == NULL) {
                    fprintf(stderr, "round %d: %s\n", r, err);
                }
                alarm_index_close(ix);
                _exit(ix == NULL ? 1 : 0);
            }
        }
        close(gate[0]);
        close(gate[1]);
        for (int i = 0; i < PROCS; i++) {
            int st = 0;
            assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
            failures += !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        }
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
    }
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(get_put_delete_commit_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(key_and_value_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(object_size_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(transaction_statements_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(sql_with_parameters_and_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(list_prefix_range_reverse_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(savepoints_roll_back_or_keep, setup, teardown),
        cmocka_unit_test_setup_teardown(alarm_in_the_object_file, setup, teardown),
        cmocka_unit_test_setup_teardown(alarms_index, setup, teardown),
        cmocka_unit_test(index_opened_by_racing_processes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
