#include "ckernels.h"

#pragma clang fp contract(off)

#if defined(__x86_64__)
#include <cpuid.h>

static unsigned cpu_features(void) {
    unsigned a, b, c, d, out = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0; /* OSXSAVE */
    int fma = (c >> 12) & 1;
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    int ymm = (xlo & 0x6) == 0x6, zmm = (xlo & 0xe6) == 0xe6;
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    if (ymm && fma && ((b >> 5) & 1)) out |= 1;
    unsigned avx512 = (1u << 16) | (1u << 17) | (1u << 28) | (1u << 30) | (1u << 31); /* F DQ CD BW VL */
    if (zmm && (b & avx512) == avx512) {
        out |= 2;
        __cpuid_count(7, 1, a, b, c, d);
        if ((a >> 5) & 1) out |= 4;
    }
    return out;
}

unsigned sw_cpu_features(void) {
    static int known = -1;  /* a benign race: every thread computes the same value (CPUID traps in VMs) */
    if (known < 0) known = (int)cpu_features();
    return (unsigned)known;
}

#define ATTR __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define LEVEL(name) name##_avx512
#include "body.h"
#undef ATTR
#undef LEVEL
#define ATTR __attribute__((target("avx2,fma")))
#define LEVEL(name) name##_avx2
#include "body.h"
#undef ATTR
#undef LEVEL
#endif

#define ATTR
#define LEVEL(name) name##_base
#include "body.h"
#undef ATTR
#undef LEVEL

#if !defined(__x86_64__)
unsigned sw_cpu_features(void) { return 0; }
#endif

int sw_kernel_level(void) {
    static int level = -1;  /* a benign race: every thread computes the same value */
    if (level < 0) {
        unsigned f = sw_cpu_features();
        level = (f & 2) ? 2 : (f & 1) ? 1 : 0;
    }
    return level;
}

#if defined(__x86_64__)
#define DISPATCH(name, args) \
    switch (sw_kernel_level()) { \
    case 2: name##_avx512 args; return; \
    case 1: name##_avx2 args; return; \
    default: name##_base args; return; \
    }
#else
#define DISPATCH(name, args) name##_base args;
#endif

void sw_gelu_tanh(float *x, long n) { DISPATCH(gelu_tanh, (x, n)) }
void sw_round_bf16(const float *x, uint16_t *y, long n) { DISPATCH(round_bf16, (x, y, n)) }
void sw_affine_bf16(const float *x, const float *m, const float *a, const float *b, uint16_t *y, long c, int silu) {
    DISPATCH(affine_bf16, (x, m, a, b, y, c, silu))
}
void sw_channel_sums(const float *x, long pixels, long c, const float *shift, float *s1, float *s2) {
    DISPATCH(channel_sums, (x, pixels, c, shift, s1, s2))
}
void sw_neighborhood_attention(const float *qkv, long h, long w, long kernel, long heads, long d, float scale,
                               float *out, long y_begin, long y_end) {
    DISPATCH(neighborhood_attention, (qkv, h, w, kernel, heads, d, scale, out, y_begin, y_end))
}
float sw_quantize_row(const float *x, int8_t *q, long k) {
#if defined(__x86_64__)
    switch (sw_kernel_level()) {
    case 2: return quantize_row_avx512(x, q, k);
    case 1: return quantize_row_avx2(x, q, k);
    default: break;
    }
#endif
    return quantize_row_base(x, q, k);
}
void sw_dequantize_row(void *acc, long n, float s, const float *sw, const float *bias) {
    DISPATCH(dequantize_row, (acc, n, s, sw, bias))
}
