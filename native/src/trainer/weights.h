// The trainer's copy of a llama-family model in one backend buffer, plus the LoRA factors when
// training an adapter. Trainable weights are F32 (full training keeps F32 master weights); frozen
// base matrices of a LoRA run keep the file's type (F16, BF16, Q8_0, Q4_K, ...) wherever the
// backend has the kernels for it (patch 0003 backpropagates through them), else F32.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "ggml.h"
#include "trainer/hparams.h"

struct gguf_context;

namespace genius::train {

struct Layer {
  ggml_tensor *attn_norm = nullptr, *wq = nullptr, *wk = nullptr, *wv = nullptr, *wo = nullptr;
  ggml_tensor *bq = nullptr, *bk = nullptr, *bv = nullptr, *q_norm = nullptr, *k_norm = nullptr;
  ggml_tensor *ffn_norm = nullptr, *w_gate = nullptr, *w_up = nullptr, *w_down = nullptr;
};

// llama.cpp's LoRA layout: a [in, r], b [r, out]; y += (alpha / r) * b(a x).
struct LoraPair {
  ggml_tensor* a = nullptr;
  ggml_tensor* b = nullptr;
};

struct LoraOptions {
  int64_t rank = 16;
  float alpha = 32.0f;
  std::vector<std::string> targets;  // GGUF names: attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down
  float init_b_std = 0.0f;           // 0: B = 0 (PEFT's default); > 0 only for gradient checks
  std::string from;                  // start from this adapter GGUF instead of a fresh one
};

struct Weights {
  Hparams hp;
  std::string path;
  ggml_context* ctx = nullptr;  // tensor metadata of base weights and LoRA factors
  ggml_backend_buffer_t buf = nullptr;
  ggml_tensor *tok_embd = nullptr, *output_norm = nullptr, *output = nullptr, *rope_freqs = nullptr;
  std::vector<Layer> layers;
  std::map<const ggml_tensor*, LoraPair> lora;              // base weight -> its adapter
  std::vector<std::pair<std::string, ggml_tensor*>> named;  // base weights in file order
  std::vector<std::string> dequantized;  // frozen matrices stored as F32 because the backend lacks a kernel for their type
  float lora_scale = 0.0f;
  LoraOptions lora_options;
  bool has_lora = false;

  ~Weights();
};

// Loads the base model onto `backend` and, when `lora` is given, creates (or loads) the adapter.
// `base_f32` dequantizes the frozen base weights too (the reference path for parity and memory).
std::unique_ptr<Weights> load_weights(const std::string& path, ggml_backend_t backend, const LoraOptions* lora, uint64_t seed,
                                      bool base_f32 = false);

struct GgufFree {
  void operator()(gguf_context* g) const;
};
// An owned GGUF context (metadata being written).
using GgufOwned = std::unique_ptr<gguf_context, GgufFree>;

// Writes a GGUF from `tensors` (data read back from the backend) with the KV pairs set in `meta`,
// streaming one tensor at a time, atomically (temporary file, then rename).
// `f16_matrices` stores 2-D F32 tensors as F16 (norm vectors stay F32, as llama.cpp expects).
void write_gguf(const std::string& path, gguf_context* meta, const std::vector<std::pair<std::string, ggml_tensor*>>& tensors,
                bool f16_matrices = false);

// Fills `dsts` (matched by name, shape checked) from a GGUF whose general.type is `type`, and
// returns its unsigned counter `counter_key` (0 when absent).
uint64_t load_tensors_f32(const std::string& path, const std::vector<ggml_tensor*>& dsts, const std::string& type,
                          const std::string& counter_key);

// llama.cpp's LoRA adapter format for the trained factors.
void save_adapter(const Weights& w, const std::string& path);

// The base model with the adapter folded in (W + scale * B A; folded matrices F32, the others in
// their stored type), every KV pair of the base file kept; `f16` stores F32 matrices as F16.
void save_merged(const Weights& w, const std::string& path, bool f16 = false);

}  // namespace genius::train
