/* Kernel bodies, included once per x86 level by kernels.c with LEVEL(name) and ATTR defined. */

static ATTR inline float LEVEL(exp)(float x) {
    /* e^x as the Swift `fastExp` computes it (Cephes expf), branch-free so that it vectorises. */
    const float limit = 88.3762626647949f;
    x = x < -limit ? -limit : x;
    x = x > limit ? limit : x;
    const float magic = 12582912.0f;
    float shifted = x * 1.44269504088896341f + magic;
    float n = shifted - magic;
    x = x - n * 0.693359375f + n * 2.12194440e-4f;
    float y = 1.9875691500e-4f;
    y = y * x + 1.3981999507e-3f;
    y = y * x + 8.3334519073e-3f;
    y = y * x + 4.1665795894e-2f;
    y = y * x + 1.6666665459e-1f;
    y = y * x + 5.0000001201e-1f;
    y = y * (x * x) + x + 1;
    union { float f; uint32_t u; } s = { shifted }, m = { magic }, r;
    r.u = (s.u - m.u + 127u) << 23;
    return y * r.f;
}

static ATTR inline uint16_t LEVEL(bf16)(float x) {
    union { float f; uint32_t u; } v = { x };
    uint16_t rounded = (uint16_t)((v.u + 0x7FFFu + ((v.u >> 16) & 1u)) >> 16);
    return (v.u & 0x7FFFFFFFu) > 0x7F800000u ? (uint16_t)((v.u >> 16) | 0x40u) : rounded;
}

static ATTR void LEVEL(gelu_tanh)(float *restrict x, long n) {
    const float c = 2 * 0.7978845608028654f;
    for (long i = 0; i < n; i++) {
        float v = x[i];
        x[i] = v / (1 + LEVEL(exp)(-c * (v + 0.044715f * v * v * v)));
    }
}

static ATTR void LEVEL(round_bf16)(const float *restrict x, uint16_t *restrict y, long n) {
    for (long i = 0; i < n; i++) y[i] = LEVEL(bf16)(x[i]);
}

static ATTR void LEVEL(affine_bf16)(const float *restrict x, const float *restrict m, const float *restrict a,
                                    const float *restrict b, uint16_t *restrict y, long c, int silu) {
    if (silu) {
        for (long j = 0; j < c; j++) {
            float v = (x[j] - m[j]) * a[j] + b[j];
            y[j] = LEVEL(bf16)(v / (1 + LEVEL(exp)(-v)));
        }
    } else {
        for (long j = 0; j < c; j++) y[j] = LEVEL(bf16)((x[j] - m[j]) * a[j] + b[j]);
    }
}

static ATTR void LEVEL(channel_sums)(const float *restrict x, long pixels, long c, const float *restrict shift,
                                     float *restrict s1, float *restrict s2) {
    for (long p = 0; p < pixels; p++) {
        const float *row = x + p * c;
        for (long j = 0; j < c; j++) {
            float d = row[j] - shift[j];
            s1[j] += d;
            s2[j] += d * d;
        }
    }
}

static ATTR float LEVEL(quantize_row)(const float *restrict x, int8_t *restrict q, long k) {
    /* max |x| on the bit patterns: for non-negative floats integer order is float order, and an integer max
       reduction vectorises where a float one may not. */
    uint32_t top = 0;
    for (long i = 0; i < k; i++) {
        union { float f; uint32_t u; } v = { x[i] };
        uint32_t a = v.u & 0x7FFFFFFFu;
        top = a > top ? a : top;
    }
    union { uint32_t u; float f; } amax = { top };
    float inv = amax.f > 0 ? 127 / amax.f : 0;
    const float magic = 12582912.0f; /* 1.5·2²³: (v + magic) − magic rounds |v| < 2²² to nearest even */
    for (long i = 0; i < k; i++) {
        float v = (x[i] * inv + magic) - magic;
        v = v > 127 ? 127 : v;
        v = v < -127 ? -127 : v;
        q[i] = (int8_t)(int32_t)v;
    }
    return amax.f / 127;
}

static ATTR void LEVEL(dequantize_row)(void *buf, long n, float s, const float *restrict sw, const float *restrict bias) {
    const int32_t *a = (const int32_t *)buf;
    float *o = (float *)buf;
    if (bias) {
        for (long i = 0; i < n; i++) o[i] = (float)a[i] * (s * sw[i]) + bias[i];
    } else {
        for (long i = 0; i < n; i++) o[i] = (float)a[i] * (s * sw[i]);
    }
}

static ATTR void LEVEL(neighborhood_attention)(const float *restrict qkv, long h, long w, long kernel, long heads,
                                               long d, float scale, float *restrict out, long y_begin, long y_end) {
    long C = heads * d, ky = kernel < h ? kernel : h, kx = kernel < w ? kernel : w;
    float scores[1024];
    for (long y = y_begin; y < y_end; y++) {
        long y0 = y - ky / 2;
        y0 = y0 < 0 ? 0 : y0;
        y0 = y0 > h - ky ? h - ky : y0;
        for (long x = 0; x < w; x++) {
            long x0 = x - kx / 2;
            x0 = x0 < 0 ? 0 : x0;
            x0 = x0 > w - kx ? w - kx : x0;
            const float *q = qkv + (y * w + x) * 3 * C;
            for (long hd = 0; hd < heads; hd++) {
                float m = -__builtin_inff(), total = 0;
                for (long a = 0; a < ky; a++) {
                    for (long b = 0; b < kx; b++) {
                        const float *k = qkv + ((y0 + a) * w + x0 + b) * 3 * C + C + hd * d;
                        float sum;
                        {
#pragma clang fp reassociate(on)
                            float acc = 0;
                            for (long c = 0; c < d; c++) acc += q[hd * d + c] * k[c];
                            sum = acc * scale;
                        }
                        scores[a * kx + b] = sum;
                        m = sum > m ? sum : m;
                    }
                }
                for (long i = 0; i < ky * kx; i++) {
                    scores[i] = LEVEL(exp)(scores[i] - m);
                    total += scores[i];
                }
                float *o = out + (y * w + x) * C + hd * d;
                for (long c = 0; c < d; c++) o[c] = 0;
                for (long a = 0; a < ky; a++) {
                    for (long b = 0; b < kx; b++) {
                        const float *v = qkv + ((y0 + a) * w + x0 + b) * 3 * C + 2 * C + hd * d;
                        float p = scores[a * kx + b] / total;
                        for (long c = 0; c < d; c++) o[c] += p * v[c];
                    }
                }
            }
        }
    }
}
