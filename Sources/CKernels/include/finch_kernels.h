#ifndef FINCH_KERNELS_H
#define FINCH_KERNELS_H
/// Finch's hand-written kernels, in C for the instruction sets Swift cannot name (AVX512-BF16) or does
/// not vectorize (keyed dropout masks).
/// Each function that uses such instructions is compiled for them alone and reached only after
/// `finch_bf16_supported()` says the CPU has them.
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when this CPU can run the bf16 products (AVX512F + AVX512-BF16, with the OS saving zmm state).
int finch_bf16_supported(void);

/// Output columns per packed panel of B.
#define FINCH_BF16_PANEL 32
/// Rows of A per packed tile.
#define FINCH_BF16_TILE 12

/// uint16 elements needed to pack B[k, n] (reduction k, output columns n): panels of 32 columns,
/// k rounded up to even, each k pair of a column adjacent.
size_t finch_bf16_packed_b_count(int k, int n);

/// Packs B[k, n] in bf16 (round to nearest even). Element (kk, j) is read from
/// `byColumn ? src[j * ld + kk] : src[kk * ld + j]` — torch's W[out, in] is B by column for y = x·Wᵀ
/// and by row for dx = dy·W.
void finch_bf16_pack_b(const float *src, int ld, int byColumn, int k, int n, uint16_t *out);

/// uint32 elements needed to pack A[m, k]: tiles of 12 rows (zero-padded), k pairs.
size_t finch_bf16_packed_a_count(int m, int k);

/// Packs tiles t0..<t1 of A[m, k] (row-major, leading dimension lda) in bf16 pairs, 12 rows interleaved
/// per tile (rows past m are zeros). Threads call it on disjoint tile ranges.
void finch_bf16_pack_a(const float *a, int lda, int m, int k, uint32_t *out, int t0, int t1);

/// C[m, columns n0..<n1] = (C +) A·B for packed A (m rows, k) and packed B (k, n), fp32 accumulation;
/// without `accumulate`, a non-NULL `bias` [n] is added to every row. n0 is a multiple of 32. Threads call
/// it on disjoint column ranges of the same C.
void finch_bf16_gemm(const uint32_t *packedA, const uint16_t *packedB, int m, int n, int k,
                     float *c, int ldc, int accumulate, const float *bias, int n0, int n1);

/// Keyed dropout mask m over indices offset..<offset + count (0 where the 24-bit hash of the index is
/// below `threshold`, else `keep`): y = m when x is NULL, y = x ⊙ m, or y += x ⊙ m with `accumulate`.
void finch_dropout(const float *x, float *y, uint32_t offset, size_t count, uint64_t key, uint32_t threshold,
                   float keep, int accumulate);

#ifdef __cplusplus
}
#endif
#endif
