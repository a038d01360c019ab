#include "trainer/weights.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "ggml-cpu.h"
#include "gguf.h"
#include "gguf_file.h"
#include "seeded.h"

namespace genius::train {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& why) { throw std::runtime_error(why + ": " + path); }

struct GgufHandle {
  gguf_context* g = nullptr;
  ggml_context* meta = nullptr;
  ~GgufHandle() {
    if (g) gguf_free(g);
    if (meta) ggml_free(meta);
  }
};

struct FileClose {
  void operator()(FILE* f) const { fclose(f); }
};
using FilePtr = std::unique_ptr<FILE, FileClose>;

FilePtr open_read(const std::string& path) {
  FilePtr f(fopen(path.c_str(), "rb"));
  if (!f) fail(path, std::string("cannot open (") + strerror(errno) + ")");
  return f;
}

void open_gguf(const std::string& path, GgufHandle& h) {
  validate_gguf(path);
  gguf_init_params p{true, &h.meta};
  h.g = gguf_init_from_file(path.c_str(), p);
  if (!h.g) fail(path, "cannot read GGUF");
}

// Reads one tensor and uploads it as is when `dst` has the file's type, else dequantized to F32.
void upload_tensor(const std::string& path, FILE* f, const gguf_context* g, const ggml_tensor* src, ggml_tensor* dst) {
  const int64_t id = gguf_find_tensor(g, src->name);
  const size_t offset = gguf_get_data_offset(g) + gguf_get_tensor_offset(g, id);
  const size_t bytes = ggml_nbytes(src);
  std::vector<uint8_t> raw(bytes);
  if (fseeko(f, static_cast<off_t>(offset), SEEK_SET) != 0 || fread(raw.data(), 1, bytes, f) != bytes)
    fail(path, std::string("cannot read tensor ") + src->name);
  const int64_t n = ggml_nelements(src);
  if (src->type == dst->type) {
    ggml_backend_tensor_set(dst, raw.data(), 0, bytes);
    return;
  }
  const auto* traits = ggml_get_type_traits(src->type);
  if (!traits->to_float)
    fail(path, std::string("tensor ") + src->name + " has type " + ggml_type_name(src->type) + ", which cannot be dequantized");
  std::vector<float> out(static_cast<size_t>(n));
  traits->to_float(raw.data(), out.data(), n);
  ggml_backend_tensor_set(dst, out.data(), 0, out.size() * sizeof(float));
}

// Whether `backend` has the kernels a frozen matrix of `type` meets in the training graph: the
// forward product (MUL_MAT), the embedding lookup and patch 0003's dequantizing backward (GET_ROWS).
bool runs_natively(ggml_backend_t backend, ggml_type type, int64_t ne0) {
  if (type == GGML_TYPE_F32) return true;
  if (ne0 % ggml_blck_size(type) != 0) return false;
  ggml_init_params cp{8 * ggml_tensor_overhead(), nullptr, true};
  ggml_context* ctx = ggml_init(cp);
  ggml_tensor* w = ggml_new_tensor_2d(ctx, type, ne0, 8);
  ggml_tensor* x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, ne0, 4);
  ggml_tensor* rows = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, 4);
  const bool ok =
      ggml_backend_supports_op(backend, ggml_mul_mat(ctx, w, x)) && ggml_backend_supports_op(backend, ggml_get_rows(ctx, w, rows));
  ggml_free(ctx);
  return ok;
}

class Loader {
 public:
  // `native`: matrices keep the file's type where the backend runs it (frozen LoRA base weights).
  Loader(const std::string& path, ggml_context* ctx, const gguf_context* g, ggml_context* meta, Weights& w, ggml_backend_t backend,
         bool native)
      : path_(path), ctx_(ctx), g_(g), meta_(meta), w_(w), backend_(backend), native_(native) {}

  // A base weight of the expected shape (ne1 = 0 for vectors), or null when optional and absent.
  ggml_tensor* weight(const std::string& name, int64_t ne0, int64_t ne1, bool required = true) {
    ggml_tensor* src = ggml_get_tensor(meta_, name.c_str());
    if (!src) {
      if (required) fail(path_, "missing tensor " + name);
      return nullptr;
    }
    const int n_dims = ne1 > 0 ? 2 : 1;
    if (src->ne[0] != ne0 || (n_dims == 2 && src->ne[1] != ne1) || (n_dims == 1 && src->ne[1] != 1) || src->ne[2] != 1 || src->ne[3] != 1)
      fail(path_, "tensor " + name + " has an unexpected shape");
    const int64_t ne[2] = {ne0, ne1};
    // Vectors (norms, biases) are F32 always: tiny, and the element-wise kernels expect it.
    ggml_type type = GGML_TYPE_F32;
    if (native_ && n_dims == 2 && src->type != GGML_TYPE_F32) {
      if (runs_natively(backend_, src->type, ne0))
        type = src->type;
      else
        w_.dequantized.push_back(name);
    }
    ggml_tensor* t = ggml_new_tensor(ctx_, type, n_dims, ne);
    ggml_set_name(t, name.c_str());
    w_.named.emplace_back(name, t);
    sources_.emplace_back(src, t);
    return t;
  }

  void upload() {
    FilePtr f = open_read(path_);
    for (auto& [src, dst] : sources_) upload_tensor(path_, f.get(), g_, src, dst);
  }

 private:
  std::string path_;
  ggml_context* ctx_;
  const gguf_context* g_;
  ggml_context* meta_;
  Weights& w_;
  ggml_backend_t backend_;
  bool native_;
  std::vector<std::pair<ggml_tensor*, ggml_tensor*>> sources_;
};

ggml_tensor* target_tensor(Layer& l, const std::string& name) {
  if (name == "attn_q") return l.wq;
  if (name == "attn_k") return l.wk;
  if (name == "attn_v") return l.wv;
  if (name == "attn_output") return l.wo;
  if (name == "ffn_gate") return l.w_gate;
  if (name == "ffn_up") return l.w_up;
  if (name == "ffn_down") return l.w_down;
  return nullptr;
}

void create_lora(Weights& w, const LoraOptions& o) {
  for (size_t il = 0; il < w.layers.size(); il++) {
    for (const std::string& target : o.targets) {
      ggml_tensor* base = target_tensor(w.layers[il], target);
      if (!base)
        throw std::runtime_error("unknown LoRA target module '" + target +
                                 "' (use attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down)");
      LoraPair p;
      p.a = ggml_new_tensor_2d(w.ctx, GGML_TYPE_F32, base->ne[0], o.rank);
      p.b = ggml_new_tensor_2d(w.ctx, GGML_TYPE_F32, o.rank, base->ne[1]);
      ggml_format_name(p.a, "%s.lora_a", base->name);
      ggml_format_name(p.b, "%s.lora_b", base->name);
      w.lora[base] = p;
    }
  }
}

// PEFT's initialisation: A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming-uniform, a = sqrt(5)), B = 0.
void init_lora(Weights& w, uint64_t seed) {
  for (auto& [base, p] : w.lora) {
    uint64_t s = seed ^ fnv1a(p.a->name);
    const double bound = 1.0 / std::sqrt(static_cast<double>(p.a->ne[0]));
    std::vector<float> a(static_cast<size_t>(ggml_nelements(p.a)));
    for (float& x : a) x = static_cast<float>((2.0 * uniform01(s) - 1.0) * bound);
    ggml_backend_tensor_set(p.a, a.data(), 0, a.size() * sizeof(float));
    std::vector<float> b(static_cast<size_t>(ggml_nelements(p.b)), 0.0f);
    if (w.lora_options.init_b_std > 0.0f) {
      for (float& x : b) {  // Box-Muller
        const double u1 = std::max(uniform01(s), 1e-300), u2 = uniform01(s);
        x = static_cast<float>(w.lora_options.init_b_std * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
      }
    }
    ggml_backend_tensor_set(p.b, b.data(), 0, b.size() * sizeof(float));
  }
}

// Reads an adapter GGUF's targets, rank and alpha, checking it fits the base model.
void read_adapter_layout(const std::string& path, const Weights& w, LoraOptions& o, GgufHandle& h) {
  open_gguf(path, h);
  if (gguf_string(h.g, "general.type") != "adapter" || gguf_string(h.g, "adapter.type") != "lora") fail(path, "not a LoRA adapter GGUF");
  if (gguf_string(h.g, "general.architecture") != w.hp.arch)
    fail(path, "adapter architecture does not match the model (" + w.hp.arch + ")");
  const int64_t alpha_id = gguf_find_key(h.g, "adapter.lora.alpha");
  o.alpha = alpha_id >= 0 && gguf_get_kv_type(h.g, alpha_id) == GGUF_TYPE_FLOAT32 ? gguf_get_val_f32(h.g, alpha_id) : 0.0f;
  o.targets.clear();
  o.rank = 0;
  for (const char* t : {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"}) {
    const std::string a = std::string("blk.0.") + t + ".weight.lora_a";
    if (ggml_tensor* ta = ggml_get_tensor(h.meta, a.c_str())) {
      o.targets.emplace_back(t);
      if (o.rank == 0) o.rank = ta->ne[1];
    }
  }
  if (o.targets.empty() || o.rank <= 0) fail(path, "adapter has no LoRA tensors for layer 0");
  if (o.alpha == 0.0f) o.alpha = static_cast<float>(o.rank);  // llama.cpp: no alpha means scale 1
}

// Fills `dsts` from the open GGUF `h` (matched by name, shapes checked).
void fill_by_name(const std::string& path, const GgufHandle& h, const std::vector<ggml_tensor*>& dsts) {
  FilePtr f = open_read(path);
  for (ggml_tensor* t : dsts) {
    ggml_tensor* src = ggml_get_tensor(h.meta, t->name);
    if (!src) fail(path, std::string("missing tensor ") + t->name + " (was it written for another model or training mode?)");
    if (!ggml_are_same_shape(src, t)) fail(path, std::string("tensor ") + t->name + " has an unexpected shape");
    upload_tensor(path, f.get(), h.g, src, t);
  }
}

void load_adapter_data(const std::string& path, Weights& w, const GgufHandle& h) {
  std::vector<ggml_tensor*> factors;
  for (auto& [base, p] : w.lora) factors.insert(factors.end(), {p.a, p.b});
  fill_by_name(path, h, factors);
}

}  // namespace

void GgufFree::operator()(gguf_context* g) const { gguf_free(g); }

Weights::~Weights() {
  if (buf) ggml_backend_buffer_free(buf);
  if (ctx) ggml_free(ctx);
}

std::unique_ptr<Weights> load_weights(const std::string& path, ggml_backend_t backend, const LoraOptions* lora, uint64_t seed,
                                      bool base_f32) {
  GgufHandle h;
  open_gguf(path, h);
  auto w = std::make_unique<Weights>();
  w->path = path;
  w->hp = read_hparams(h.g, path);
  Hparams& hp = w->hp;
  ggml_tensor* embd_meta = ggml_get_tensor(h.meta, "token_embd.weight");
  if (!embd_meta) fail(path, "missing tensor token_embd.weight");
  hp.n_vocab = embd_meta->ne[1];

  const size_t n_lora = lora ? hp.n_layer * 14 : 0;
  ggml_init_params cp{(gguf_get_n_tensors(h.g) + n_lora + 16) * ggml_tensor_overhead(), nullptr, true};
  w->ctx = ggml_init(cp);
  Loader ld(path, w->ctx, h.g, h.meta, *w, backend, lora != nullptr && !base_f32);
  const int64_t E = hp.n_embd, Dq = hp.n_head * hp.head_dim, Dkv = hp.n_head_kv * hp.head_dim;
  w->tok_embd = ld.weight("token_embd.weight", E, hp.n_vocab);
  w->output_norm = ld.weight("output_norm.weight", E, 0);
  w->output = ld.weight("output.weight", E, hp.n_vocab, false);
  w->rope_freqs = ld.weight("rope_freqs.weight", hp.n_rot / 2, 0, false);
  for (int64_t il = 0; il < hp.n_layer; il++) {
    const std::string p = "blk." + std::to_string(il) + ".";
    Layer l;
    l.attn_norm = ld.weight(p + "attn_norm.weight", E, 0);
    l.wq = ld.weight(p + "attn_q.weight", E, Dq);
    l.wk = ld.weight(p + "attn_k.weight", E, Dkv);
    l.wv = ld.weight(p + "attn_v.weight", E, Dkv);
    l.wo = ld.weight(p + "attn_output.weight", Dq, E);
    if (hp.qkv_bias) {
      l.bq = ld.weight(p + "attn_q.bias", Dq, 0);
      l.bk = ld.weight(p + "attn_k.bias", Dkv, 0);
      l.bv = ld.weight(p + "attn_v.bias", Dkv, 0);
    }
    if (hp.qk_norm) {
      l.q_norm = ld.weight(p + "attn_q_norm.weight", hp.head_dim, 0);
      l.k_norm = ld.weight(p + "attn_k_norm.weight", hp.head_dim, 0);
    }
    l.ffn_norm = ld.weight(p + "ffn_norm.weight", E, 0);
    l.w_gate = ld.weight(p + "ffn_gate.weight", E, hp.n_ff);
    l.w_up = ld.weight(p + "ffn_up.weight", E, hp.n_ff);
    l.w_down = ld.weight(p + "ffn_down.weight", hp.n_ff, E);
    w->layers.push_back(l);
  }

  GgufHandle adapter;
  if (lora) {
    w->lora_options = *lora;
    if (!lora->from.empty()) read_adapter_layout(lora->from, *w, w->lora_options, adapter);
    if (w->lora_options.rank <= 0 || w->lora_options.rank > std::min(hp.n_embd, hp.n_ff))
      throw std::runtime_error("LoRA rank must be between 1 and the model width");
    create_lora(*w, w->lora_options);
    w->has_lora = true;
    w->lora_scale = w->lora_options.alpha / static_cast<float>(w->lora_options.rank);
  }

  w->buf = ggml_backend_alloc_ctx_tensors(w->ctx, backend);
  if (!w->buf) throw std::runtime_error("cannot allocate the model's weights on the training backend (out of memory?)");
  ggml_backend_buffer_set_usage(w->buf, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
  ld.upload();
  if (lora) {
    if (lora->from.empty())
      init_lora(*w, seed);
    else
      load_adapter_data(lora->from, *w, adapter);
  }
  return w;
}

uint64_t load_tensors_f32(const std::string& path, const std::vector<ggml_tensor*>& dsts, const std::string& type,
                          const std::string& counter_key) {
  GgufHandle h;
  open_gguf(path, h);
  if (gguf_string(h.g, "general.type") != type) fail(path, "not a " + type + " file");
  fill_by_name(path, h, dsts);
  const int64_t id = gguf_find_key(h.g, counter_key.c_str());
  return id >= 0 && gguf_get_kv_type(h.g, id) == GGUF_TYPE_UINT64 ? gguf_get_val_u64(h.g, id) : 0;
}

void write_gguf(const std::string& path, gguf_context* meta, const std::vector<std::pair<std::string, ggml_tensor*>>& tensors,
                bool f16_matrices) {
  auto halved = [&](const ggml_tensor* t) { return f16_matrices && t->type == GGML_TYPE_F32 && ggml_n_dims(t) >= 2; };
  ggml_init_params cp{(tensors.size() + 1) * ggml_tensor_overhead(), nullptr, true};
  ggml_context* hctx = ggml_init(cp);
  for (auto& [name, t] : tensors) {
    ggml_tensor* h = ggml_new_tensor(hctx, halved(t) ? GGML_TYPE_F16 : t->type, ggml_n_dims(t), t->ne);
    ggml_set_name(h, name.c_str());
    gguf_add_tensor(meta, h);
  }
  const std::string tmp = path + ".tmp";
  FILE* f = fopen(tmp.c_str(), "wb");
  if (!f) {
    ggml_free(hctx);
    fail(path, std::string("cannot write (") + strerror(errno) + ")");
  }
  bool ok = true;
  std::vector<uint8_t> head(gguf_get_meta_size(meta));
  gguf_get_meta_data(meta, head.data());
  ok = fwrite(head.data(), 1, head.size(), f) == head.size();
  const size_t align = gguf_get_alignment(meta);
  std::vector<uint8_t> data;
  for (size_t i = 0; ok && i < tensors.size(); i++) {
    ggml_tensor* t = tensors[i].second;
    data.resize(ggml_nbytes(t));
    ggml_backend_tensor_get(t, data.data(), 0, data.size());
    if (halved(t)) {
      std::vector<ggml_fp16_t> h(static_cast<size_t>(ggml_nelements(t)));
      ggml_fp32_to_fp16_row(reinterpret_cast<const float*>(data.data()), h.data(), ggml_nelements(t));
      data.assign(reinterpret_cast<const uint8_t*>(h.data()), reinterpret_cast<const uint8_t*>(h.data()) + h.size() * sizeof(ggml_fp16_t));
    }
    ok = fwrite(data.data(), 1, data.size(), f) == data.size();
    const size_t pad = (align - data.size() % align) % align;
    static const uint8_t zeros[64] = {0};
    ok = ok && fwrite(zeros, 1, pad, f) == pad;
  }
  ok = fflush(f) == 0 && ok;
  ok = fclose(f) == 0 && ok;
  ggml_free(hctx);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    remove(tmp.c_str());
    fail(path, "cannot write (disk full?)");
  }
}

void save_adapter(const Weights& w, const std::string& path) {
  if (!w.has_lora || w.lora.empty()) throw std::runtime_error("this trainer has no LoRA adapter to save");
  GgufOwned meta(gguf_init_empty());
  gguf_set_val_str(meta.get(), "general.architecture", w.hp.arch.c_str());
  gguf_set_val_str(meta.get(), "general.type", "adapter");
  gguf_set_val_str(meta.get(), "general.name", "genius-lora");
  gguf_set_val_str(meta.get(), "adapter.type", "lora");
  gguf_set_val_f32(meta.get(), "adapter.lora.alpha", w.lora_options.alpha);
  std::vector<std::pair<std::string, ggml_tensor*>> tensors;
  for (auto& [name, base] : w.named) {
    auto it = w.lora.find(base);
    if (it == w.lora.end()) continue;
    tensors.emplace_back(it->second.a->name, it->second.a);
    tensors.emplace_back(it->second.b->name, it->second.b);
  }
  write_gguf(path, meta.get(), tensors);
}

namespace {

// W[i, j] += scale * sum_k A[i, k] B[k, j] in ggml's layout (ne0 = in), on the host.
void fold_lora(std::vector<float>& W, const std::vector<float>& A, const std::vector<float>& B, int64_t in, int64_t out, int64_t r,
               float scale) {
  for (int64_t j = 0; j < out; j++) {
    float* wj = W.data() + j * in;
    for (int64_t k = 0; k < r; k++) {
      const float bkj = scale * B[static_cast<size_t>(j * r + k)];
      if (bkj == 0.0f) continue;
      const float* ak = A.data() + k * in;
      for (int64_t i = 0; i < in; i++) wj[i] += ak[i] * bkj;
    }
  }
}

}  // namespace

namespace {

// Merged tensors live in a temporary CPU buffer so the trainer's base copy stays untouched.
struct CpuScratch {
  ggml_context* ctx = nullptr;
  ggml_backend_t cpu = nullptr;
  ggml_backend_buffer_t buf = nullptr;
  explicit CpuScratch(size_t n_tensors) {
    ggml_init_params cp{(n_tensors + 1) * ggml_tensor_overhead(), nullptr, true};
    ctx = ggml_init(cp);
  }
  ~CpuScratch() {
    if (buf) ggml_backend_buffer_free(buf);
    if (cpu) ggml_backend_free(cpu);
    ggml_free(ctx);
  }
  void allocate() {
    cpu = ggml_backend_cpu_init();
    buf = ggml_backend_alloc_ctx_tensors(ctx, cpu);
    if (!buf) throw std::runtime_error("out of memory while merging the adapter");
  }
};

// A tensor's values as F32, dequantized when it is kept in another type.
std::vector<float> read_f32(const ggml_tensor* t) {
  std::vector<float> v(static_cast<size_t>(ggml_nelements(t)));
  if (t->type == GGML_TYPE_F32) {
    ggml_backend_tensor_get(t, v.data(), 0, v.size() * sizeof(float));
    return v;
  }
  std::vector<uint8_t> raw(ggml_nbytes(t));
  ggml_backend_tensor_get(t, raw.data(), 0, raw.size());
  ggml_get_type_traits(t->type)->to_float(raw.data(), v.data(), ggml_nelements(t));
  return v;
}

}  // namespace

void save_merged(const Weights& w, const std::string& path, bool f16) {
  GgufHandle h;
  open_gguf(w.path, h);
  GgufOwned meta(gguf_init_empty());
  gguf_set_kv(meta.get(), h.g);
  gguf_set_val_u32(meta.get(), "general.file_type", f16 ? 1 : 0);  // LLAMA_FTYPE_MOSTLY_F16 / ALL_F32
  CpuScratch scratch(w.named.size());
  std::vector<std::pair<std::string, ggml_tensor*>> tensors;
  std::vector<std::pair<ggml_tensor*, const ggml_tensor*>> to_fold;  // merged copy, base weight
  for (auto& [name, base] : w.named) {
    if (!w.lora.count(base)) {
      tensors.emplace_back(name, base);
      continue;
    }
    ggml_tensor* t = ggml_new_tensor(scratch.ctx, GGML_TYPE_F32, ggml_n_dims(base), base->ne);
    ggml_set_name(t, name.c_str());
    tensors.emplace_back(name, t);
    to_fold.emplace_back(t, base);
  }
  if (!to_fold.empty()) scratch.allocate();
  for (auto& [t, base] : to_fold) {
    const LoraPair& p = w.lora.at(base);
    std::vector<float> W = read_f32(base);
    fold_lora(W, read_f32(p.a), read_f32(p.b), base->ne[0], base->ne[1], p.a->ne[1], w.lora_scale);
    ggml_backend_tensor_set(t, W.data(), 0, W.size() * sizeof(float));
  }
  write_gguf(path, meta.get(), tensors, f16);
}

}  // namespace genius::train
