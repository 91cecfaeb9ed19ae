/* tests/fuzz/fuzz_proxy.c: the PROXY protocol parser (gateway/proxy.h proxy_parse).
 *
 * Invariants: the result is one of PROXY_OK / PROXY_NEED_MORE / PROXY_BAD; on PROXY_OK `used`
 * is within the input and within DURO_PROXY_HEADER_MAX_BYTES, the client is a NUL-terminated
 * string that fits its buffer and is empty or ends with ":PORT", and every strict prefix of
 * the header is PROXY_NEED_MORE (a header split across reads waits). */
#include <stdint.h>
#include <string.h>

#include "common/duro_limits.h"
#include "gateway/proxy.h"
#include "tests/fuzz/fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char client[64];
    size_t used = 0;
    memset(client, 'x', sizeof client);
    enum proxy_result r = proxy_parse((const char *)data, size, &used, client, sizeof client);
    CHECK(r == PROXY_OK || r == PROXY_NEED_MORE || r == PROXY_BAD);
    if (r != PROXY_OK) {
        return 0;
    }
    CHECK(used >= 1 && used <= size && used <= DURO_PROXY_HEADER_MAX_BYTES);
    size_t n = strnlen(client, sizeof client);
    CHECK(n < sizeof client);
    CHECK(n == 0 || strrchr(client, ':') != NULL);
    for (size_t cut = 0; cut < used; cut++) {
        char c2[64];
        size_t u2;
        CHECK(proxy_parse((const char *)data, cut, &u2, c2, sizeof c2) == PROXY_NEED_MORE);
    }
    return 0;
}
