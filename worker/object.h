/* worker/object.h: the objects of one worker: the registry (lookup by class and name), each
 * object's sockets and tag index, its auto-response, and its lifecycle:
 *
 *   absent -> live (constructed) -> hibernated (state freed, sockets open) -> live -> ...
 *
 * An object is live while events arrive; after [objects] hibernate_after_ms without one, the
 * class's destroy runs and its state is freed (hibernation) while its sockets stay open. The next
 * event runs construct again (a wake). An object whose last socket closed is destroyed and
 * forgotten after the same idle time. Every transition is logged and counted. */
#ifndef DURO_OBJECT_H
#define DURO_OBJECT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/duro_limits.h"
#include "duro/class.h"

struct session;
struct registry;
struct worker;
struct tag_entry;

/* One distinct tag of an object, with the list of its sockets that carry it. */
struct tag_entry {
    struct tag_member *members;
    uint32_t count;
    uint16_t len;
    char tag[];
};

/* One tag of one socket: a node in the object's list of sockets with that tag. */
struct tag_member {
    struct session *s;
    struct tag_member *prev, *next;
    struct tag_entry *entry;
};

/* One auto-response rule: a message of `req_kind` equal to `req` is answered with `resp`. */
struct auto_rule {
    uint8_t req_kind;        /* DURO_TEXT or DURO_BINARY */
    uint8_t resp_kind;
    uint16_t req_len;
    uint16_t resp_len;
    uint8_t *req;            /* one allocation: req bytes, then resp bytes */
    uint8_t *resp;
};

struct object {
    struct registry *reg;
    const struct duro_class *cls;
    uint64_t key;            /* hash_object_key(class, name) */
    struct object *hnext;    /* registry bucket chain */
    void *state;             /* what construct returned, while live */
    int live;                /* constructed and not hibernated */
    uint64_t last_event_ms;  /* loop time of the last event delivered to the class */
    uv_timer_t idle_timer;   /* lazily re-armed: checks last_event_ms when it fires */
    struct session *sockets; /* every socket of the object, open or closing */
    uint32_t nsockets;
    uint32_t open_count;     /* sockets that count as open, for the seed */
    struct tag_entry **tags; /* tag -> its sockets, an open hash table; NULL until first tag */
    uint32_t tags_cap;
    uint32_t tags_used;
    struct auto_rule *rules; /* DURO_AUTO_RULES_MAX_COUNT slots, NULL until the first rule */
    uint8_t nrules;
    struct duro_response *responses; /* on_request answers not sent yet */
    /* storage (worker/storage_api.c): the file while live, the commit in flight, the gates */
    struct store *store;     /* opened on the first storage call, closed at hibernation */
    struct object *dirty_next; /* the worker's list of objects with a commit due */
    uv_work_t commit_req;
    uint64_t commit_t0;
    int commit_rc;
    int64_t alarm_ms;        /* the alarm written in this transaction (alarm_changed) */
    unsigned dirty_listed : 1;
    unsigned in_flight : 1;  /* a commit runs on the thread pool: gates closed */
    unsigned alarm_changed : 1;
    unsigned leaving : 1;    /* its sockets are being handed over (worker/migrate.h) */
    char commit_err[160];
    char id[DURO_OBJECT_ID_HEX_BYTES + 1];
    size_t name_len;
    char name[];             /* NUL-terminated */
};

struct object_stats {
    uint64_t constructs;   /* absent -> live */
    uint64_t wakes;        /* hibernated -> live */
    uint64_t hibernations; /* live -> hibernated */
    uint64_t destroys;     /* forgotten */
};

/* Creates an empty registry for worker `w`. Returns NULL on ENOMEM. */
struct registry *registry_new(struct worker *w);

/* Frees a registry whose objects are all gone (tests that end with the loop closed). */
void registry_free(struct registry *reg);

/* Number of objects, and how many of them are live. */
size_t registry_count(const struct registry *reg);
size_t registry_live(const struct registry *reg);
const struct object_stats *registry_stats(const struct registry *reg);

/* Finds the object (cls, name), creating it (absent -> live) when there is none. Returns NULL
 * on ENOMEM. */
struct object *registry_get(struct registry *reg, const struct duro_class *cls, const char *name,
                            size_t name_len);

/* Like registry_get, but an object it creates stays hibernated: its class constructs it on
 * its next event (a socket adopted from another worker, as after hibernation). */
struct object *registry_get_asleep(struct registry *reg, const struct duro_class *cls,
                                   const char *name, size_t name_len);

/* Forgets an object without sockets now (its sockets left for another worker), instead of
 * after its idle time. Returns 0, or -1 when it still has sockets or a commit is due. */
int object_forget_now(struct object *o);

/* Calls `fn` for every object. `fn` must not free objects. */
void registry_each_object(struct registry *reg, void (*fn)(struct object *o, void *arg),
                          void *arg);

/* The bucket table, for a listing that resumes across loop iterations (worker/report.c): the
 * number of buckets (a power of two that only grows, by doubling) and the chain of bucket `i`
 * (below that number), linked by hnext. */
size_t registry_buckets(const struct registry *reg);
struct object *registry_bucket(const struct registry *reg, size_t i);

/* Calls `fn` for every socket of every object. `fn` must not free sockets or objects. */
void registry_each_socket(struct registry *reg, void (*fn)(struct session *s, void *arg),
                          void *arg);

/* Writes "CLASS/NAME" (the `obj=` of log lines) into `out` of DURO_OBJECT_LABEL_MAX_BYTES,
 * without a NUL; returns its length. */
#define DURO_OBJECT_LABEL_MAX_BYTES (DURO_CLASS_NAME_MAX_BYTES + 1 + DURO_OBJECT_NAME_MAX_BYTES)
size_t object_label(const struct object *o, char *out);

/* Marks an event: wakes a hibernated object (construct runs) and restarts its idle time. Call
 * before every class callback. */
void object_wake(struct object *o);

/* Adds `s` to the object's sockets. It counts as open only once accepted (session_opened). */
void object_add_socket(struct object *o, struct session *s);

/* Removes `s` with its tags. The object then waits for its idle time to be destroyed. */
void object_remove_socket(struct object *o, struct session *s);

/* Adds `tag` to `s` (at accept or later). Returns 0 (also for a duplicate, which is dropped),
 * DURO_ELIMIT (empty, too long, or the socket has DURO_TAGS_MAX_COUNT) or DURO_ENOMEM. */
int object_tag_socket(struct object *o, struct session *s, const char *tag, size_t len);

/* Removes `tag` from `s`, keeping the tag index consistent. Returns 0 or DURO_ENOTFOUND. */
int object_untag_socket(struct object *o, struct session *s, const char *tag, size_t len);

/* The open sockets with `tag`; see duro_object_sockets. */
size_t object_sockets_with_tag(const struct object *o, const char *tag, size_t len,
                               struct duro_socket **out, size_t cap);

/* The auto-response rule that answers a message of `kind` (DURO_TEXT/DURO_BINARY) equal to
 * `data`, or NULL. */
const struct auto_rule *object_auto_response_find(const struct object *o, int kind,
                                                  const uint8_t *data, size_t len);

/* Adds (or replaces: same kind and request) a rule. Returns 0, DURO_ELIMIT (over
 * DURO_AUTO_RULES_MAX_COUNT) or DURO_ENOMEM. Sizes and UTF-8 are the caller's to check. */
int object_auto_response_add(struct object *o, int req_kind, const void *req, size_t req_len,
                             int resp_kind, const void *resp, size_t resp_len);

/* Removes the rule for (kind, request). Returns 0 or DURO_ENOTFOUND. */
int object_auto_response_remove(struct object *o, int req_kind, const void *req, size_t req_len);

/* Removes every rule. */
void object_auto_response_clear(struct object *o);

/* The worker the object lives in. */
struct worker *object_worker(const struct object *o);

/* The object failed (its storage commit): its state is freed and its file closed, as at
 * hibernation; its sockets are the caller's to close. */
void object_reset(struct object *o);

#endif
