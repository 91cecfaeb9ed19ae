/* tests/fuzz/stub_chan.c: a stand-in for common/chan.c in the session fuzz target.
 *
 * The worker's session adopts its client's descriptor with chan_accept(); here that descriptor
 * is the server end of a socketpair the harness made (fuzz_pending_fd), opened as the session's
 * stream. Nothing else of the channel is used while a session runs; the other calls exist so
 * that the worker's modules link, and fail or do nothing. */
#include "common/chan.h"

#include <stdlib.h>

extern int fuzz_pending_fd;

struct chan *chan_new(uv_loop_t *loop)
{
    (void)loop;
    return NULL;
}

uv_pipe_t *chan_pipe(struct chan *ch)
{
    (void)ch;
    return NULL;
}

int chan_open_fd(struct chan *ch, int fd)
{
    (void)ch;
    (void)fd;
    return UV_ENOTSUP;
}

int chan_start(struct chan *ch, chan_msg_fn *on_msg, chan_closed_fn *on_closed, void *arg)
{
    (void)ch;
    (void)on_msg;
    (void)on_closed;
    (void)arg;
    return UV_ENOTSUP;
}

int chan_send(struct chan *ch, const uint8_t *bytes, size_t len, uv_stream_t *handle,
              chan_sent_fn *done, void *arg)
{
    (void)ch;
    (void)bytes;
    (void)len;
    (void)handle;
    (void)done;
    (void)arg;
    return UV_ENOTSUP;
}

int chan_accept(struct chan *ch, uv_stream_t *client)
{
    (void)ch;
    if (fuzz_pending_fd < 0) {
        return UV_EINVAL;
    }
    int rc = uv_tcp_open((uv_tcp_t *)client, fuzz_pending_fd);
    fuzz_pending_fd = -1;
    return rc;
}

uint64_t chan_handoffs_dropped(const struct chan *ch)
{
    (void)ch;
    return 0;
}

void chan_close(struct chan *ch)
{
    (void)ch;
}
