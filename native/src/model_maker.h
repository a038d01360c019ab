// Model maker: writes llama-family GGUF files with seeded random weights, streaming one tensor
// at a time so that 1B-parameter shapes need only one tensor's worth of memory.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace genius {

struct VocabSpec {
  std::string from_path;  // copy every tokenizer.* key of this GGUF; else use the fields below
  std::string model = "llama";
  std::string pre;
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  int32_t bos = -1, eos = -1, unk = -1, pad = -1;
  bool add_bos = true, add_eos = false;
  bool add_space_prefix = true;  // SentencePiece's leading-space convention
  std::string chat_template;
};

struct ModelSpec {
  std::string out;
  std::string arch = "llama";  // llama | qwen2 | qwen3
  std::string name = "genius-random";
  std::string dtype = "f32";  // matrices: f32 | f16 | bf16 | q8_0 | q4_K (norms and biases stay F32)
  uint64_t seed = 0;
  int64_t n_embd = 64, n_layer = 2, n_head = 4, n_head_kv = 2, n_ff = 128, head_dim = 0;
  int64_t n_ctx = 2048;
  float rope_theta = 10000.0f;
  float rms_eps = 1e-5f;
  bool tied_embeddings = false;
  VocabSpec vocab;
};

struct MadeModel {
  uint64_t parameter_count = 0;
  uint64_t file_bytes = 0;
  int64_t vocab_size = 0;
};

struct LoraSpec {
  std::string base;  // the base model GGUF (shapes and architecture come from it)
  std::string out;
  int64_t rank = 8;
  float alpha = 16.0f;
  std::vector<std::string> targets = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
  uint64_t seed = 0;
};

// A LoRA adapter GGUF (llama.cpp's format: <tensor>.lora_a [in, r], .lora_b [r, out]) with seeded
// random A and B for the base model's target modules.
MadeModel make_lora(const LoraSpec& spec);

// Throws std::runtime_error on invalid shapes, unreadable vocab files or I/O failure. The
// output appears atomically (written to a temporary file, then renamed).
MadeModel make_model(const ModelSpec& spec);

}  // namespace genius
