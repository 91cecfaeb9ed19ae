#include "common/wskey.h"

#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <string.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

void wskey_accept(const char *key, size_t key_len, char out[29])
{
    struct sha1_ctx ctx;
    uint8_t digest[SHA1_DIGEST_SIZE];

    sha1_init(&ctx);
    sha1_update(&ctx, key_len, (const uint8_t *)key);
    sha1_update(&ctx, sizeof WS_GUID - 1, (const uint8_t *)WS_GUID);
    sha1_digest(&ctx, sizeof digest, digest);
    base64_encode_raw(out, sizeof digest, digest);
    out[BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE)] = '\0';
}

int wskey_valid(const char *key, size_t key_len)
{
    struct base64_decode_ctx ctx;
    uint8_t raw[BASE64_DECODE_LENGTH(24)];
    size_t raw_len = sizeof raw;

    if (key_len != 24 || key[22] != '=' || key[23] != '=') {
        return 0;
    }
    base64_decode_init(&ctx);
    if (!base64_decode_update(&ctx, &raw_len, raw, key_len, key) || !base64_decode_final(&ctx)) {
        return 0;
    }
    return raw_len == 16;
}
