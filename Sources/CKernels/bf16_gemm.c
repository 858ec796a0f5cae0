// bf16 matrix products with fp32 accumulation (AVX512-BF16 `vdpbf16ps`), for frozen weights.
//
//   C[m, n] (+)= A[m, k] · B[k, n]
//   A: activations, rounded to bf16 at each call and packed in tiles of 12 rows, pairs of k adjacent.
//   B: a frozen weight, rounded and packed once in panels of 32 columns, pairs of k adjacent.
// One `vdpbf16ps` multiplies 16 column pairs of B by one broadcast pair of A and adds both products to
// 16 fp32 sums. The micro-kernel holds a 12×32 tile of C in 24 registers. Products of two bf16 values are
// exact in fp32, so results differ from fp32 arithmetic on the rounded inputs only by summation order.
#include "finch_kernels.h"
#include <immintrin.h>
#include <string.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define PANEL FINCH_BF16_PANEL
#define TILE FINCH_BF16_TILE
/// k pairs per block: a 32-column panel slice of B (16 KB) stays in L1 across all tiles of A.
#define KC_PAIRS 128

int finch_bf16_supported(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
    }
    return cached;
}

static inline uint16_t round_to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  // NaN stays NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline int pairs_of(int k) { return (k + 1) / 2; }

size_t finch_bf16_packed_b_count(int k, int n) {
    return (size_t)((n + PANEL - 1) / PANEL) * (size_t)pairs_of(k) * PANEL * 2;
}

void finch_bf16_pack_b(const float *src, int ld, int byColumn, int k, int n, uint16_t *out) {
    int kp = pairs_of(k), panels = (n + PANEL - 1) / PANEL;
    for (int p = 0; p < panels; p++) {
        uint16_t *panel = out + (size_t)p * kp * PANEL * 2;
        for (int pair = 0; pair < kp; pair++) {
            for (int j = 0; j < PANEL; j++) {
                int col = p * PANEL + j;
                for (int h = 0; h < 2; h++) {
                    int kk = 2 * pair + h;
                    float v = 0;
                    if (col < n && kk < k) v = byColumn ? src[(size_t)col * ld + kk] : src[(size_t)kk * ld + col];
                    panel[((size_t)pair * PANEL + j) * 2 + h] = round_to_bf16(v);
                }
            }
        }
    }
}

size_t finch_bf16_packed_a_count(int m, int k) {
    return (size_t)((m + TILE - 1) / TILE) * (size_t)pairs_of(k) * TILE;
}

/// One row of fp32 into bf16 pairs (zero-padded to an even length), written with a stride of TILE.
TARGET static void pack_row(const float *row, int k, uint32_t *out) {
    int kp = pairs_of(k), pair = 0;
    uint32_t buf[16];
    for (; 2 * pair + 32 <= k; pair += 16) {
        __m512 lo = _mm512_loadu_ps(row + 2 * pair), hi = _mm512_loadu_ps(row + 2 * pair + 16);
        _mm512_storeu_si512(buf, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
        for (int i = 0; i < 16; i++) out[(size_t)(pair + i) * TILE] = buf[i];
    }
    for (; pair < kp; pair++) {
        int kk = 2 * pair;
        uint32_t lo = round_to_bf16(row[kk]), hi = kk + 1 < k ? round_to_bf16(row[kk + 1]) : 0;
        out[(size_t)pair * TILE] = lo | (hi << 16);
    }
}

void finch_bf16_pack_a(const float *a, int lda, int m, int k, uint32_t *out, int t0, int t1) {
    int kp = pairs_of(k);
    for (int t = t0; t < t1; t++) {
        uint32_t *tile = out + (size_t)t * kp * TILE;
        for (int i = 0; i < TILE; i++) {
            int r = t * TILE + i;
            if (r < m) {
                pack_row(a + (size_t)r * lda, k, tile + i);
            } else {
                for (int pair = 0; pair < kp; pair++) tile[(size_t)pair * TILE + i] = 0;
            }
        }
    }
}

/// acc[12×32] = Σ over `pairs` k pairs of the tile of A times the panel slice of B, then stored into C
/// (added to C when `add`, else to `bias` [nr] when given), rows < mr and columns < nr only.
TARGET static void micro_kernel(int pairs, const uint32_t *a, const uint16_t *b, float *c, int ldc,
                                int mr, int nr, int add, const float *bias) {
    __m512 acc[TILE][2];
#pragma clang loop unroll(full)
    for (int i = 0; i < TILE; i++) { acc[i][0] = _mm512_setzero_ps(); acc[i][1] = _mm512_setzero_ps(); }
    for (int pair = 0; pair < pairs; pair++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(b + (size_t)pair * 64);
        __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + (size_t)pair * 64 + 32);
        const uint32_t *ap = a + (size_t)pair * TILE;
#pragma clang loop unroll(full)
        for (int i = 0; i < TILE; i++) {
            __m512bh ai = (__m512bh)_mm512_set1_epi32((int)ap[i]);
            acc[i][0] = _mm512_dpbf16_ps(acc[i][0], ai, b0);
            acc[i][1] = _mm512_dpbf16_ps(acc[i][1], ai, b1);
        }
    }
    __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    __m512 bias0 = _mm512_setzero_ps(), bias1 = _mm512_setzero_ps();
    if (bias && !add) {
        bias0 = _mm512_maskz_loadu_ps(m0, bias);
        bias1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    }
#pragma clang loop unroll(full)
    for (int i = 0; i < TILE; i++) {
        if (i >= mr) break;
        float *row = c + (size_t)i * ldc;
        __m512 v0 = acc[i][0], v1 = acc[i][1];
        if (add) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, row));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, row + 16));
        } else if (bias) {
            v0 = _mm512_add_ps(v0, bias0);
            v1 = _mm512_add_ps(v1, bias1);
        }
        _mm512_mask_storeu_ps(row, m0, v0);
        _mm512_mask_storeu_ps(row + 16, m1, v1);
    }
}

TARGET void finch_bf16_gemm(const uint32_t *packedA, const uint16_t *packedB, int m, int n, int k,
                            float *c, int ldc, int accumulate, const float *bias, int n0, int n1) {
    int kp = pairs_of(k), tiles = (m + TILE - 1) / TILE;
    if (n1 > n) n1 = n;
    for (int pc = 0; pc < kp; pc += KC_PAIRS) {
        int pairs = kp - pc < KC_PAIRS ? kp - pc : KC_PAIRS;
        int add = accumulate || pc > 0;
        for (int col = n0; col < n1; col += PANEL) {
            const uint16_t *b = packedB + ((size_t)(col / PANEL) * kp + pc) * PANEL * 2;
            int nr = n1 - col < PANEL ? n1 - col : PANEL;
            for (int t = 0; t < tiles; t++) {
                int mr = m - t * TILE < TILE ? m - t * TILE : TILE;
                const uint32_t *a = packedA + ((size_t)t * kp + pc) * TILE;
                micro_kernel(pairs, a, b, c + (size_t)t * TILE * ldc + col, ldc, mr, nr, add, bias ? bias + col : NULL);
            }
        }
    }
}
