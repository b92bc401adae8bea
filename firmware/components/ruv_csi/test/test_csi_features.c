/*
 * C unit test of the csi-stats v1 front-end (ctest: csi_features).
 * Properties with known answers; the randomized comparison against the NumPy
 * mirror lives in tests/parity/test_features_parity.py.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ruv_csi_features.h"

static int failures = 0;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                    \
        }                                                                  \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                              \
    do {                                                                   \
        const double a_ = (double)(a), b_ = (double)(b);                   \
        if (!(fabs(a_ - b_) <= (double)(tol))) {                           \
            fprintf(stderr, "%s:%d: %s = %.9g, expected %.9g (tol %g)\n",  \
                    __FILE__, __LINE__, #a, a_, b_, (double)(tol));        \
            failures++;                                                    \
        }                                                                  \
    } while (0)

static int8_t iq[2 * (RUV_CSI_MAX_SUBCARRIERS + 1)];

static void fill_const(uint16_t n, int8_t i, int8_t q)
{
    uint16_t k;
    for (k = 0; k < n; k++) {
        iq[2 * k] = i;
        iq[2 * k + 1] = q;
    }
}

static int8_t round_i8(double v)
{
    double r = floor(v + 0.5);
    if (r > 127.0) {
        r = 127.0;
    }
    if (r < -128.0) {
        r = -128.0;
    }
    return (int8_t)r;
}

static void test_bad_args(void)
{
    ruv_csi_stats_t st, before;
    float out[RUV_CSI_STATS_V1_DIM];
    ruv_csi_stats_init(&st);
    fill_const(64, 10, 5);
    out[0] = 123.0f;
    memcpy(&before, &st, sizeof st);
    CHECK(ruv_csi_stats_compute(&st, iq, 0, -50, -90, out) == RUV_ERR_INVALID_SIZE);
    CHECK(ruv_csi_stats_compute(&st, iq, RUV_CSI_MAX_SUBCARRIERS + 1, -50, -90, out) ==
          RUV_ERR_INVALID_SIZE);
    CHECK(ruv_csi_stats_compute(NULL, iq, 64, -50, -90, out) == RUV_ERR_INVALID_ARG);
    CHECK(ruv_csi_stats_compute(&st, NULL, 64, -50, -90, out) == RUV_ERR_INVALID_ARG);
    CHECK(ruv_csi_stats_compute(&st, iq, 64, -50, -90, NULL) == RUV_ERR_INVALID_ARG);
    CHECK(memcmp(&before, &st, sizeof st) == 0);
    CHECK(out[0] == 123.0f);
    CHECK(ruv_csi_stats_compute(&st, iq, RUV_CSI_MAX_SUBCARRIERS, -50, -90, out) == RUV_OK);
    CHECK(ruv_csi_stats_compute(&st, iq, 1, -50, -90, out) == RUV_OK);
    CHECK(ruv_csi_stats_state_size() == sizeof(ruv_csi_stats_t));
}

static void test_constant_frame(void)
{
    ruv_csi_stats_t st;
    float out[RUV_CSI_STATS_V1_DIM];
    int g;
    ruv_csi_stats_init(&st);
    fill_const(64, 3, 4); /* |z| = 5, phase constant */
    CHECK(ruv_csi_stats_compute(&st, iq, 64, -40, -92, out) == RUV_OK);
    CHECK_NEAR(out[RUV_CSI_F_AMP_MEAN], 5.0, 1e-6);
    CHECK_NEAR(out[RUV_CSI_F_AMP_CV], 0.0, 1e-6);
    CHECK(out[RUV_CSI_F_MOTION] == 0.0f); /* no previous frame */
    for (g = 0; g < RUV_CSI_PROFILE_GROUPS; g++) {
        CHECK_NEAR(out[RUV_CSI_F_PROFILE0 + g], 1.0, 1e-6);
    }
    CHECK_NEAR(out[RUV_CSI_F_PHASE_SLOPE], 0.0, 1e-7);
    CHECK_NEAR(out[RUV_CSI_F_PHASE_RESID], 0.0, 1e-7);
    CHECK(out[RUV_CSI_F_RSSI] == -40.0f);
    CHECK(out[RUV_CSI_F_SNR] == 52.0f);
    CHECK(out[RUV_CSI_F_RSSI_DEV] == 0.0f);
}

static void test_null_subcarriers(void)
{
    ruv_csi_stats_t st;
    float out[RUV_CSI_STATS_V1_DIM];
    uint16_t k;
    ruv_csi_stats_init(&st);
    /* 64 subcarriers: guards 0..5 and 59..63, DC at 32 are null (0,0). */
    for (k = 0; k < 64; k++) {
        const int null_sc = k < 6 || k > 58 || k == 32;
        iq[2 * k] = null_sc ? 0 : (int8_t)(k % 2 ? 6 : 8);
        iq[2 * k + 1] = 0;
    }
    CHECK(ruv_csi_stats_compute(&st, iq, 64, -60, -95, out) == RUV_OK);
    /* 52 non-null: 26 of amplitude 6 and 26 of amplitude 8 */
    CHECK_NEAR(out[RUV_CSI_F_AMP_MEAN], 7.0, 1e-5);
    CHECK_NEAR(out[RUV_CSI_F_AMP_CV], 1.0 / 7.0, 1e-6);
    /* group 0 = subcarriers 0..9: non-null 6..9 -> 8,6,8,6 -> mean 7/7 = 1 */
    CHECK_NEAR(out[RUV_CSI_F_PROFILE0], 1.0, 1e-6);
    CHECK_NEAR(out[RUV_CSI_F_PHASE_SLOPE], 0.0, 1e-7);

    /* An all-null frame: amplitude features 0, RSSI features still there. */
    fill_const(64, 0, 0);
    CHECK(ruv_csi_stats_compute(&st, iq, 64, -61, -95, out) == RUV_OK);
    for (k = 0; k < RUV_CSI_F_RSSI; k++) {
        CHECK(out[k] == 0.0f);
    }
    CHECK(out[RUV_CSI_F_RSSI] == -61.0f);
    CHECK(out[RUV_CSI_F_SNR] == 34.0f);
    CHECK_NEAR(out[RUV_CSI_F_RSSI_DEV], -1.0, 1e-6);
    CHECK(!st.has_prev);
}

static void test_phase_slope(void)
{
    ruv_csi_stats_t st;
    float out[RUV_CSI_STATS_V1_DIM];
    uint16_t k;
    const double slope = 0.3; /* rad per subcarrier: wraps several times */
    ruv_csi_stats_init(&st);
    for (k = 0; k < 128; k++) {
        iq[2 * k] = round_i8(100.0 * cos(slope * k + 1.0));
        iq[2 * k + 1] = round_i8(100.0 * sin(slope * k + 1.0));
    }
    CHECK(ruv_csi_stats_compute(&st, iq, 128, -50, -90, out) == RUV_OK);
    CHECK_NEAR(out[RUV_CSI_F_PHASE_SLOPE], slope, 1e-3);
    CHECK(out[RUV_CSI_F_PHASE_RESID] < 0.01f); /* quantisation only */
    CHECK_NEAR(out[RUV_CSI_F_AMP_MEAN], 100.0, 0.5);
}

static void test_motion_and_ema(void)
{
    ruv_csi_stats_t st;
    float out[RUV_CSI_STATS_V1_DIM];
    uint16_t k;
    float m;
    ruv_csi_stats_init(&st);
    for (k = 0; k < 64; k++) {
        iq[2 * k] = (int8_t)(10 + (k % 7));
        iq[2 * k + 1] = (int8_t)(-3 + (k % 5));
    }
    CHECK(ruv_csi_stats_compute(&st, iq, 64, -50, -90, out) == RUV_OK);
    CHECK(out[RUV_CSI_F_MOTION] == 0.0f);
    /* Same frame: no motion. */
    CHECK(ruv_csi_stats_compute(&st, iq, 64, -50, -90, out) == RUV_OK);
    CHECK(out[RUV_CSI_F_MOTION] == 0.0f);
    /* Same channel, gain x2 (AGC step): normalised amplitudes unchanged. */
    for (k = 0; k < 128; k++) {
        iq[k] = (int8_t)(iq[k] * 2);
    }
    CHECK(ruv_csi_stats_compute(&st, iq, 64, -50, -90, out) == RUV_OK);
    CHECK_NEAR(out[RUV_CSI_F_MOTION], 0.0, 1e-6);
    CHECK(out[RUV_CSI_F_MOTION_EMA] < 1e-6f);
    /* Change half of the subcarriers: motion > 0, EMA = alpha * motion. */
    for (k = 0; k < 32; k++) {
        iq[2 * k] = (int8_t)(iq[2 * k] + 12);
    }
    CHECK(ruv_csi_stats_compute(&st, iq, 64, -34, -90, out) == RUV_OK);
    m = out[RUV_CSI_F_MOTION];
    CHECK(m > 0.1f && m < 2.0f);
    CHECK_NEAR(out[RUV_CSI_F_MOTION_EMA], RUV_CSI_MOTION_EMA_ALPHA * m, 1e-6);
    CHECK(out[RUV_CSI_F_RSSI_DEV] == 16.0f);     /* ema was -50 */
    CHECK_NEAR(st.rssi_ema, -49.0, 1e-6);        /* -50 + 16/16 */
    /* The reference profile was the (unchanged) earlier frames: deviation = motion. */
    CHECK_NEAR(out[RUV_CSI_F_DEVIATION], m, 1e-5);
    /* The same frame again: no motion, the reference moved 1/16 of the way. */
    CHECK(ruv_csi_stats_compute(&st, iq, 64, -34, -90, out) == RUV_OK);
    CHECK(out[RUV_CSI_F_MOTION] == 0.0f);
    CHECK_NEAR(out[RUV_CSI_F_DEVIATION], (1.0f - RUV_CSI_REF_EMA_ALPHA) * m, 1e-5);
    /* A different subcarrier count breaks the chain: motion 0 again. */
    CHECK(ruv_csi_stats_compute(&st, iq, 32, -50, -90, out) == RUV_OK);
    CHECK(out[RUV_CSI_F_MOTION] == 0.0f);
    CHECK(st.frames == 6);
}

/* Driver buffer with entry e = (imag, real) = (e, -e) (wrapping int8). */
static int8_t esp_buf[700];

static void fill_esp(uint32_t len)
{
    uint32_t e;
    for (e = 0; e < len / 2u; e++) {
        esp_buf[2u * e] = (int8_t)(e & 0x7f);
        esp_buf[2u * e + 1u] = (int8_t)(-(int32_t)(e & 0x7f));
    }
}

static void test_esp_layouts(void)
{
    static const uint32_t none_ok[] = {128, 256, 384};
    static const uint32_t above_ok[] = {128, 256, 376, 384, 612};
    static const uint32_t below_ok[] = {128, 256, 380, 384, 612};
    static const uint32_t bad[] = {0, 2, 4, 106, 114, 126, 130, 228, 254, 490, 610, 614};
    int8_t out[2 * RUV_CSI_LLTF_SUBCARRIERS];
    uint32_t i, k;

    for (i = 0; i < sizeof none_ok / sizeof none_ok[0]; i++) {
        CHECK(ruv_csi_esp_layout(none_ok[i], RUV_CSI_SECOND_NONE) != RUV_CSI_LAYOUT_UNKNOWN);
    }
    for (i = 0; i < sizeof above_ok / sizeof above_ok[0]; i++) {
        CHECK(ruv_csi_esp_layout(above_ok[i], RUV_CSI_SECOND_ABOVE) != RUV_CSI_LAYOUT_UNKNOWN);
        CHECK(ruv_csi_esp_layout(below_ok[i], RUV_CSI_SECOND_BELOW) != RUV_CSI_LAYOUT_UNKNOWN);
    }
    CHECK(ruv_csi_esp_layout(384, RUV_CSI_SECOND_NONE) == RUV_CSI_LAYOUT_HT20_STBC);
    CHECK(ruv_csi_esp_layout(384, RUV_CSI_SECOND_BELOW) == RUV_CSI_LAYOUT_HT40);
    CHECK(ruv_csi_esp_layout(376, RUV_CSI_SECOND_NONE) == RUV_CSI_LAYOUT_UNKNOWN);
    CHECK(ruv_csi_esp_layout(380, RUV_CSI_SECOND_ABOVE) == RUV_CSI_LAYOUT_UNKNOWN);
    CHECK(ruv_csi_esp_layout(612, RUV_CSI_SECOND_NONE) == RUV_CSI_LAYOUT_UNKNOWN);
    CHECK(ruv_csi_esp_layout(128, 3) == RUV_CSI_LAYOUT_UNKNOWN);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(ruv_csi_esp_layout(bad[i], RUV_CSI_SECOND_NONE) == RUV_CSI_LAYOUT_UNKNOWN);
        fill_esp(700);
        memset(out, 0x55, sizeof out);
        CHECK(ruv_csi_lltf_from_esp(esp_buf, bad[i], RUV_CSI_SECOND_NONE, false, out) ==
              RUV_ERR_NOT_SUPPORTED);
        CHECK(out[0] == 0x55); /* not written */
    }
    CHECK(ruv_csi_lltf_from_esp(NULL, 128, 0, false, out) == RUV_ERR_INVALID_ARG);

    /* 20 MHz channel: subcarrier k (ascending, -32 first) is driver entry
     * (k + 32) % 64; I = real = second byte, Q = imag = first byte. */
    fill_esp(256);
    CHECK(ruv_csi_lltf_from_esp(esp_buf, 256, RUV_CSI_SECOND_NONE, false, out) == RUV_OK);
    for (k = 0; k < 64; k++) {
        const int32_t e = (int32_t)((k + 32u) % 64u);
        CHECK(out[2 * k] == (int8_t)-e && out[2 * k + 1] == (int8_t)e);
    }
    /* first_word_invalid nulls driver entries 0 and 1: subcarriers 0 and +1 */
    CHECK(ruv_csi_lltf_from_esp(esp_buf, 128, RUV_CSI_SECOND_NONE, true, out) == RUV_OK);
    CHECK(out[64] == 0 && out[65] == 0 && out[66] == 0 && out[67] == 0);
    CHECK(out[68] == -2 && out[69] == 2 && out[0] == -32);
    /* with a secondary channel the L-LTF is already ascending */
    fill_esp(612);
    CHECK(ruv_csi_lltf_from_esp(esp_buf, 612, RUV_CSI_SECOND_BELOW, false, out) == RUV_OK);
    for (k = 0; k < 64; k++) {
        CHECK(out[2 * k] == (int8_t)-(int32_t)k && out[2 * k + 1] == (int8_t)k);
    }
}

static void test_compute_esp_matches_compute(void)
{
    ruv_csi_stats_t a, b;
    float fa[RUV_CSI_STATS_V1_DIM], fb[RUV_CSI_STATS_V1_DIM];
    int8_t lltf[2 * RUV_CSI_LLTF_SUBCARRIERS];
    uint32_t t, k;
    ruv_csi_stats_init(&a);
    ruv_csi_stats_init(&b);
    for (t = 0; t < 20; t++) {
        const uint32_t len = (t % 3u == 0u) ? 256u : 128u; /* HT-LTF every third frame */
        for (k = 0; k < len; k++) {
            esp_buf[k] = (int8_t)((int32_t)((k * 7u + t * 13u) % 61u) - 30);
        }
        CHECK(ruv_csi_stats_compute_esp(&a, esp_buf, len, RUV_CSI_SECOND_NONE, false, -50, -90,
                                        fa) == RUV_OK);
        CHECK(ruv_csi_lltf_from_esp(esp_buf, len, RUV_CSI_SECOND_NONE, false, lltf) == RUV_OK);
        CHECK(ruv_csi_stats_compute(&b, lltf, RUV_CSI_LLTF_SUBCARRIERS, -50, -90, fb) == RUV_OK);
        CHECK(memcmp(fa, fb, sizeof fa) == 0);
        if (t > 0) {
            CHECK(fa[RUV_CSI_F_MOTION] > 0.0f); /* the chain never breaks */
        }
    }
    CHECK(ruv_csi_stats_compute_esp(&a, esp_buf, 106, RUV_CSI_SECOND_NONE, false, -50, -90,
                                    fa) == RUV_ERR_NOT_SUPPORTED);
    CHECK(a.frames == 20u);
}

int main(void)
{
    test_bad_args();
    test_constant_frame();
    test_null_subcarriers();
    test_phase_slope();
    test_motion_and_ema();
    test_esp_layouts();
    test_compute_esp_matches_compute();
    if (failures != 0) {
        fprintf(stderr, "test_csi_features: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_csi_features: all checks passed\n");
    return 0;
}
