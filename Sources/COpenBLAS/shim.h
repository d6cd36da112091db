#ifndef COPENBLAS_SHIM_H
#define COPENBLAS_SHIM_H
#include <cblas.h>
/* Declared by OpenBLAS but not in every cblas.h variant. */
extern void openblas_set_num_threads(int num_threads);
extern int openblas_get_num_threads(void);
extern char *openblas_get_corename(void);

/* The x86 features OpenBLAS's kernel choice depends on, from CPUID as the library itself reads them (not
   /proc/cpuinfo, which describes the host even under an emulator): bit 0 AVX2+FMA (with OS support for YMM
   state), bit 1 AVX-512 F/BW/DQ/VL/CD (with ZMM state), bit 2 AVX512_BF16. 0 on other architectures. */
#if defined(__x86_64__)
#include <cpuid.h>
static inline unsigned sw_cpu_features(void) {
    unsigned a, b, c, d, out = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0; /* OSXSAVE */
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    int ymm = (xlo & 0x6) == 0x6, zmm = (xlo & 0xe6) == 0xe6;
    int fma = (c >> 12) & 1;
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
#else
static inline unsigned sw_cpu_features(void) { return 0; }
#endif
#endif
