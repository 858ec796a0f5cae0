/* A small C API over libsentencepiece, so no Swift target needs C++ interop. */
#ifndef FINCH_SENTENCEPIECE_SHIM_H
#define FINCH_SENTENCEPIECE_SHIM_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct finch_spm finch_spm;

/* Loads a .model file. Returns NULL and writes a message into `error` (size `error_size`) on failure. */
finch_spm *finch_spm_load(const char *path, char *error, size_t error_size);
/* Loads a serialized model proto from memory. */
finch_spm *finch_spm_load_bytes(const void *bytes, size_t length, char *error, size_t error_size);
void finch_spm_free(finch_spm *spm);

int32_t finch_spm_piece_count(const finch_spm *spm);
/* Copies the piece for `id` (UTF-8, NUL-terminated) into `out`; returns its byte length, or -1. */
int32_t finch_spm_id_to_piece(const finch_spm *spm, int32_t id, char *out, size_t out_size);
int32_t finch_spm_piece_to_id(const finch_spm *spm, const char *piece);
float finch_spm_score(const finch_spm *spm, int32_t id);
int32_t finch_spm_unk_id(const finch_spm *spm);
/* The ids of <s>, </s> and <pad>, or -1 when the model has none. */
int32_t finch_spm_bos_id(const finch_spm *spm);
int32_t finch_spm_eos_id(const finch_spm *spm);
int32_t finch_spm_pad_id(const finch_spm *spm);
/* 1 when `id` is a control symbol (<s>, </s>, <pad>), else 0. */
int finch_spm_is_control(const finch_spm *spm, int32_t id);

/* Encodes UTF-8 text into ids. Writes at most `capacity` ids; returns the total count (call again with
   a larger buffer when it exceeds capacity), or -1 on error. */
int32_t finch_spm_encode(const finch_spm *spm, const char *text, size_t length, int32_t *ids, int32_t capacity);

/* Decodes ids into UTF-8 text; same capacity convention as above, in bytes. */
int32_t finch_spm_decode(const finch_spm *spm, const int32_t *ids, int32_t count, char *out, size_t capacity);

/* Trains a model from `count` trainer options given as parallel key/value arrays (keys without the
   leading "--", e.g. "input", "model_prefix", "vocab_size", "model_type"), so paths may contain
   spaces. Returns 0 on success, else writes a message into `error`. */
int finch_spm_train(const char *const *keys, const char *const *values, int32_t count, char *error,
                    size_t error_size);

#ifdef __cplusplus
}
#endif
#endif
