#include "gateway/listener.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "gateway/conn.h"

static void on_connection(uv_stream_t *server, int status);

static void on_spare_closed(uv_handle_t *h)
{
    struct gateway *gw = h->data;
    gw->spare_busy = 0;
    if (!gw->stopping && gw->accepting && gw->spare_wanted) {
        gw->spare_wanted = 0;
        on_connection((uv_stream_t *)&gw->listener, 0); /* one waited for the spare */
    }
}

/* Accepts the pending connection into the gateway's spare handle and closes it: libuv stops
 * watching a listener whose pending connection is not accepted, so refusing by returning
 * would stop all accepting. Without the spare (still closing), the connection waits for it. */
static void refuse_pending(struct gateway *gw, uv_stream_t *server)
{
    if (gw->spare_busy) {
        gw->spare_wanted = 1;
        return;
    }
    if (uv_tcp_init(gw->loop, &gw->spare) != 0) {
        return;
    }
    gw->spare.data = gw;
    gw->spare_busy = 1;
    (void)uv_accept(server, (uv_stream_t *)&gw->spare);
    uv_close((uv_handle_t *)&gw->spare, on_spare_closed);
}

/* One allocation per connection: the struct, its read buffer (head + early data) and, aligned
 * after it, the header spans. Zeroed where zero means empty. */
static struct gw_conn *alloc_conn(struct gateway *gw)
{
    uint32_t cap = gw->conf.head_max_bytes + DURO_EARLY_DATA_MAX_BYTES;
    size_t align = _Alignof(struct http_field);
    size_t fields_at = (offsetof(struct gw_conn, in) + cap + align - 1) & ~(align - 1);
    struct gw_conn *c =
        malloc(fields_at + gw->conf.headers_max_count * sizeof(struct http_field));
    if (c == NULL) {
        return NULL;
    }
    memset(c, 0, sizeof *c);
    c->in_cap = cap;
    c->fields = (struct http_field *)(void *)((char *)c + fields_at);
    c->proxy_pending = gw->conf.proxy_protocol != 0;
    c->gw = gw;
    c->id = ++gw->next_conn_id;
    return c;
}

static void on_connection(uv_stream_t *server, int status)
{
    struct gateway *gw = server->data;

    if (status < 0) {
        /* At EMFILE libuv has already shed the pending connections with its reserve descriptor
         * (closed at once, as nginx and HAProxy do): count them, log once per interval. */
        gw->metrics.v[M_ACCEPT_ERRORS]++;
        gw->accept_errors++;
        uint64_t now = uv_now(gw->loop);
        if (gw->accept_logged_ms == 0 ||
            now - gw->accept_logged_ms >= DURO_ACCEPT_LOG_INTERVAL_MS) {
            log_warn("listener", "event=accept_error err=%s count=%llu action=shed",
                     uv_err_name(status), (unsigned long long)gw->accept_errors);
            gw->accept_errors = 0;
            gw->accept_logged_ms = now;
        }
        return;
    }
    struct gw_conn *c = alloc_conn(gw);
    if (c == NULL) {
        log_error("listener", "event=oom action=refused");
        refuse_pending(gw, server);
        return;
    }
    if (uv_tcp_init(gw->loop, &c->tcp) != 0) {
        free(c);
        refuse_pending(gw, server);
        return;
    }
    c->tcp.data = c;
    c->open_handles = 1;
    if (uv_timer_init(gw->loop, &c->timer) != 0) {
        uv_close((uv_handle_t *)&c->tcp, conn_on_handle_closed);
        refuse_pending(gw, server);
        return;
    }
    c->timer.data = c;
    c->open_handles = 2;
    c->next = gw->conns;
    if (gw->conns != NULL) {
        gw->conns->prev = c;
    }
    gw->conns = c;
    gw->open_conns++;
    gw->metrics.v[M_CONN_ACCEPTED]++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    conn_start(c);
}

/* libuv 1.44 has no SO_REUSEPORT flag: make the socket ourselves and give it to the handle. */
static int open_reuseport(uv_tcp_t *t, const struct sockaddr_storage *ss)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd == -1) {
        return uv_translate_sys_error(errno);
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == -1) {
        int err = errno;
        close(fd);
        return uv_translate_sys_error(err);
    }
    int rc = uv_tcp_open(t, fd);
    if (rc != 0) {
        close(fd);
    }
    return rc;
}

int listener_listen(struct gateway *gw, const char *host, uint16_t port)
{
    struct sockaddr_storage ss;
    int rc = netaddr_parse(host, port, &ss);
    if (rc != 0) {
        log_error("listener", "event=bad_address host=%s err=%s", host, uv_err_name(rc));
        return rc;
    }
    if ((rc = uv_tcp_init(gw->loop, &gw->listener)) != 0) {
        return rc;
    }
    gw->listener.data = gw;
    if (gw->conf.reuseport && (rc = open_reuseport(&gw->listener, &ss)) != 0) {
        log_error("listener", "event=reuseport_failed host=%s port=%u err=%s", host, port,
                  uv_strerror(rc));
        return rc;
    }
    /* TCP_NODELAY on the listener: Linux copies it to every accepted socket, which keeps it
     * through the hand-off, so no connection needs a setsockopt of its own. */
    if ((rc = uv_tcp_bind(&gw->listener, (struct sockaddr *)&ss, 0)) != 0 ||
        (rc = uv_tcp_nodelay(&gw->listener, 1)) != 0 ||
        (rc = listener_accept_start(gw)) != 0) {
        log_error("listener", "event=listen_failed host=%s port=%u err=%s", host, port,
                  uv_strerror(rc));
        return rc;
    }
    return 0;
}

int listener_listen_fd(struct gateway *gw, int fd)
{
    int rc = uv_tcp_init(gw->loop, &gw->listener);
    if (rc != 0) {
        return rc;
    }
    gw->listener.data = gw;
    if ((rc = uv_tcp_open(&gw->listener, fd)) != 0) {
        log_error("listener", "event=inherit_failed fd=%d err=%s", fd, uv_strerror(rc));
    }
    return rc;
}

int listener_accept_start(struct gateway *gw)
{
    /* On an inherited socket this listen() only re-states the backlog: the kernel's queue,
     * and every connection waiting in it, is the predecessor's. */
    int rc = uv_listen((uv_stream_t *)&gw->listener, DURO_LISTEN_BACKLOG_COUNT, on_connection);
    gw->accepting = rc == 0;
    return rc;
}

void listener_accept_stop(struct gateway *gw)
{
    gw->accepting = 0;
    if (!uv_is_closing((uv_handle_t *)&gw->listener)) {
        uv_close((uv_handle_t *)&gw->listener, NULL);
    }
}
