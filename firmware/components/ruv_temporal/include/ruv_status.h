/*
 * ruv_status.h — status codes of the portable core.
 *
 * The numbers are ESP-IDF's esp_err_t values (docs/spec.md §7) so the firmware can
 * pass them through unchanged, but this header needs no ESP-IDF include.
 */
#ifndef RUV_STATUS_H
#define RUV_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef int ruv_status_t;

#define RUV_OK                  0
#define RUV_ERR_NO_MEM          0x101
#define RUV_ERR_INVALID_ARG     0x102
#define RUV_ERR_INVALID_STATE   0x103
#define RUV_ERR_INVALID_SIZE    0x104
#define RUV_ERR_NOT_FOUND       0x105
#define RUV_ERR_NOT_SUPPORTED   0x106
#define RUV_ERR_TIMEOUT         0x107
#define RUV_ERR_INVALID_CRC     0x109
#define RUV_ERR_INVALID_VERSION 0x10A

/* Short constant name of a status ("OK", "INVALID_CRC", ...). Never NULL. */
const char *ruv_status_name(ruv_status_t status);

#ifdef __cplusplus
}
#endif
#endif /* RUV_STATUS_H */
