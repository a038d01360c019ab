// What the trainer needs to know about a llama-family GGUF, read and checked before any tensor is
// touched: an unsupported architecture or an inconsistent shape is an error naming the cause.
#pragma once
#include <cstdint>
#include <string>

struct gguf_context;

namespace genius::train {

struct Hparams {
  std::string arch;  // llama | qwen2 | qwen3
  int64_t n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_ff = 0;
  int64_t head_dim = 0, n_rot = 0, n_ctx_train = 0;
  float rms_eps = 1e-5f;
  float rope_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // linear rope scaling (1 / factor)
  float attn_scale = 0.0f;       // 1/sqrt(head_dim) unless the file says otherwise
  int rope_mode = 0;             // GGML_ROPE_TYPE_NORM (llama) or GGML_ROPE_TYPE_NEOX (qwen)
  bool qkv_bias = false;         // qwen2
  bool qk_norm = false;          // qwen3
};

// Reads and validates the hyper-parameters; `path` names the file in errors.
Hparams read_hparams(const gguf_context* g, const std::string& path);

}  // namespace genius::train
