#include "engine.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <unordered_set>
#include <unistd.h>

#include "../log.h"

namespace genius {

// KV cells owned by one stretch of a sequence's history. A fork freezes the parent's segment and
// both sides continue in new segments that point at it, mirroring how a unified llama.cpp cache
// shares cells between sequences: a cell is free once no segment reaches it.
struct Engine::Segment {
  std::shared_ptr<Segment> parent;
  uint32_t own = 0;
  uint32_t* used;
  Segment(std::shared_ptr<Segment> p, uint32_t* u) : parent(std::move(p)), used(u) {}
  ~Segment() { *used -= own; }
};

struct Engine::Sequence {
  int32_t llama_id;
  int32_t n_past = 0;               // positions evaluated into the KV cache
  llama_token last = -1;            // the newest token, not evaluated yet (its logits come next)
  std::vector<llama_token> tokens;  // everything the sequence holds: n_past evaluated + last
  int32_t shared = 0;               // unified cache: positions below this are shared with a fork
  std::shared_ptr<Segment> seg;
  struct Request* busy = nullptr;
};

struct Engine::Request {
  enum Kind { prefill, generate, score, logits } kind;
  uint64_t id = 0;
  uint64_t seq = 0;
  std::vector<llama_token> feed;  // tokens to evaluate, in order
  size_t fed = 0;
  llama_token final_last = -1;  // prefill/score: the new pending token once done
  bool report_handle = false;   // prefill from create_sequence: resolve with the handle
  bool blocked = false;
  bool finished = false;
  // generate
  GenerateParams gen;
  Rng rng;
  StopMatcher stop;
  // score
  std::vector<llama_token> targets;
  Result res;
  Callback done;
};

struct Engine::Op {
  std::function<bool()> run;                                  // false: cannot run yet (no free slot), retry later
  std::function<void(const std::string&, const char*)> fail;  // message, errors.h code
};

static const char* kDisposedText = "context disposed";

static const char* kNotFiniteText = "the model produced non-finite logits (NaN or Inf): its weights (or an attached adapter) are damaged";

static Result aborted_result(const char* why) {
  Result res{why, kAborted};
  res.aborted = true;
  return res;
}
static constexpr uint32_t kMaxSequences = 256;  // llama.cpp's LLAMA_MAX_SEQ

// Engines alive in this process, so that exit can stop their threads before static destructors
// run (a thread still inside llama_decode during exit() dies in freed memory). Never destroyed:
// it is used from an atexit handler.
static std::mutex& live_mutex() {
  static auto* m = new std::mutex();
  return *m;
}
static std::unordered_set<Engine*>& live_engines() {
  static auto* s = new std::unordered_set<Engine*>();
  return *s;
}

void Engine::halt_all() {
  std::lock_guard<std::mutex> lk(live_mutex());
  for (Engine* e : live_engines()) e->halt();
}

void Engine::halt() {
  stop_ = true;
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

// The KV cache llama.cpp would allocate for `n_ctx` cells, estimated from the model's shape, so a
// huge contextSize is refused with its size instead of exhausting memory while it is allocated.
static double kv_bytes(const llama_model* m, double n_ctx, bool f32) {
  const double n_head = std::max(1, llama_model_n_head(m));
  const double kv_dim = static_cast<double>(llama_model_n_embd(m)) / n_head * llama_model_n_head_kv(m);
  return n_ctx * llama_model_n_layer(m) * 2.0 * kv_dim * (f32 ? 4.0 : 2.0);
}

static double physical_memory() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 0.0;
}

Engine::Engine(ModelPtr model, const EngineParams& params) : model_(std::move(model)), params_(params) {
  vocab_ = llama_model_get_vocab(model_.get());
  n_vocab_ = llama_vocab_n_tokens(vocab_);
  if (llama_model_n_layer(model_.get()) <= 0)
    throw CodedError(kBadModel, "the model has no layers (a vocabulary-only load?): it cannot run a context");
  if (params_.n_seq_max == 0 || params_.n_seq_max > kMaxSequences) {
    throw CodedError(kInvalidArgument, "maxSequences must be between 1 and " + std::to_string(kMaxSequences));
  }
  if (params_.n_ctx < 8) throw CodedError(kInvalidArgument, "contextSize must be at least 8");
  if (params_.n_batch == 0) throw CodedError(kInvalidArgument, "batchSize must be positive");
  const double need = kv_bytes(model_.get(), params_.n_ctx, params_.kv_f32), have = physical_memory();
  if (have > 0 && need > have) {
    char msg[256];
    snprintf(msg, sizeof msg,
             "contextSize %u needs about %.1f GB of KV cache, more than this machine's %.1f GB of memory; use a smaller context (or fewer "
             "sequences)",
             params_.n_ctx, need / 1e9, have / 1e9);
    throw CodedError(kOutOfMemory, msg);
  }
  params_.n_ubatch = std::min(std::max<uint32_t>(params_.n_ubatch, 1), params_.n_batch);
  if (params_.n_outputs_max == 0) params_.n_outputs_max = std::max<uint32_t>(params_.n_seq_max, 256);
  params_.n_outputs_max = std::min(params_.n_outputs_max, params_.n_batch);
  const int32_t threads = params_.n_threads > 0 ? params_.n_threads : std::max(1u, std::thread::hardware_concurrency());

  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = params_.n_ctx;
  cp.n_batch = params_.n_batch;
  cp.n_ubatch = params_.n_ubatch;
  cp.n_seq_max = params_.n_seq_max;
  cp.n_outputs_max = params_.n_outputs_max;
  cp.n_threads = threads;
  cp.n_threads_batch = threads;
  cp.flash_attn_type = params_.flash_attn < 0 ? LLAMA_FLASH_ATTN_TYPE_AUTO
                       : params_.flash_attn   ? LLAMA_FLASH_ATTN_TYPE_ENABLED
                                              : LLAMA_FLASH_ATTN_TYPE_DISABLED;
  cp.type_k = params_.kv_f32 ? GGML_TYPE_F32 : GGML_TYPE_F16;
  cp.type_v = cp.type_k;
  cp.kv_unified = params_.kv_unified;
  cp.no_perf = true;
  cp.abort_callback = [](void* self) { return static_cast<Engine*>(self)->stop_.load(); };
  cp.abort_callback_data = this;

  clear_thread_errors();
  ctx_ = llama_init_from_model(model_.get(), cp);
  if (!ctx_) {
    const std::string why = thread_errors();
    throw CodedError(kNativeError, "failed to create context" + (why.empty() ? "" : ": " + why));
  }
  // llama.cpp may pad or clamp what was asked: work with what it chose.
  params_.n_ctx = llama_n_ctx(ctx_);
  params_.n_ctx_seq = llama_n_ctx_seq(ctx_);
  params_.n_batch = llama_n_batch(ctx_);
  params_.n_ubatch = llama_n_ubatch(ctx_);
  params_.n_outputs_max = std::min(params_.n_outputs_max, params_.n_batch);
  trace_ = std::getenv("GENIUS_ENGINE_TRACE") != nullptr;
  batch_ = llama_batch_init(static_cast<int32_t>(params_.n_batch), 0, 1);
  for (int32_t i = 0; i < static_cast<int32_t>(params_.n_seq_max); ++i) free_slots_.insert(i);
  publish_stats();
  // process.exit() runs no env cleanup hooks: exit() runs atexit handlers and static destructors
  // in reverse order of registration, so a handler registered now, after llama.cpp and ggml
  // built their statics (model load, context init), stops every engine thread before those die.
  static std::once_flag at_exit;
  std::call_once(at_exit, [] { std::atexit(Engine::halt_all); });
  thread_ = std::thread([this] { loop(); });
  std::lock_guard<std::mutex> lk(live_mutex());
  live_engines().insert(this);
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lk(live_mutex());
    live_engines().erase(this);
  }
  halt();
  flush_outbox();
  for (auto& r : active_)
    if (!r->finished) finish(*r, Result{kDisposedText, kDisposed});
  active_.clear();
  for (auto& op : waiting_ops_) op.fail(kDisposedText, kDisposed);
  for (auto& op : ops_) op.fail(kDisposedText, kDisposed);
  seqs_.clear();
  llama_batch_free(batch_);
  llama_free(ctx_);
}

// ---------------------------------------------------------------- public, any thread

void Engine::post(Op op) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stop_) {
      op.fail(kDisposedText, kDisposed);
      return;
    }
    ops_.push_back(std::move(op));
  }
  cv_.notify_one();
}

static std::string check_tokens(const std::vector<llama_token>& toks, int32_t n_vocab) {
  for (llama_token t : toks) {
    if (t < 0 || t >= n_vocab) return "token id " + std::to_string(t) + " is outside the vocabulary (size " + std::to_string(n_vocab) + ")";
  }
  return "";
}

void Engine::create_sequence(std::vector<llama_token> tokens, Callback done) {
  done = deferred(std::move(done));
  auto fail = [done](const std::string& e, const char* code = kInvalidArgument) { done(Result{e, code}); };
  if (std::string e = check_tokens(tokens, n_vocab_); !e.empty()) return fail(e);
  if (tokens.size() > params_.n_ctx_seq)
    return fail("prompt of " + std::to_string(tokens.size()) + " tokens exceeds " + capacity_text(), kContextFull);
  post({[this, tokens = std::move(tokens), done]() mutable {
          const int32_t slot = take_slot();
          if (slot < 0) return false;
          const uint64_t h = new_sequence(slot);
          auto r = std::make_unique<Request>();
          r->kind = Request::prefill;
          r->seq = h;
          r->report_handle = true;
          r->done = done;
          if (!tokens.empty()) {
            r->final_last = tokens.back();
            r->feed.assign(tokens.begin(), tokens.end() - 1);
            r->targets = tokens;
          }
          begin(std::move(r));
          return true;
        },
        fail});
}

void Engine::fork(uint64_t seq, uint32_t n, Callback done) {
  done = deferred(std::move(done));
  auto fail = [done](const std::string& e, const char* code = kInvalidArgument) { done(Result{e, code}); };
  if (n == 0) return done(Result{});
  if (n > params_.n_seq_max)
    return fail("cannot fork into " + std::to_string(n) + " sequences: the context holds at most " + std::to_string(params_.n_seq_max));
  post({[this, seq, n, done, fail]() {
          Sequence* s = find(seq);
          if (!s) return fail("unknown or released sequence", kUnknownSequence), true;
          if (s->busy) return fail("cannot fork a sequence while a request runs on it", kBusy), true;
          if (free_slots_.size() < n) return false;
          Result res;
          auto frozen = s->seg;
          if (params_.kv_unified) {
            s->seg = std::make_shared<Segment>(frozen, &cells_used_);
            s->shared = s->n_past;
          }
          llama_memory_t mem = llama_get_memory(ctx_);
          for (uint32_t i = 0; i < n; ++i) {
            const uint64_t h = new_sequence(take_slot());
            Sequence* c = find(h);
            // Unified: the child's cells are the parent's (metadata only). Split: the parent's
            // stream is copied into the child's at the start of the next decode.
            llama_memory_seq_cp(mem, s->llama_id, c->llama_id, -1, -1);
            c->n_past = s->n_past;
            c->last = s->last;
            c->tokens = s->tokens;
            if (params_.kv_unified) {
              c->seg = std::make_shared<Segment>(frozen, &cells_used_);
              c->shared = c->n_past;
            } else {
              c->seg->own = static_cast<uint32_t>(s->n_past);
              cells_used_ += static_cast<uint32_t>(s->n_past);
            }
            res.handles.push_back(h);
          }
          done(std::move(res));
          return true;
        },
        fail});
}

void Engine::release(uint64_t seq, Callback done) {
  done = deferred(std::move(done));
  post({[this, seq, done]() {
          release_sequence(seq);
          done(Result{});
          return true;
        },
        [done](const std::string&, const char*) { done(Result{}); }});  // a disposed context holds nothing
}

void Engine::extend(uint64_t id, uint64_t seq, std::vector<llama_token> tokens, Callback done) {
  done = deferred(std::move(done));
  auto fail = [done](const std::string& e, const char* code = kInvalidArgument) { done(Result{e, code}); };
  if (std::string e = check_tokens(tokens, n_vocab_); !e.empty()) return fail(e);
  post({[this, id, seq, tokens = std::move(tokens), done, fail]() {
          Sequence* s = find(seq);
          if (!s) return fail("unknown or released sequence", kUnknownSequence), true;
          if (tokens.empty()) return done(Result{}), true;
          auto r = std::make_unique<Request>();
          r->kind = Request::prefill;
          r->id = id;
          r->seq = seq;
          r->done = done;
          if (s->last >= 0) r->feed.push_back(s->last);
          r->feed.insert(r->feed.end(), tokens.begin(), tokens.end() - 1);
          r->final_last = tokens.back();
          r->targets = tokens;
          begin(std::move(r));
          return true;
        },
        fail});
}

void Engine::generate(uint64_t id, uint64_t seq, GenerateParams params, Callback done) {
  done = deferred(std::move(done));
  auto fail = [done](const std::string& e, const char* code = kInvalidArgument) { done(Result{e, code}); };
  if (std::string e = check_tokens(params.stop_tokens, n_vocab_); !e.empty()) return fail(e);
  post({[this, id, seq, params = std::move(params), done, fail]() {
          Sequence* s = find(seq);
          if (!s) return fail("unknown or released sequence", kUnknownSequence), true;
          if (s->last < 0) return fail("the sequence is empty: prefill a prompt before generating"), true;
          auto r = std::make_unique<Request>();
          r->kind = Request::generate;
          r->id = id;
          r->seq = seq;
          r->done = done;
          r->gen = params;
          r->rng = Rng(params.sampling.seed);
          r->stop = StopMatcher(params.stop);
          r->feed = {s->last};
          if (params.max_tokens <= 0) {
            Result res;
            res.finish = "length";
            return done(std::move(res)), true;
          }
          begin(std::move(r));
          return true;
        },
        fail});
}

void Engine::score(uint64_t id, uint64_t seq, std::vector<llama_token> targets, Callback done) {
  done = deferred(std::move(done));
  auto fail = [done](const std::string& e, const char* code = kInvalidArgument) { done(Result{e, code}); };
  if (std::string e = check_tokens(targets, n_vocab_); !e.empty()) return fail(e);
  post({[this, id, seq, targets = std::move(targets), done, fail]() {
          Sequence* s = find(seq);
          if (!s) return fail("unknown or released sequence", kUnknownSequence), true;
          if (targets.empty()) return done(Result{}), true;
          if (s->last < 0) return fail("score needs a non-empty prefix: prefill the sequence first"), true;
          auto r = std::make_unique<Request>();
          r->kind = Request::score;
          r->id = id;
          r->seq = seq;
          r->done = done;
          r->feed.push_back(s->last);
          r->feed.insert(r->feed.end(), targets.begin(), targets.end() - 1);
          r->final_last = targets.back();
          r->targets = targets;
          begin(std::move(r));
          return true;
        },
        fail});
}

void Engine::rewind(uint64_t seq, uint32_t length, Callback done) {
  done = deferred(std::move(done));
  auto fail = [done](const std::string& e, const char* code = kInvalidArgument) { done(Result{e, code}); };
  post({[this, seq, length, done, fail]() {
          Sequence* s = find(seq);
          if (!s) return fail("unknown or released sequence", kUnknownSequence), true;
          if (s->busy) return fail("cannot rewind a sequence while a request runs on it", kBusy), true;
          if (length == 0 || length > s->tokens.size()) {
            return fail("rewind length must be between 1 and the sequence length (" + std::to_string(s->tokens.size()) + ")"), true;
          }
          const int32_t keep = static_cast<int32_t>(length) - 1;  // evaluated positions kept
          if (keep < s->shared) return fail("cannot rewind past the point this sequence was forked at (unified cache)"), true;
          if (keep < s->n_past) {
            llama_memory_seq_rm(llama_get_memory(ctx_), s->llama_id, keep, -1);
            const uint32_t removed = static_cast<uint32_t>(s->n_past - keep);
            s->seg->own -= removed;
            cells_used_ -= removed;
            s->n_past = keep;
          }
          s->tokens.resize(length);
          s->last = s->tokens.back();
          done(Result{});
          return true;
        },
        fail});
}

void Engine::next_logits(uint64_t id, uint64_t seq, Callback done) {
  done = deferred(std::move(done));
  auto fail = [done](const std::string& e, const char* code = kInvalidArgument) { done(Result{e, code}); };
  post({[this, id, seq, done, fail]() {
          Sequence* s = find(seq);
          if (!s) return fail("unknown or released sequence", kUnknownSequence), true;
          if (s->last < 0) return fail("the sequence is empty: prefill a prompt first"), true;
          auto r = std::make_unique<Request>();
          r->kind = Request::logits;
          r->id = id;
          r->seq = seq;
          r->done = done;
          r->feed = {s->last};
          begin(std::move(r));
          return true;
        },
        fail});
}

void Engine::set_adapters(std::vector<std::pair<AdapterPtr, float>> adapters, Callback done) {
  done = deferred(std::move(done));
  post({[this, adapters = std::move(adapters), done]() {
          std::vector<llama_adapter_lora*> a;
          std::vector<float> scales;
          for (auto& [ad, sc] : adapters) {
            a.push_back(ad.get());
            scales.push_back(sc);
          }
          clear_thread_errors();
          const int32_t rc = llama_set_adapters_lora(ctx_, a.data(), a.size(), scales.data());
          if (rc == 0) attached_ = adapters;  // keep them alive while the context uses them
          done(rc == 0 ? Result{} : Result{"failed to set LoRA adapters: " + thread_errors(), kBadAdapter});
          return true;
        },
        [done](const std::string& e, const char* code) {
          done(Result{e, code});
        }});
}

void Engine::cancel(uint64_t id) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    cancels_.push_back(id);
  }
  cv_.notify_one();
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return snapshot_;
}

// ---------------------------------------------------------------- engine thread

void Engine::loop() {
  while (!stop_) {
    bool progressed = run_ops();
    drop_cancelled();
    progressed = step() || progressed;
    publish_stats();
    flush_outbox();
    if (progressed) continue;

    const bool blocked = !active_.empty() || !waiting_ops_.empty();
    std::unique_lock<std::mutex> lk(mu_);
    auto woken = [&] { return stop_ || !ops_.empty() || !cancels_.empty(); };
    if (!blocked) {
      cv_.wait(lk, woken);
      // Woken from idle by the first of what is often a burst of requests from one JS tick:
      // give the rest a moment to arrive so they share the first decode.
      lk.unlock();
      std::this_thread::sleep_for(std::chrono::microseconds(params_.gather_us));
    } else if (!cv_.wait_for(lk, std::chrono::milliseconds(params_.wait_ms), woken)) {
      // Nothing ran and nothing was released for wait_ms: what waits can never fit.
      lk.unlock();
      fail_blocked();
    }
  }
}

bool Engine::run_ops() {
  std::deque<Op> ops;
  {
    std::lock_guard<std::mutex> lk(mu_);
    ops.swap(ops_);
  }
  bool ran = false;
  // Waiters first, in order; then new ops (a release among them frees slots); then waiters again.
  auto drain_waiters = [&] {
    while (!waiting_ops_.empty() && waiting_ops_.front().run()) {
      waiting_ops_.pop_front();
      ran = true;
    }
  };
  drain_waiters();
  for (auto& op : ops) {
    if (op.run())
      ran = true;
    else
      waiting_ops_.push_back(std::move(op));
  }
  drain_waiters();
  return ran;
}

void Engine::drop_cancelled() {
  std::vector<uint64_t> ids;
  {
    std::lock_guard<std::mutex> lk(mu_);
    ids.swap(cancels_);
  }
  for (uint64_t id : ids) {
    bool found = false;
    for (auto& r : active_) {
      if (r->id == id && !r->finished) {
        finish(*r, aborted_result("aborted"));
        found = true;
      }
    }
    if (!found) pending_cancels_.insert(id);
  }
  active_.erase(std::remove_if(active_.begin(), active_.end(), [](auto& r) { return r->finished; }), active_.end());
}

void Engine::begin(std::unique_ptr<Request> r) {
  Sequence* s = find(r->seq);
  if (r->id != 0 && pending_cancels_.erase(r->id)) {
    return r->done(aborted_result("aborted"));
  }
  if (s->busy) return r->done(Result{"the sequence is busy: one request at a time per sequence", kBusy});
  if (r->kind == Request::generate && static_cast<uint32_t>(s->n_past) + 1 > params_.n_ctx_seq) {
    Result res;  // no room for even one more token: an empty completion, like max_tokens 0
    res.finish = "context";
    return r->done(std::move(res));
  }
  if (r->kind != Request::generate && s->n_past + r->feed.size() + 1 > params_.n_ctx_seq) {
    return r->done(
        Result{"sequence of " + std::to_string(s->n_past + r->feed.size() + 1) + " tokens exceeds " + capacity_text(), kContextFull});
  }
  if (r->feed.empty()) {  // nothing to evaluate: a one-token prompt
    s->tokens.insert(s->tokens.end(), r->targets.begin(), r->targets.end());
    s->last = r->final_last;
    Result res;
    if (r->report_handle) res.handles.push_back(r->seq);
    return r->done(std::move(res));
  }
  s->busy = r.get();
  active_.push_back(std::move(r));
}

void Engine::finish(Request& r, Result&& res) {
  if (Sequence* s = find(r.seq); s && s->busy == &r) s->busy = nullptr;
  r.finished = true;
  if (r.kind == Request::prefill && r.report_handle && res.error.empty()) res.handles.push_back(r.seq);
  if (!res.error.empty() && r.report_handle) release_sequence(r.seq);  // a failed create leaves nothing
  r.done(std::move(res));
}

bool Engine::step() {
  if (active_.empty()) return false;
  std::vector<Part> parts;
  batch_.n_tokens = 0;
  uint32_t outputs = 0, planned = 0;
  const size_t n_active = active_.size();
  for (size_t k = 0; k < n_active; ++k) {
    Request* r = active_[(rr_ + k) % n_active].get();
    if (r->finished) continue;
    const int32_t room = static_cast<int32_t>(params_.n_batch) - static_cast<int32_t>(planned);
    if (room <= 0) break;
    int32_t take = static_cast<int32_t>(std::min<size_t>(r->feed.size() - r->fed, room));
    if (r->kind == Request::score) take = std::min<int32_t>(take, params_.n_outputs_max - outputs);
    const bool last_in = r->fed + take == r->feed.size();
    if ((r->kind == Request::generate || r->kind == Request::logits) && last_in && outputs >= params_.n_outputs_max) continue;
    if (take <= 0) continue;
    if (params_.kv_unified && cells_used_ + planned + take > params_.n_ctx) {
      r->blocked = true;
      continue;
    }
    r->blocked = false;
    const bool wants_last = r->kind == Request::generate || r->kind == Request::logits;
    outputs += r->kind == Request::score ? take : (wants_last && last_in ? 1 : 0);
    planned += take;
    parts.push_back({r, static_cast<int32_t>(planned) - take, take});
    batch_.n_tokens = static_cast<int32_t>(planned);
  }
  if (!params_.kv_unified) pack_streams(parts);
  for (const Part& p : parts) {
    Request* r = p.r;
    Sequence* s = find(r->seq);
    for (int32_t i = 0; i < p.n; ++i) {
      const int32_t b = p.first + i;
      const size_t j = r->fed + i;
      batch_.token[b] = r->feed[j];
      batch_.pos[b] = s->n_past + i;
      batch_.n_seq_id[b] = 1;
      batch_.seq_id[b][0] = s->llama_id;
      batch_.logits[b] =
          r->kind == Request::score || ((r->kind == Request::generate || r->kind == Request::logits) && j + 1 == r->feed.size());
    }
  }
  // Rotate the start only when the batch was full, so no request starves; otherwise keep the
  // order stable (a changing sequence order changes the ubatch layout llama.cpp builds).
  if (parts.size() < n_active) ++rr_;
  if (batch_.n_tokens == 0) return false;

  const auto t0 = std::chrono::steady_clock::now();
  const int32_t rc = llama_decode(ctx_, batch_);
  if (trace_) {
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    fprintf(stderr, "[engine] decode %d tokens, %zu parts, %zu active, %.3f ms\n", batch_.n_tokens, parts.size(), active_.size(), ms);
  }
  if (rc == 1) {
    if (trace_) fprintf(stderr, "[engine] decode found no KV slot for %d tokens\n", batch_.n_tokens);
    for (auto& p : parts) p.r->blocked = true;  // no KV slot after all: wait like a full cache
    return false;
  }
  if (rc != 0) {
    const bool halted = rc == 2;
    const std::string why = halted ? kDisposedText : "llama_decode failed (status " + std::to_string(rc) + ")";
    for (auto& p : parts) finish(*p.r, Result{why, halted ? kDisposed : kNativeError});
  } else {
    ++counters_.decode_calls;
    counters_.tokens_evaluated += batch_.n_tokens;
    for (auto& p : parts) {
      Sequence* s = find(p.r->seq);
      s->n_past += p.n;
      s->seg->own += p.n;
      cells_used_ += p.n;
      after_decode(*p.r, p.first, p.n);
    }
  }
  active_.erase(std::remove_if(active_.begin(), active_.end(), [](auto& r) { return r->finished; }), active_.end());
  return true;
}

void Engine::after_decode(Request& r, int32_t first, int32_t n) {
  const size_t fed_before = r.fed;
  r.fed += n;
  const bool complete = r.fed == r.feed.size();
  Sequence* s = find(r.seq);
  switch (r.kind) {
    case Request::prefill:
      if (complete) {
        s->tokens.insert(s->tokens.end(), r.targets.begin(), r.targets.end());
        s->last = r.final_last;
        finish(r, Result{});
      }
      break;
    case Request::score:
      for (int32_t i = 0; i < n; ++i) {
        r.res.logprobs.push_back(raw_logprob(llama_get_logits_ith(ctx_, first + i), n_vocab_, r.targets[fed_before + i]));
      }
      if (std::any_of(r.res.logprobs.end() - n, r.res.logprobs.end(), [](float x) { return std::isnan(x); })) {
        finish(r, Result{kNotFiniteText, kNotFinite});
        break;
      }
      counters_.tokens_scored += n;
      if (complete) {
        s->tokens.insert(s->tokens.end(), r.targets.begin(), r.targets.end());
        s->last = r.final_last;
        finish(r, std::move(r.res));
      }
      break;
    case Request::generate:
      if (complete) generate_token(r, llama_get_logits_ith(ctx_, first + n - 1));
      break;
    case Request::logits: {
      const float* row = llama_get_logits_ith(ctx_, first + n - 1);
      r.res.logits.assign(row, row + n_vocab_);
      // Take the pending token back out of the cache: the sequence is exactly as before.
      llama_memory_seq_rm(llama_get_memory(ctx_), s->llama_id, s->n_past - 1, -1);
      s->n_past -= 1;
      s->seg->own -= 1;
      cells_used_ -= 1;
      finish(r, std::move(r.res));
      break;
    }
  }
}

void Engine::generate_token(Request& r, const float* logits) {
  Sequence* s = find(r.seq);
  const Sampled sm = sampler_.sample(logits, n_vocab_, r.gen.sampling, r.rng);
  if (std::isnan(sm.raw_logprob)) return finish(r, Result{kNotFiniteText, kNotFinite});
  ++counters_.tokens_generated;
  s->last = sm.token;
  s->tokens.push_back(sm.token);
  r.res.tokens.push_back({sm.token, piece(sm.token), sm.raw_logprob, sm.sample_logprob});
  const bool stop_token = (r.gen.stop_at_eog && llama_vocab_is_eog(vocab_, sm.token)) ||
                          std::find(r.gen.stop_tokens.begin(), r.gen.stop_tokens.end(), sm.token) != r.gen.stop_tokens.end();
  std::string& text = r.res.text;
  const char* reason = nullptr;
  if (stop_token) {
    reason = "eos";
  } else {
    const size_t prev = text.size();
    text += r.res.tokens.back().piece;
    const size_t at = r.stop.find(text, prev);
    if (at != std::string::npos) {
      text.resize(at);
      reason = "stop";
    }
  }
  if (!reason && static_cast<int32_t>(r.res.tokens.size()) >= r.gen.max_tokens) reason = "length";
  if (!reason && static_cast<uint32_t>(s->n_past) + 1 > params_.n_ctx_seq) reason = "context";
  if (reason) {
    r.res.finish = reason;
    finish(r, std::move(r.res));
    return;
  }
  r.feed.assign(1, sm.token);
  r.fed = 0;
}

void Engine::fail_blocked() {
  const std::string cells = "KV cache full: " + std::to_string(cells_used_) + " of " + std::to_string(params_.n_ctx) +
                            " cells are held by live sequences; release sequences or use a larger contextSize";
  for (auto& r : active_)
    if (r->blocked && !r->finished) finish(*r, Result{cells, kKvFull});
  active_.erase(std::remove_if(active_.begin(), active_.end(), [](auto& r) { return r->finished; }), active_.end());
  const std::string slots =
      "no free sequence slot: all " + std::to_string(params_.n_seq_max) + " are in use; release sequences or use a larger maxSequences";
  for (auto& op : waiting_ops_) op.fail(slots, kNoSlot);
  waiting_ops_.clear();
}

Callback Engine::deferred(Callback done) {
  return [this, done = std::move(done)](Result&& r) {
    if (std::this_thread::get_id() == thread_.get_id())
      outbox_.emplace_back(done, std::move(r));
    else
      done(std::move(r));
  };
}

void Engine::flush_outbox() {
  std::vector<std::pair<Callback, Result>> out;
  out.swap(outbox_);
  for (auto& [done, r] : out) done(std::move(r));
}

void Engine::publish_stats() {
  EngineStats st = counters_;
  st.seq_slots = params_.n_seq_max;
  st.seq_slots_free = static_cast<uint32_t>(free_slots_.size());
  st.live_sequences = static_cast<uint32_t>(seqs_.size());
  st.kv_cells = params_.n_ctx;
  st.kv_cells_used = cells_used_;
  st.requests_active = static_cast<uint32_t>(active_.size());
  st.requests_waiting = static_cast<uint32_t>(waiting_ops_.size());
  std::lock_guard<std::mutex> lk(mu_);
  snapshot_ = st;
}

std::string Engine::capacity_text() const {
  if (params_.kv_unified) return "the context size (" + std::to_string(params_.n_ctx) + " tokens)";
  return "the context size of one sequence (" + std::to_string(params_.n_ctx_seq) +
         " tokens: contextSize / maxSequences, rounded up to 256)";
}

std::string Engine::piece(llama_token t) const {
  char buf[256];
  const int32_t n = llama_token_to_piece(vocab_, t, buf, sizeof buf, 0, false);
  return n > 0 ? std::string(buf, n) : std::string();
}

void Engine::move_sequence(Sequence* s, int32_t to) {
  llama_memory_t mem = llama_get_memory(ctx_);
  free_slots_.erase(to);
  llama_memory_seq_cp(mem, s->llama_id, to, -1, -1);  // applied, in order, at the next decode
  llama_memory_seq_rm(mem, s->llama_id, -1, -1);
  free_slots_.insert(s->llama_id);
  s->llama_id = to;
  ++counters_.relocations;
}

void Engine::pack_streams(std::vector<Part>& parts) {
  // On a split cache llama.cpp puts only consecutive sequence ids into one ubatch, so a batch
  // whose sequences are scattered over the slots runs as many small ubatches. Make the batch's
  // slots one consecutive block: pick the window of slots that needs the fewest moves (a move
  // is one stream copy), move other live sequences out of it and the batch's into it.
  const int32_t slots = static_cast<int32_t>(params_.n_seq_max);
  const int32_t c = static_cast<int32_t>(parts.size());
  std::vector<Sequence*> at(slots, nullptr);
  for (auto& [h, seq] : seqs_) at[seq->llama_id] = seq.get();
  std::vector<char> in_batch(slots, 0);
  for (const Part& p : parts) in_batch[find(p.r->seq)->llama_id] = 1;
  int32_t runs = 0;
  for (int32_t i = 0; i < slots; ++i) runs += in_batch[i] && (i == 0 || !in_batch[i - 1]);
  if (runs > 1) {
    const int32_t free_total = static_cast<int32_t>(free_slots_.size());
    int32_t best_w = -1, best_cost = INT32_MAX;
    int32_t inside = 0, others = 0, free_in = 0;  // counts over the window [w, w + c)
    for (int32_t i = 0; i < slots; ++i) {
      inside += in_batch[i];
      others += at[i] && !in_batch[i];
      free_in += !at[i];
      if (i >= c) {
        const int32_t o = i - c;
        inside -= in_batch[o];
        others -= at[o] && !in_batch[o];
        free_in -= !at[o];
      }
      if (i < c - 1 || free_total - free_in < others) continue;
      const int32_t cost = (c - inside) + others;
      if (cost < best_cost) best_cost = cost, best_w = i - c + 1;
    }
    if (best_w >= 0) {
      auto outside_free = [&] {
        for (int32_t f : free_slots_)
          if (f < best_w || f >= best_w + c) return f;
        return -1;
      };
      for (int32_t i = best_w; i < best_w + c; ++i)
        if (at[i] && !in_batch[i]) move_sequence(at[i], outside_free());
      for (const Part& p : parts) {
        Sequence* s = find(p.r->seq);
        if (s->llama_id >= best_w && s->llama_id < best_w + c) continue;
        move_sequence(s, *free_slots_.lower_bound(best_w));
      }
    }
  }
  // Tokens in slot order, so that the block forms whole ubatches.
  std::sort(parts.begin(), parts.end(), [&](const Part& a, const Part& b) { return find(a.r->seq)->llama_id < find(b.r->seq)->llama_id; });
  int32_t first = 0;
  for (Part& p : parts) p.first = first, first += p.n;
}

int32_t Engine::take_slot() {
  if (free_slots_.empty()) return -1;
  const int32_t id = *free_slots_.begin();  // lowest first: live streams stay packed
  free_slots_.erase(free_slots_.begin());
  return id;
}

uint64_t Engine::new_sequence(int32_t llama_id) {
  auto s = std::make_unique<Sequence>();
  s->llama_id = llama_id;
  s->seg = std::make_shared<Segment>(nullptr, &cells_used_);
  const uint64_t h = next_handle_++;
  seqs_[h] = std::move(s);
  return h;
}

Engine::Sequence* Engine::find(uint64_t handle) {
  auto it = seqs_.find(handle);
  return it == seqs_.end() ? nullptr : it->second.get();
}

void Engine::release_sequence(uint64_t handle) {
  Sequence* s = find(handle);
  if (!s) return;
  if (s->busy) {
    Request* r = s->busy;
    r->finished = true;
    s->busy = nullptr;
    r->done(aborted_result("aborted: sequence released"));
  }
  llama_memory_seq_rm(llama_get_memory(ctx_), s->llama_id, -1, -1);
  free_slots_.insert(s->llama_id);
  seqs_.erase(handle);  // its segment chain returns the cells it alone held
}

}  // namespace genius
