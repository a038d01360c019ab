#include "context.h"

#include "adapter.h"
#include "async.h"
#include "model.h"

#include <climits>
#include <cmath>

namespace genius {

static Napi::FunctionReference* g_context_ctor = nullptr;
using JsJob = std::function<void(Napi::Env)>;

Napi::Function AddonContext::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "NativeContext",
                                    {
                                        InstanceMethod("createSequence", &AddonContext::CreateSequence),
                                        InstanceMethod("fork", &AddonContext::Fork),
                                        InstanceMethod("release", &AddonContext::Release),
                                        InstanceMethod("extend", &AddonContext::Extend),
                                        InstanceMethod("rewind", &AddonContext::Rewind),
                                        InstanceMethod("generate", &AddonContext::Generate),
                                        InstanceMethod("score", &AddonContext::Score),
                                        InstanceMethod("logits", &AddonContext::Logits),
                                        InstanceMethod("setAdapters", &AddonContext::SetAdapters),
                                        InstanceMethod("cancel", &AddonContext::Cancel),
                                        InstanceMethod("stats", &AddonContext::Stats),
                                        InstanceMethod("info", &AddonContext::Info),
                                        InstanceMethod("dispose", &AddonContext::Dispose),
                                    });
  g_context_ctor = new Napi::FunctionReference(Napi::Persistent(ctor));
  return ctor;
}

static constexpr double kU32Max = 4294967295.0;
static constexpr double kI32Max = 2147483647.0;

// Every size is range-checked here: a cast alone wraps 1e12 to a small or huge 32-bit value.
static EngineParams parse_params(Napi::Object o) {
  EngineParams p;
  p.n_ctx = static_cast<uint32_t>(opt_integer(o, "contextSize", p.n_ctx, 1, kI32Max));
  p.n_seq_max = static_cast<uint32_t>(opt_integer(o, "maxSequences", p.n_seq_max, 1, 256));
  p.n_batch = static_cast<uint32_t>(opt_integer(o, "batchSize", p.n_batch, 1, 1 << 20));
  p.n_ubatch = static_cast<uint32_t>(opt_integer(o, "ubatchSize", p.n_ubatch, 1, 1 << 20));
  p.n_outputs_max = static_cast<uint32_t>(opt_integer(o, "outputsMax", 0, 0, 1 << 20));
  p.n_threads = opt_threads(o, "threads");
  p.wait_ms = static_cast<uint32_t>(opt_integer(o, "waitMs", p.wait_ms, 0, kU32Max));
  p.gather_us = static_cast<uint32_t>(opt_integer(o, "gatherUs", p.gather_us, 0, 1e7));
  const std::string fa = opt_string(o, "flashAttention", "auto");
  if (fa != "auto" && fa != "on" && fa != "off") throw type_error(o.Env(), "flashAttention must be auto|on|off");
  p.flash_attn = fa == "auto" ? -1 : fa == "on" ? 1 : 0;
  const std::string kv = opt_string(o, "kvType", "f16");
  if (kv != "f16" && kv != "f32") throw type_error(o.Env(), "kvType must be f16|f32");
  p.kv_f32 = kv == "f32";
  p.kv_unified = opt_bool(o, "kvUnified", p.kv_unified);
  return p;
}

Napi::Value AddonContext::Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ModelPtr model = unwrap_tagged<AddonModel>(env, info.Length() > 0 ? info[0] : env.Undefined(), kModelTag, "model")->model(env);
  const EngineParams params = parse_params(info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env));
  auto engine = std::make_shared<std::unique_ptr<Engine>>();
  return PromiseWorker::run(
      env, [=]() { *engine = std::make_unique<Engine>(model, params); },
      [=](Napi::Env env) -> Napi::Value {
        auto external = Napi::External<std::unique_ptr<Engine>>::New(env, engine.get());
        return g_context_ctor->New({external});
      });
}

AddonContext::AddonContext(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AddonContext>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsExternal())
    throw type_error(env, "NativeContext cannot be constructed directly; use createContext()");
  tag_object(env, info.This().As<Napi::Object>(), kContextTag);
  engine_ = std::move(*info[0].As<Napi::External<std::unique_ptr<Engine>>>().Data());
  tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function(), "genius-engine", 0, 1);
  tsfn_.Unref(env);  // an idle context must not keep the process alive
  // Registered after the TSFN's own hook, so it runs before it: the engine stops and the TSFN
  // is released while both are valid (a finalizer doing it later, mid-teardown, aborts).
  env_ = env;
  hooked_ = napi_add_env_cleanup_hook(env, &AddonContext::OnEnvCleanup, this) == napi_ok;
}

AddonContext::~AddonContext() { shutdown(); }

void AddonContext::OnEnvCleanup(void* self) {
  auto* c = static_cast<AddonContext*>(self);
  c->hooked_ = false;
  c->shutdown();
}

void AddonContext::shutdown() {
  if (hooked_) {
    napi_remove_env_cleanup_hook(env_, &AddonContext::OnEnvCleanup, this);
    hooked_ = false;
  }
  if (!engine_) return;
  engine_.reset();  // joins the engine thread; pending work is failed through the TSFN
  tsfn_.Release();  // queued settlements still run before it closes
}

Engine& AddonContext::engine(Napi::Env env) {
  if (!engine_) throw coded(Napi::Error::New(env, "context is disposed"), kDisposed);
  return *engine_;
}

void AddonContext::settled() {
  if (--outstanding_ == 0) {
    tsfn_.Unref(Env());
    Unref();
  }
}

std::pair<Napi::Promise, Callback> AddonContext::promise(Napi::Env env, Convert convert) {
  auto deferred = std::make_shared<Napi::Promise::Deferred>(Napi::Promise::Deferred::New(env));
  if (outstanding_++ == 0) {
    tsfn_.Ref(env);
    Ref();  // keep this object (and so the TSFN) alive until every promise settles
  }
  Napi::ThreadSafeFunction tsfn = tsfn_;
  Callback done = [this, tsfn, deferred, convert](Result&& res) mutable {
    auto* job = new JsJob([this, deferred, convert, res = std::move(res)](Napi::Env env) mutable {
      if (res.error.empty()) {
        try {
          deferred->Resolve(convert(env, res));
        } catch (const Napi::Error& e) {
          deferred->Reject(e.Value());
        }
      } else {
        Napi::Error err = coded(Napi::Error::New(env, res.error), res.code ? res.code : kNativeError);
        if (res.aborted) err.Set("name", "AbortError");
        deferred->Reject(err.Value());
      }
      settled();
    });
    if (tsfn.NonBlockingCall(job, [](Napi::Env env, Napi::Function, JsJob* j) {
          if (env != nullptr) (*j)(env);
          delete j;
        }) != napi_ok) {
      delete job;
    }
  };
  return {deferred->Promise(), done};
}

static std::vector<llama_token> tokens_arg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i) throw type_error(info.Env(), "tokens are required");
  return token_ids(info.Env(), info[i], "tokens");
}

// A handle, request id or count: a non-negative integer (a fraction or NaN is a caller's bug).
static uint64_t u64_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsNumber()) throw type_error(info.Env(), std::string(name) + " must be a number");
  const double x = info[i].As<Napi::Number>().DoubleValue();
  if (!(x >= 0 && x <= 9007199254740991.0) || std::floor(x) != x) {
    throw range_error(info.Env(), std::string(name) + " must be a non-negative integer, got " + info[i].ToString().Utf8Value());
  }
  return static_cast<uint64_t>(x);
}

static Napi::Value no_value(Napi::Env env, Result&) { return env.Undefined(); }

static Napi::Value float_array(Napi::Env env, const std::vector<float>& v) {
  Napi::Float32Array a = Napi::Float32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

// createSequence(tokens) -> Promise<handle>
Napi::Value AddonContext::CreateSequence(const Napi::CallbackInfo& info) {
  check_this(info, kContextTag, kClassName);
  Napi::Env env = info.Env();
  Engine& e = engine(env);
  auto tokens = tokens_arg(info, 0);
  auto [p, done] = promise(env, [](Napi::Env env, Result& r) { return Napi::Number::New(env, static_cast<double>(r.handles.at(0))); });
  e.create_sequence(std::move(tokens), done);
  return p;
}

// fork(handle, n) -> Promise<handle[]>
Napi::Value AddonContext::Fork(const Napi::CallbackInfo& info) {
  check_this(info, kContextTag, kClassName);
  Napi::Env env = info.Env();
  Engine& e = engine(env);
  const uint64_t seq = u64_arg(info, 0, "sequence");
  const uint64_t n = u64_arg(info, 1, "n");
  auto [p, done] = promise(env, [](Napi::Env env, Result& r) {
    Napi::Array a = Napi::Array::New(env, r.handles.size());
    for (size_t i = 0; i < r.handles.size(); ++i) a.Set(i, Napi::Number::New(env, static_cast<double>(r.handles[i])));
    return a;
  });
  e.fork(seq, static_cast<uint32_t>(n), done);
  return p;
}

// release(handle) -> Promise<void>
Napi::Value AddonContext::Release(const Napi::CallbackInfo& info) {
  check_this(info, kContextTag, kClassName);
  Napi::Env env = info.Env();
  Engine& e = engine(env);
  const uint64_t seq = u64_arg(info, 0, "sequence");
  auto [p, done] = promise(env, no_value);
  e.release(seq, done);
  return p;
}

// extend(requestId, handle, tokens) -> Promise<void>
Napi::Value AddonContext::Extend(const Napi::CallbackInfo& info) {
  check_this(info, kContextTag, kClassName);
  Napi::Env env = info.Env();
  Engine& e = engine(env);
  const uint64_t id = u64_arg(info, 0, "request id");
  const uint64_t seq = u64_arg(info, 1, "sequence");
  auto tokens = tokens_arg(info, 2);
  auto [p, done] = promise(env, no_value);
  e.extend(id, seq, std::move(tokens), done);
  return p;
}

// rewind(handle, length) -> Promise<void>
Napi::Value AddonContext::Rewind(const Napi::CallbackInfo& info) {
  check_this(info, kContextTag, kClassName);
  Napi::Env env = info.Env();
  Engine& e = engine(env);
  const uint64_t seq = u64_arg(info, 0, "sequence");
  const uint64_t length = u64_arg(info, 1, "length");
  auto [p, done] = promise(env, no_value);
  e.rewind(seq, static_cast<uint32_t>(length), done);
  return p;
}

// maxTokens: an integer >= 0 or Infinity (until a stop, EOS or the context ends); a count past
// int32 means the same. The sampling numbers are range-checked: no silent clamping or wrap.
static GenerateParams parse_generate(Napi::Object o) {
  GenerateParams g;
  const double max_tokens = opt_number(o, "maxTokens", g.max_tokens);
  if (!(max_tokens >= 0) || (std::isfinite(max_tokens) && std::floor(max_tokens) != max_tokens)) {
    throw range_error(o.Env(), "maxTokens must be an integer >= 0 (or Infinity), got " + o.Get("maxTokens").ToString().Utf8Value());
  }
  g.max_tokens = max_tokens >= kI32Max ? INT32_MAX : static_cast<int32_t>(max_tokens);
  g.sampling.temperature = static_cast<float>(opt_finite(o, "temperature", 1.0, 0, 1e6));
  g.sampling.top_k = static_cast<int32_t>(opt_integer(o, "topK", 0, 0, kI32Max));
  g.sampling.top_p = static_cast<float>(opt_finite(o, "topP", 1.0, 0, 1));
  g.sampling.seed = static_cast<uint64_t>(opt_integer(o, "seed", 0, 0, 9007199254740991.0));
  g.stop_at_eog = opt_bool(o, "stopAtEog", true);
  Napi::Value stop = o.Get("stop");
  if (!stop.IsUndefined() && !stop.IsNull()) {
    if (!stop.IsArray()) throw type_error(o.Env(), "stop must be an array of strings");
    Napi::Array a = stop.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      if (!a.Get(i).IsString()) throw type_error(o.Env(), "stop must be an array of strings");
      g.stop.push_back(a.Get(i).As<Napi::String>().Utf8Value());
    }
  }
  Napi::Value st = o.Get("stopTokens");
  if (!st.IsUndefined() && !st.IsNull()) g.stop_tokens = token_ids(o.Env(), st, "stopTokens");
  return g;
}

// generate(requestId, handle, params) -> Promise<{tokens, pieces, rawLogprobs, sampleLogprobs, text, finish}>
Napi::Value AddonContext::Generate(const Napi::CallbackInfo& info) {
  check_this(info, kContextTag, kClassName);
  Napi::Env env = info.Env();
  Engine& e = engine(env);
  const uint64_t id = u64_arg(info, 0, "request id");
  const uint64_t seq = u64_arg(info, 1, "sequence");
  GenerateParams g = parse_generate(arg_object(info, 2, "params"));
  auto [p, done] = promise(env, [](Napi::Env env, Result& r) {
    const size_t n = r.tokens.size();
    Napi::Int32Array ids = Napi::Int32Array::New(env, n);
    Napi::Float32Array raw = Napi::Float32Array::New(env, n);
    Napi::Float32Array sampled = Napi::Float32Array::New(env, n);
    Napi::Array pieces = Napi::Array::New(env, n);
    for (size_t i = 0; i < n; ++i) {
      ids[i] = r.tokens[i].id;
      raw[i] = r.tokens[i].raw_logprob;
      sampled[i] = r.tokens[i].sample_logprob;
      pieces.Set(i, Napi::String::New(env, r.tokens[i].piece));
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("tokens", ids);
    o.Set("pieces", pieces);
    o.Set("rawLogprobs", raw);
    o.Set("sampleLogprobs", sampled);
    o.Set("text", Napi::String::New(env, r.text));
    o.Set("finish", r.finish);
    return o;
  });
  e.generate(id, seq, std::move(g), done);
  return p;
}

// score(requestId, handle, tokens) -> Promise<Float32Array>
Napi::Value AddonContext::Score(const Napi::CallbackInfo& info) {
  check_this(info, kContextTag, kClassName);
  Napi::Env env = info.Env();
  Engine& e = engine(env);
  const uint64_t id = u64_arg(info, 0, "request id");
  const uint64_t seq = u64_arg(info, 1, "sequence");
  auto tokens = tokens_arg(info, 2);
  auto [p, done] = promise(env, [](Napi::Env env, Result& r) { return float_array(env, r.logprobs); });
  e.score(id, seq, std::move(tokens), done);
  return p;
}

// logits(requestId, handle) -> Promise<Float32Array>
Napi::Value AddonContext::Logits(const Napi::CallbackInfo& info) {
  check_this(info, kContextTag, kClassName);
  Napi::Env env = info.Env();
  Engine& e = engine(env);
  const uint64_t id = u64_arg(info, 0, "request id");
  const uint64_t seq = u64_arg(info, 1, "sequence");
  auto [p, done] = promise(env, [](Napi::Env env, Result& r) { return float_array(env, r.logits); });
  e.next_logits(id, seq, done);
  return p;
}

// setAdapters([{adapter, scale}]) -> Promise<void>
Napi::Value AddonContext::SetAdapters(const Napi::CallbackInfo& info) {
  check_this(info, kContextTag, kClassName);
  Napi::Env env = info.Env();
  Engine& e = engine(env);
  if (info.Length() < 1 || !info[0].IsArray()) throw type_error(env, "adapters must be an array of {adapter, scale}");
  Napi::Array a = info[0].As<Napi::Array>();
  std::vector<std::pair<AdapterPtr, float>> list;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    if (!a.Get(i).IsObject()) throw type_error(env, "adapters must be an array of {adapter, scale}");
    Napi::Object item = a.Get(i).As<Napi::Object>();
    list.emplace_back(unwrap_tagged<AddonAdapter>(env, item.Get("adapter"), kAdapterTag, "adapter")->adapter(env),
                      static_cast<float>(opt_finite(item, "scale", 1.0, -1e6, 1e6)));
  }
  auto [p, done] = promise(env, no_value);
  e.set_adapters(std::move(list), done);
  return p;
}

Napi::Value AddonContext::Cancel(const Napi::CallbackInfo& info) {
  check_this(info, kContextTag, kClassName);
  if (engine_) engine_->cancel(u64_arg(info, 0, "request id"));
  return info.Env().Undefined();
}

Napi::Value AddonContext::Stats(const Napi::CallbackInfo& info) {
  check_this(info, kContextTag, kClassName);
  Napi::Env env = info.Env();
  const EngineStats s = engine(env).stats();
  Napi::Object o = Napi::Object::New(env);
  o.Set("sequenceSlots", s.seq_slots);
  o.Set("sequenceSlotsFree", s.seq_slots_free);
  o.Set("liveSequences", s.live_sequences);
  o.Set("kvCells", s.kv_cells);
  o.Set("kvCellsUsed", s.kv_cells_used);
  o.Set("requestsActive", s.requests_active);
  o.Set("requestsWaiting", s.requests_waiting);
  o.Set("tokensEvaluated", Napi::Number::New(env, static_cast<double>(s.tokens_evaluated)));
  o.Set("tokensGenerated", Napi::Number::New(env, static_cast<double>(s.tokens_generated)));
  o.Set("tokensScored", Napi::Number::New(env, static_cast<double>(s.tokens_scored)));
  o.Set("decodeCalls", Napi::Number::New(env, static_cast<double>(s.decode_calls)));
  o.Set("relocations", Napi::Number::New(env, static_cast<double>(s.relocations)));
  return o;
}

Napi::Value AddonContext::Info(const Napi::CallbackInfo& info) {
  check_this(info, kContextTag, kClassName);
  Napi::Env env = info.Env();
  const EngineParams& p = engine(env).params();
  Napi::Object o = Napi::Object::New(env);
  o.Set("contextSize", p.n_ctx);
  o.Set("maxSequences", p.n_seq_max);
  o.Set("batchSize", p.n_batch);
  o.Set("ubatchSize", p.n_ubatch);
  o.Set("outputsMax", p.n_outputs_max);
  o.Set("flashAttention", p.flash_attn < 0 ? "auto" : p.flash_attn ? "on" : "off");
  o.Set("kvType", p.kv_f32 ? "f32" : "f16");
  o.Set("kvUnified", p.kv_unified);
  o.Set("sequenceContextSize", p.n_ctx_seq);
  return o;
}

Napi::Value AddonContext::Dispose(const Napi::CallbackInfo& info) {
  check_this(info, kContextTag, kClassName);
  shutdown();
  return info.Env().Undefined();
}

}  // namespace genius
