/*
 * ruv_crc32.h — CRC-32/IEEE 802.3 (zlib's crc32): reflected polynomial
 * 0xEDB88320, init and xorout 0xFFFFFFFF. Pure C99.
 *
 * Chainable like zlib: start with 0, then crc = ruv_crc32(crc, chunk, n)
 * for each chunk; ruv_crc32(0, "123456789", 9) == 0xCBF43926. data may be
 * NULL when len == 0.
 */
#ifndef RUV_CRC32_H
#define RUV_CRC32_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

uint32_t ruv_crc32(uint32_t crc, const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* RUV_CRC32_H */
