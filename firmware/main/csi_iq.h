/*
 * csi_iq.h — ESP32 CSI buffer -> interleaved I/Q (pure C, no ESP-IDF
 * header, so it can be checked on the host).
 *
 * The ESP32 family's CSI buffer holds, per subcarrier, an int8 pair
 * (imaginary, real). ruv_csi_stats_compute and the 0xC5110001 packet want
 * I (real) then Q (imaginary), subcarriers in ascending frequency. With only
 * the L-LTF enabled the buffer has 64 subcarriers in the order 0..31,
 * -32..-1, so the two halves are swapped. Any other length is taken in
 * buffer order. With first_word_invalid (a hardware limitation reported by
 * the driver) the first 4 bytes are unusable: that subcarrier pair is set to
 * (0, 0), which the feature module treats as null.
 */
#ifndef CSI_IQ_H
#define CSI_IQ_H

#include <stdbool.h>
#include <stdint.h>

#define CSI_LLTF_SUBCARRIERS 64u

/* Returns the number of subcarriers written to iq (2 values each, at most
 * max_subcarriers). */
static inline uint16_t csi_esp_to_iq(const int8_t *buf, uint16_t len, bool first_word_invalid,
                                     int8_t *iq, uint16_t max_subcarriers)
{
    uint16_t n = (uint16_t)(len / 2u);
    const bool lltf = n >= CSI_LLTF_SUBCARRIERS;
    if (lltf) {
        n = CSI_LLTF_SUBCARRIERS; /* L-LTF first; anything after it is ignored */
    }
    if (n > max_subcarriers) {
        n = max_subcarriers;
    }
    for (uint16_t k = 0; k < n; ++k) {
        const uint16_t src =
            lltf ? (uint16_t)((k + CSI_LLTF_SUBCARRIERS / 2u) % CSI_LLTF_SUBCARRIERS) : k;
        int8_t im = buf[2u * src];
        int8_t re = buf[2u * src + 1u];
        if (first_word_invalid && src < 2u) {
            im = 0;
            re = 0;
        }
        iq[2u * k] = re;
        iq[2u * k + 1u] = im;
    }
    return n;
}

#endif /* CSI_IQ_H */
