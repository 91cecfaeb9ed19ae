#include "common/log.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_LINE_MAX_BYTES 2048
#define LOG_BATCH_BYTES PIPE_BUF

const char *const log_level_names[] = { "debug", "info", "warn", "error", NULL };
const char *const log_format_names[] = { "text", "json", NULL };

static struct {
    char proc[16];
    int pid;
    enum log_level min;
    size_t len;
    char batch[LOG_BATCH_BYTES];
} logger = { "duro", 0, LOG_INFO, 0, "" };

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
    logger.min = min_level;
    logger.len = 0;
    atexit(log_flush);
}

void log_set_level(enum log_level min_level)
{
    logger.min = min_level;
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < (int)(sizeof log_level_names / sizeof log_level_names[0] - 1); i++) {
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

static void emit(enum log_level lvl, const char *mod, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX_BYTES];
    int n = snprintf(line, sizeof line, "level=%s proc=%s pid=%d mod=%s ", log_level_names[lvl],
                     logger.proc, logger.pid ? logger.pid : (int)getpid(), mod);
    if (n < 0) {
        return;
    }
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    int m = vsnprintf(line + len, sizeof line - len, fmt, ap);
    if (m > 0) {
        len += (size_t)m < sizeof line - len ? (size_t)m : sizeof line - len - 1;
    }
    line[len++] = '\n';
    if (logger.len + len > sizeof logger.batch) {
        log_flush();
    }
    memcpy(logger.batch + logger.len, line, len);
    logger.len += len;
    if (lvl >= LOG_WARN) {
        log_flush(); /* problems are seen at once, whatever happens next */
    }
}
