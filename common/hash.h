/* common/hash.h: which worker owns an object, and the object's ID.
 *
 * The object key is (class, name). Workers are chosen by rendezvous (highest random weight)
 * hashing with a fixed-seed xxHash3, so every gateway with the same pool size agrees and growing
 * the pool from N to N+1 moves only about 1/(N+1) of the objects. */
#ifndef DURO_HASH_H
#define DURO_HASH_H

#include <stddef.h>
#include <stdint.h>

/* 64-bit key of (class, name). Stable across processes, builds and machines. */
uint64_t hash_object_key(const char *cls, size_t cls_len, const char *name, size_t name_len);

/* The slot in [0, nslots) that owns `key`. `nslots` must be at least 1. */
unsigned hash_pick_slot(uint64_t key, unsigned nslots);

/* Writes the object's ID, 64 lowercase hex digits and a NUL, to `out` (65 bytes): an
 * HMAC-SHA256 of the name keyed by the class, as Cloudflare's idFromName derives IDs. */
void hash_object_id(const char *cls, size_t cls_len, const char *name, size_t name_len,
                    char out[65]);

#endif
