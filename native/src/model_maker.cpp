#include "model_maker.h"
#include "seeded.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <strings.h>
#include <stdexcept>

#include "ggml.h"
#include "gguf.h"
#include "gguf_file.h"

namespace genius {

namespace {

struct GgufFree {
  void operator()(gguf_context* c) const { gguf_free(c); }
};
struct GgmlFree {
  void operator()(ggml_context* c) const { ggml_free(c); }
};
struct FileClose {
  void operator()(FILE* f) const {
    if (f) fclose(f);
  }
};

struct Normal {
  uint64_t state;
  bool has_spare = false;
  float spare = 0;
  float next() {
    if (has_spare) {
      has_spare = false;
      return spare;
    }
    double u1 = ((splitmix64(state) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
    double r = std::sqrt(-2.0 * std::log(u1));
    spare = static_cast<float>(r * std::sin(2 * M_PI * u2));
    has_spare = true;
    return static_cast<float>(r * std::cos(2 * M_PI * u2));
  }
};

enum class Init { normal, ones };

struct TensorPlan {
  std::string name;
  std::vector<int64_t> ne;
  Init init;
  bool matrix;  // 2-D weights take the model dtype; norms and biases stay F32
};

std::vector<TensorPlan> plan_tensors(const ModelSpec& s, int64_t n_vocab) {
  const int64_t hd = s.head_dim > 0 ? s.head_dim : s.n_embd / s.n_head;
  std::vector<TensorPlan> t;
  t.push_back({"token_embd.weight", {s.n_embd, n_vocab}, Init::normal, true});
  t.push_back({"output_norm.weight", {s.n_embd}, Init::ones, false});
  if (!s.tied_embeddings) t.push_back({"output.weight", {s.n_embd, n_vocab}, Init::normal, true});
  for (int64_t l = 0; l < s.n_layer; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    t.push_back({b + "attn_norm.weight", {s.n_embd}, Init::ones, false});
    t.push_back({b + "attn_q.weight", {s.n_embd, s.n_head * hd}, Init::normal, true});
    t.push_back({b + "attn_k.weight", {s.n_embd, s.n_head_kv * hd}, Init::normal, true});
    t.push_back({b + "attn_v.weight", {s.n_embd, s.n_head_kv * hd}, Init::normal, true});
    if (s.arch == "qwen2") {
      t.push_back({b + "attn_q.bias", {s.n_head * hd}, Init::normal, false});
      t.push_back({b + "attn_k.bias", {s.n_head_kv * hd}, Init::normal, false});
      t.push_back({b + "attn_v.bias", {s.n_head_kv * hd}, Init::normal, false});
    }
    if (s.arch == "qwen3") {
      t.push_back({b + "attn_q_norm.weight", {hd}, Init::ones, false});
      t.push_back({b + "attn_k_norm.weight", {hd}, Init::ones, false});
    }
    t.push_back({b + "attn_output.weight", {s.n_head * hd, s.n_embd}, Init::normal, true});
    t.push_back({b + "ffn_norm.weight", {s.n_embd}, Init::ones, false});
    t.push_back({b + "ffn_gate.weight", {s.n_embd, s.n_ff}, Init::normal, true});
    t.push_back({b + "ffn_up.weight", {s.n_embd, s.n_ff}, Init::normal, true});
    t.push_back({b + "ffn_down.weight", {s.n_ff, s.n_embd}, Init::normal, true});
  }
  return t;
}

// The matrix types the model maker writes, with llama.cpp's general.file_type for each.
struct Dtype {
  const char* name;
  ggml_type type;
  uint32_t file_type;
};
const Dtype kDtypes[] = {{"f32", GGML_TYPE_F32, 0},
                         {"f16", GGML_TYPE_F16, 1},
                         {"bf16", GGML_TYPE_BF16, 32},
                         {"q8_0", GGML_TYPE_Q8_0, 7},
                         {"q4_K", GGML_TYPE_Q4_K, 15}};

const Dtype& dtype_of(const std::string& name) {
  for (const Dtype& d : kDtypes)
    if (strcasecmp(d.name, name.c_str()) == 0) return d;
  throw std::runtime_error("dtype must be one of f32, f16, bf16, q8_0, q4_K (got '" + name + "')");
}

void validate_spec(const ModelSpec& s) {
  if (s.arch != "llama" && s.arch != "qwen2" && s.arch != "qwen3") {
    throw std::runtime_error("unsupported architecture '" + s.arch + "' (the model maker writes llama, qwen2, qwen3)");
  }
  auto positive = [](int64_t v, const char* what) {
    if (v <= 0) throw std::runtime_error(std::string(what) + " must be positive");
  };
  positive(s.n_embd, "embedding length");
  positive(s.n_layer, "layer count");
  positive(s.n_head, "head count");
  positive(s.n_head_kv, "KV head count");
  positive(s.n_ff, "feed-forward length");
  positive(s.n_ctx, "context length");
  if (s.n_head % s.n_head_kv != 0) throw std::runtime_error("head count must be a multiple of the KV head count");
  if (s.head_dim <= 0 && s.n_embd % s.n_head != 0) throw std::runtime_error("embedding length must be divisible by the head count");
  const int64_t hd = s.head_dim > 0 ? s.head_dim : s.n_embd / s.n_head;
  if (hd % 2 != 0) throw std::runtime_error("head dimension must be even (RoPE rotates pairs)");
  const Dtype& d = dtype_of(s.dtype);
  const int64_t blck = ggml_blck_size(d.type);
  for (int64_t row : {s.n_embd, s.n_ff, s.n_head * hd})
    if (row % blck != 0)
      throw std::runtime_error(std::string(d.name) + " stores rows in blocks of " + std::to_string(blck) +
                               " values: the embedding length, feed-forward length and heads x head dimension (" +
                               std::to_string(s.n_embd) + ", " + std::to_string(s.n_ff) + ", " + std::to_string(s.n_head * hd) +
                               ") must be multiples of it");
}

void copy_kv(gguf_context* dst, const gguf_context* src, int64_t id) {
  const char* key = gguf_get_key(src, id);
  const gguf_type type = gguf_get_kv_type(src, id);
  switch (type) {
    case GGUF_TYPE_UINT8:
      gguf_set_val_u8(dst, key, gguf_get_val_u8(src, id));
      break;
    case GGUF_TYPE_INT8:
      gguf_set_val_i8(dst, key, gguf_get_val_i8(src, id));
      break;
    case GGUF_TYPE_UINT16:
      gguf_set_val_u16(dst, key, gguf_get_val_u16(src, id));
      break;
    case GGUF_TYPE_INT16:
      gguf_set_val_i16(dst, key, gguf_get_val_i16(src, id));
      break;
    case GGUF_TYPE_UINT32:
      gguf_set_val_u32(dst, key, gguf_get_val_u32(src, id));
      break;
    case GGUF_TYPE_INT32:
      gguf_set_val_i32(dst, key, gguf_get_val_i32(src, id));
      break;
    case GGUF_TYPE_FLOAT32:
      gguf_set_val_f32(dst, key, gguf_get_val_f32(src, id));
      break;
    case GGUF_TYPE_UINT64:
      gguf_set_val_u64(dst, key, gguf_get_val_u64(src, id));
      break;
    case GGUF_TYPE_INT64:
      gguf_set_val_i64(dst, key, gguf_get_val_i64(src, id));
      break;
    case GGUF_TYPE_FLOAT64:
      gguf_set_val_f64(dst, key, gguf_get_val_f64(src, id));
      break;
    case GGUF_TYPE_BOOL:
      gguf_set_val_bool(dst, key, gguf_get_val_bool(src, id));
      break;
    case GGUF_TYPE_STRING:
      gguf_set_val_str(dst, key, gguf_get_val_str(src, id));
      break;
    case GGUF_TYPE_ARRAY: {
      const gguf_type at = gguf_get_arr_type(src, id);
      const size_t n = gguf_get_arr_n(src, id);
      if (at == GGUF_TYPE_STRING) {
        std::vector<const char*> strs(n);
        for (size_t i = 0; i < n; ++i) strs[i] = gguf_get_arr_str(src, id, i);
        gguf_set_arr_str(dst, key, strs.data(), n);
      } else if (at != GGUF_TYPE_ARRAY) {
        gguf_set_arr_data(dst, key, at, gguf_get_arr_data(src, id), n);
      }
      break;
    }
    default:
      break;
  }
}

// Copies the tokenizer of a vocab (or full model) GGUF; returns its vocabulary size.
int64_t copy_vocab_file(gguf_context* dst, const std::string& path) {
  validate_gguf(path);
  gguf_init_params params{true, nullptr};
  std::unique_ptr<gguf_context, GgufFree> src(gguf_init_from_file(path.c_str(), params));
  if (!src) throw std::runtime_error("cannot read vocab GGUF: " + path);
  const int64_t tok_id = gguf_find_key(src.get(), "tokenizer.ggml.tokens");
  if (tok_id < 0 || gguf_get_kv_type(src.get(), tok_id) != GGUF_TYPE_ARRAY || gguf_get_arr_type(src.get(), tok_id) != GGUF_TYPE_STRING) {
    throw std::runtime_error("vocab GGUF has no tokenizer.ggml.tokens: " + path);
  }
  for (int64_t i = 0; i < gguf_get_n_kv(src.get()); ++i) {
    if (strncmp(gguf_get_key(src.get(), i), "tokenizer.", 10) == 0) copy_kv(dst, src.get(), i);
  }
  return static_cast<int64_t>(gguf_get_arr_n(src.get(), tok_id));
}

int64_t write_vocab_fields(gguf_context* dst, const VocabSpec& v) {
  const size_t n = v.tokens.size();
  if (n == 0) throw std::runtime_error("vocabulary is empty");
  if (v.scores.size() != n || v.types.size() != n) throw std::runtime_error("vocabulary tokens, scores and types differ in length");
  std::vector<const char*> strs(n);
  for (size_t i = 0; i < n; ++i) strs[i] = v.tokens[i].c_str();
  gguf_set_val_str(dst, "tokenizer.ggml.model", v.model.c_str());
  if (!v.pre.empty()) gguf_set_val_str(dst, "tokenizer.ggml.pre", v.pre.c_str());
  gguf_set_arr_str(dst, "tokenizer.ggml.tokens", strs.data(), n);
  gguf_set_arr_data(dst, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, v.scores.data(), n);
  gguf_set_arr_data(dst, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v.types.data(), n);
  auto set_id = [&](const char* key, int32_t id) {
    if (id < 0) return;
    if (static_cast<size_t>(id) >= n) throw std::runtime_error(std::string(key) + " is outside the vocabulary");
    gguf_set_val_u32(dst, key, static_cast<uint32_t>(id));
  };
  set_id("tokenizer.ggml.bos_token_id", v.bos);
  set_id("tokenizer.ggml.eos_token_id", v.eos);
  set_id("tokenizer.ggml.unknown_token_id", v.unk);
  set_id("tokenizer.ggml.padding_token_id", v.pad);
  gguf_set_val_bool(dst, "tokenizer.ggml.add_bos_token", v.add_bos);
  gguf_set_val_bool(dst, "tokenizer.ggml.add_eos_token", v.add_eos);
  gguf_set_val_bool(dst, "tokenizer.ggml.add_space_prefix", v.add_space_prefix);
  if (!v.chat_template.empty()) gguf_set_val_str(dst, "tokenizer.chat_template", v.chat_template.c_str());
  return static_cast<int64_t>(n);
}

void write_hparams(gguf_context* g, const ModelSpec& s, int64_t n_vocab) {
  const std::string a = s.arch;
  const int64_t hd = s.head_dim > 0 ? s.head_dim : s.n_embd / s.n_head;
  auto k = [&](const char* suffix) { return a + "." + suffix; };
  gguf_set_val_str(g, "general.architecture", a.c_str());
  gguf_set_val_str(g, "general.name", s.name.c_str());
  gguf_set_val_u32(g, "general.file_type", dtype_of(s.dtype).file_type);
  gguf_set_val_u32(g, k("context_length").c_str(), static_cast<uint32_t>(s.n_ctx));
  gguf_set_val_u32(g, k("embedding_length").c_str(), static_cast<uint32_t>(s.n_embd));
  gguf_set_val_u32(g, k("block_count").c_str(), static_cast<uint32_t>(s.n_layer));
  gguf_set_val_u32(g, k("feed_forward_length").c_str(), static_cast<uint32_t>(s.n_ff));
  gguf_set_val_u32(g, k("attention.head_count").c_str(), static_cast<uint32_t>(s.n_head));
  gguf_set_val_u32(g, k("attention.head_count_kv").c_str(), static_cast<uint32_t>(s.n_head_kv));
  gguf_set_val_u32(g, k("attention.key_length").c_str(), static_cast<uint32_t>(hd));
  gguf_set_val_u32(g, k("attention.value_length").c_str(), static_cast<uint32_t>(hd));
  gguf_set_val_f32(g, k("attention.layer_norm_rms_epsilon").c_str(), s.rms_eps);
  gguf_set_val_f32(g, k("rope.freq_base").c_str(), s.rope_theta);
  gguf_set_val_u32(g, k("rope.dimension_count").c_str(), static_cast<uint32_t>(hd));
  gguf_set_val_u32(g, k("vocab_size").c_str(), static_cast<uint32_t>(n_vocab));
}

// Streams one tensor's values in chunks of whole rows: N(0, 1/fan_in) for matrices and biases,
// ones for norms. The values drawn do not depend on `type`, which only sets how they are stored
// (ggml_quantize_chunk: F16, BF16 conversion or quantization, row by row).
void write_tensor_data(FILE* f, const TensorPlan& p, ggml_type type, uint64_t seed, size_t alignment) {
  int64_t n = 1;
  for (int64_t d : p.ne) n *= d;
  Normal rng{seed ^ fnv1a(p.name)};
  const float stddev = 1.0f / std::sqrt(static_cast<float>(p.ne[0]));
  const int64_t row = p.ne[0];
  const int64_t chunk = std::max<int64_t>(1, (1 << 20) / row) * row;
  std::vector<float> buf(static_cast<size_t>(std::min(n, chunk)));
  std::vector<uint8_t> packed(type == GGML_TYPE_F32 ? 0 : ggml_row_size(type, static_cast<int64_t>(buf.size())));
  size_t written = 0;
  for (int64_t off = 0; off < n; off += chunk) {
    const int64_t m = std::min(chunk, n - off);
    for (int64_t i = 0; i < m; ++i) buf[i] = p.init == Init::ones ? 1.0f : (p.matrix ? stddev : 0.02f) * rng.next();
    const void* data = buf.data();
    size_t bytes = m * sizeof(float);
    if (type != GGML_TYPE_F32) {
      bytes = ggml_quantize_chunk(type, buf.data(), packed.data(), 0, m / row, row, nullptr);
      data = packed.data();
    }
    if (fwrite(data, 1, bytes, f) != bytes) throw std::runtime_error("write failed");
    written += bytes;
  }
  static const char zeros[64] = {0};
  const size_t padded = GGML_PAD(written, alignment);
  if (padded > written && fwrite(zeros, 1, padded - written, f) != padded - written) throw std::runtime_error("write failed");
}

// Writes the metadata, then streams each planned tensor: temp file, then rename (atomic).
MadeModel write_gguf(gguf_context* g, const std::vector<TensorPlan>& plan, ggml_type matrix_type, uint64_t seed, const std::string& out) {
  ggml_init_params ip{plan.size() * ggml_tensor_overhead() + 1024, nullptr, /*no_alloc=*/true};
  std::unique_ptr<ggml_context, GgmlFree> meta(ggml_init(ip));
  MadeModel made;
  std::vector<ggml_type> types;
  for (const TensorPlan& p : plan) {
    const ggml_type type = p.matrix ? matrix_type : GGML_TYPE_F32;
    ggml_tensor* t = ggml_new_tensor(meta.get(), type, static_cast<int>(p.ne.size()), p.ne.data());
    ggml_set_name(t, p.name.c_str());
    gguf_add_tensor(g, t);
    made.parameter_count += static_cast<uint64_t>(ggml_nelements(t));
    types.push_back(type);
  }

  const std::string tmp = out + ".tmp";
  if (!gguf_write_to_file(g, tmp.c_str(), /*only_meta=*/true)) throw std::runtime_error("cannot write " + tmp);
  {
    std::unique_ptr<FILE, FileClose> f(fopen(tmp.c_str(), "ab"));
    if (!f) throw std::runtime_error("cannot append to " + tmp);
    const size_t alignment = gguf_get_alignment(g);
    try {
      for (size_t i = 0; i < plan.size(); ++i) write_tensor_data(f.get(), plan[i], types[i], seed, alignment);
      if (fflush(f.get()) != 0) throw std::runtime_error("write failed");
    } catch (const std::exception& e) {
      f.reset();
      std::remove(tmp.c_str());
      throw std::runtime_error(std::string(e.what()) + ": " + tmp);
    }
    made.file_bytes = static_cast<uint64_t>(ftell(f.get()));
  }
  if (std::rename(tmp.c_str(), out.c_str()) != 0) throw std::runtime_error("cannot rename " + tmp + " to " + out);
  return made;
}

}  // namespace

MadeModel make_model(const ModelSpec& spec) {
  validate_spec(spec);
  std::unique_ptr<gguf_context, GgufFree> g(gguf_init_empty());
  const int64_t n_vocab =
      spec.vocab.from_path.empty() ? write_vocab_fields(g.get(), spec.vocab) : copy_vocab_file(g.get(), spec.vocab.from_path);
  write_hparams(g.get(), spec, n_vocab);
  MadeModel made = write_gguf(g.get(), plan_tensors(spec, n_vocab), dtype_of(spec.dtype).type, spec.seed, spec.out);
  made.vocab_size = n_vocab;
  return made;
}

MadeModel make_lora(const LoraSpec& spec) {
  if (spec.rank <= 0) throw std::runtime_error("LoRA rank must be positive");
  validate_gguf(spec.base);
  gguf_init_params params{true, nullptr};
  std::unique_ptr<gguf_context, GgufFree> base(gguf_init_from_file(spec.base.c_str(), params));
  if (!base) throw std::runtime_error("cannot read base model: " + spec.base);
  const std::string arch = gguf_string(base.get(), "general.architecture");
  if (arch.empty()) throw std::runtime_error("base model has no general.architecture: " + spec.base);

  std::vector<TensorPlan> plan;
  for (int64_t i = 0; i < gguf_get_n_tensors(base.get()); ++i) {
    const std::string name = gguf_get_tensor_name(base.get(), i);
    const bool wanted = name.rfind("blk.", 0) == 0 && std::any_of(spec.targets.begin(), spec.targets.end(), [&](const std::string& t) {
                          const std::string suffix = "." + t + ".weight";
                          return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
                        });
    if (!wanted) continue;
    const int64_t* ne = gguf_get_tensor_ne(base.get(), i);
    const std::string stem = name.substr(0, name.size() - 7);  // drop ".weight"
    plan.push_back({stem + ".weight.lora_a", {ne[0], spec.rank}, Init::normal, true});
    plan.push_back({stem + ".weight.lora_b", {spec.rank, ne[1]}, Init::normal, true});
  }
  if (plan.empty()) throw std::runtime_error("no base tensor matches the LoRA target modules");

  std::unique_ptr<gguf_context, GgufFree> g(gguf_init_empty());
  gguf_set_val_str(g.get(), "general.architecture", arch.c_str());
  gguf_set_val_str(g.get(), "general.type", "adapter");
  gguf_set_val_str(g.get(), "adapter.type", "lora");
  gguf_set_val_f32(g.get(), "adapter.lora.alpha", spec.alpha);
  return write_gguf(g.get(), plan, GGML_TYPE_F32, spec.seed, spec.out);
}

}  // namespace genius
