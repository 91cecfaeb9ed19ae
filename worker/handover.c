#include "worker/handover.h"

#include <string.h>

#include "common/wire.h"
#include "duro/class.h"

#define FIXED_BYTES (2 + 2 + 2 + 8 * 4 + 4 * 4)

/* ---- writer ---- */

static void put_span(struct wire_wr *w, struct msg_span s, unsigned len_bytes)
{
    wire_put_be(w, s.len, len_bytes);
    wire_put(w, s.ptr, s.len);
}

/* ---- bounds, shared by encoder and decoder ---- */

static int kind_ok(uint8_t k)
{
    return k == DURO_TEXT || k == DURO_BINARY;
}

static int pmd_ok(const struct handover_state *st)
{
    if (!st->pmd_on) {
        return st->pmd_snt == 0 && st->pmd_cnt == 0 && st->pmd_sbits == 0 &&
               st->pmd_cbits == 0 && st->def_window.len == 0 && st->inf_window.len == 0;
    }
    return st->pmd_on == 1 && st->pmd_snt <= 1 && st->pmd_cnt <= 1 && st->pmd_sbits >= 8 &&
           st->pmd_sbits <= 15 && st->pmd_cbits >= 8 && st->pmd_cbits <= 15 &&
           st->def_window.len <= HANDOVER_WINDOW_MAX_BYTES &&
           st->inf_window.len <= HANDOVER_WINDOW_MAX_BYTES &&
           (!st->pmd_snt || st->def_window.len == 0) && (!st->pmd_cnt || st->inf_window.len == 0);
}

static int in_bounds(const struct handover_state *st)
{
    if (st->protocol.len > DURO_WS_PROTOCOL_MAX_BYTES || st->client.len > 64 ||
        st->attachment.len > DURO_ATTACHMENT_MAX_BYTES ||
        st->early.len > DURO_WS_READ_BUF_BYTES || !pmd_ok(st) ||
        st->ntags > DURO_TAGS_MAX_COUNT || st->nrules > DURO_AUTO_RULES_MAX_COUNT ||
        (st->flags & ~(unsigned)(HANDOVER_PING_OUT | HANDOVER_RATE_STARTED)) != 0) {
        return 0;
    }
    for (uint8_t i = 0; i < st->ntags; i++) {
        if (st->tags[i].len == 0 || st->tags[i].len > DURO_TAG_MAX_BYTES) {
            return 0;
        }
    }
    for (uint8_t i = 0; i < st->nrules; i++) {
        const struct handover_rule *r = &st->rules[i];
        if (!kind_ok(r->req_kind) || !kind_ok(r->resp_kind) ||
            r->req.len > DURO_AUTO_RESPONSE_MAX_BYTES ||
            r->resp.len > DURO_AUTO_RESPONSE_MAX_BYTES) {
            return 0;
        }
    }
    return 1;
}

size_t handover_size(const struct handover_state *st)
{
    if (!in_bounds(st)) {
        return 0;
    }
    size_t n = FIXED_BYTES + 2 + st->protocol.len + 2 + st->client.len + 4 + st->attachment.len +
               4 + st->early.len + 5 + 2 + st->def_window.len + 2 + st->inf_window.len + 1 + 1;
    for (uint8_t i = 0; i < st->ntags; i++) {
        n += 2 + st->tags[i].len;
    }
    for (uint8_t i = 0; i < st->nrules; i++) {
        n += 2 + 2 + st->rules[i].req.len + 2 + st->rules[i].resp.len;
    }
    return n;
}

size_t handover_encode(uint8_t *dst, size_t cap, const struct handover_state *st)
{
    size_t total = handover_size(st);
    if (total == 0 || total > cap) {
        return 0;
    }
    struct wire_wr w = { dst, dst + cap, 1 };
    wire_put_be(&w, HANDOVER_VERSION, 2);
    wire_put_be(&w, st->flags, 2);
    wire_put_be(&w, st->group_left, 2);
    wire_put_be(&w, st->age_ms, 8);
    wire_put_be(&w, st->last_auto_ms, 8);
    wire_put_be(&w, st->bytes_in, 8);
    wire_put_be(&w, st->bytes_out, 8);
    wire_put_be(&w, st->msgs_in, 4);
    wire_put_be(&w, st->msgs_out, 4);
    wire_put_be(&w, st->silent_ms, 4);
    wire_put_be(&w, st->rate_milli, 4);
    put_span(&w, st->protocol, 2);
    put_span(&w, st->client, 2);
    put_span(&w, st->attachment, 4);
    put_span(&w, st->early, 4);
    const uint8_t pmd[5] = { st->pmd_on, st->pmd_snt, st->pmd_cnt, st->pmd_sbits,
                             st->pmd_cbits };
    wire_put(&w, pmd, sizeof pmd);
    put_span(&w, st->def_window, 2);
    put_span(&w, st->inf_window, 2);
    wire_put_be(&w, st->ntags, 1);
    for (uint8_t i = 0; i < st->ntags; i++) {
        put_span(&w, st->tags[i], 2);
    }
    wire_put_be(&w, st->nrules, 1);
    for (uint8_t i = 0; i < st->nrules; i++) {
        const struct handover_rule *r = &st->rules[i];
        wire_put_be(&w, r->req_kind, 1);
        wire_put_be(&w, r->resp_kind, 1);
        put_span(&w, r->req, 2);
        put_span(&w, r->resp, 2);
    }
    return w.ok && (size_t)(w.p - dst) == total ? total : 0;
}

/* ---- reader ---- */

static struct msg_span get_span(struct wire_rd *r, unsigned len_bytes)
{
    struct msg_span s = { "", 0 };
    size_t n = (size_t)wire_get_be(r, len_bytes);
    const uint8_t *p = wire_take(r, n);
    if (p != NULL) {
        s.ptr = (const char *)p;
        s.len = n;
    }
    return s;
}

int handover_decode(const uint8_t *buf, size_t len, struct handover_state *st)
{
    struct wire_rd r = { buf, buf + len, 1 };
    memset(st, 0, sizeof *st);
    st->version = (uint16_t)wire_get_be(&r, 2);
    if (!r.ok || st->version != HANDOVER_VERSION) {
        return -1;
    }
    st->flags = (uint16_t)wire_get_be(&r, 2);
    st->group_left = (uint16_t)wire_get_be(&r, 2);
    st->age_ms = wire_get_be(&r, 8);
    st->last_auto_ms = wire_get_be(&r, 8);
    st->bytes_in = wire_get_be(&r, 8);
    st->bytes_out = wire_get_be(&r, 8);
    st->msgs_in = (uint32_t)wire_get_be(&r, 4);
    st->msgs_out = (uint32_t)wire_get_be(&r, 4);
    st->silent_ms = (uint32_t)wire_get_be(&r, 4);
    st->rate_milli = (uint32_t)wire_get_be(&r, 4);
    st->protocol = get_span(&r, 2);
    st->client = get_span(&r, 2);
    st->attachment = get_span(&r, 4);
    st->early = get_span(&r, 4);
    st->pmd_on = (uint8_t)wire_get_be(&r, 1);
    st->pmd_snt = (uint8_t)wire_get_be(&r, 1);
    st->pmd_cnt = (uint8_t)wire_get_be(&r, 1);
    st->pmd_sbits = (uint8_t)wire_get_be(&r, 1);
    st->pmd_cbits = (uint8_t)wire_get_be(&r, 1);
    st->def_window = get_span(&r, 2);
    st->inf_window = get_span(&r, 2);
    uint64_t ntags = wire_get_be(&r, 1);
    if (ntags > DURO_TAGS_MAX_COUNT) {
        return -1;
    }
    st->ntags = (uint8_t)ntags;
    for (uint8_t i = 0; i < st->ntags; i++) {
        st->tags[i] = get_span(&r, 2);
    }
    uint64_t nrules = wire_get_be(&r, 1);
    if (nrules > DURO_AUTO_RULES_MAX_COUNT) {
        return -1;
    }
    st->nrules = (uint8_t)nrules;
    for (uint8_t i = 0; i < st->nrules; i++) {
        struct handover_rule *x = &st->rules[i];
        x->req_kind = (uint8_t)wire_get_be(&r, 1);
        x->resp_kind = (uint8_t)wire_get_be(&r, 1);
        x->req = get_span(&r, 2);
        x->resp = get_span(&r, 2);
    }
    if (!r.ok || r.p != r.end || !in_bounds(st)) {
        return -1;
    }
    return 0;
}
