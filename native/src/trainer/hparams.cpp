#include "trainer/hparams.h"

#include <cmath>
#include <stdexcept>

#include "ggml.h"
#include "gguf.h"
#include "gguf_file.h"

namespace genius::train {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& why) { throw std::runtime_error(why + ": " + path); }

// Integer key of any integer width; per-layer arrays (some architectures vary heads per layer) are
// refused rather than misread.
bool get_int(const gguf_context* g, const std::string& key, int64_t& out, const std::string& path) {
  const int64_t id = gguf_find_key(g, key.c_str());
  if (id < 0) return false;
  switch (gguf_get_kv_type(g, id)) {
    case GGUF_TYPE_UINT8:
      out = gguf_get_val_u8(g, id);
      return true;
    case GGUF_TYPE_INT8:
      out = gguf_get_val_i8(g, id);
      return true;
    case GGUF_TYPE_UINT16:
      out = gguf_get_val_u16(g, id);
      return true;
    case GGUF_TYPE_INT16:
      out = gguf_get_val_i16(g, id);
      return true;
    case GGUF_TYPE_UINT32:
      out = gguf_get_val_u32(g, id);
      return true;
    case GGUF_TYPE_INT32:
      out = gguf_get_val_i32(g, id);
      return true;
    case GGUF_TYPE_UINT64:
      out = static_cast<int64_t>(gguf_get_val_u64(g, id));
      return true;
    case GGUF_TYPE_INT64:
      out = gguf_get_val_i64(g, id);
      return true;
    case GGUF_TYPE_ARRAY:
      fail(path, key + " varies per layer, which the trainer does not support");
    default:
      fail(path, key + " is not an integer");
  }
}

bool get_float(const gguf_context* g, const std::string& key, float& out, const std::string& path) {
  const int64_t id = gguf_find_key(g, key.c_str());
  if (id < 0) return false;
  switch (gguf_get_kv_type(g, id)) {
    case GGUF_TYPE_FLOAT32:
      out = gguf_get_val_f32(g, id);
      return true;
    case GGUF_TYPE_FLOAT64:
      out = static_cast<float>(gguf_get_val_f64(g, id));
      return true;
    default:
      fail(path, key + " is not a float");
  }
}

int64_t require_int(const gguf_context* g, const std::string& key, const std::string& path) {
  int64_t v = 0;
  if (!get_int(g, key, v, path)) fail(path, "missing " + key);
  if (v <= 0) fail(path, key + " must be positive");
  return v;
}

}  // namespace

Hparams read_hparams(const gguf_context* g, const std::string& path) {
  Hparams h;
  h.arch = gguf_string(g, "general.architecture");
  if (h.arch != "llama" && h.arch != "qwen2" && h.arch != "qwen3")
    fail(path, "unsupported architecture '" + h.arch + "' for training (supported: llama, qwen2, qwen3)");
  const std::string a = h.arch + ".";
  h.n_embd = require_int(g, a + "embedding_length", path);
  h.n_layer = require_int(g, a + "block_count", path);
  h.n_head = require_int(g, a + "attention.head_count", path);
  h.n_ff = require_int(g, a + "feed_forward_length", path);
  h.n_head_kv = h.n_head;
  get_int(g, a + "attention.head_count_kv", h.n_head_kv, path);
  h.head_dim = h.n_embd / h.n_head;
  get_int(g, a + "attention.key_length", h.head_dim, path);
  int64_t v_len = h.head_dim;
  get_int(g, a + "attention.value_length", v_len, path);
  h.n_rot = h.head_dim;
  get_int(g, a + "rope.dimension_count", h.n_rot, path);
  h.n_ctx_train = 4096;
  get_int(g, a + "context_length", h.n_ctx_train, path);
  get_float(g, a + "attention.layer_norm_rms_epsilon", h.rms_eps, path);
  get_float(g, a + "rope.freq_base", h.rope_base, path);
  get_float(g, a + "attention.scale", h.attn_scale, path);

  // As llama.cpp: a scaling factor divides the rope frequencies whatever the type says (none or
  // linear); Llama 3's scaling comes as the rope_freqs tensor. YaRN and the like are refused.
  const std::string scaling = gguf_string(g, (a + "rope.scaling.type").c_str());
  if (!scaling.empty() && scaling != "none" && scaling != "linear")
    fail(path, "rope scaling '" + scaling + "' is not supported by the trainer (supported: none, linear, Llama 3 rope_freqs)");
  float factor = 0.0f;
  get_float(g, a + "rope.scaling.factor", factor, path);
  if (factor < 0.0f || !std::isfinite(factor)) fail(path, "rope.scaling.factor must be positive");
  h.rope_freq_scale = factor > 0.0f ? 1.0f / factor : 1.0f;

  if (h.n_head_kv <= 0 || h.n_head % h.n_head_kv != 0) fail(path, "attention.head_count must be a multiple of head_count_kv");
  if (v_len != h.head_dim) fail(path, "attention.key_length != value_length is not supported");
  if (h.n_rot <= 0 || h.n_rot > h.head_dim || h.n_rot % 2 != 0) fail(path, "rope.dimension_count must be even and at most the head size");
  if (h.attn_scale == 0.0f) h.attn_scale = 1.0f / std::sqrt(static_cast<float>(h.head_dim));
  if (!(h.rms_eps > 0.0f) || !std::isfinite(h.rope_base) || h.rope_base <= 0.0f) fail(path, "invalid rms epsilon or rope base");
  h.rope_mode = h.arch == "llama" ? GGML_ROPE_TYPE_NORMAL : GGML_ROPE_TYPE_NEOX;
  h.qkv_bias = h.arch == "qwen2";
  h.qk_norm = h.arch == "qwen3";
  return h;
}

}  // namespace genius::train
