#include "common/log.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/duro_limits.h"

_Static_assert(DURO_LOG_BATCH_BYTES <= PIPE_BUF, "a batch must be one atomic pipe write");
_Static_assert(DURO_LOG_FILE_BATCH_BYTES >= DURO_LOG_BATCH_BYTES, "the batch holds either size");

const char *const log_level_names[] = { "debug", "info", "warn", "error", NULL };
const char *const log_format_names[] = { "text", "json", NULL };

/* The keys the formatter writes itself; a caller's pair with one of these names is renamed. */
static const struct {
    const char *key;
    size_t len;
} owned_keys[] = { { "ts", 2 }, { "level", 5 }, { "proc", 4 }, { "pid", 3 }, { "mod", 3 } };

/* put_head's output for the logger's proc, pid and format. */
struct head {
    char text[80];
    size_t len; /* 0: not formatted yet */
};

static struct {
    char proc[16];
    int pid;
    char pidtext[16];           /* pid, formatted once */
    enum log_level min;
    int timestamps;
    enum log_format format;
    long long ts_sec;           /* the second ts_prefix was formatted for */
    char ts_prefix[24];         /* "2026-12-01T22:55:01." */
    struct head head[LOG_ERROR + 1][2]; /* by level, and by whether it starts the line */
    size_t len;
    size_t cap;                 /* what one write(2) may carry without interleaving */
    char batch[DURO_LOG_FILE_BATCH_BYTES];
} logger = { .proc = "duro", .min = LOG_INFO, .timestamps = 1, .format = LOG_FORMAT_TEXT,
              .ts_sec = -1, .cap = DURO_LOG_BATCH_BYTES };

void log_flush(void)
{
    size_t off = 0;
    while (off < logger.len) {
        ssize_t w = write(STDERR_FILENO, logger.batch + off, logger.len - off);
        if (w <= 0) {
            break; /* nowhere to report a failed log write */
        }
        off += (size_t)w;
    }
    logger.len = 0;
}

void log_init(const char *proc, enum log_level min_level)
{
    snprintf(logger.proc, sizeof logger.proc, "%s", proc);
    logger.pid = (int)getpid();
    snprintf(logger.pidtext, sizeof logger.pidtext, "%d", logger.pid);
    logger.min = min_level;
    logger.len = 0;
    memset(logger.head, 0, sizeof logger.head);
    /* A pipe or a socket (journald) keeps a write atomic up to PIPE_BUF only. */
    struct stat st;
    logger.cap = fstat(STDERR_FILENO, &st) == 0 && S_ISREG(st.st_mode) ? DURO_LOG_FILE_BATCH_BYTES
                                                                        : DURO_LOG_BATCH_BYTES;
    atexit(log_flush);
}

void log_set_level(enum log_level min_level)
{
    logger.min = min_level;
}

void log_configure(int timestamps, enum log_format format)
{
    logger.timestamps = timestamps;
    logger.format = format;
    memset(logger.head, 0, sizeof logger.head);
}

int log_level_parse(const char *s)
{
    for (int i = 0; log_level_names[i] != NULL; i++) {
        if (strcmp(s, log_level_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

int log_enabled(enum log_level lvl)
{
    return lvl >= logger.min;
}

/* ---- the formatter ---- */

struct out {
    char *p;
    size_t cap; /* room for the text, the '\n' excluded */
    size_t len;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (n > o->cap - o->len) {
        n = o->cap - o->len; /* a line too long is cut, never split */
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* Writes `v` (n bytes) escaped for a JSON string, or for a text value in double quotes. */
static void put_escaped(struct out *o, const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t run = 0;
        while (i + run < n && (unsigned char)v[i + run] >= 0x20 && v[i + run] != '"' &&
               v[i + run] != '\\' && v[i + run] != 0x7f) {
            run++;
        }
        if (run > 0) {
            put(o, v + i, run); /* the common case: nothing to escape */
            i += run;
            if (i == n) {
                break;
            }
        }
        unsigned char ch = (unsigned char)v[i];
        char esc[8];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            put(o, esc, 2);
        } else if (ch == '\n') {
            put(o, "\\n", 2);
        } else if (ch == '\r') {
            put(o, "\\r", 2);
        } else if (ch == '\t') {
            put(o, "\\t", 2);
        } else if (ch < 0x20 || ch == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", ch);
            put(o, esc, 6);
        }
    }
}

static int needs_quotes(const char *v, size_t n)
{
    if (n == 0) {
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch <= 0x20 || ch == '"' || ch == '\\' || ch == 0x7f) {
            return 1;
        }
    }
    return 0;
}

static int is_integer(const char *v, size_t n)
{
    size_t i = v[0] == '-' ? 1 : 0;
    if (n == i || n - i > 15 || (v[i] == '0' && n - i > 1)) {
        return 0;
    }
    for (; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') {
            return 0;
        }
    }
    return 1;
}

/* One pair: `key` (klen bytes, already unique) and its raw value. */
static void put_pair(struct out *o, enum log_format fmt, int first, const char *key, size_t klen,
                     const char *v, size_t vlen, int quoted)
{
    if (fmt == LOG_FORMAT_JSON) {
        puts_(o, first ? "{\"" : ",\"");
        put_escaped(o, key, klen);
        puts_(o, "\":");
        if (is_integer(v, vlen)) {
            put(o, v, vlen);
        } else {
            puts_(o, "\"");
            put_escaped(o, v, vlen);
            puts_(o, "\"");
        }
        return;
    }
    if (!first) {
        puts_(o, " ");
    }
    put(o, key, klen);
    puts_(o, "=");
    if (quoted || needs_quotes(v, vlen)) {
        puts_(o, "\"");
        put_escaped(o, v, vlen);
        puts_(o, "\"");
    } else {
        put(o, v, vlen);
    }
}

#define SEEN_MAX_COUNT 48

/* The callers' keys already on the line. A key points into the caller's text or kv array,
 * which outlive the line; only a renamed key is copied (it has no other home). `sig` has one
 * bit per key (sig_bit), so that a key new to the line, nearly every one, is known new without
 * comparing it to the others: the access lines are written for every request (issue 18). */
struct seen {
    unsigned n;
    size_t used;
    uint64_t sig;
    const char *key[SEEN_MAX_COUNT];
    size_t len[SEEN_MAX_COUNT];
    char arena[1024];
};

static uint64_t sig_bit(const char *k, size_t n)
{
    unsigned h = n == 0 ? 0 : (unsigned char)k[0] * 31u + (unsigned char)k[n - 1] + (unsigned)n * 7u;
    return 1ull << (h & 63u);
}

/* One of owned_keys, which the formatter writes itself. */
static int is_owned(const char *k, size_t n)
{
    for (size_t i = 0; i < sizeof owned_keys / sizeof owned_keys[0]; i++) {
        if (owned_keys[i].len == n && memcmp(owned_keys[i].key, k, n) == 0) {
            return 1;
        }
    }
    return 0;
}

static int seen_has(const struct seen *s, const char *k, size_t n)
{
    if (is_owned(k, n)) {
        return 1;
    }
    if (!(s->sig & sig_bit(k, n))) {
        return 0;
    }
    for (unsigned i = 0; i < s->n; i++) {
        if (s->len[i] == n && memcmp(s->key[i], k, n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* `copy`: the key lives only as long as the caller's frame (a renamed one). */
static void seen_add(struct seen *s, const char *k, size_t n, int copy)
{
    if (s->n >= SEEN_MAX_COUNT) {
        return;
    }
    if (copy) {
        if (n > sizeof s->arena - s->used) {
            return;
        }
        memcpy(s->arena + s->used, k, n);
        k = s->arena + s->used;
        s->used += n;
    }
    s->key[s->n] = k;
    s->len[s->n++] = n;
    s->sig |= sig_bit(k, n);
}

/* A caller's pair; a key already on the line is written as key_2, key_3, ... */
static void caller_pair(struct out *o, enum log_format fmt, struct seen *s, const char *k,
                        size_t klen, const char *v, size_t vlen, int quoted)
{
    char renamed[80];
    const char *key = k;
    size_t n = klen;
    for (int i = 2; seen_has(s, key, n) && i < SEEN_MAX_COUNT + 2; i++) {
        int m = snprintf(renamed, sizeof renamed, "%.*s_%d", (int)(klen > 64 ? 64 : klen), k, i);
        key = renamed;
        n = (size_t)m;
    }
    put_pair(o, fmt, 0, key, n, v, vlen, quoted);
    seen_add(s, key, n, key == renamed);
}

/* Splits the caller's text into `key=value` pairs: a value runs to the next space, or is
 * "quoted" up to a quote followed by a space or the end. Words without '=' go to "msg". */
static void caller_pairs(struct out *o, enum log_format fmt, struct seen *s, const char *msg)
{
    const char *p = msg;
    char words[256];
    size_t wlen = 0;

    while (*p != '\0') {
        p += strspn(p, " ");
        if (*p == '\0') {
            break;
        }
        const char *k = p;
        size_t klen = strcspn(p, "= ");
        if (k[klen] != '=' || klen == 0) {
            size_t w = strcspn(p, " ");
            if (wlen + w + 1 < sizeof words) {
                if (wlen > 0) {
                    words[wlen++] = ' ';
                }
                memcpy(words + wlen, p, w);
                wlen += w;
            }
            p += w;
            continue;
        }
        const char *v = k + klen + 1;
        size_t vlen;
        int quoted = *v == '"';
        if (quoted) {
            const char *q = v + 1;
            while (*q != '\0' && !(*q == '"' && (q[1] == ' ' || q[1] == '\0'))) {
                q++;
            }
            vlen = (size_t)(q - v - 1);
            p = *q == '"' ? q + 1 : q;
            v++;
        } else {
            vlen = strcspn(v, " ");
            p = v + vlen;
        }
        caller_pair(o, fmt, s, k, klen, v, vlen, quoted);
    }
    if (wlen > 0) {
        caller_pair(o, fmt, s, "msg", 3, words, wlen, 0);
    }
}

static void begin_seen(struct seen *s)
{
    s->n = 0;
    s->used = 0;
    s->sig = 0; /* the owned keys are is_owned's */
}

/* level, proc and pid: the same on every line of a level in one process. */
static void put_head(struct out *o, enum log_format fmt, int first, enum log_level lvl,
                     const char *proc, const char *pidtext)
{
    put_pair(o, fmt, first, "level", 5, log_level_names[lvl], strlen(log_level_names[lvl]), 0);
    put_pair(o, fmt, 0, "proc", 4, proc, strlen(proc), 0);
    put_pair(o, fmt, 0, "pid", 3, pidtext, strlen(pidtext), 0);
}

/* The owned pairs that start every line. `pidtext` is the pid as text. */
static void begin_line(struct out *o, struct seen *s, enum log_format fmt, const char *ts,
                       enum log_level lvl, const char *proc, const char *pidtext,
                       const char *mod)
{
    begin_seen(s);
    if (ts != NULL) {
        put_pair(o, fmt, 1, "ts", 2, ts, strlen(ts), 0);
    }
    put_head(o, fmt, ts == NULL, lvl, proc, pidtext);
    put_pair(o, fmt, 0, "mod", 3, mod, strlen(mod), 0);
}

/* Closes the line (JSON: its '}', after the last complete pair if it was cut) with its '\n'. */
static size_t end_line(struct out *o, enum log_format fmt)
{
    char *out = o->p;
    if (fmt == LOG_FORMAT_JSON) {
        if (o->len == o->cap) {
            /* cut inside a value: back up to the last complete pair */
            while (o->len > 0 && out[o->len - 1] != ',') {
                o->len--;
            }
            if (o->len > 0) {
                o->len--;
            }
        }
        out[o->len++] = '}';
    }
    out[o->len++] = '\n';
    return o->len;
}

size_t log_format_line(char *out, size_t cap, enum log_format fmt, const char *ts,
                       enum log_level lvl, const char *proc, int pid, const char *mod,
                       const char *msg)
{
    if (cap < 3) {
        return 0;
    }
    struct out o = { out, cap - 2, 0 }; /* room for '}' and '\n' */
    struct seen s;
    char pidtext[16];

    snprintf(pidtext, sizeof pidtext, "%d", pid);
    begin_line(&o, &s, fmt, ts, lvl, proc, pidtext, mod);
    caller_pairs(&o, fmt, &s, msg);
    return end_line(&o, fmt);
}

/* The decimal digits of `v` at the end of `end` (no terminator); returns where they start. */
static char *digits(char *end, unsigned long long v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return end;
}

static void kv_pairs(struct out *o, enum log_format fmt, struct seen *s,
                     const struct log_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char num[24];
        char *end = num + sizeof num;
        const char *v = kv[i].s;
        size_t vlen = kv[i].n;
        if (kv[i].kind == LOG_KV_INT) {
            unsigned long long mag = kv[i].i < 0 ? 0ull - (unsigned long long)kv[i].i
                                                 : (unsigned long long)kv[i].i;
            char *p = digits(end, mag);
            if (kv[i].i < 0) {
                *--p = '-';
            }
            v = p;
            vlen = (size_t)(end - p);
        } else if (kv[i].kind == LOG_KV_UINT) {
            v = digits(end, kv[i].u);
            vlen = (size_t)(end - v);
        }
        caller_pair(o, fmt, s, kv[i].key, strlen(kv[i].key), v, vlen, kv[i].quote);
    }
}

size_t log_format_kv(char *out, size_t cap, enum log_format fmt, const char *ts,
                     enum log_level lvl, const char *proc, int pid, const char *mod,
                     const struct log_kv *kv, size_t n)
{
    if (cap < 3) {
        return 0;
    }
    struct out o = { out, cap - 2, 0 }; /* room for '}' and '\n' */
    struct seen s;
    char pidtext[16];

    snprintf(pidtext, sizeof pidtext, "%d", pid);
    begin_line(&o, &s, fmt, ts, lvl, proc, pidtext, mod);
    kv_pairs(&o, fmt, &s, kv, n);
    return end_line(&o, fmt);
}

/* "2026-12-01T22:55:01.123Z": the date part is formatted once a second. */
static void timestamp(char *out, size_t cap)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if ((long long)now.tv_sec != logger.ts_sec) {
        struct tm tm;
        time_t t = now.tv_sec;
        gmtime_r(&t, &tm);
        strftime(logger.ts_prefix, sizeof logger.ts_prefix, "%Y-%m-%dT%H:%M:%S.", &tm);
        logger.ts_sec = (long long)now.tv_sec;
    }
    size_t n = strlen(logger.ts_prefix);
    int ms = (int)(now.tv_nsec / 1000000L) % 1000;
    if (cap < n + 5) {
        out[0] = '\0';
        return;
    }
    memcpy(out, logger.ts_prefix, n);
    out[n] = (char)('0' + ms / 100);
    out[n + 1] = (char)('0' + ms / 10 % 10);
    out[n + 2] = (char)('0' + ms % 10);
    out[n + 3] = 'Z';
    out[n + 4] = '\0';
}

static void emit(enum log_level lvl, const char *mod, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

void log_msg(enum log_level lvl, const char *mod, const char *fmt, ...)
{
    if (lvl < logger.min) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    emit(lvl, mod, fmt, ap);
    va_end(ap);
}

void log_always(const char *mod, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(LOG_INFO, mod, fmt, ap);
    va_end(ap);
    log_flush();
}

/* The pid as text: formatted at log_init, or now for a process that never called it. */
static const char *pidtext(char *tmp, size_t cap)
{
    if (logger.pidtext[0] != '\0') {
        return logger.pidtext;
    }
    snprintf(tmp, cap, "%d", (int)getpid());
    return tmp;
}

/* begin_line for the logger's own lines: level, proc and pid are formatted once per level. */
static void logger_begin(struct out *o, struct seen *s, const char *ts, enum log_level lvl,
                         const char *mod)
{
    char pid[16];
    int first = ts == NULL;
    enum log_format fmt = logger.format;

    if (logger.pidtext[0] == '\0') { /* no log_init: no cache, the pid is asked each time */
        begin_line(o, s, fmt, ts, lvl, logger.proc, pidtext(pid, sizeof pid), mod);
        return;
    }
    begin_seen(s);
    if (ts != NULL) {
        put_pair(o, fmt, 1, "ts", 2, ts, strlen(ts), 0);
    }
    struct head *h = &logger.head[lvl][first];
    if (h->len == 0) {
        struct out t = { h->text, sizeof h->text, 0 };
        put_head(&t, fmt, first, lvl, logger.proc, logger.pidtext);
        h->len = t.len;
    }
    put(o, h->text, h->len);
    put_pair(o, fmt, 0, "mod", 3, mod, strlen(mod), 0);
}

/* Appends one formatted line (whole: the batch is written first when it has no room). */
static void append_line(enum log_level lvl, const char *line, size_t len)
{
    if (logger.len + len > logger.cap) {
        log_flush();
    }
    memcpy(logger.batch + logger.len, line, len);
    logger.len += len;
    if (lvl >= LOG_WARN) {
        log_flush(); /* problems are seen at once, whatever happens next */
    }
}

static void emit(enum log_level lvl, const char *mod, const char *fmt, va_list ap)
{
    char msg[DURO_LOG_LINE_MAX_BYTES];
    char line[DURO_LOG_LINE_MAX_BYTES];
    char ts[48];

    if (vsnprintf(msg, sizeof msg, fmt, ap) < 0) {
        msg[0] = '\0';
    }
    if (logger.timestamps) {
        timestamp(ts, sizeof ts);
    }
    struct out o = { line, sizeof line - 2, 0 }; /* room for '}' and '\n' */
    struct seen s;
    logger_begin(&o, &s, logger.timestamps ? ts : NULL, lvl, mod);
    caller_pairs(&o, logger.format, &s, msg);
    append_line(lvl, line, end_line(&o, logger.format));
}

void log_kv(enum log_level lvl, const char *mod, const struct log_kv *kv, size_t n)
{
    char line[DURO_LOG_LINE_MAX_BYTES];
    char ts[48];

    if (lvl < logger.min) {
        return;
    }
    if (logger.timestamps) {
        timestamp(ts, sizeof ts);
    }
    struct out o = { line, sizeof line - 2, 0 }; /* room for '}' and '\n' */
    struct seen s;
    logger_begin(&o, &s, logger.timestamps ? ts : NULL, lvl, mod);
    kv_pairs(&o, logger.format, &s, kv, n);
    append_line(lvl, line, end_line(&o, logger.format));
}
