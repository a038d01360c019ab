#include "trainer/trainer.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>
#include <thread>

#include "ggml-cpu.h"
#include "gguf.h"
#include "gguf_file.h"

namespace genius::train {

namespace {

const char* const kLossTypes[] = {"aco", "dpo", "ipo", "simpo", "ropo", "sft"};

bool is_pair_loss(const std::string& t) { return t != "sft"; }

// GENIUS_TRAIN_PROFILE=1: wall time of every node of each training graph, summed by op (and by
// shape for matrix products, copies, accumulations and softmaxes), printed to stderr after each
// graph. The scheduler then runs the graph node by node, so the total is a little above an
// unprofiled step.
struct OpProfile {
  using clock = std::chrono::steady_clock;
  std::map<std::string, std::pair<double, int>> ms;  // key -> (milliseconds, nodes)
  clock::time_point last;

  // "[ne0,ne1,ne2]", or the strides "[nb0,nb1,nb2]" (bytes).
  static std::string dims(const int64_t* ne) {
    return "[" + std::to_string(ne[0]) + "," + std::to_string(ne[1]) + "," + std::to_string(ne[2]) + "]";
  }
  static std::string dims(const size_t* nb) {
    return "[" + std::to_string(nb[0]) + "," + std::to_string(nb[1]) + "," + std::to_string(nb[2]) + "]";
  }
  static std::string key(const ggml_tensor* t) {
    std::string k = ggml_op_desc(t);
    const ggml_tensor *a = t->src[0], *b = t->src[1];
    const auto strided = [](const ggml_tensor* x) { return ggml_is_contiguous(x) ? "" : "(strided)"; };
    if (t->op == GGML_OP_MUL_MAT || t->op == GGML_OP_OUT_PROD)
      k += std::string(" ") + ggml_type_name(a->type) + dims(a->ne) + strided(a) + " x " + dims(b->ne) + strided(b);
    else if (t->op == GGML_OP_CONT || t->op == GGML_OP_ACC || t->op == GGML_OP_SOFT_MAX)
      k += " " + dims(a->ne) + " nb " + dims(a->nb);
    return k;
  }
  static bool observe(ggml_tensor* t, bool ask, void* self) {
    if (ask) return true;
    auto* p = static_cast<OpProfile*>(self);
    const auto now = clock::now();
    auto& e = p->ms[key(t)];
    e.first += std::chrono::duration<double, std::milli>(now - p->last).count();
    e.second++;
    p->last = now;
    return true;
  }
  void print(const char* what) const {
    std::vector<std::pair<std::string, std::pair<double, int>>> rows(ms.begin(), ms.end());
    std::sort(rows.begin(), rows.end(), [](auto& x, auto& y) { return x.second.first > y.second.first; });
    double total = 0;
    for (auto& r : rows) total += r.second.first;
    fprintf(stderr, "genius profile (%s): %.1f ms in %zu op kinds\n", what, total, rows.size());
    for (auto& [k, v] : rows)
      if (v.first >= 0.005 * total) fprintf(stderr, "  %9.1f ms %5.1f%% %5d x %s\n", v.first, 100.0 * v.first / total, v.second, k.c_str());
  }
};

bool profiling() {
  static const bool on = [] {
    const char* e = std::getenv("GENIUS_TRAIN_PROFILE");
    return e && *e && std::strcmp(e, "0") != 0;
  }();
  return on;
}

// Computes an allocated graph, per node under GENIUS_TRAIN_PROFILE.
ggml_status run_graph(ggml_backend_sched_t sched, ggml_cgraph* gf, const char* what) {
  if (!profiling()) return ggml_backend_sched_graph_compute(sched, gf);
  OpProfile profile;
  ggml_backend_sched_set_eval_callback(sched, OpProfile::observe, &profile);
  profile.last = OpProfile::clock::now();
  const ggml_status status = ggml_backend_sched_graph_compute(sched, gf);
  ggml_backend_sched_set_eval_callback(sched, nullptr, nullptr);
  profile.print(what);
  return status;
}

}  // namespace

// One micro-batch's graph: its own context (tensor metadata only), inputs, and the tensors read
// back after compute.
struct Trainer::Graph {
  ggml_context* ctx = nullptr;
  ggml_cgraph* gf = nullptr;
  ggml_tensor *tokens = nullptr, *pos = nullptr, *zeros = nullptr, *zeros_scored = nullptr, *labels = nullptr;
  ggml_tensor* pos_scored = nullptr;                             // scoring graphs: the positions of the N scored columns
  ggml_tensor* label_index = nullptr;                            // scoring graphs: sm's flat index of each label, label + V n
  std::map<int32_t, ggml_tensor*> masks;                         // sequence length -> its causal mask [L, L]
  std::vector<std::pair<ggml_tensor*, ggml_tensor*>> attention;  // per layer and sequence: scores K^T Q, probabilities P
  ggml_tensor *sel_chosen = nullptr, *sel_rejected = nullptr, *weight = nullptr, *ref_chosen = nullptr, *ref_rejected = nullptr;
  ggml_tensor *lp = nullptr, *chosen = nullptr, *rejected = nullptr, *pair_loss = nullptr, *loss = nullptr;
  int64_t T = 0, N = 0, P = 0;
  ~Graph() {
    if (ctx) ggml_free(ctx);
  }
};

namespace {

ggml_tensor* input(ggml_context* ctx, ggml_type type, int64_t ne0, int64_t ne1 = 1) {
  ggml_tensor* t = ne1 == 1 ? ggml_new_tensor_1d(ctx, type, ne0) : ggml_new_tensor_2d(ctx, type, ne0, ne1);
  ggml_set_input(t);
  return t;
}

// W x, plus the adapter's B ((alpha / r) A x) when W has one: the scale applies to the r-row
// product, not to the out-row one, which spares a full-size op in the forward and the backward.
ggml_tensor* linear(ggml_context* ctx, const Weights& w, ggml_tensor* W, ggml_tensor* x) {
  ggml_tensor* y = ggml_mul_mat(ctx, W, x);
  auto it = w.lora.find(W);
  if (it == w.lora.end()) return y;
  ggml_tensor* ax = ggml_scale(ctx, ggml_mul_mat(ctx, it->second.a, x), w.lora_scale);
  return ggml_add(ctx, y, ggml_mul_mat(ctx, it->second.b, ax));
}

// Sends the graph's matrix products to the CPU backend's outer-product kernel (patch 0007): at
// the trainer's shapes it is faster than sgemm, and every output is summed in one fixed order.
// Other backends ignore the hint.
void hint_outer_products(ggml_cgraph* gf) {
  for (int i = 0; i < ggml_graph_n_nodes(gf); i++) {
    ggml_tensor* t = ggml_graph_node(gf, i);
    if (t->op == GGML_OP_MUL_MAT) ggml_mul_mat_set_hint(t, GGML_HINT_GENIUS_OUTER);
  }
}

// Lets the CPU kernel skip the causal zeros of every attention product (patch 0010): in each
// sequence's [L, L] block (keys k x queries q) the scores S = K^T Q and the probabilities'
// gradient dP are masked away where k > q, and P and the scores' gradient dS (SOFT_MAX_BACK,
// y * (dP - <y, dP>) with y = 0 there) are exact zeros there. The backward's products are ggml's,
// found by their operands: dV and dK read P and dS transposed (patch 0008), dQ reads dS.
void mark_causal(ggml_cgraph* gf, const std::vector<std::pair<ggml_tensor*, ggml_tensor*>>& attention) {
  std::set<const ggml_tensor*> masked, zero;
  for (auto& [s, p] : attention) {
    masked.insert(s);
    zero.insert(p);
  }
  for (int i = 0; i < ggml_graph_n_nodes(gf); i++) {
    ggml_tensor* t = ggml_graph_node(gf, i);
    if (t->op == GGML_OP_SOFT_MAX_BACK && zero.count(t->src[1])) {
      zero.insert(t);
      masked.insert(t->src[0]);
    }
  }
  for (int i = 0; i < ggml_graph_n_nodes(gf); i++) {
    ggml_tensor* t = ggml_graph_node(gf, i);
    if (t->op != GGML_OP_MUL_MAT) continue;
    int flags = masked.count(t) ? GGML_CPU_CAUSAL_DST : 0;
    if (zero.count(t->src[1])) flags |= GGML_CPU_CAUSAL_SRC1;
    if (t->src[0]->op == GGML_OP_TRANSPOSE && zero.count(t->src[0]->src[0])) flags |= GGML_CPU_CAUSAL_SRC0;
    if (flags) ggml_cpu_mul_mat_set_causal(t, flags);
  }
}

ggml_tensor* rms_norm(ggml_context* ctx, ggml_tensor* x, ggml_tensor* weight, float eps) {
  return ggml_mul(ctx, ggml_rms_norm(ctx, x, eps), weight);
}

ggml_tensor* rope(ggml_context* ctx, const Weights& w, ggml_tensor* x, ggml_tensor* pos) {
  const Hparams& h = w.hp;
  return ggml_rope_ext(ctx, x, pos, w.rope_freqs, static_cast<int>(h.n_rot), h.rope_mode, static_cast<int>(h.n_ctx_train), h.rope_base,
                       h.rope_freq_scale, 0.0f, 1.0f, 32.0f, 1.0f);
}

void set_input(ggml_tensor* t, const void* data, size_t bytes);

// Joins per-sequence column blocks [E, L_i] into one [E, sum L_i]. A training graph adds each into
// `zeros` with ACC (ggml has no CONCAT backward), copying the whole once per sequence; a scoring
// graph (no `zeros`) concatenates them pairwise, log2 of the sequence count copies. The same values.
ggml_tensor* join_columns(ggml_context* ctx, std::vector<ggml_tensor*> parts, ggml_tensor* zeros) {
  if (parts.size() == 1) return parts[0];
  if (zeros) {
    ggml_tensor* out = zeros;
    int64_t off = 0;
    for (ggml_tensor* p : parts) {
      out = ggml_acc(ctx, out, p, out->nb[1], out->nb[2], out->nb[3], off * out->nb[1]);
      off += p->ne[1];
    }
    return out;
  }
  while (parts.size() > 1) {
    std::vector<ggml_tensor*> next;
    for (size_t i = 0; i + 1 < parts.size(); i += 2) next.push_back(ggml_concat(ctx, parts[i], parts[i + 1], 1));
    if (parts.size() % 2) next.push_back(parts.back());
    parts = std::move(next);
  }
  return parts[0];
}

// A packed sequence as one block sees it: its L tokens give keys and values, and its queries are
// the positions [first, first + count): all L, or in a scoring graph's last block only those
// whose states predict a response token.
struct Span {
  int32_t L, first, count;
};

std::vector<Span> all_tokens(const Batch& b) {
  std::vector<Span> spans;
  for (int32_t L : b.lengths) spans.push_back({L, 0, L});
  return spans;
}

std::vector<Span> scored_tokens(const Batch& b) {
  std::vector<Span> spans;
  for (size_t s = 0; s < b.lengths.size(); s++)
    spans.push_back({b.lengths[s], b.prompt_lengths[s] - 1, b.lengths[s] - b.prompt_lengths[s]});
  return spans;
}

// Causal attention of every packed sequence over its own tokens only: the block-diagonal causal
// mask, computed block by block so the cost is sum(L_i^2), not T^2. Q: [hd, queries, heads],
// K: [hd, T, heads], V: [T, hd, kv heads]; K and V broadcast over each group of n_head /
// n_head_kv query heads (GQA). The mask is an additive input of soft_max_ext (0 / -inf), not
// diag_mask_inf: the latter's backward (DIAG_MASK_ZERO) has no CUDA kernel and would run on the
// CPU every layer. Queries of a span that are not all its tokens read their rows of the [L, L] mask.
ggml_tensor* packed_attention(ggml_context* ctx, const Hparams& h, ggml_tensor* Q, ggml_tensor* K, ggml_tensor* V,
                              const std::vector<Span>& spans, ggml_tensor* zeros, const std::map<int32_t, ggml_tensor*>& masks,
                              std::vector<std::pair<ggml_tensor*, ggml_tensor*>>& attention) {
  std::vector<ggml_tensor*> outs;
  int64_t off = 0, q_off = 0;
  for (const Span& sp : spans) {
    // Contiguous: the CPU's GEMM (llamafile sgemm) takes only a contiguous right operand; on a
    // strided view it falls back to dot products, ~40% of a step at the built-in shape.
    ggml_tensor* q = ggml_cont(ctx, ggml_view_3d(ctx, Q, h.head_dim, sp.count, h.n_head, Q->nb[1], Q->nb[2], q_off * Q->nb[1]));
    ggml_tensor* k = ggml_view_3d(ctx, K, h.head_dim, sp.L, h.n_head_kv, K->nb[1], K->nb[2], off * K->nb[1]);
    ggml_tensor* v = ggml_view_3d(ctx, V, sp.L, h.head_dim, h.n_head_kv, V->nb[1], V->nb[2], off * V->nb[0]);
    ggml_tensor* mask = masks.at(sp.L);
    if (sp.count != sp.L) mask = ggml_view_2d(ctx, mask, sp.L, sp.count, mask->nb[1], sp.first * mask->nb[1]);
    ggml_tensor* scores = ggml_mul_mat(ctx, k, q);
    ggml_tensor* kq = ggml_soft_max_ext(ctx, scores, mask, h.attn_scale, 0.0f);  // [L_k, queries, heads]
    // Patch 0010's causal skipping knows square [L, L] blocks only.
    if (sp.count == sp.L) attention.emplace_back(scores, kq);
    ggml_tensor* o = ggml_mul_mat(ctx, v, kq);  // [hd, queries, heads]
    outs.push_back(ggml_reshape_2d(ctx, ggml_cont(ctx, ggml_permute(ctx, o, 0, 2, 1, 3)), h.head_dim * h.n_head, sp.count));
    off += sp.L;
    q_off += sp.count;
  }
  return join_columns(ctx, std::move(outs), zeros);
}

// The hidden states that predict response tokens, [E, N]: per sequence the contiguous columns
// [off + prompt - 1, off + len - 1), joined as packed_attention does. A GET_ROWS gather would
// differentiate to GET_ROWS_BACK, which costs E * T * N on CUDA.
ggml_tensor* scored_states(ggml_context* ctx, ggml_tensor* x, const Batch& b, ggml_tensor* zeros) {
  std::vector<ggml_tensor*> parts;
  int64_t off = 0;
  for (size_t s = 0; s < b.lengths.size(); s++) {
    const int64_t scored = b.lengths[s] - b.prompt_lengths[s];
    parts.push_back(ggml_view_2d(ctx, x, x->ne[0], scored, x->nb[1], (off + b.prompt_lengths[s] - 1) * x->nb[1]));
    off += b.lengths[s];
  }
  return join_columns(ctx, std::move(parts), zeros);
}

// The queries a block computes: every token, or (`scored`, a scoring graph's last block) only the
// N columns that predict response tokens, at positions `pos`. Keys and values always cover all T.
struct Queries {
  const Batch* scored = nullptr;
  ggml_tensor* pos = nullptr;
};

// One transformer block over T packed tokens; the same arithmetic as llama.cpp's non-flash path.
// Returns the states of the queried columns: [E, T], or [E, N] when `queries.scored` is set (each
// column's arithmetic is the same either way, so are its values).
ggml_tensor* block(ggml_context* ctx, const Weights& w, const Layer& l, ggml_tensor* x, ggml_tensor* pos, const Batch& b,
                   ggml_tensor* zeros, const std::map<int32_t, ggml_tensor*>& masks,
                   std::vector<std::pair<ggml_tensor*, ggml_tensor*>>& attention, const Queries& queries = {}) {
  const Hparams& h = w.hp;
  const int64_t T = x->ne[1];
  ggml_tensor* cur = rms_norm(ctx, x, l.attn_norm, h.rms_eps);
  if (queries.scored) x = scored_states(ctx, x, b, nullptr);
  ggml_tensor* q = linear(ctx, w, l.wq, queries.scored ? scored_states(ctx, cur, b, nullptr) : cur);
  ggml_tensor* k = linear(ctx, w, l.wk, cur);
  ggml_tensor* v = linear(ctx, w, l.wv, cur);
  if (l.bq) {
    q = ggml_add(ctx, q, l.bq);
    k = ggml_add(ctx, k, l.bk);
    v = ggml_add(ctx, v, l.bv);
  }
  q = ggml_reshape_3d(ctx, q, h.head_dim, h.n_head, q->ne[1]);
  k = ggml_reshape_3d(ctx, k, h.head_dim, h.n_head_kv, T);
  v = ggml_reshape_3d(ctx, v, h.head_dim, h.n_head_kv, T);
  if (l.q_norm) {
    q = rms_norm(ctx, q, l.q_norm, h.rms_eps);
    k = rms_norm(ctx, k, l.k_norm, h.rms_eps);
  }
  q = rope(ctx, w, q, queries.scored ? queries.pos : pos);
  k = rope(ctx, w, k, pos);
  ggml_tensor* Q = ggml_cont(ctx, ggml_permute(ctx, q, 0, 2, 1, 3));  // [hd, queries, n_head]
  ggml_tensor* K = ggml_cont(ctx, ggml_permute(ctx, k, 0, 2, 1, 3));  // [hd, T, n_kv]
  ggml_tensor* V = ggml_cont(ctx, ggml_permute(ctx, v, 1, 2, 0, 3));  // [T, hd, n_kv]
  const std::vector<Span> spans = queries.scored ? scored_tokens(b) : all_tokens(b);
  ggml_tensor* o = packed_attention(ctx, h, Q, K, V, spans, zeros, masks, attention);
  x = ggml_add(ctx, x, linear(ctx, w, l.wo, o));
  cur = rms_norm(ctx, x, l.ffn_norm, h.rms_eps);
  ggml_tensor* act = ggml_swiglu_split(ctx, linear(ctx, w, l.w_gate, cur), linear(ctx, w, l.w_up, cur));
  return ggml_add(ctx, x, linear(ctx, w, l.w_down, act));
}

// -log sigmoid(z) = softplus(-z)
ggml_tensor* neg_log_sigmoid(ggml_context* ctx, ggml_tensor* z) { return ggml_softplus(ctx, ggml_scale(ctx, z, -1.0f)); }

// Per-pair loss from the policy's sequence log-probs (TRL-style: one place, one vocabulary).
ggml_tensor* pair_loss(ggml_context* ctx, const LossSpec& s, ggml_tensor* pc, ggml_tensor* pr, ggml_tensor* refc, ggml_tensor* refr,
                       ggml_tensor* w) {
  if (s.type == "simpo") return neg_log_sigmoid(ctx, ggml_scale_bias(ctx, ggml_sub(ctx, pc, pr), s.beta, -s.simpo_gamma));
  ggml_tensor* dc = ggml_sub(ctx, pc, refc);
  ggml_tensor* dr = ggml_sub(ctx, pr, refr);
  if (s.type == "dpo") return neg_log_sigmoid(ctx, ggml_scale(ctx, ggml_sub(ctx, dc, dr), s.beta));
  if (s.type == "aco") return neg_log_sigmoid(ctx, ggml_scale(ctx, ggml_sub(ctx, dc, ggml_mul(ctx, dr, w)), s.beta));
  ggml_tensor* h = ggml_sub(ctx, dc, dr);
  if (s.type == "ipo") return ggml_sqr(ctx, ggml_scale_bias(ctx, h, 1.0f, -1.0f / (2.0f * s.beta)));
  // ROPO: alpha * sigmoid(-beta h) + gamma * (-log sigmoid(beta h)); sigmoid(-u) = exp(-softplus(u)).
  ggml_tensor* bh = ggml_scale(ctx, h, s.beta);
  ggml_tensor* sig = ggml_exp(ctx, ggml_scale(ctx, ggml_softplus(ctx, bh), -1.0f));
  return ggml_add(ctx, ggml_scale(ctx, sig, s.ropo_alpha), ggml_scale(ctx, neg_log_sigmoid(ctx, bh), s.ropo_gamma));
}

}  // namespace

Trainer::Trainer(const TrainerOptions& o) {
  try {
    init(o);
  } catch (...) {
    release();
    throw;
  }
}

void Trainer::init(const TrainerOptions& o) {
  if (o.backend == "cpu") {
    backend_ = ggml_backend_cpu_init();
  } else if (o.backend == "cuda") {
    backend_ = ggml_backend_init_by_type(GGML_BACKEND_DEVICE_TYPE_GPU, nullptr);
    if (!backend_)
      throw std::runtime_error(
          "no CUDA device: this build has no GPU backend or no GPU is visible (build with GENIUS_CUDA=1 on a GPU machine)");
  } else {
    throw std::runtime_error("backend must be cpu or cuda");
  }
  cpu_ = o.backend == "cpu" ? backend_ : ggml_backend_cpu_init();
  const char* copies = std::getenv("GENIUS_TRAIN_TRANSPOSE_COPIES");
  outer_backward_ = cpu_ == backend_ && !(copies && *copies && std::strcmp(copies, "0") != 0);
  const int threads = o.threads > 0 ? o.threads : std::max(1u, std::thread::hardware_concurrency());
  ggml_backend_cpu_set_n_threads(cpu_, threads);
  w_ = load_weights(o.model, backend_, o.full ? nullptr : &o.lora, o.seed, o.base_f32);
  if (o.full) {
    // Every weight but rope_freqs: Llama 3's frequency factors are constants (ggml has no gradient for them).
    for (auto& [name, t] : w_->named)
      if (t != w_->rope_freqs) params_.push_back(t);
  } else {
    for (auto& [name, base] : w_->named) {
      auto it = w_->lora.find(base);
      if (it == w_->lora.end()) continue;
      params_.push_back(it->second.a);
      params_.push_back(it->second.b);
    }
  }
  for (ggml_tensor* p : params_) ggml_set_param(p);

  // Gradients in their own buffer so that zero_grad is one clear; moments and the loss seed apart.
  ggml_init_params gp{(params_.size() + 1) * ggml_tensor_overhead(), nullptr, true};
  grad_ctx_ = ggml_init(gp);
  ggml_init_params sp{(2 * params_.size() + 2) * ggml_tensor_overhead(), nullptr, true};
  state_ctx_ = ggml_init(sp);
  for (ggml_tensor* p : params_) {
    grads_.push_back(ggml_dup_tensor(grad_ctx_, p));
    m_.push_back(ggml_dup_tensor(state_ctx_, p));
    v_.push_back(ggml_dup_tensor(state_ctx_, p));
    ggml_format_name(grads_.back(), "grad.%s", p->name);
    ggml_format_name(m_.back(), "adam_m.%s", p->name);
    ggml_format_name(v_.back(), "adam_v.%s", p->name);
  }
  loss_seed_ = ggml_new_tensor_1d(state_ctx_, GGML_TYPE_F32, 1);
  grad_buf_ = ggml_backend_alloc_ctx_tensors(grad_ctx_, backend_);
  state_buf_ = ggml_backend_alloc_ctx_tensors(state_ctx_, backend_);
  // No parameters (LoRA with no targets, a scorer) leaves the gradients' context empty: no buffer.
  if ((!grad_buf_ && !params_.empty()) || !state_buf_)
    throw std::runtime_error("cannot allocate gradients and optimizer state (out of memory?)");
  if (grad_buf_) ggml_backend_buffer_clear(grad_buf_, 0);
  ggml_backend_buffer_clear(state_buf_, 0);
  const float one = 1.0f;
  ggml_backend_tensor_set(loss_seed_, &one, 0, sizeof(one));

  reserve_graph(1);
}

Trainer::~Trainer() { release(); }

void Trainer::require_parameters() const {
  if (params_.empty()) throw std::runtime_error("this trainer has no trainable parameters (LoRA with no targets): it can score, not train");
}

void Trainer::release() {
  if (sched_) ggml_backend_sched_free(sched_);
  if (grad_buf_) ggml_backend_buffer_free(grad_buf_);
  if (state_buf_) ggml_backend_buffer_free(state_buf_);
  if (grad_ctx_) ggml_free(grad_ctx_);
  if (state_ctx_) ggml_free(state_ctx_);
  w_.reset();
  if (cpu_ && cpu_ != backend_) ggml_backend_free(cpu_);
  if (backend_) ggml_backend_free(backend_);
  sched_ = nullptr;
  grad_buf_ = state_buf_ = nullptr;
  grad_ctx_ = state_ctx_ = nullptr;
  cpu_ = backend_ = nullptr;
}

int64_t Trainer::trainable_parameters() const {
  int64_t n = 0;
  for (ggml_tensor* p : params_) n += ggml_nelements(p);
  return n;
}

int64_t Trainer::total_parameters() const {
  int64_t n = 0;
  for (auto& [name, t] : w_->named) n += ggml_nelements(t);
  return n;
}

std::string Trainer::backend_name() const { return ggml_backend_name(backend_); }

size_t Trainer::memory_bytes() const {
  return ggml_backend_buffer_get_size(w_->buf) + (grad_buf_ ? ggml_backend_buffer_get_size(grad_buf_) : 0) +
         ggml_backend_buffer_get_size(state_buf_) + peak_graph_bytes_;
}

void Trainer::validate(const Batch& b, const LossSpec* loss) const {
  if (b.lengths.empty() || b.lengths.size() != b.prompt_lengths.size())
    throw std::runtime_error("batch needs one prompt length per sequence");
  int64_t total = 0;
  for (size_t i = 0; i < b.lengths.size(); i++) {
    if (b.prompt_lengths[i] < 1 || b.prompt_lengths[i] >= b.lengths[i])
      throw std::runtime_error("sequence " + std::to_string(i) + " needs at least one prompt token and one response token");
    total += b.lengths[i];
  }
  if (total != static_cast<int64_t>(b.tokens.size())) throw std::runtime_error("batch lengths do not add up to the token count");
  int64_t scored = 0;
  for (size_t i = 0; i < b.lengths.size(); i++) scored += b.lengths[i] - b.prompt_lengths[i];
  // The loss's [vocab x scored tokens] tensors stay below 2^31 elements (32-bit kernel indexing);
  // labels are compared with a float range, exact below 2^24.
  if (w_->hp.n_vocab > (1 << 24)) throw std::runtime_error("vocabularies above 2^24 tokens are not supported by the trainer");
  if (scored * w_->hp.n_vocab >= INT32_MAX)
    throw std::runtime_error("too many response tokens in one micro-batch for this vocabulary (" + std::to_string(scored) + " x " +
                             std::to_string(w_->hp.n_vocab) + "); use fewer pairs or tokens per graph");
  for (int32_t t : b.tokens)
    if (t < 0 || t >= w_->hp.n_vocab)
      throw std::runtime_error("token id " + std::to_string(t) + " is outside the vocabulary (" + std::to_string(w_->hp.n_vocab) + ")");
  if (!loss) return;
  if (std::find(std::begin(kLossTypes), std::end(kLossTypes), loss->type) == std::end(kLossTypes))
    throw std::runtime_error("unknown loss '" + loss->type + "'");
  const size_t n = b.lengths.size();
  if (is_pair_loss(loss->type)) {
    if (n % 2 != 0) throw std::runtime_error("a preference batch holds P chosen then P rejected sequences");
    const size_t P = n / 2;
    if (loss->weight.size() != P || loss->ref_chosen.size() != P || loss->ref_rejected.size() != P)
      throw std::runtime_error("a preference batch needs a calibration weight and reference log-probs for each pair");
    for (size_t i = 0; i < P; i++)
      if (!std::isfinite(loss->weight[i]) || !std::isfinite(loss->ref_chosen[i]) || !std::isfinite(loss->ref_rejected[i]))
        throw std::runtime_error("pair " + std::to_string(i) + " has a non-finite weight or reference log-prob");
  }
  if (!(loss->beta > 0.0f) || !std::isfinite(loss->scale)) throw std::runtime_error("beta must be positive and the loss scale finite");
  if (!(loss->label_smoothing >= 0.0f && loss->label_smoothing < 1.0f))
    throw std::runtime_error("label smoothing must be in [0, 1), got " + std::to_string(loss->label_smoothing));
  if (loss->label_smoothing > 0.0f && loss->type != "sft") throw std::runtime_error("label smoothing applies to the sft loss only");
}

// Node budget of a forward + backward graph: per layer a fixed part and a part per sequence
// (attention runs block by block); the scheduler is re-created when a batch needs more.
void Trainer::reserve_graph(size_t n_sequences) {
  // Patch 0003 adds ~8 nodes per 4096 rows of each frozen non-F32 matrix (the output layer's V rows).
  const int need =
      static_cast<int>(4096 + w_->hp.n_layer * (1024 + 96 * n_sequences) + 8 * params_.size() + 16 * (w_->hp.n_vocab / 4096 + 1));
  if (sched_ && need <= graph_size_) return;
  if (sched_) ggml_backend_sched_free(sched_);
  graph_size_ = need;
  ggml_backend_t backends[2] = {backend_, cpu_};
  sched_ = ggml_backend_sched_new(backends, nullptr, cpu_ == backend_ ? 1 : 2, graph_size_, false, true);
}

std::unique_ptr<Trainer::Graph> Trainer::build(const Batch& b, const LossSpec* loss) {
  reserve_graph(b.lengths.size());
  auto g = std::make_unique<Graph>();
  const Hparams& h = w_->hp;
  g->T = static_cast<int64_t>(b.tokens.size());
  for (size_t i = 0; i < b.lengths.size(); i++) g->N += b.lengths[i] - b.prompt_lengths[i];
  const bool sft = loss && loss->type == "sft";
  g->P = loss ? (sft ? static_cast<int64_t>(b.lengths.size()) : static_cast<int64_t>(b.lengths.size() / 2)) : 0;

  ggml_init_params cp{static_cast<size_t>(graph_size_) * ggml_tensor_overhead() + ggml_graph_overhead_custom(graph_size_, true), nullptr,
                      true};
  g->ctx = ggml_init(cp);
  ggml_context* ctx = g->ctx;
  g->tokens = input(ctx, GGML_TYPE_I32, g->T);
  g->pos = input(ctx, GGML_TYPE_I32, g->T);
  // A training graph packs sequences into zeros (join_columns); a scoring graph needs none.
  const bool packed = b.lengths.size() > 1 && loss;
  g->zeros = packed ? input(ctx, GGML_TYPE_F32, h.head_dim * h.n_head, g->T) : nullptr;
  g->zeros_scored = packed ? input(ctx, GGML_TYPE_F32, h.n_embd, g->N) : nullptr;
  g->labels = loss ? input(ctx, GGML_TYPE_F32, 1, g->N) : nullptr;  // a scoring graph gathers by label_index
  for (int32_t L : b.lengths)
    if (!g->masks.count(L)) g->masks[L] = input(ctx, GGML_TYPE_F32, L, L);

  ggml_tensor* x = ggml_get_rows(ctx, w_->tok_embd, g->tokens);
  // A scoring graph's last block computes only the scored columns: nothing reads the others.
  // (A training graph would pay ACC copies into zeros for it, which ggml can differentiate.)
  Queries last;
  if (!loss) {
    g->pos_scored = input(ctx, GGML_TYPE_I32, g->N);
    last = {&b, g->pos_scored};
  }
  for (size_t i = 0; i < w_->layers.size(); i++)
    x = block(ctx, *w_, w_->layers[i], x, g->pos, b, g->zeros, g->masks, g->attention, i + 1 == w_->layers.size() ? last : Queries{});
  // Logits only where a response token is predicted; log p(label) = log softmax(logits)[label].
  if (loss) x = scored_states(ctx, x, b, g->zeros_scored);
  x = rms_norm(ctx, x, w_->output_norm, h.rms_eps);
  ggml_tensor* logits = ggml_mul_mat(ctx, w_->output ? w_->output : w_->tok_embd, x);  // [V, N]
  ggml_tensor* sm = ggml_soft_max(ctx, logits);
  if (!loss) {
    // Scoring only: p(label) gathered from the probabilities, the same value as the one-hot sum
    // below (one term, the rest exact zeros) without its passes over [V, N].
    g->label_index = input(ctx, GGML_TYPE_I32, g->N);
    ggml_tensor* py = ggml_get_rows(ctx, ggml_reshape_2d(ctx, sm, 1, h.n_vocab * g->N), g->label_index);  // [1, N]
    g->lp = ggml_reshape_2d(ctx, ggml_log(ctx, py), g->N, 1);
    ggml_set_output(g->lp);
    g->gf = ggml_new_graph_custom(ctx, graph_size_, false);
    ggml_build_forward_expand(g->gf, g->lp);
    hint_outer_products(g->gf);
    if (outer_backward_) mark_causal(g->gf, g->attention);
    return g;
  }
  // The softmax backward reads these probabilities; kept as an output so that ggml's graph
  // allocator never reuses their memory before the backward pass.
  ggml_set_output(sm);
  // p(label) = sum_v sm[v, n] * [v == label_n], the one-hot built in the graph from the labels
  // (|v - label| < 0.5). A GET_ROWS gather of sm would differentiate to GET_ROWS_BACK, which
  // costs V * N^2 on CUDA; this is a few element-wise passes over [V, N].
  ggml_tensor* dist =
      ggml_sub(ctx, ggml_repeat_4d(ctx, g->labels, h.n_vocab, g->N, 1, 1), ggml_arange(ctx, 0.0f, static_cast<float>(h.n_vocab), 1.0f));
  ggml_tensor* onehot = ggml_step(ctx, ggml_scale_bias(ctx, ggml_abs(ctx, dist), -1.0f, 0.5f));
  ggml_tensor* py = ggml_sum_rows(ctx, ggml_mul(ctx, sm, onehot));  // [1, N]
  g->lp = ggml_reshape_2d(ctx, ggml_log(ctx, py), g->N, 1);
  ggml_set_output(g->lp);

  g->gf = ggml_new_graph_custom(ctx, graph_size_, true);
  g->sel_chosen = input(ctx, GGML_TYPE_F32, g->N, g->P);
  g->chosen = ggml_mul_mat(ctx, g->sel_chosen, g->lp);  // [P, 1] sequence log-probs
  ggml_set_output(g->chosen);
  if (sft) {
    g->loss = ggml_scale(ctx, ggml_sum(ctx, g->chosen), -loss->scale);
    if (loss->label_smoothing > 0.0f) {
      // Cross-entropy against (1 - e) one-hot + e / V is -log p(label) + e (z_label - mean_v z)
      // per token (z: logits), as log p_v = z_v - logsumexp(z); no log of small probabilities.
      ggml_tensor* z_label = ggml_sum_rows(ctx, ggml_mul(ctx, logits, onehot));                                 // [1, N]
      ggml_tensor* z_mean = ggml_scale(ctx, ggml_sum_rows(ctx, logits), 1.0f / static_cast<float>(h.n_vocab));  // [1, N]
      ggml_tensor* smooth = ggml_sum(ctx, ggml_sub(ctx, z_label, z_mean));
      g->loss = ggml_add(ctx, g->loss, ggml_scale(ctx, smooth, loss->scale * loss->label_smoothing));
    }
  } else {
    g->sel_rejected = input(ctx, GGML_TYPE_F32, g->N, g->P);
    g->weight = input(ctx, GGML_TYPE_F32, g->P);
    g->ref_chosen = input(ctx, GGML_TYPE_F32, g->P);
    g->ref_rejected = input(ctx, GGML_TYPE_F32, g->P);
    g->rejected = ggml_mul_mat(ctx, g->sel_rejected, g->lp);
    ggml_set_output(g->rejected);
    ggml_tensor* pc = ggml_reshape_1d(ctx, g->chosen, g->P);
    ggml_tensor* pr = ggml_reshape_1d(ctx, g->rejected, g->P);
    g->pair_loss = pair_loss(ctx, *loss, pc, pr, g->ref_chosen, g->ref_rejected, g->weight);
    ggml_set_output(g->pair_loss);
    g->loss = ggml_scale(ctx, ggml_sum(ctx, g->pair_loss), loss->scale);
  }
  ggml_set_output(g->loss);
  ggml_set_loss(g->loss);
  ggml_build_forward_expand(g->gf, g->chosen);
  ggml_build_forward_expand(g->gf, g->loss);

  // Parameter gradients add into the persistent accumulators; the loss is seeded with 1.
  // GENIUS_DEBUG_DROP_GRAD=NAME (test-only fault): tensors whose name contains NAME get no
  // accumulator, so their gradient reads as zero; the gradient checks must catch it.
  const char* drop = std::getenv("GENIUS_DEBUG_DROP_GRAD");
  std::vector<ggml_tensor*> accs(ggml_graph_n_nodes(g->gf), nullptr);
  for (int i = 0; i < ggml_graph_n_nodes(g->gf); i++) {
    ggml_tensor* node = ggml_graph_node(g->gf, i);
    if (node == g->loss) accs[i] = loss_seed_;
    for (size_t p = 0; p < params_.size(); p++)
      if (node == params_[p] && !(drop && *drop && std::strstr(params_[p]->name, drop))) accs[i] = grads_[p];
  }
  // On the CPU the matrix products' gradients read their transposed operands in place (patch 0008):
  // no copies of attention's [L, L] probabilities and their gradient, the same numbers.
  if (outer_backward_)
    ggml_build_backward_expand_genius_outer(ctx, g->gf, accs.data());
  else
    ggml_build_backward_expand(ctx, g->gf, accs.data());
  hint_outer_products(g->gf);
  if (outer_backward_) mark_causal(g->gf, g->attention);
  return g;
}

void Trainer::compute(Graph& g, const Batch& b, const LossSpec* loss) {
  ggml_backend_sched_reset(sched_);
  if (!ggml_backend_sched_alloc_graph(sched_, g.gf))
    throw std::runtime_error("cannot allocate the training graph (out of memory? use smaller micro-batches)");
  peak_graph_bytes_ = std::max(peak_graph_bytes_, ggml_backend_sched_get_buffer_size(sched_, backend_));
  graph_splits_ = ggml_backend_sched_get_n_splits(sched_);

  const int64_t T = g.T, N = g.N;
  std::vector<int32_t> pos(T), pos_scored;
  std::vector<float> labels;
  std::vector<int> seq_of;  // which sequence each scored token belongs to
  labels.reserve(N);
  int64_t off = 0;
  for (size_t s = 0; s < b.lengths.size(); s++) {
    const int64_t len = b.lengths[s];
    for (int64_t j = 0; j < len; j++) {
      pos[off + j] = static_cast<int32_t>(j);
    }
    for (int64_t j = b.prompt_lengths[s]; j < len; j++) {
      labels.push_back(static_cast<float>(b.tokens[off + j]));
      seq_of.push_back(static_cast<int>(s));
      pos_scored.push_back(static_cast<int32_t>(j - 1));  // the column that predicts token j
    }
    off += len;
  }
  set_input(g.tokens, b.tokens.data(), T * sizeof(int32_t));
  set_input(g.pos, pos.data(), T * sizeof(int32_t));
  set_input(g.pos_scored, pos_scored.data(), N * sizeof(int32_t));
  for (ggml_tensor* z : {g.zeros, g.zeros_scored}) {
    if (!z) continue;
    const std::vector<float> zeros(static_cast<size_t>(ggml_nelements(z)), 0.0f);
    set_input(z, zeros.data(), zeros.size() * sizeof(float));
  }
  set_input(g.labels, labels.data(), N * sizeof(float));
  if (g.label_index) {
    std::vector<int32_t> index(static_cast<size_t>(N));
    for (int64_t n = 0; n < N; n++) index[n] = static_cast<int32_t>(labels[n]) + static_cast<int32_t>(n * w_->hp.n_vocab);
    set_input(g.label_index, index.data(), N * sizeof(int32_t));
  }
  for (auto& [L, mask] : g.masks) {
    std::vector<float> m(static_cast<size_t>(L) * L, 0.0f);
    for (int64_t q = 0; q < L; q++)
      for (int64_t k = q + 1; k < L; k++) m[q * L + k] = -INFINITY;
    set_input(mask, m.data(), m.size() * sizeof(float));
  }
  if (loss) {
    const int64_t P = g.P;
    std::vector<int64_t> count(b.lengths.size());
    for (int s : seq_of) count[s]++;
    const bool mean = loss->type == "simpo";
    auto selection = [&](ggml_tensor* t, int64_t first) {
      std::vector<float> sel(static_cast<size_t>(N * P), 0.0f);
      for (int64_t n = 0; n < N; n++) {
        const int64_t p = seq_of[n] - first;
        if (p >= 0 && p < P) sel[p * N + n] = mean ? 1.0f / static_cast<float>(count[seq_of[n]]) : 1.0f;
      }
      set_input(t, sel.data(), sel.size() * sizeof(float));
    };
    selection(g.sel_chosen, 0);
    if (g.sel_rejected) {
      selection(g.sel_rejected, P);
      set_input(g.weight, loss->weight.data(), P * sizeof(float));
      set_input(g.ref_chosen, loss->ref_chosen.data(), P * sizeof(float));
      set_input(g.ref_rejected, loss->ref_rejected.data(), P * sizeof(float));
    }
  }
  if (run_graph(sched_, g.gf, loss ? "forward + backward" : "forward") != GGML_STATUS_SUCCESS)
    throw std::runtime_error("training graph computation failed");
}

namespace {

// Inputs a loss does not use (SimPO's reference log-probs) are not in the graph and have no memory.
void set_input(ggml_tensor* t, const void* data, size_t bytes) {
  if (t && t->buffer) ggml_backend_tensor_set(t, data, 0, bytes);
}

std::vector<double> read_vector(ggml_tensor* t) {
  std::vector<float> f(static_cast<size_t>(ggml_nelements(t)));
  ggml_backend_tensor_get(t, f.data(), 0, f.size() * sizeof(float));
  return std::vector<double>(f.begin(), f.end());
}

}  // namespace

std::vector<float> Trainer::logprobs(const Batch& b) {
  std::lock_guard<std::mutex> lock(mutex_);
  validate(b, nullptr);
  auto g = build(b, nullptr);
  compute(*g, b, nullptr);
  std::vector<float> out(static_cast<size_t>(g->N));
  ggml_backend_tensor_get(g->lp, out.data(), 0, out.size() * sizeof(float));
  return out;
}

namespace {

TensorDesc describe_tensor(const ggml_tensor* t) {
  TensorDesc d;
  d.type = ggml_type_name(t->type);
  for (int i = 0; i < GGML_MAX_DIMS; i++) {
    d.ne[i] = t->ne[i];
    d.nb[i] = t->nb[i];
  }
  d.type_size = ggml_type_size(t->type);
  d.blck_size = ggml_blck_size(t->type);
  d.quantized = ggml_is_quantized(t->type);
  d.contiguous = ggml_is_contiguous(t);
  d.contiguous_1 = ggml_is_contiguous_1(t);
  d.contiguous_2 = ggml_is_contiguous_2(t);
  d.contiguous_rows = ggml_is_contiguous_rows(t);
  d.transposed = ggml_is_transposed(t);
  return d;
}

}  // namespace

std::vector<NodeDesc> Trainer::describe(const Batch& b, const LossSpec* loss) {
  std::lock_guard<std::mutex> lock(mutex_);
  validate(b, loss);
  if (loss) require_parameters();
  auto g = build(b, loss);
  std::vector<NodeDesc> out;
  for (int i = 0; i < ggml_graph_n_nodes(g->gf); i++) {
    const ggml_tensor* n = ggml_graph_node(g->gf, i);
    NodeDesc d;
    d.op = ggml_op_name(n->op);
    if (n->op == GGML_OP_UNARY) d.sub_op = ggml_unary_op_name(ggml_get_unary_op(n));
    if (n->op == GGML_OP_GLU) d.sub_op = ggml_glu_op_name(ggml_get_glu_op(n));
    d.tensor = describe_tensor(n);
    for (const ggml_tensor* s : n->src) d.src.push_back(s ? std::optional<TensorDesc>(describe_tensor(s)) : std::nullopt);
    while (!d.src.empty() && !d.src.back()) d.src.pop_back();
    d.params.assign(n->op_params, n->op_params + GGML_MAX_OP_PARAMS / sizeof(int32_t));
    out.push_back(std::move(d));
  }
  return out;
}

size_t Trainer::measure(const Batch& b, const LossSpec& loss) {
  std::lock_guard<std::mutex> lock(mutex_);
  validate(b, &loss);
  require_parameters();
  auto g = build(b, &loss);
  ggml_backend_sched_reset(sched_);
  if (!ggml_backend_sched_alloc_graph(sched_, g->gf))
    throw std::runtime_error("cannot allocate the training graph (out of memory? use smaller micro-batches)");
  peak_graph_bytes_ = std::max(peak_graph_bytes_, ggml_backend_sched_get_buffer_size(sched_, backend_));
  return memory_bytes();
}

MicroResult Trainer::accumulate(const Batch& b, const LossSpec& loss) {
  std::lock_guard<std::mutex> lock(mutex_);
  validate(b, &loss);
  require_parameters();
  auto g = build(b, &loss);
  compute(*g, b, &loss);
  MicroResult r;
  r.loss = read_vector(g->loss)[0];
  r.chosen = read_vector(g->chosen);
  if (g->rejected) r.rejected = read_vector(g->rejected);
  if (g->pair_loss) r.pair_loss = read_vector(g->pair_loss);
  r.tokens = g->T;
  if (!std::isfinite(r.loss))
    throw std::runtime_error(
        "the loss is not finite (NaN or Inf): a token's probability underflowed or the weights diverged; gradients of this step are void");
  return r;
}

void Trainer::zero_grad() {
  std::lock_guard<std::mutex> lock(mutex_);
  require_parameters();
  ggml_backend_buffer_clear(grad_buf_, 0);
}

double Trainer::grad_norm() {
  ggml_init_params cp{(3 * params_.size() + 8) * ggml_tensor_overhead() + ggml_graph_overhead_custom(graph_size_, false), nullptr, true};
  ggml_context* ctx = ggml_init(cp);
  ggml_cgraph* gf = ggml_new_graph_custom(ctx, graph_size_, false);
  ggml_tensor* acc = nullptr;
  for (ggml_tensor* gr : grads_) {
    ggml_tensor* s = ggml_sum(ctx, ggml_sqr(ctx, gr));
    acc = acc ? ggml_add(ctx, acc, s) : s;
  }
  ggml_set_output(acc);
  ggml_build_forward_expand(gf, acc);
  ggml_backend_sched_reset(sched_);
  double sq = NAN;
  if (ggml_backend_sched_alloc_graph(sched_, gf) && run_graph(sched_, gf, "gradient norm") == GGML_STATUS_SUCCESS) sq = read_vector(acc)[0];
  ggml_free(ctx);
  if (std::isnan(sq)) throw std::runtime_error("cannot compute the gradient norm");
  return std::sqrt(sq);
}

double Trainer::step(const AdamW& opt) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!(opt.lr >= 0.0f) || !(opt.beta1 >= 0.0f && opt.beta1 < 1.0f) || !(opt.beta2 >= 0.0f && opt.beta2 < 1.0f) || !(opt.eps >= 0.0f) ||
      !(opt.weight_decay >= 0.0f && opt.weight_decay <= 1.0f))
    throw std::runtime_error("invalid AdamW hyper-parameters");
  require_parameters();
  const double norm = grad_norm();
  if (!std::isfinite(norm)) throw std::runtime_error("the gradient norm is not finite (NaN or Inf); the step was not taken");
  const float clip = opt.max_grad_norm > 0.0f && norm > opt.max_grad_norm ? static_cast<float>(opt.max_grad_norm / (norm + 1e-6)) : 1.0f;

  ggml_init_params cp{(3 * params_.size() + 8) * ggml_tensor_overhead() + ggml_graph_overhead_custom(graph_size_, false), nullptr, true};
  ggml_context* ctx = ggml_init(cp);
  ggml_cgraph* gf = ggml_new_graph_custom(ctx, graph_size_, false);
  ggml_tensor* hp = input(ctx, GGML_TYPE_F32, 7);
  for (size_t i = 0; i < params_.size(); i++) {
    ggml_tensor* gr = clip < 1.0f ? ggml_scale_inplace(ctx, grads_[i], clip) : grads_[i];
    ggml_build_forward_expand(gf, ggml_opt_step_adamw(ctx, params_[i], gr, m_[i], v_[i], hp));
  }
  ggml_backend_sched_reset(sched_);
  bool ok = ggml_backend_sched_alloc_graph(sched_, gf);
  if (ok) {
    const int64_t t = step_ + 1;
    const float values[7] = {opt.lr,
                             opt.beta1,
                             opt.beta2,
                             opt.eps,
                             opt.weight_decay,
                             static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(opt.beta1), static_cast<double>(t)))),
                             static_cast<float>(1.0 / (1.0 - std::pow(static_cast<double>(opt.beta2), static_cast<double>(t))))};
    ggml_backend_tensor_set(hp, values, 0, sizeof(values));
    ok = run_graph(sched_, gf, "AdamW") == GGML_STATUS_SUCCESS;
  }
  ggml_free(ctx);
  if (!ok) throw std::runtime_error("the optimizer step failed");
  step_++;
  return norm;
}

std::vector<float> Trainer::read_flat(bool gradients) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<float> out(static_cast<size_t>(trainable_parameters()));
  size_t off = 0;
  for (ggml_tensor* t : gradients ? grads_ : params_) {
    ggml_backend_tensor_get(t, out.data() + off, 0, ggml_nbytes(t));
    off += static_cast<size_t>(ggml_nelements(t));
  }
  return out;
}

void Trainer::write_parameters(const std::vector<float>& flat) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (flat.size() != static_cast<size_t>(trainable_parameters())) throw std::runtime_error("parameter vector has the wrong length");
  size_t off = 0;
  for (ggml_tensor* t : params_) {
    ggml_backend_tensor_set(t, flat.data() + off, 0, ggml_nbytes(t));
    off += static_cast<size_t>(ggml_nelements(t));
  }
}

void Trainer::save_adapter(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mutex_);
  train::save_adapter(*w_, path);
}

void Trainer::save_model(const std::string& path, bool f16) const {
  std::lock_guard<std::mutex> lock(mutex_);
  save_merged(*w_, path, f16);
}

void Trainer::save_state(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mutex_);
  require_parameters();
  GgufOwned meta(gguf_init_empty());
  gguf_set_val_str(meta.get(), "general.type", "genius-trainer-state");
  gguf_set_val_str(meta.get(), "general.architecture", w_->hp.arch.c_str());
  gguf_set_val_u64(meta.get(), "genius.train.step", static_cast<uint64_t>(step_));
  gguf_set_val_u64(meta.get(), "genius.train.parameters", static_cast<uint64_t>(trainable_parameters()));
  std::vector<std::pair<std::string, ggml_tensor*>> tensors;
  for (size_t i = 0; i < params_.size(); i++) {
    tensors.emplace_back(params_[i]->name, params_[i]);
    tensors.emplace_back(m_[i]->name, m_[i]);
    tensors.emplace_back(v_[i]->name, v_[i]);
  }
  write_gguf(path, meta.get(), tensors);
}

void Trainer::load_state(const std::string& path) {
  std::lock_guard<std::mutex> lock(mutex_);
  require_parameters();
  std::vector<ggml_tensor*> all;
  for (size_t i = 0; i < params_.size(); i++) {
    all.push_back(params_[i]);
    all.push_back(m_[i]);
    all.push_back(v_[i]);
  }
  step_ = static_cast<int64_t>(load_tensors_f32(path, all, "genius-trainer-state", "genius.train.step"));
}

}  // namespace genius::train
