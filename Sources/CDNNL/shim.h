#ifndef CDNNL_SHIM_H
#define CDNNL_SHIM_H
/* oneDNN's C API (Debian: libdnnl-dev, built on OpenMP). */
#include <oneapi/dnnl/dnnl.h>
/* oneDNN's thread count is OpenMP's: libgomp, which libdnnl links. */
extern void omp_set_num_threads(int num_threads);
extern int omp_get_max_threads(void);
extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);
/* libgomp's entry for `#pragma omp parallel` (the ABI GCC emits): runs fn(data) on num_threads threads of
   the same pool oneDNN uses, so that our loops and its products never compete for the cores. */
extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
/* The execution-argument macros are aliases of aliases, which Swift does not import. */
static const int SW_DNNL_ARG_SRC = DNNL_ARG_SRC;
static const int SW_DNNL_ARG_WEIGHTS = DNNL_ARG_WEIGHTS;
static const int SW_DNNL_ARG_BIAS = DNNL_ARG_BIAS;
static const int SW_DNNL_ARG_DST = DNNL_ARG_DST;
static const int SW_DNNL_ARG_FROM = DNNL_ARG_FROM;
static const int SW_DNNL_ARG_TO = DNNL_ARG_TO;
#endif
