// Keyed dropout masks (see DropoutMask.swift): element i of a mask is dropped when the top 24 bits of
// fmix32(fmix32(i ^ keyLow) ^ keyHigh) fall below `threshold`, kept as `keep` otherwise. Plain loops the
// compiler vectorizes, cloned for AVX-512, AVX2 and the baseline and chosen when the program loads.
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

__attribute__((target_clones("avx512f", "avx2", "default")))
void finch_dropout(const float *x, float *y, uint32_t offset, size_t count, uint64_t key, uint32_t threshold,
                   float keep, int accumulate) {
    const uint32_t low = (uint32_t)key, high = (uint32_t)(key >> 32);
    if (x == NULL) {
        for (size_t i = 0; i < count; i++) y[i] = mask_value(offset + (uint32_t)i, low, high, threshold, keep);
    } else if (accumulate) {
        for (size_t i = 0; i < count; i++) y[i] += x[i] * mask_value(offset + (uint32_t)i, low, high, threshold, keep);
    } else {
        for (size_t i = 0; i < count; i++) y[i] = x[i] * mask_value(offset + (uint32_t)i, low, high, threshold, keep);
    }
}
