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
/* Neighbourhood attention (NATTEN's window rule, kernel² ≤ 1024 keys) of the queries in rows y_begin..<y_end of an
   h×w grid, from a [h·w, 3C] qkv buffer (C = heads·d) into out [h·w, C]. The dot products are summed in a
   vectorised order (the bf16 and int8 paths; fp32 keeps the Swift loop's order). */
void sw_neighborhood_attention(const float *qkv, long h, long w, long kernel, long heads, long d, float scale,
                               float *out, long y_begin, long y_end);
/* Symmetric int8 of one row: q = round(x·127/max|x|) to nearest even, clamped to ±127; returns the scale
   max|x|/127 (0 for an all-zero row, whose q are 0). */
float sw_quantize_row(const float *x, int8_t *q, long k);
/* In place: the int32 accumulators at acc become acc·s·sw[i] + bias[i] (floats; bias may be NULL). */
void sw_dequantize_row(void *acc, long n, float s, const float *sw, const float *bias);

/* A bf16 key/value cache in the layouts the attention kernel reads, per head h (capacity keys, a multiple of 64):
   keys in blocks of 16, pairs of channels interleaved: kpack[h·capacity·d + (key/16)·16·d + (j/2)·32 + (key%16)·2
   + j%2] = k[key][h·d + j]; values in pairs of keys: vpack[h·capacity·d + (key/2)·2·d + j·2 + key%2] =
   v[key][h·d + j]. Writes keys pos..<pos+n from f32 rows k and v (stride ld, heads·d channels), rounded to bf16,
   and zeroes the rest of the last 64-key group. */
void sw_kv_pack_bf16(const float *k, const float *v, long ld, long n, long pos, long heads, long d, long capacity,
                     uint16_t *kpack, uint16_t *vpack);
/* out[i][0..<d] = softmax(alpha·q_i·K[0..<lk]ᵀ)·V for one head: q f32 rows (stride ldq, rounded to bf16), kpack
   and vpack that head's cache (`sw_kv_pack_bf16`), out f32 (stride ldo). d even, at most 256. */
void sw_attention_bf16(const float *q, long ldq, long nq, const uint16_t *kpack, const uint16_t *vpack, long lk,
                       long d, float alpha, float *out, long ldo);
#endif
