#include "sentencepiece_shim.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

struct finch_spm {
    sentencepiece::SentencePieceProcessor processor;
};

static void copy_message(const std::string &message, char *out, size_t size) {
    if (out == nullptr || size == 0) return;
    size_t n = message.size() < size - 1 ? message.size() : size - 1;
    std::memcpy(out, message.data(), n);
    out[n] = '\0';
}

extern "C" finch_spm *finch_spm_load(const char *path, char *error, size_t error_size) {
    auto *spm = new finch_spm();
    auto status = spm->processor.Load(path);
    if (!status.ok()) {
        copy_message(status.ToString(), error, error_size);
        delete spm;
        return nullptr;
    }
    return spm;
}

extern "C" finch_spm *finch_spm_load_bytes(const void *bytes, size_t length, char *error, size_t error_size) {
    auto *spm = new finch_spm();
    auto status = spm->processor.LoadFromSerializedProto(
        std::string(static_cast<const char *>(bytes), length));
    if (!status.ok()) {
        copy_message(status.ToString(), error, error_size);
        delete spm;
        return nullptr;
    }
    return spm;
}

extern "C" void finch_spm_free(finch_spm *spm) { delete spm; }

extern "C" int32_t finch_spm_piece_count(const finch_spm *spm) { return spm->processor.GetPieceSize(); }

extern "C" int32_t finch_spm_id_to_piece(const finch_spm *spm, int32_t id, char *out, size_t out_size) {
    if (id < 0 || id >= spm->processor.GetPieceSize()) return -1;
    const std::string &piece = spm->processor.IdToPiece(id);
    copy_message(piece, out, out_size);
    return static_cast<int32_t>(piece.size());
}

extern "C" int32_t finch_spm_piece_to_id(const finch_spm *spm, const char *piece) {
    return spm->processor.PieceToId(piece);
}

extern "C" float finch_spm_score(const finch_spm *spm, int32_t id) { return spm->processor.GetScore(id); }

extern "C" int32_t finch_spm_unk_id(const finch_spm *spm) { return spm->processor.unk_id(); }

extern "C" int32_t finch_spm_bos_id(const finch_spm *spm) { return spm->processor.bos_id(); }

extern "C" int32_t finch_spm_eos_id(const finch_spm *spm) { return spm->processor.eos_id(); }

extern "C" int32_t finch_spm_pad_id(const finch_spm *spm) { return spm->processor.pad_id(); }

extern "C" int finch_spm_is_control(const finch_spm *spm, int32_t id) {
    if (id < 0 || id >= spm->processor.GetPieceSize()) return 0;
    return spm->processor.IsControl(id) ? 1 : 0;
}

extern "C" int32_t finch_spm_encode(const finch_spm *spm, const char *text, size_t length, int32_t *ids,
                                    int32_t capacity) {
    std::vector<int> out;
    auto status = spm->processor.Encode(std::string(text, length), &out);
    if (!status.ok()) return -1;
    int32_t n = static_cast<int32_t>(out.size());
    for (int32_t i = 0; i < n && i < capacity; ++i) ids[i] = out[i];
    return n;
}

extern "C" int32_t finch_spm_decode(const finch_spm *spm, const int32_t *ids, int32_t count, char *out,
                                    size_t capacity) {
    std::vector<int> in(ids, ids + count);
    std::string text;
    auto status = spm->processor.Decode(in, &text);
    if (!status.ok()) return -1;
    if (text.size() < capacity) {
        std::memcpy(out, text.data(), text.size());
        out[text.size()] = '\0';
    }
    return static_cast<int32_t>(text.size());
}

extern "C" int finch_spm_train(const char *const *keys, const char *const *values, int32_t count, char *error,
                               size_t error_size) {
    std::unordered_map<std::string, std::string> options;
    for (int32_t i = 0; i < count; ++i) options[keys[i]] = values[i];
    auto status = sentencepiece::SentencePieceTrainer::Train(options);
    if (!status.ok()) {
        copy_message(status.ToString(), error, error_size);
        return 1;
    }
    return 0;
}
