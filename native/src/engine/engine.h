// The rollout engine: one llama_context, one engine thread, many sequences. Every generate,
// score and prefill request from any caller joins the same llama_decode batches (continuous
// batching). Each sequence has its own KV cache stream by default (split cache), and a fork
// copies its parent's stream (on a unified cache it shares the cells), so N children of a prefix
// cost no re-prefill.
//
// Threading: callers only enqueue operations and set cancel flags; all engine state is touched
// by the engine thread alone. Results leave through each request's callback, on that thread.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <set>
#include <unordered_set>
#include <vector>

#include "../errors.h"
#include "llama.h"
#include "sampling.h"
#include "stop_matcher.h"

namespace genius {

using ModelPtr = std::shared_ptr<llama_model>;
using AdapterPtr = std::shared_ptr<llama_adapter_lora>;  // its deleter keeps the model alive

struct EngineParams {
  uint32_t n_ctx = 4096;    // KV cells in all
  uint32_t n_seq_max = 64;  // live sequences at once
  uint32_t n_batch = 2048;  // tokens per llama_decode
  uint32_t n_ubatch = 512;
  uint32_t n_outputs_max = 0;  // logits rows per decode (0: max(n_seq_max, 256))
  int32_t n_threads = 0;       // 0: hardware concurrency
  int32_t flash_attn = -1;     // -1 auto, 0 off, 1 on
  bool kv_f32 = false;         // F32 KV cache instead of F16 (exact-arithmetic checks)
  // Unified: one cache shared by all sequences; a fork shares cells (free) but every token
  // attends over the whole cache. Split: one stream of n_ctx / n_seq_max cells per sequence; a
  // fork copies the parent's stream, attention stays per sequence. Split is the default: it
  // measured 6.5x faster at batch 64 on CPU (bench/RESULTS.md).
  bool kv_unified = false;
  uint32_t n_ctx_seq = 0;     // read back: cells one sequence can hold
  uint32_t wait_ms = 2000;    // how long a request blocked on cells/slots waits for a release
  uint32_t gather_us = 1000;  // after idle, wait this long for a burst of requests to arrive
};

struct GenerateParams {
  SamplingParams sampling;
  int32_t max_tokens = 256;
  std::vector<std::string> stop;
  std::vector<llama_token> stop_tokens;
  bool stop_at_eog = true;  // stop on the vocabulary's end-of-generation tokens
};

struct TokenOut {
  llama_token id;
  std::string piece;
  float raw_logprob;
  float sample_logprob;
};

// What a request produces; `error` non-empty means it failed (`aborted` if cancelled).
struct Result {
  std::string error;
  const char* code = nullptr;  // with `error`: one of errors.h
  bool aborted = false;
  std::vector<uint64_t> handles;  // new sequences (create, fork)
  std::vector<TokenOut> tokens;   // generate
  std::string text;               // generate: bytes before any stop string
  std::string finish;             // generate: stop | eos | length | context
  std::vector<float> logprobs;    // score
  std::vector<float> logits;      // next_logits: raw next-token logits
};

using Callback = std::function<void(Result&&)>;

struct EngineStats {
  uint32_t seq_slots = 0, seq_slots_free = 0, live_sequences = 0;
  uint32_t kv_cells = 0, kv_cells_used = 0;
  uint32_t requests_active = 0, requests_waiting = 0;
  uint64_t tokens_evaluated = 0, tokens_generated = 0, tokens_scored = 0, decode_calls = 0;
  uint64_t relocations = 0;  // sequences moved to a lower stream to keep batches packed
};

class Engine {
 public:
  Engine(ModelPtr model, const EngineParams& params);  // throws std::runtime_error
  ~Engine();                                           // fails pending work with "disposed"
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // All of these return at once; `done` runs on the engine thread.
  void create_sequence(std::vector<llama_token> tokens, Callback done);
  void fork(uint64_t seq, uint32_t n, Callback done);
  void release(uint64_t seq, Callback done);
  void extend(uint64_t id, uint64_t seq, std::vector<llama_token> tokens, Callback done);
  void generate(uint64_t id, uint64_t seq, GenerateParams params, Callback done);
  void score(uint64_t id, uint64_t seq, std::vector<llama_token> targets, Callback done);
  // Cuts the sequence back to its first `length` tokens (a rollout tried and discarded).
  void rewind(uint64_t seq, uint32_t length, Callback done);
  // The raw next-token logits after the sequence's content; leaves the sequence unchanged.
  void next_logits(uint64_t id, uint64_t seq, Callback done);
  // Replaces the attached LoRA adapters (empty: none). Sequences evaluated before keep their KV.
  void set_adapters(std::vector<std::pair<AdapterPtr, float>> adapters, Callback done);
  void cancel(uint64_t id);
  // Stops the engine thread (idempotent); work still queued is failed by the destructor.
  void halt();
  // halt() on every live engine: run at process exit, before static destructors.
  static void halt_all();

  EngineStats stats() const;
  const EngineParams& params() const { return params_; }

 private:
  struct Segment;
  struct Sequence;
  struct Request;
  struct Op;

  void post(Op op);
  void loop();
  bool run_ops();  // applies queued ops; true if any ran
  bool step();     // one llama_decode over all runnable requests; true if it made progress
  struct Part {
    Request* r;
    int32_t first;  // batch index of its first token
    int32_t n;
  };
  void pack_streams(std::vector<Part>& parts);
  void move_sequence(Sequence* s, int32_t to);
  void fail_blocked();
  void finish(Request& r, Result&& res);
  void begin(std::unique_ptr<Request> r);
  void after_decode(Request& r, int32_t first_out, int32_t n_fed);
  void generate_token(Request& r, const float* logits);
  void drop_cancelled();
  void publish_stats();
  // Callbacks run after the step's stats are published, so a caller that reads stats() when
  // its promise settles sees the state that settled it.
  Callback deferred(Callback done);
  void flush_outbox();
  std::string piece(llama_token t) const;
  std::string capacity_text() const;

  uint64_t new_sequence(int32_t llama_id);
  Sequence* find(uint64_t handle);
  int32_t take_slot();
  void release_sequence(uint64_t handle);

  ModelPtr model_;
  std::vector<std::pair<AdapterPtr, float>> attached_;
  const llama_vocab* vocab_ = nullptr;
  llama_context* ctx_ = nullptr;
  EngineParams params_;
  int32_t n_vocab_ = 0;
  llama_batch batch_{};

  // engine-thread state
  std::unordered_map<uint64_t, std::unique_ptr<Sequence>> seqs_;
  std::set<int32_t> free_slots_;
  std::deque<std::unique_ptr<Request>> active_;
  std::deque<Op> waiting_ops_;  // ops that need a free slot
  uint64_t next_handle_ = 1;
  size_t rr_ = 0;  // round-robin start, so no request starves when batches are full
  uint32_t cells_used_ = 0;
  bool trace_ = false;                            // GENIUS_ENGINE_TRACE: one stderr line per decode
  std::unordered_set<uint64_t> pending_cancels_;  // cancelled before their request began
  Sampler sampler_;
  EngineStats counters_;
  std::vector<std::pair<Callback, Result>> outbox_;

  // shared with callers
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Op> ops_;
  std::vector<uint64_t> cancels_;
  EngineStats snapshot_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace genius
