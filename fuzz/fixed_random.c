/* The gate's stand-in for getrandom(2), preloaded into each fuzz target
 * (fuzz/run --gate): the same bytes in every process, so the hash seeds of
 * std's HashMap and of serde_json's ordered maps are the same from one run
 * to the next, and so are the edges their probing takes. std asks for
 * random bytes through this weak symbol so that it can be replaced this
 * way; nothing here needs randomness that is secret. */
#include <stddef.h>
#include <sys/types.h>

ssize_t getrandom(void *buf, size_t len, unsigned int flags) {
    unsigned char *out = buf;
    (void)flags;
    for (size_t i = 0; i < len; i++) {
        out[i] = (unsigned char)(i * 131u + 7u);
    }
    return (ssize_t)len;
}
