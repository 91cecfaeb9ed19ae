#include "common/hash.h"

#include <nettle/hmac.h>
#include <string.h>
#include <xxhash.h>

/* Fixed forever: changing it moves every object to another worker. */
#define HASH_SEED 0x6475726f2d763100ull /* "duro-v1\0" */
#define ID_KEY_PREFIX "duro-object-id:"

uint64_t hash_object_key(const char *cls, size_t cls_len, const char *name, size_t name_len)
{
    /* Seeding the name's hash with the class's hash keeps ("ab","c") apart from ("a","bc"). */
    uint64_t cls_hash = XXH3_64bits_withSeed(cls, cls_len, HASH_SEED);
    return XXH3_64bits_withSeed(name, name_len, cls_hash);
}

unsigned hash_pick_slot(uint64_t key, unsigned nslots)
{
    unsigned best = 0;
    uint64_t best_weight = 0;

    for (unsigned i = 0; i < nslots; i++) {
        /* Little-endian whatever the host: gateways of any byte order pick the same worker. */
        uint8_t in[12];
        for (unsigned b = 0; b < 8; b++) {
            in[b] = (uint8_t)(key >> (8 * b));
        }
        for (unsigned b = 0; b < 4; b++) {
            in[8 + b] = (uint8_t)((uint32_t)i >> (8 * b));
        }
        uint64_t w = XXH3_64bits_withSeed(in, sizeof in, HASH_SEED);
        if (i == 0 || w > best_weight) {
            best = i;
            best_weight = w;
        }
    }
    return best;
}

void hash_object_id(const char *cls, size_t cls_len, const char *name, size_t name_len,
                    char out[65])
{
    static const char hex[] = "0123456789abcdef";
    struct hmac_sha256_ctx ctx;
    uint8_t key[sizeof ID_KEY_PREFIX + 256];
    size_t key_len = sizeof ID_KEY_PREFIX - 1;
    uint8_t digest[SHA256_DIGEST_SIZE];

    memcpy(key, ID_KEY_PREFIX, key_len);
    if (cls_len > sizeof key - key_len) {
        cls_len = sizeof key - key_len;
    }
    memcpy(key + key_len, cls, cls_len);
    key_len += cls_len;
    hmac_sha256_set_key(&ctx, key_len, key);
    hmac_sha256_update(&ctx, name_len, (const uint8_t *)name);
    hmac_sha256_digest(&ctx, sizeof digest, digest);
    for (size_t i = 0; i < sizeof digest; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[64] = '\0';
}
