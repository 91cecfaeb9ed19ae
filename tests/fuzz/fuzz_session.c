/* tests/fuzz/fuzz_session.c: a worker session (worker/session.c and everything it calls: objects,
 * classes, the wslay glue) fed arbitrary bytes after a valid upgrade, through a real socket and
 * a real libuv loop.
 *
 * No hook in the worker is needed: this target links the worker's modules with a stand-in for
 * common/chan.c (stub_chan.c) whose chan_accept() opens the server end of a socketpair as the
 * session's stream, exactly where the real one would adopt the descriptor passed by the gateway.
 *
 * Input: byte 0 picks the class (echo, seed, chat), byte 1 how many of the following bytes
 * travel as the hand-off's early data, byte 2 the size of each later write (1..64); the rest is
 * the client's byte stream. After it the client half-closes; the loop runs until the session
 * has closed (bounded: 5 s, else abort as a hang).
 *
 * Invariants on what the server wrote: the 101 comes first, with the RFC accept value; then only
 * well-formed server frames: unmasked, RSV 0, known opcodes, control frames whole and <= 125
 * bytes, text that is valid UTF-8, a close frame with no code or a valid code and a UTF-8 reason,
 * and nothing after the close frame. And the session is gone afterwards (sessions_open == 0). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/msg.h"
#include "common/utf8.h"
#include "worker/object.h"
#include "worker/handshake.h"
#include "worker/session.h"
#include "worker/worker.h"
#include "tests/fuzz/fuzz_check.h"


#define OUT_CAP (1u << 20)
#define HANG_LIMIT_MS 5000u

static const char CONFIG[] =
    "[websocket]\n"
    "message_max_bytes = 1024\n"
    "close_timeout_ms = 10\n"
    "outbound_max_bytes = 65536\n"
    "[objects]\n"
    "hibernate_after_ms = 10\n"
    "[route echo]\nmatch = exact /echo\nclass = echo\nobject = echo\n";

static const char KEY[] = "dGhlIHNhbXBsZSBub25jZQ==";
static const char ACCEPT_101[] =
    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n";

static struct worker g_w;
static uint8_t g_out[OUT_CAP];

/* Set by the harness before handshake_start(); taken by the stub chan_accept(). */
int fuzz_pending_fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[512];
    /* As in duro-worker's main: a peer that closed must not kill the process on write. */
    signal(SIGPIPE, SIG_IGN);
    log_init("worker", LOG_ERROR);
    g_w.loop = uv_default_loop();
    if (conf_parse(&g_w.conf, CONFIG, "(fuzz)", err, sizeof err) != 0) {
        fprintf(stderr, "fuzz config: %s\n", err);
        abort();
    }
    g_w.configured = 1;
    g_w.nslots = 1;
    g_w.reg = registry_new(&g_w);
    CHECK(g_w.reg != NULL);
    CHECK(session_worker_init(&g_w) == 0);
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int close_code_valid(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

/* Checks the server's bytes: the 101, then well-formed frames, nothing after a close. */
static void check_output(const uint8_t *p, size_t n, int truncated)
{
    size_t hl = sizeof ACCEPT_101 - 1;
    if (n == 0) {
        return; /* closed before writing: allowed only if the upgrade was refused */
    }
    CHECK(n >= hl && memcmp(p, ACCEPT_101, hl) == 0);
    const uint8_t *end101 = memmem(p, n, "\r\n\r\n", 4);
    CHECK(end101 != NULL);
    size_t pos = (size_t)(end101 - p) + 4;
    int closed = 0;
    uint8_t msg_op = 0;
    while (pos < n) {
        CHECK(!closed); /* nothing after a close frame */
        if (n - pos < 2) {
            CHECK(truncated);
            return;
        }
        uint8_t b0 = p[pos], b1 = p[pos + 1];
        unsigned op = b0 & 0x0F;
        int fin = b0 >> 7;
        CHECK((b0 & 0x70) == 0);    /* RSV */
        CHECK((b1 & 0x80) == 0);    /* servers never mask */
        uint64_t len = b1 & 0x7F;
        size_t h = 2;
        if (len == 126) {
            if (n - pos < 4) {
                CHECK(truncated);
                return;
            }
            len = ((uint64_t)p[pos + 2] << 8) | p[pos + 3];
            h = 4;
        } else if (len == 127) {
            if (n - pos < 10) {
                CHECK(truncated);
                return;
            }
            len = 0;
            for (int i = 0; i < 8; i++) {
                len = (len << 8) | p[pos + 2 + i];
            }
            h = 10;
        }
        if (n - pos - h < len) {
            CHECK(truncated);
            return;
        }
        const uint8_t *pl = p + pos + h;
        CHECK(op == 0 || op == 1 || op == 2 || op == 8 || op == 9 || op == 10);
        if (op >= 8) {
            CHECK(fin && len <= 125);
        }
        if (op == 1 || op == 2) {
            CHECK(msg_op == 0);
            msg_op = (uint8_t)op;
        } else if (op == 0) {
            CHECK(msg_op != 0);
        }
        if ((op == 1 || op == 0) && msg_op == 1 && fin) {
            /* server text is checked whole only when unfragmented (duro does not fragment) */
            if (op == 1) {
                CHECK(utf8_valid(pl, (size_t)len));
            }
        }
        if ((op == 0 || op == 1 || op == 2) && fin) {
            msg_op = 0;
        }
        if (op == 8) {
            CHECK(len != 1);
            if (len >= 2) {
                CHECK(close_code_valid(((unsigned)pl[0] << 8) | pl[1]));
                CHECK(utf8_valid(pl + 2, (size_t)len - 2));
            }
            closed = 1;
        }
        pos += h + (size_t)len;
    }
}

static size_t drain(int fd, size_t have, int *eof)
{
    for (;;) {
        uint8_t tmp[65536];
        ssize_t r = read(fd, tmp, sizeof tmp);
        if (r > 0) {
            size_t room = OUT_CAP - have;
            size_t k = (size_t)r < room ? (size_t)r : room;
            memcpy(g_out + have, tmp, k);
            have += k;
            continue;
        }
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            *eof = 1;
        }
        return have;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const classes[] = { "echo", "seed", "chat" };
    if (size < 3) {
        return 0;
    }
    const char *cls = classes[data[0] % 3];
    size_t early = data[1] < size - 3 ? data[1] : size - 3;
    size_t step = (size_t)(data[2] % 64) + 1;
    const uint8_t *in = data + 3;
    size_t in_len = size - 3;

    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    int client = sv[1];
    CHECK(fcntl(client, F_SETFL, O_NONBLOCK) == 0);
    fuzz_pending_fd = sv[0];

    static const char target[] = "/echo";
    struct msg_handoff h;
    memset(&h, 0, sizeof h);
    h.conn_id = 1;
    h.cls = (struct msg_span){ cls, strlen(cls) };
    h.name = (struct msg_span){ "fuzz", 4 };
    h.key = (struct msg_span){ KEY, sizeof KEY - 1 };
    h.protocols = (struct msg_span){ "", 0 };
    h.extensions = (struct msg_span){ "", 0 };
    h.target = (struct msg_span){ target, sizeof target - 1 };
    h.early = (struct msg_span){ (const char *)in, early };
    handshake_start(&g_w, NULL, &h);
    CHECK(fuzz_pending_fd == -1); /* the session adopted the descriptor */

    size_t have = 0, sent = early;
    int eof = 0, shut = 0;
    uint64_t t0 = now_ms();
    while (!(eof && g_w.sessions_open == 0)) {
        if (now_ms() - t0 > HANG_LIMIT_MS) {
            fprintf(stderr, "session still open %u ms after the client's FIN (sessions_open=%llu "
                    "eof=%d)\n", HANG_LIMIT_MS, (unsigned long long)g_w.sessions_open, eof);
            abort();
        }
        if (sent < in_len) {
            size_t k = in_len - sent < step ? in_len - sent : step;
            ssize_t w = write(client, in + sent, k);
            if (w > 0) {
                sent += (size_t)w;
            } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                sent = in_len; /* the server is gone: EPIPE */
            }
        } else if (!shut) {
            shutdown(client, SHUT_WR);
            shut = 1;
        }
        uv_run(g_w.loop, UV_RUN_NOWAIT);
        have = drain(client, have, &eof);
        if (shut && !eof && g_w.sessions_open > 0) {
            usleep(100); /* waiting on a timer (close timeout) */
        }
    }
    close(client);
    check_output(g_out, have, have == OUT_CAP);
    /* Let idle objects hibernate and go (hibernate_after_ms = 10), so runs stay independent. */
    uv_run(g_w.loop, UV_RUN_NOWAIT);
    return 0;
}
