/* worker/object.h: the objects of one worker: registry (lookup by class and name), their
 * sockets, and the connection count the seed reports.
 *
 * An object exists while it has sockets. It is constructed (the class's construct runs) when
 * it first gets one, and destroyed (destroy runs, the registry forgets it) when its last socket
 * is gone. */
#ifndef DURO_OBJECT_H
#define DURO_OBJECT_H

#include <stddef.h>
#include <stdint.h>

#include "common/duro_limits.h"
#include "worker/class.h"

struct session;
struct registry;

struct object {
    struct registry *reg;
    const struct duro_class *cls;
    uint64_t key;            /* hash_object_key(class, name) */
    struct object *hnext;    /* registry bucket chain */
    void *state;             /* what construct returned */
    int constructed;
    struct session *sockets; /* every socket of the object, open or closing */
    uint32_t nsockets;
    uint32_t open_count;     /* sockets that count as open for the seed */
    char id[DURO_OBJECT_ID_HEX_BYTES + 1];
    size_t name_len;
    char name[];             /* NUL-terminated */
};

/* Creates an empty registry. Returns NULL on ENOMEM. */
struct registry *registry_new(void);

/* Frees the registry; every object must be gone. */
void registry_free(struct registry *reg);

/* Number of objects. */
size_t registry_count(const struct registry *reg);

/* Finds the object (cls, name), creating and constructing it when absent. Returns NULL on
 * ENOMEM. */
struct object *registry_get(struct registry *reg, const struct duro_class *cls, const char *name,
                            size_t name_len);

/* Calls `fn` for every socket of every object. `fn` must not free sockets or objects. */
void registry_each_socket(struct registry *reg, void (*fn)(struct session *s, void *arg),
                          void *arg);

/* Adds `s` to `obj`'s sockets (it counts as open). */
void object_add_socket(struct object *obj, struct session *s);

/* Removes `s`; when it was the last socket the object is destroyed and freed. */
void object_remove_socket(struct object *obj, struct session *s);

#endif
