#include "common/log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *const level_names[] = { "debug", "info", "warn", "error" };

static struct {
    char proc[16];
    int pid;
    enum log_level min;
} logger = { "duro", 0, LOG_INFO };

void log_init(const char *proc, enum log_level min_level)
{
    snprintf(logger.proc, sizeof logger.proc, "%s", proc);
    logger.pid = (int)getpid();
    logger.min = min_level;
}

void log_set_level(enum log_level min_level)
{
    logger.min = min_level;
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < (int)(sizeof level_names / sizeof level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

int log_enabled(enum log_level lvl)
{
    return lvl >= logger.min;
}

void log_msg(enum log_level lvl, const char *mod, const char *fmt, ...)
{
    if (lvl < logger.min) {
        return;
    }
    /* One buffer and one write(2) per line, so lines of several processes sharing stderr
     * never interleave mid-line. */
    char line[2048];
    int n = snprintf(line, sizeof line, "level=%s proc=%s pid=%d mod=%s ", level_names[lvl],
                     logger.proc, logger.pid ? logger.pid : (int)getpid(), mod);
    if (n < 0) {
        return;
    }
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + len, sizeof line - len, fmt, ap);
    va_end(ap);
    if (m > 0) {
        len += (size_t)m < sizeof line - len ? (size_t)m : sizeof line - len - 1;
    }
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nowhere to report a failed log write */
}
