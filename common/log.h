/* common/log.h: one line per event on stderr, `key=value` text or one JSON object.
 *
 * Every line starts `ts=T level=L proc=P pid=N mod=M` (ts: RFC 3339 UTC with milliseconds,
 * left out when timestamps are off) and continues with the caller's key=value pairs. The
 * formatter owns ts, level, proc, pid and mod: a caller's pair with one of these names, or a
 * name already on the line, is written as NAME_2 (NAME_3, ...), so no key appears twice.
 * The logger is one of the two pieces of global state (with signal flags): it is set once at
 * start by log_init() and read by every module. */
#ifndef DURO_LOG_H
#define DURO_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

/* [server] log_format: text is `key=value ...`, json one object per line with the same keys. */
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON = 1 };

/* The level and format names, in enum order, NULL-terminated (the config table uses them). */
extern const char *const log_level_names[];
extern const char *const log_format_names[];

/* Sets the process tag ("gateway", "worker") and the lowest level printed. */
void log_init(const char *proc, enum log_level min_level);

/* [server] log_timestamps and log_format: whether lines carry ts=, and text or JSON. The
 * defaults (before any call) are timestamps on, text. */
void log_configure(int timestamps, enum log_format format);

/* The formatter, pure: writes one line (with its '\n') into `out` and returns its length.
 * `ts` is NULL for no timestamp. `msg` is the caller's text: `key=value` pairs separated by
 * spaces; a value is a word or "double quoted" (up to a quote followed by a space or the end);
 * words without '=' are gathered into one `msg` pair. Values are escaped as each format needs
 * (quotes, backslashes and control characters; text quotes a value holding a space, '=' or a
 * quote). A line longer than `cap` is cut (JSON: after its last complete pair), never split. */
size_t log_format_line(char *out, size_t cap, enum log_format fmt, const char *ts,
                       enum log_level lvl, const char *proc, int pid, const char *mod,
                       const char *msg);

/* Changes the lowest level printed. */
void log_set_level(enum log_level min_level);

/* Parses "debug", "info", "warn" or "error". Returns the level, or -1 when unknown. */
int log_level_parse(const char *s);

/* Writes one line. `fmt` is printf-style and should produce `key=value` pairs. */
void log_msg(enum log_level lvl, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One key=value pair for log_kv(): a string (`s`, `n` bytes), a signed or an unsigned integer.
 * A string is quoted in text when `quote` is set, as a "quoted" value given to log_msg is, or
 * when it needs quotes. Build them with the LOG_* macros below. */
enum log_kv_kind { LOG_KV_STR = 0, LOG_KV_INT = 1, LOG_KV_UINT = 2 };
struct log_kv {
    const char *key;
    const char *s;
    size_t n;
    long long i;
    unsigned long long u;
    unsigned char kind;
    unsigned char quote;
};
#define LOG_STRN(k, v, len) ((struct log_kv){ .key = (k), .s = (v), .n = (len) })
#define LOG_STR(k, v)       LOG_STRN(k, v, strlen(v))
#define LOG_QSTRN(k, v, len) ((struct log_kv){ .key = (k), .s = (v), .n = (len), .quote = 1 })
#define LOG_QSTR(k, v)      LOG_QSTRN(k, v, strlen(v))
#define LOG_INT(k, v)       ((struct log_kv){ .key = (k), .i = (long long)(v), .kind = LOG_KV_INT })
#define LOG_UINT(k, v) \
    ((struct log_kv){ .key = (k), .u = (unsigned long long)(v), .kind = LOG_KV_UINT })

/* Writes one line of `n` pairs, exactly as log_msg() would write "k1=v1 k2=v2 ..." with the
 * same values (same escaping, same renaming of a repeated or owned key), but without printf and
 * without re-parsing the text: for the lines written per request (access lines). A string value
 * is taken as it is, so a quote or a space inside it is escaped, never read as the end of the
 * value. Does nothing when `lvl` is below the level printed. */
void log_kv(enum log_level lvl, const char *mod, const struct log_kv *kv, size_t n);

/* The formatter of log_kv, pure (as log_format_line). */
size_t log_format_kv(char *out, size_t cap, enum log_format fmt, const char *ts,
                     enum log_level lvl, const char *proc, int pid, const char *mod,
                     const struct log_kv *kv, size_t n);

/* Writes one info line whatever the level: for the few lines an operator or a script waits for
 * (the listen= readiness line). */
void log_always(const char *mod, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(mod, ...) log_msg(LOG_DEBUG, mod, __VA_ARGS__)
#define log_info(mod, ...)  log_msg(LOG_INFO, mod, __VA_ARGS__)
#define log_warn(mod, ...)  log_msg(LOG_WARN, mod, __VA_ARGS__)
#define log_error(mod, ...) log_msg(LOG_ERROR, mod, __VA_ARGS__)

/* Writes the lines buffered so far. Lines are batched (one write(2) per batch of whole lines, at
 * most PIPE_BUF bytes when stderr is a pipe or a socket, DURO_LOG_FILE_BATCH_BYTES when it is a
 * regular file (as log_init finds it), so that processes sharing stderr never interleave inside
 * a line) and flushed when the buffer is full, at every warn or error line, by the event loop
 * before it waits (each process calls log_flush from a uv_prepare handle: a crash loses at most
 * the lines of its last loop iteration), and at exit. */
void log_flush(void);

/* True when lines of `lvl` are printed: lets callers skip building expensive context. */
int log_enabled(enum log_level lvl);

#endif
