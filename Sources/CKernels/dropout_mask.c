// Keyed dropout masks (see DropoutMask.swift): element i of a mask is dropped when the top 24 bits of
// fmix32(fmix32(i ^ keyLow) ^ keyHigh) fall below `threshold`, kept as `keep` otherwise. Plain loops the
// compiler vectorizes, compiled for AVX-512, AVX2 and the baseline and chosen by the CPU at each call.
#include "finch_kernels.h"

static inline uint32_t finalize(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

static inline float mask_value(uint32_t index, uint32_t low, uint32_t high, uint32_t threshold, float keep) {
    return (finalize(finalize(index ^ low) ^ high) >> 8) < threshold ? 0.0f : keep;
}

/// The loop, inlined into one copy per instruction set below.
__attribute__((always_inline)) static inline void dropout_loop(const float *x, float *y, uint32_t offset, size_t count,
                                                               uint64_t key, uint32_t threshold, float keep, int accumulate) {
    const uint32_t low = (uint32_t)key, high = (uint32_t)(key >> 32);
    if (x == NULL) {
        for (size_t i = 0; i < count; i++) y[i] = mask_value(offset + (uint32_t)i, low, high, threshold, keep);
    } else if (accumulate) {
        for (size_t i = 0; i < count; i++) y[i] += x[i] * mask_value(offset + (uint32_t)i, low, high, threshold, keep);
    } else {
        for (size_t i = 0; i < count; i++) y[i] = x[i] * mask_value(offset + (uint32_t)i, low, high, threshold, keep);
    }
}

__attribute__((target("avx512f"))) static void dropout_avx512(const float *x, float *y, uint32_t offset, size_t count,
                                                              uint64_t key, uint32_t threshold, float keep, int accumulate) {
    dropout_loop(x, y, offset, count, key, threshold, keep, accumulate);
}

__attribute__((target("avx2"))) static void dropout_avx2(const float *x, float *y, uint32_t offset, size_t count,
                                                         uint64_t key, uint32_t threshold, float keep, int accumulate) {
    dropout_loop(x, y, offset, count, key, threshold, keep, accumulate);
}

// Chosen per call with __builtin_cpu_supports (a few loads) rather than by an ifunc resolver, which runs
// before the sanitizers' runtimes start and crashes ThreadSanitizer builds.
void finch_dropout(const float *x, float *y, uint32_t offset, size_t count, uint64_t key, uint32_t threshold,
                   float keep, int accumulate) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        dropout_avx512(x, y, offset, count, key, threshold, keep, accumulate);
    } else if (__builtin_cpu_supports("avx2")) {
        dropout_avx2(x, y, offset, count, key, threshold, keep, accumulate);
    } else {
        dropout_loop(x, y, offset, count, key, threshold, keep, accumulate);
    }
}
