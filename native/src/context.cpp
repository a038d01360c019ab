#include "context.h"

#include "adapter.h"
#include "async.h"
#include "model.h"

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

static EngineParams parse_params(Napi::Object o) {
  EngineParams p;
  p.n_ctx = static_cast<uint32_t>(opt_number(o, "contextSize", p.n_ctx));
  p.n_seq_max = static_cast<uint32_t>(opt_number(o, "maxSequences", p.n_seq_max));
  p.n_batch = static_cast<uint32_t>(opt_number(o, "batchSize", p.n_batch));
  p.n_ubatch = static_cast<uint32_t>(opt_number(o, "ubatchSize", p.n_ubatch));
  p.n_outputs_max = static_cast<uint32_t>(opt_number(o, "outputsMax", 0));
  p.n_threads = static_cast<int32_t>(opt_number(o, "threads", 0));
  p.wait_ms = static_cast<uint32_t>(opt_number(o, "waitMs", p.wait_ms));
  p.gather_us = static_cast<uint32_t>(opt_number(o, "gatherUs", p.gather_us));
  const std::string fa = opt_string(o, "flashAttention", "auto");
  if (fa != "auto" && fa != "on" && fa != "off") throw Napi::TypeError::New(o.Env(), "flashAttention must be auto|on|off");
  p.flash_attn = fa == "auto" ? -1 : fa == "on" ? 1 : 0;
  const std::string kv = opt_string(o, "kvType", "f16");
  if (kv != "f16" && kv != "f32") throw Napi::TypeError::New(o.Env(), "kvType must be f16|f32");
  p.kv_f32 = kv == "f32";
  p.kv_unified = opt_bool(o, "kvUnified", p.kv_unified);
  return p;
}

Napi::Value AddonContext::Create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object model_obj = arg_object(info, 0, "model");
  ModelPtr model = AddonModel::Unwrap(model_obj)->model(env);
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
  if (info.Length() < 1 || !info[0].IsExternal()) throw Napi::TypeError::New(env, "NativeContext cannot be constructed directly; use createContext()");
  engine_ = std::move(*info[0].As<Napi::External<std::unique_ptr<Engine>>>().Data());
  tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function(), "genius-engine", 0, 1);
  tsfn_.Unref(env);  // an idle context must not keep the process alive
}

AddonContext::~AddonContext() { shutdown(); }

void AddonContext::shutdown() {
  if (!engine_) return;
  engine_.reset();  // joins the engine thread; pending work is failed through the TSFN
  tsfn_.Release();  // queued settlements still run before it closes
}

Engine& AddonContext::engine(Napi::Env env) {
  if (!engine_) throw Napi::Error::New(env, "context is disposed");
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
        Napi::Error err = Napi::Error::New(env, res.error);
        if (res.aborted) {
          err.Set("name", "AbortError");
          err.Set("code", "ABORT_ERR");
        }
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
  Napi::Env env = info.Env();
  if (info.Length() <= i) throw Napi::TypeError::New(env, "tokens are required");
  Napi::Value v = info[i];
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    Napi::Int32Array a = v.As<Napi::Int32Array>();
    return std::vector<llama_token>(a.Data(), a.Data() + a.ElementLength());
  }
  if (!v.IsArray()) throw Napi::TypeError::New(env, "tokens must be an Int32Array or an array of integers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<llama_token> out(a.Length());
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value e = a.Get(k);
    if (!e.IsNumber()) throw Napi::TypeError::New(env, "tokens must be integers");
    out[k] = e.As<Napi::Number>().Int32Value();
  }
  return out;
}

static uint64_t u64_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  return static_cast<uint64_t>(info[i].As<Napi::Number>().Int64Value());
}

static Napi::Value no_value(Napi::Env env, Result&) { return env.Undefined(); }

static Napi::Value float_array(Napi::Env env, const std::vector<float>& v) {
  Napi::Float32Array a = Napi::Float32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

// createSequence(tokens) -> Promise<handle>
Napi::Value AddonContext::CreateSequence(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Engine& e = engine(env);
  auto tokens = tokens_arg(info, 0);
  auto [p, done] = promise(env, [](Napi::Env env, Result& r) { return Napi::Number::New(env, static_cast<double>(r.handles.at(0))); });
  e.create_sequence(std::move(tokens), done);
  return p;
}

// fork(handle, n) -> Promise<handle[]>
Napi::Value AddonContext::Fork(const Napi::CallbackInfo& info) {
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
  Napi::Env env = info.Env();
  Engine& e = engine(env);
  const uint64_t seq = u64_arg(info, 0, "sequence");
  auto [p, done] = promise(env, no_value);
  e.release(seq, done);
  return p;
}

// extend(requestId, handle, tokens) -> Promise<void>
Napi::Value AddonContext::Extend(const Napi::CallbackInfo& info) {
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
  Napi::Env env = info.Env();
  Engine& e = engine(env);
  const uint64_t seq = u64_arg(info, 0, "sequence");
  const uint64_t length = u64_arg(info, 1, "length");
  auto [p, done] = promise(env, no_value);
  e.rewind(seq, static_cast<uint32_t>(length), done);
  return p;
}

static GenerateParams parse_generate(Napi::Object o) {
  GenerateParams g;
  g.max_tokens = static_cast<int32_t>(opt_number(o, "maxTokens", g.max_tokens));
  g.sampling.temperature = static_cast<float>(opt_number(o, "temperature", 1.0));
  g.sampling.top_k = static_cast<int32_t>(opt_number(o, "topK", 0));
  g.sampling.top_p = static_cast<float>(opt_number(o, "topP", 1.0));
  g.sampling.seed = static_cast<uint64_t>(opt_number(o, "seed", 0));
  g.stop_at_eog = opt_bool(o, "stopAtEog", true);
  Napi::Value stop = o.Get("stop");
  if (stop.IsArray()) {
    Napi::Array a = stop.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) g.stop.push_back(a.Get(i).ToString().Utf8Value());
  }
  Napi::Value st = o.Get("stopTokens");
  if (st.IsArray()) {
    Napi::Array a = st.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) g.stop_tokens.push_back(a.Get(i).ToNumber().Int32Value());
  }
  return g;
}

// generate(requestId, handle, params) -> Promise<{tokens, pieces, rawLogprobs, sampleLogprobs, text, finish}>
Napi::Value AddonContext::Generate(const Napi::CallbackInfo& info) {
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
  Napi::Env env = info.Env();
  Engine& e = engine(env);
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "adapters must be an array of {adapter, scale}");
  Napi::Array a = info[0].As<Napi::Array>();
  std::vector<std::pair<AdapterPtr, float>> list;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Object item = a.Get(i).As<Napi::Object>();
    list.emplace_back(AddonAdapter::Unwrap(item.Get("adapter").As<Napi::Object>())->adapter(env),
                      static_cast<float>(opt_number(item, "scale", 1.0)));
  }
  auto [p, done] = promise(env, no_value);
  e.set_adapters(std::move(list), done);
  return p;
}

Napi::Value AddonContext::Cancel(const Napi::CallbackInfo& info) {
  if (engine_) engine_->cancel(u64_arg(info, 0, "request id"));
  return info.Env().Undefined();
}

Napi::Value AddonContext::Stats(const Napi::CallbackInfo& info) {
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
  shutdown();
  return info.Env().Undefined();
}

}  // namespace genius
