#ifndef SCALEWISE_CKERNELS_H
#define SCALEWISE_CKERNELS_H
/* The loops between the library products that run on every map and activation of the bf16 and int8 paths,
   compiled for three x86 levels (baseline, AVX2+FMA, AVX-512) and chosen at run time from CPUID, so one binary
   runs on any x86-64 and uses the vector width the CPU has; elsewhere they compile once, for the baseline.
   Floating-point contraction is off: each result is the same on every level and equals the Swift loops'. */
#include <stdint.h>

/* Bits of the CPU features that matter to the dispatch and to OpenBLAS's kernel choice, from CPUID:
   1 AVX2+FMA (OS saves YMM), 2 AVX-512 F/BW/DQ/VL/CD (OS saves ZMM), 4 AVX512_BF16. 0 off x86-64. */
unsigned sw_cpu_features(void);
/* The level the kernels below run at: 0 baseline, 1 AVX2, 2 AVX-512. */
int sw_kernel_level(void);

/* x ← x·σ(1.5957691·(x + 0.044715·x³)), GELU's tanh form, in place. */
void sw_gelu_tanh(float *x, long n);
/* y = bf16(x), round to nearest even; a NaN stays a NaN. */
void sw_round_bf16(const float *x, uint16_t *y, long n);
/* One channels-last pixel of GroupNorm: y = bf16((x − m)·a + b), through SiLU when silu != 0. */
void sw_affine_bf16(const float *x, const float *m, const float *a, const float *b, uint16_t *y, long c, int silu);
/* s1[j] += Σ_p (x[p·c + j] − shift[j]), s2[j] += Σ_p (…)², over `pixels` rows of c channels. */
void sw_channel_sums(const float *x, long pixels, long c, const float *shift, float *s1, float *s2);
/* p = bf16(softmax(alpha·s)) over n scores (s is overwritten with the unnormalised exponentials). */
void sw_softmax_bf16(float *s, uint16_t *p, long n, float alpha);
#endif
