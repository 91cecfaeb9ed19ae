#include "worker/object.h"

#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/log.h"
#include "worker/session.h"

#define REGISTRY_INITIAL_BUCKETS 64u

struct registry {
    struct object **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
};

struct registry *registry_new(void)
{
    struct registry *reg = calloc(1, sizeof *reg);
    if (reg == NULL) {
        return NULL;
    }
    reg->buckets = calloc(REGISTRY_INITIAL_BUCKETS, sizeof *reg->buckets);
    if (reg->buckets == NULL) {
        free(reg);
        return NULL;
    }
    reg->nbuckets = REGISTRY_INITIAL_BUCKETS;
    return reg;
}

void registry_free(struct registry *reg)
{
    if (reg != NULL) {
        free(reg->buckets);
        free(reg);
    }
}

size_t registry_count(const struct registry *reg)
{
    return reg->count;
}

static void grow(struct registry *reg)
{
    size_t n = reg->nbuckets * 2;
    struct object **b = calloc(n, sizeof *b);
    if (b == NULL) {
        return; /* longer chains, still correct */
    }
    for (size_t i = 0; i < reg->nbuckets; i++) {
        struct object *o = reg->buckets[i];
        while (o != NULL) {
            struct object *next = o->hnext;
            o->hnext = b[o->key & (n - 1)];
            b[o->key & (n - 1)] = o;
            o = next;
        }
    }
    free(reg->buckets);
    reg->buckets = b;
    reg->nbuckets = n;
}

struct object *registry_get(struct registry *reg, const struct duro_class *cls, const char *name,
                            size_t name_len)
{
    size_t cls_len = strlen(cls->name);
    uint64_t key = hash_object_key(cls->name, cls_len, name, name_len);
    for (struct object *o = reg->buckets[key & (reg->nbuckets - 1)]; o != NULL; o = o->hnext) {
        if (o->key == key && o->cls == cls && o->name_len == name_len &&
            memcmp(o->name, name, name_len) == 0) {
            return o;
        }
    }
    struct object *o = calloc(1, sizeof *o + name_len + 1);
    if (o == NULL) {
        return NULL;
    }
    o->reg = reg;
    o->cls = cls;
    o->key = key;
    o->name_len = name_len;
    memcpy(o->name, name, name_len);
    hash_object_id(cls->name, cls_len, name, name_len, o->id);
    if (reg->count + 1 > reg->nbuckets) {
        grow(reg);
    }
    size_t b = key & (reg->nbuckets - 1);
    o->hnext = reg->buckets[b];
    reg->buckets[b] = o;
    reg->count++;
    o->state = cls->construct != NULL ? cls->construct((struct duro_object *)o) : NULL;
    o->constructed = 1;
    log_info("object", "event=construct obj=%s/%s id=%s", cls->name, o->name, o->id);
    return o;
}

void registry_each_socket(struct registry *reg, void (*fn)(struct session *s, void *arg),
                          void *arg)
{
    for (size_t i = 0; i < reg->nbuckets; i++) {
        for (struct object *o = reg->buckets[i]; o != NULL; o = o->hnext) {
            for (struct session *s = o->sockets; s != NULL; s = s->onext) {
                fn(s, arg);
            }
        }
    }
}

static void unlink_object(struct object *o)
{
    struct registry *reg = o->reg;
    struct object **pp = &reg->buckets[o->key & (reg->nbuckets - 1)];
    while (*pp != o) {
        pp = &(*pp)->hnext;
    }
    *pp = o->hnext;
    reg->count--;
}

void object_add_socket(struct object *obj, struct session *s)
{
    s->obj = obj;
    s->oprev = NULL;
    s->onext = obj->sockets;
    if (obj->sockets != NULL) {
        obj->sockets->oprev = s;
    }
    obj->sockets = s;
    obj->nsockets++;
    obj->open_count++;
    s->counted = 1;
}

void object_remove_socket(struct object *obj, struct session *s)
{
    if (s->counted) {
        s->counted = 0;
        obj->open_count--;
    }
    if (s->oprev != NULL) {
        s->oprev->onext = s->onext;
    } else {
        obj->sockets = s->onext;
    }
    if (s->onext != NULL) {
        s->onext->oprev = s->oprev;
    }
    s->obj = NULL;
    if (--obj->nsockets > 0) {
        return;
    }
    if (obj->constructed && obj->cls->destroy != NULL) {
        obj->cls->destroy((struct duro_object *)obj, obj->state);
    }
    log_info("object", "event=destroy obj=%s/%s", obj->cls->name, obj->name);
    unlink_object(obj);
    free(obj);
}

size_t duro_object_open_count(const struct duro_object *o)
{
    return ((const struct object *)o)->open_count;
}

const char *duro_object_name(const struct duro_object *o, size_t *len)
{
    const struct object *obj = (const struct object *)o;
    if (len != NULL) {
        *len = obj->name_len;
    }
    return obj->name;
}

const char *duro_object_id(const struct duro_object *o)
{
    return ((const struct object *)o)->id;
}
