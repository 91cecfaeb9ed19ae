#include "worker/handshake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/chan.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "common/respond.h"
#include "common/wskey.h"
#include "worker/class_loader.h"
#include "worker/migrate.h"
#include "worker/object.h"
#include "worker/request.h"
#include "worker/session.h"
#include "worker/tx.h"

static void refuse(struct session *s, int status, const char *reason)
{
    char resp[RESPOND_MAX_BYTES];
    size_t n = respond_error(resp, sizeof resp, status, reason,
                             RESPOND_CLOSE | (status == 503 ? RESPOND_RETRY_AFTER : 0));
    log_info("access", "conn=%llu status=%d reason=\"%s\"", (unsigned long long)s->conn_id,
             status, reason);
    metrics_http_status(&s->w->metrics, status);
    s->state = SESSION_REFUSED;
    if (tx_queue(s, (const uint8_t *)resp, n, 1) != 0) {
        session_destroy(s);
        return;
    }
    session_finish(s);
}

static int write_101(struct session *s, const struct msg_handoff *h)
{
    char accept_key[DURO_WS_ACCEPT_BYTES + 1];
    wskey_accept(h->key.ptr, h->key.len, accept_key);
    /* permessage-deflate: the first acceptable offer, with the parameters duro chose. */
    struct pmd_params pmd;
    char ext[PMD_ANSWER_MAX_BYTES + 1];
    size_t ext_len = 0;
    int deflate = pmd_negotiate(h->extensions.ptr, h->extensions.len,
                                (enum pmd_mode)s->w->conf.deflate,
                                s->w->conf.deflate_window_bits, &pmd, ext, &ext_len);
    ext[ext_len] = '\0';
    session_set_pmd(s, &pmd);
    char resp[RESPOND_MAX_BYTES + DURO_WS_PROTOCOL_MAX_BYTES + PMD_ANSWER_MAX_BYTES];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                     "Upgrade: websocket\r\nSec-WebSocket-Accept: %s\r\n%s%s%s%s%s%s\r\n",
                     accept_key, s->protocol ? "Sec-WebSocket-Protocol: " : "",
                     s->protocol ? s->protocol : "", s->protocol ? "\r\n" : "",
                     deflate ? "Sec-WebSocket-Extensions: " : "", ext, deflate ? "\r\n" : "");
    free(s->protocol);
    s->protocol = NULL;
    if (n < 0 || (size_t)n >= sizeof resp) {
        return -1;
    }
    return tx_queue(s, (const uint8_t *)resp, (size_t)n, 1);
}

void handshake_start(struct worker *w, struct chan *ch, const struct msg_handoff *h)
{
    struct session *s = session_new(w, h->conn_id);
    if (s == NULL) {
        log_error("session", "conn=%llu event=oom", (unsigned long long)h->conn_id);
        return; /* chan closes the unclaimed descriptor */
    }
    if (chan_accept(ch, (uv_stream_t *)&s->tcp) != 0) {
        log_error("session", "conn=%llu event=accept_failed", (unsigned long long)h->conn_id);
        session_destroy(s);
        return;
    }
    if (session_read_start(s) != 0) {
        session_destroy(s);
        return;
    }
    const struct duro_class *cls = classes_find(w, h->cls.ptr, h->cls.len);
    if (cls == NULL) {
        refuse(s, 500, "unknown object class");
        return;
    }
    struct object *o = registry_get(w->reg, cls, h->name.ptr, h->name.len);
    if (o == NULL) {
        refuse(s, 503, "worker out of memory");
        return;
    }
    if (o->nsockets >= w->conf.sockets_max_count) {
        refuse(s, 503, "object has too many sockets");
        return;
    }
    object_add_socket(o, s);
    if (h->client.len > 0) {
        s->client = strndup(h->client.ptr, h->client.len); /* NULL: logs fall back to the peer */
    }
    if (cls->on_connect != NULL) {
        char peer[80], client[80];
        if (s->client == NULL) {
            session_client(s, peer, sizeof peer); /* asked once: the access lines reuse it */
        } else {
            netaddr_peer(&s->tcp, peer, sizeof peer); /* the proxy, not the PROXY header's */
        }
        snprintf(client, sizeof client, "%.*s", (int)h->client.len, h->client.ptr);
        size_t nh;
        const struct duro_header *hdrs = request_headers(w, &h->headers, &nh);
        struct duro_connect_info info = {
            .target = h->target.ptr,
            .target_len = h->target.len,
            .protocols = h->protocols.ptr,
            .protocols_len = h->protocols.len,
            .peer = peer,
            .headers = hdrs,
            .nheaders = nh,
            .client = h->client.len > 0 ? client : peer,
        };
        object_wake(o);
        w->offered = &h->protocols;
        int st = cls->on_connect((struct duro_object *)o, o->state, (struct duro_socket *)s,
                                 &info);
        w->offered = NULL;
        if (s->state != SESSION_HANDSHAKE) {
            return; /* ended inside on_connect */
        }
        if (st != 0) {
            refuse(s, st >= 400 && st <= 599 ? st : 403, "refused by the object");
            return;
        }
    }
    if (write_101(s, h) != 0) {
        session_destroy(s);
        return;
    }
    session_opened(s);
    metrics_http_status(&w->metrics, 101);
    if (log_enabled(LOG_INFO)) {
        /* Pairs, not printf: one line per upgrade (issue 18); the peer asked only for it. */
        char client[DURO_NETADDR_TEXT_MAX_BYTES];
        session_client(s, client, sizeof client);
        char label[DURO_OBJECT_LABEL_MAX_BYTES];
        size_t tlen = h->target.len < DURO_LOG_TARGET_MAX_BYTES ? h->target.len
                                                                : DURO_LOG_TARGET_MAX_BYTES;
        struct log_kv kv[] = {
            LOG_STR("event", "ws_open"),
            LOG_UINT("conn", s->conn_id),
            LOG_STRN("obj", label, object_label(o, label)),
            LOG_STR("client", client),
            LOG_STR("class", cls->name),
            LOG_INT("status", 101),
            LOG_QSTRN("target", h->target.ptr, tlen),
            LOG_STR("deflate", s->pmd_sbits ? "on" : "off"),
        };
        log_kv(LOG_INFO, "access", kv, sizeof kv / sizeof kv[0]);
    }
    log_debug("session", "conn=%llu obj=%s/%s event=open sockets=%u",
              (unsigned long long)s->conn_id, cls->name, o->name, o->nsockets);
    if (h->early.len > 0) {
        /* A client may send its first frames in the same segment as the upgrade. */
        session_feed(s, (const uint8_t *)h->early.ptr, h->early.len);
    } else {
        tx_flush(s);
    }
    migrate_joined(s); /* its object may be leaving this worker */
}
