/* Attention over a bf16 key/value cache held in the layouts AVX512_BF16's VDPBF16PS reads directly, one pass
   per block of queries with the softmax computed online (FlashAttention, Dao et al. 2022, Algorithm 1): the
   [queries × keys] scores are never written to memory. Products accumulate in f32; the exponentials are
   rounded to bf16 for the value product, as PyTorch's bf16 attention rounds its probabilities.

   The AVX512_BF16 kernel and the portable one compute the same formula but round differently (VDPBF16PS adds
   pairs of products in its own order), so results are equal per CPU, not across CPUs. */
#include "ckernels.h"
#include <math.h>
#include <string.h>

#define QB 4   /* queries per block */
#define KG 64  /* keys per group: four 16-key vectors */

static inline uint16_t to_bf16(float x) {
    union { float f; uint32_t u; } v = { x };
    if ((v.u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((v.u >> 16) | 0x40u);
    return (uint16_t)((v.u + 0x7FFFu + ((v.u >> 16) & 1u)) >> 16);
}

static inline float from_bf16(uint16_t h) {
    union { uint32_t u; float f; } v = { (uint32_t)h << 16 };
    return v.f;
}

void sw_kv_pack_bf16(const float *k, const float *v, long ld, long n, long pos, long heads, long d, long capacity,
                     uint16_t *kpack, uint16_t *vpack) {
    for (long t = 0; t < n; t++) {
        long key = pos + t;
        const float *kr = k + t * ld, *vr = v + t * ld;
        for (long h = 0; h < heads; h++) {
            uint16_t *kb = kpack + h * capacity * d + (key / 16) * 16 * d + (key % 16) * 2;
            uint16_t *vb = vpack + h * capacity * d + (key / 2) * 2 * d + (key % 2);
            for (long j = 0; j < d; j++) {
                kb[(j / 2) * 32 + (j % 2)] = to_bf16(kr[h * d + j]);
                vb[j * 2] = to_bf16(vr[h * d + j]);
            }
        }
    }
    /* Zero the rest of the last key group, which the kernels read (scores masked, values multiplied by 0). */
    long end = pos + n, stop = (end + KG - 1) / KG * KG;
    if (stop > capacity) stop = capacity;
    for (long key = end; key < stop; key++) {
        for (long h = 0; h < heads; h++) {
            uint16_t *kb = kpack + h * capacity * d + (key / 16) * 16 * d + (key % 16) * 2;
            uint16_t *vb = vpack + h * capacity * d + (key / 2) * 2 * d + (key % 2);
            for (long j = 0; j < d; j++) {
                kb[(j / 2) * 32 + (j % 2)] = 0;
                vb[j * 2] = 0;
            }
        }
    }
}

/* Portable kernel: the same blocks and online softmax in plain C. */
static void attend_portable(const float *q, long ldq, long nq, const uint16_t *kp, const uint16_t *vp, long lk,
                            long d, float alpha, float *out, long ldo) {
    float acc[QB][256], m[QB], l[QB], s[KG];
    uint16_t qb[QB][256];
    for (long i = 0; i < nq; i++) {
        for (long j = 0; j < d; j++) {
            qb[i][j] = to_bf16(q[i * ldq + j]);
            acc[i][j] = 0;
        }
        m[i] = -INFINITY;
        l[i] = 0;
    }
    for (long g = 0; g < lk; g += KG) {
        long nk = lk - g < KG ? lk - g : KG;
        for (long i = 0; i < nq; i++) {
            float top = -INFINITY;
            for (long jj = 0; jj < nk; jj++) {
                long key = g + jj;
                const uint16_t *kb = kp + (key / 16) * 16 * d + (key % 16) * 2;
                float dot = 0;
                for (long j = 0; j < d; j++) dot += from_bf16(qb[i][j]) * from_bf16(kb[(j / 2) * 32 + (j % 2)]);
                s[jj] = dot * alpha;
                top = s[jj] > top ? s[jj] : top;
            }
            float mn = top > m[i] ? top : m[i];
            float corr = expf(m[i] - mn), sum = 0;
            for (long j = 0; j < d; j++) acc[i][j] *= corr;
            for (long jj = 0; jj < nk; jj++) {
                float p = expf(s[jj] - mn);
                sum += p;
                float pr = from_bf16(to_bf16(p));
                long key = g + jj;
                const uint16_t *vb = vp + (key / 2) * 2 * d + (key % 2);
                for (long j = 0; j < d; j++) acc[i][j] += pr * from_bf16(vb[j * 2]);
            }
            l[i] = l[i] * corr + sum;
            m[i] = mn;
        }
    }
    for (long i = 0; i < nq; i++)
        for (long j = 0; j < d; j++) out[i * ldo + j] = acc[i][j] / l[i];
}

#if defined(__x86_64__)
#include <immintrin.h>

#define BF16ATTR __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,fma")))

/* e^x for 16 lanes, the Cephes polynomial of body.h's exp. */
static BF16ATTR inline __m512 exp16(__m512 x) {
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.3762626647949f)), _mm512_set1_ps(-88.3762626647949f));
    const __m512 magic = _mm512_set1_ps(12582912.0f);
    __m512 shifted = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), magic);
    __m512 n = _mm512_sub_ps(shifted, magic);
    x = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    x = _mm512_fmadd_ps(n, _mm512_set1_ps(2.12194440e-4f), x);
    __m512 y = _mm512_set1_ps(1.9875691500e-4f);
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.3981999507e-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(8.3334519073e-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(4.1665795894e-2f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.6666665459e-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(5.0000001201e-1f));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(x, x), _mm512_add_ps(x, _mm512_set1_ps(1)));
    __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_sub_epi32(_mm512_castps_si512(shifted),
                                                                   _mm512_castps_si512(magic)),
                                                  _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}

/* One block of up to QB queries of one head; D (32 or 64) a compile-time constant at each use, so that the
   accumulators of both products stay in registers. */
static BF16ATTR __attribute__((always_inline)) inline void attend_block(const float *q, long ldq, long nq,
                                                                        const uint16_t *kp, const uint16_t *vp,
                                                                        long lk, const long D, float alpha, float *out,
                                                                        long ldo) {
    const long pairs = D / 2, nw = D / 16;
    uint32_t qb[QB][32];  /* bf16 pairs of each query */
    __m512 acc[QB][4];
    float m[QB], l[QB];
    uint16_t pb[QB][KG] __attribute__((aligned(64)));
    for (long i = 0; i < QB; i++) {
        for (long t = 0; t < pairs; t++) {
            uint16_t lo = i < nq ? to_bf16(q[i * ldq + 2 * t]) : 0, hi = i < nq ? to_bf16(q[i * ldq + 2 * t + 1]) : 0;
            qb[i][t] = (uint32_t)lo | (uint32_t)hi << 16;
        }
        for (long w = 0; w < nw; w++) acc[i][w] = _mm512_setzero_ps();
        m[i] = -INFINITY;
        l[i] = 0;
    }
    const __m512 a = _mm512_set1_ps(alpha), minusInf = _mm512_set1_ps(-INFINITY);
    for (long g = 0; g < lk; g += KG) {
        __m512 s[QB][4];
        for (long i = 0; i < QB; i++)
            for (long u = 0; u < 4; u++) s[i][u] = _mm512_setzero_ps();
        const uint16_t *kb = kp + g * D;  /* key block g/16 starts at (g/16)·16·D */
        for (long t = 0; t < pairs; t++) {
            __m512bh k0 = (__m512bh)_mm512_loadu_si512(kb + t * 32);
            __m512bh k1 = (__m512bh)_mm512_loadu_si512(kb + 16 * D + t * 32);
            __m512bh k2 = (__m512bh)_mm512_loadu_si512(kb + 32 * D + t * 32);
            __m512bh k3 = (__m512bh)_mm512_loadu_si512(kb + 48 * D + t * 32);
            for (long i = 0; i < QB; i++) {
                __m512bh qv = (__m512bh)_mm512_set1_epi32((int)qb[i][t]);
                s[i][0] = _mm512_dpbf16_ps(s[i][0], k0, qv);
                s[i][1] = _mm512_dpbf16_ps(s[i][1], k1, qv);
                s[i][2] = _mm512_dpbf16_ps(s[i][2], k2, qv);
                s[i][3] = _mm512_dpbf16_ps(s[i][3], k3, qv);
            }
        }
        long nk = lk - g < KG ? lk - g : KG;
        for (long i = 0; i < QB; i++) {
            __m512 top = minusInf;
            for (long u = 0; u < 4; u++) {
                long valid = nk - 16 * u;
                __mmask16 keep = valid >= 16 ? 0xFFFF : valid <= 0 ? 0 : (__mmask16)((1u << valid) - 1);
                s[i][u] = _mm512_mask_mul_ps(minusInf, keep, s[i][u], a);
                top = _mm512_max_ps(top, s[i][u]);
            }
            float blockMax = _mm512_reduce_max_ps(top), mn = blockMax > m[i] ? blockMax : m[i];
            float corr = m[i] == -INFINITY ? 0 : expf(m[i] - mn);
            __m512 mv = _mm512_set1_ps(mn), sum = _mm512_setzero_ps();
            for (long u = 0; u < 4; u++) {
                __m512 p = exp16(_mm512_sub_ps(s[i][u], mv));
                p = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(s[i][u], minusInf, _CMP_NEQ_OQ), p);
                sum = _mm512_add_ps(sum, p);
                _mm256_store_si256((__m256i *)(pb[i] + 16 * u), (__m256i)_mm512_cvtneps_pbh(p));
            }
            l[i] = l[i] * corr + _mm512_reduce_add_ps(sum);
            m[i] = mn;
            __m512 c = _mm512_set1_ps(corr);
            for (long w = 0; w < nw; w++) acc[i][w] = _mm512_mul_ps(acc[i][w], c);
        }
        const uint16_t *vb = vp + g * D;  /* key pair g/2 starts at (g/2)·2·D */
        for (long jp = 0; jp < KG / 2; jp++) {
            const uint16_t *row = vb + jp * 2 * D;
            __m512bh pp[QB];
            for (long i = 0; i < QB; i++) pp[i] = (__m512bh)_mm512_set1_epi32(*(const int *)(pb[i] + 2 * jp));
            for (long w = 0; w < nw; w++) {
                __m512bh vv = (__m512bh)_mm512_loadu_si512(row + w * 32);
                for (long i = 0; i < QB; i++) acc[i][w] = _mm512_dpbf16_ps(acc[i][w], vv, pp[i]);
            }
        }
    }
    for (long i = 0; i < nq; i++) {
        __m512 r = _mm512_set1_ps(1 / l[i]);
        for (long w = 0; w < nw; w++) _mm512_storeu_ps(out + i * ldo + 16 * w, _mm512_mul_ps(acc[i][w], r));
    }
}

static BF16ATTR void attend64(const float *q, long ldq, long nq, const uint16_t *kp, const uint16_t *vp, long lk,
                              float alpha, float *out, long ldo) {
    attend_block(q, ldq, nq, kp, vp, lk, 64, alpha, out, ldo);
}

static BF16ATTR void attend32(const float *q, long ldq, long nq, const uint16_t *kp, const uint16_t *vp, long lk,
                              float alpha, float *out, long ldo) {
    attend_block(q, ldq, nq, kp, vp, lk, 32, alpha, out, ldo);
}
#endif

void sw_attention_bf16(const float *q, long ldq, long nq, const uint16_t *kpack, const uint16_t *vpack, long lk,
                       long d, float alpha, float *out, long ldo) {
    if (nq <= 0 || lk <= 0) return;
#if defined(__x86_64__)
    if ((sw_cpu_features() & 4) && (d == 64 || d == 32)) {
        for (long i0 = 0; i0 < nq; i0 += QB) {
            long n = nq - i0 < QB ? nq - i0 : QB;
            if (d == 64) attend64(q + i0 * ldq, ldq, n, kpack, vpack, lk, alpha, out + i0 * ldo, ldo);
            else attend32(q + i0 * ldq, ldq, n, kpack, vpack, lk, alpha, out + i0 * ldo, ldo);
        }
        return;
    }
#endif
    for (long i0 = 0; i0 < nq; i0 += QB)
        attend_portable(q + i0 * ldq, ldq, nq - i0 < QB ? nq - i0 : QB, kpack, vpack, lk, d, alpha, out + i0 * ldo, ldo);
}
