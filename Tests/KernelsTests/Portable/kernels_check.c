/* The C kernels checked on their own, built for a CPU the test machine is not (arm64, run under QEMU): bf16 rounding,
   int8 quantisation and the bf16 attention kernel against plain double-precision formulas. Prints
   "ok" and exits 0 when every check passes; otherwise prints the first failure and exits 1. */
#include "ckernels.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *what, double got, double want) {
    printf("FAIL %s: got %.9g, want %.9g\n", what, got, want);
    return 1;
}

static float bf16_value(uint16_t h) {
    union { uint32_t u; float f; } v = { (uint32_t)h << 16 };
    return v.f;
}

static unsigned long long state = 1;
static float lcg(void) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((long)((state >> 33) % 2001) - 1000) / 1000.0f;
}

int main(void) {
    /* Round to nearest even; NaN stays NaN. */
    float xs[4] = { 1.0f, 1.00390625f /* halfway, rounds to 1 */, 1.01171875f /* halfway, rounds up */, NAN };
    uint16_t hs[4];
    sw_round_bf16(xs, hs, 4);
    if (hs[0] != 0x3F80) return fail("bf16(1)", hs[0], 0x3F80);
    if (hs[1] != 0x3F80) return fail("bf16(1 + 2^-8)", hs[1], 0x3F80);
    if (hs[2] != 0x3F82) return fail("bf16(1 + 3·2^-8)", hs[2], 0x3F82);
    if (!isnan(bf16_value(hs[3]))) return fail("bf16(NaN)", bf16_value(hs[3]), NAN);

    /* int8 rows: scale max|x|/127, the largest value maps to ±127. */
    float row[5] = { 0.5f, -2.54f, 1.27f, 0, 0.01f };
    int8_t q[5];
    float s = sw_quantize_row(row, q, 5);
    if (fabs(s - 0.02) > 1e-7) return fail("quantize scale", s, 0.02);
    if (q[1] != -127 || q[2] != 64 || q[3] != 0) return fail("quantize codes", q[1], -127);

    /* Attention over the packed bf16 cache: 2 heads of 40, 5 queries over 70 keys. */
    enum { H = 2, D = 40, C = H * D, LQ = 5, LK = 70, CAP = 128 };
    static float k[LK * C], v[LK * C], qv[LQ * C], out[LQ * C];
    static uint16_t kp[H * CAP * D], vp[H * CAP * D];
    for (int i = 0; i < LK * C; i++) { k[i] = lcg(); v[i] = lcg(); }
    for (int i = 0; i < LQ * C; i++) qv[i] = lcg();
    sw_kv_pack_bf16(k, v, C, LK, 0, H, D, CAP, kp, vp);
    for (int h = 0; h < H; h++)
        sw_attention_bf16(qv + h * D, C, LQ, kp + h * CAP * D, vp + h * CAP * D, LK, D, 2.0f, out + h * D, C);
    double worst = 0;
    for (int h = 0; h < H; h++) {
        for (int i = 0; i < LQ; i++) {
            double w[LK], m = -1e300, z = 0;
            for (int j = 0; j < LK; j++) {
                double dot = 0;
                for (int t = 0; t < D; t++) {
                    uint16_t a, b;
                    sw_round_bf16(&qv[i * C + h * D + t], &a, 1);
                    sw_round_bf16(&k[j * C + h * D + t], &b, 1);
                    dot += (double)bf16_value(a) * bf16_value(b);
                }
                w[j] = 2 * dot;
                m = w[j] > m ? w[j] : m;
            }
            for (int j = 0; j < LK; j++) { w[j] = exp(w[j] - m); z += w[j]; }
            for (int t = 0; t < D; t++) {
                double acc = 0;
                for (int j = 0; j < LK; j++) {
                    uint16_t b;
                    sw_round_bf16(&v[j * C + h * D + t], &b, 1);
                    acc += w[j] / z * bf16_value(b);
                }
                double e = fabs(acc - out[i * C + h * D + t]);
                worst = e > worst ? e : worst;
            }
        }
    }
    if (!(worst < 6e-3)) return fail("attention max error", worst, 6e-3);
    printf("ok\n");
    return 0;
}
