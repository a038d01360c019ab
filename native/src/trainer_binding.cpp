#include "trainer_binding.h"

#include <algorithm>

#include "async.h"

#include <algorithm>
#include <cmath>

namespace genius {

namespace {

Napi::FunctionReference* g_trainer_ctor = nullptr;

std::vector<int32_t> int_array(const Napi::Object& o, const char* key) { return token_ids(o.Env(), o.Get(key), key); }

std::vector<float> float_array(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return {};
  if (!v.IsArray()) throw type_error(o.Env(), std::string(key) + " must be an array of numbers");
  auto a = v.As<Napi::Array>();
  std::vector<float> out;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsNumber()) throw type_error(o.Env(), std::string(key) + " must hold numbers");
    out.push_back(static_cast<float>(e.As<Napi::Number>().DoubleValue()));
  }
  return out;
}

train::Batch parse_batch(const Napi::Object& o) {
  train::Batch b;
  b.tokens = int_array(o, "tokens");
  b.lengths = int_array(o, "lengths");
  b.prompt_lengths = int_array(o, "promptLengths");
  return b;
}

train::LossSpec parse_loss(const Napi::Object& o) {
  train::LossSpec s;
  s.type = opt_string(o, "type", s.type);
  s.beta = static_cast<float>(opt_number(o, "beta", s.beta));
  s.simpo_gamma = static_cast<float>(opt_number(o, "simpoGamma", s.simpo_gamma));
  s.ropo_alpha = static_cast<float>(opt_number(o, "ropoAlpha", s.ropo_alpha));
  s.ropo_gamma = static_cast<float>(opt_number(o, "ropoGamma", s.ropo_gamma));
  s.scale = static_cast<float>(opt_number(o, "scale", s.scale));
  s.label_smoothing = static_cast<float>(opt_number(o, "labelSmoothing", s.label_smoothing));
  s.weight = float_array(o, "weight");
  s.ref_chosen = float_array(o, "refChosen");
  s.ref_rejected = float_array(o, "refRejected");
  return s;
}

Napi::Float32Array to_float32(Napi::Env env, const std::vector<float>& v) {
  Napi::Float32Array a = Napi::Float32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

Napi::Array to_array(Napi::Env env, const std::vector<double>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); i++) a.Set(static_cast<uint32_t>(i), v[i]);
  return a;
}

}  // namespace

Napi::Function AddonTrainer::Init(Napi::Env env) {
  Napi::Function ctor =
      DefineClass(env, "NativeTrainer",
                  {InstanceMethod("info", &AddonTrainer::Info), InstanceMethod("logprobs", &AddonTrainer::Logprobs),
                   InstanceMethod("accumulate", &AddonTrainer::Accumulate), InstanceMethod("zeroGrad", &AddonTrainer::ZeroGrad),
                   InstanceMethod("step", &AddonTrainer::Step), InstanceMethod("describe", &AddonTrainer::Describe),
                   InstanceMethod("measure", &AddonTrainer::Measure), InstanceMethod("readFlat", &AddonTrainer::ReadFlat),
                   InstanceMethod("writeParameters", &AddonTrainer::WriteParameters), InstanceMethod("save", &AddonTrainer::Save),
                   InstanceMethod("loadState", &AddonTrainer::LoadState), InstanceMethod("dispose", &AddonTrainer::Dispose)});
  g_trainer_ctor = new Napi::FunctionReference(Napi::Persistent(ctor));
  return ctor;
}

Napi::Value AddonTrainer::Create(const Napi::CallbackInfo& info) {
  Napi::Object o = arg_object(info, 0, "options");
  train::TrainerOptions opt;
  opt.model = opt_string(o, "model", "");
  if (opt.model.empty()) throw type_error(info.Env(), "options.model must be a path");
  opt.full = opt_bool(o, "full", false);
  opt.base_f32 = opt_bool(o, "baseF32", false);
  opt.backend = opt_string(o, "backend", "cpu");
  opt.threads = opt_threads(o, "threads");
  opt.seed = static_cast<uint64_t>(opt_integer(o, "seed", 0, 0, 9007199254740991.0));
  opt.lora.rank = static_cast<int64_t>(opt_integer(o, "loraRank", 16, 1, 1 << 16));
  opt.lora.alpha = static_cast<float>(opt_number(o, "loraAlpha", 2.0 * static_cast<double>(opt.lora.rank)));
  opt.lora.init_b_std = static_cast<float>(opt_number(o, "loraInitBStd", 0));
  opt.lora.from = opt_string(o, "adapter", "");
  Napi::Value targets = o.Get("loraTargets");
  if (targets.IsArray()) {
    auto a = targets.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) opt.lora.targets.push_back(a.Get(i).ToString().Utf8Value());
  } else {
    opt.lora.targets = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
  }
  auto result = std::make_shared<std::shared_ptr<train::Trainer>>();
  return PromiseWorker::run(
      info.Env(), [=]() { *result = std::make_shared<train::Trainer>(opt); },
      [=](Napi::Env env) -> Napi::Value {
        return g_trainer_ctor->New({Napi::External<std::shared_ptr<train::Trainer>>::New(env, result.get())});
      });
}

AddonTrainer::AddonTrainer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AddonTrainer>(info) {
  if (info.Length() < 1 || !info[0].IsExternal())
    throw type_error(info.Env(), "NativeTrainer cannot be constructed directly; use createTrainer()");
  tag_object(info.Env(), info.This().As<Napi::Object>(), kTrainerTag);
  trainer_ = *info[0].As<Napi::External<std::shared_ptr<train::Trainer>>>().Data();
}

std::shared_ptr<train::Trainer> AddonTrainer::trainer(Napi::Env env) const {
  if (!trainer_) throw coded(Napi::Error::New(env, "trainer is disposed"), kDisposed);
  return trainer_;
}

Napi::Value AddonTrainer::Info(const Napi::CallbackInfo& info) {
  check_this(info, kTrainerTag, kClassName);
  auto t = trainer(info.Env());
  const train::Hparams& h = t->hparams();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("architecture", h.arch);
  o.Set("nVocab", static_cast<double>(h.n_vocab));
  o.Set("nLayer", static_cast<double>(h.n_layer));
  o.Set("nEmbd", static_cast<double>(h.n_embd));
  o.Set("nContextTrain", static_cast<double>(h.n_ctx_train));
  o.Set("backend", t->backend_name());
  o.Set("parameters", static_cast<double>(t->total_parameters()));
  o.Set("trainableParameters", static_cast<double>(t->trainable_parameters()));
  o.Set("step", static_cast<double>(t->step_count()));
  o.Set("memoryBytes", static_cast<double>(t->memory_bytes()));
  o.Set("peakGraphBytes", static_cast<double>(t->peak_graph_bytes()));
  o.Set("graphSplits", static_cast<double>(t->graph_splits()));
  const train::Weights& w = t->weights();
  o.Set("weightBytes", static_cast<double>(ggml_backend_buffer_get_size(w.buf)));
  Napi::Object types = Napi::Object::New(info.Env());  // stored type -> number of base tensors
  for (auto& [name, tensor] : w.named) {
    const char* ty = ggml_type_name(tensor->type);
    types.Set(ty, (types.Has(ty) ? types.Get(ty).As<Napi::Number>().DoubleValue() : 0.0) + 1.0);
  }
  o.Set("weightTypes", types);
  Napi::Array deq = Napi::Array::New(info.Env(), w.dequantized.size());
  for (size_t i = 0; i < w.dequantized.size(); i++) deq.Set(static_cast<uint32_t>(i), w.dequantized[i]);
  o.Set("dequantized", deq);
  if (w.has_lora) {
    Napi::Object l = Napi::Object::New(info.Env());
    l.Set("rank", static_cast<double>(w.lora_options.rank));
    l.Set("alpha", w.lora_options.alpha);
    Napi::Array targets = Napi::Array::New(info.Env(), w.lora_options.targets.size());
    for (size_t i = 0; i < w.lora_options.targets.size(); i++) targets.Set(static_cast<uint32_t>(i), w.lora_options.targets[i]);
    l.Set("targets", targets);
    o.Set("lora", l);
  }
  // The trainable tensors in read_flat order: per-block checks (gradients, updates) need it.
  const auto& params = t->parameter_tensors();
  Napi::Array tensors = Napi::Array::New(info.Env(), params.size());
  for (size_t i = 0; i < params.size(); i++) {
    Napi::Object e = Napi::Object::New(info.Env());
    e.Set("name", params[i]->name);
    e.Set("size", static_cast<double>(ggml_nelements(params[i])));
    tensors.Set(static_cast<uint32_t>(i), e);
  }
  o.Set("tensors", tensors);
  return o;
}

Napi::Value AddonTrainer::Logprobs(const Napi::CallbackInfo& info) {
  check_this(info, kTrainerTag, kClassName);
  auto t = trainer(info.Env());
  const train::Batch b = parse_batch(arg_object(info, 0, "batch"));
  auto out = std::make_shared<std::vector<float>>();
  return PromiseWorker::run(
      info.Env(), [=]() { *out = t->logprobs(b); }, [=](Napi::Env env) -> Napi::Value { return to_float32(env, *out); });
}

Napi::Value AddonTrainer::Accumulate(const Napi::CallbackInfo& info) {
  check_this(info, kTrainerTag, kClassName);
  auto t = trainer(info.Env());
  const train::Batch b = parse_batch(arg_object(info, 0, "batch"));
  const train::LossSpec s = parse_loss(arg_object(info, 1, "loss"));
  auto r = std::make_shared<train::MicroResult>();
  return PromiseWorker::run(
      info.Env(), [=]() { *r = t->accumulate(b, s); },
      [=](Napi::Env env) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("loss", r->loss);
        o.Set("chosen", to_array(env, r->chosen));
        o.Set("rejected", to_array(env, r->rejected));
        o.Set("pairLoss", to_array(env, r->pair_loss));
        o.Set("tokens", static_cast<double>(r->tokens));
        return o;
      });
}

namespace {

Napi::Object tensor_desc(Napi::Env env, const train::TensorDesc& d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", d.type);
  Napi::Array ne = Napi::Array::New(env, 4), nb = Napi::Array::New(env, 4);
  for (uint32_t i = 0; i < 4; i++) {
    ne.Set(i, static_cast<double>(d.ne[i]));
    nb.Set(i, static_cast<double>(d.nb[i]));
  }
  o.Set("ne", ne);
  o.Set("nb", nb);
  o.Set("typeSize", static_cast<double>(d.type_size));
  o.Set("blckSize", static_cast<double>(d.blck_size));
  o.Set("quantized", d.quantized);
  o.Set("contiguous", d.contiguous);
  o.Set("contiguous1", d.contiguous_1);
  o.Set("contiguous2", d.contiguous_2);
  o.Set("contiguousRows", d.contiguous_rows);
  o.Set("transposed", d.transposed);
  return o;
}

}  // namespace

Napi::Value AddonTrainer::Describe(const Napi::CallbackInfo& info) {
  auto t = trainer(info.Env());
  const train::Batch b = parse_batch(arg_object(info, 0, "batch"));
  const bool with_loss = info.Length() > 1 && info[1].IsObject();
  const train::LossSpec s = with_loss ? parse_loss(info[1].As<Napi::Object>()) : train::LossSpec{};
  auto nodes = std::make_shared<std::vector<train::NodeDesc>>();
  return PromiseWorker::run(
      info.Env(), [=]() { *nodes = t->describe(b, with_loss ? &s : nullptr); },
      [=](Napi::Env env) -> Napi::Value {
        Napi::Array a = Napi::Array::New(env, nodes->size());
        for (size_t i = 0; i < nodes->size(); i++) {
          const train::NodeDesc& n = (*nodes)[i];
          Napi::Object o = tensor_desc(env, n.tensor);
          o.Set("op", n.op);
          if (!n.sub_op.empty()) o.Set("subOp", n.sub_op);
          Napi::Array src = Napi::Array::New(env, n.src.size());
          for (size_t j = 0; j < n.src.size(); j++)
            src.Set(static_cast<uint32_t>(j), n.src[j] ? Napi::Value(tensor_desc(env, *n.src[j])) : env.Null());
          o.Set("src", src);
          Napi::Int32Array params = Napi::Int32Array::New(env, n.params.size());
          std::copy(n.params.begin(), n.params.end(), params.Data());
          o.Set("params", params);
          a.Set(static_cast<uint32_t>(i), o);
        }
        return a;
      });
}

Napi::Value AddonTrainer::Measure(const Napi::CallbackInfo& info) {
  auto t = trainer(info.Env());
  const train::Batch b = parse_batch(arg_object(info, 0, "batch"));
  const train::LossSpec s = parse_loss(arg_object(info, 1, "loss"));
  auto bytes = std::make_shared<size_t>(0);
  return PromiseWorker::run(
      info.Env(), [=]() { *bytes = t->measure(b, s); },
      [=](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, static_cast<double>(*bytes)); });
}

Napi::Value AddonTrainer::ZeroGrad(const Napi::CallbackInfo& info) {
  check_this(info, kTrainerTag, kClassName);
  auto t = trainer(info.Env());
  return PromiseWorker::run(
      info.Env(), [=]() { t->zero_grad(); }, [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
}

Napi::Value AddonTrainer::Step(const Napi::CallbackInfo& info) {
  check_this(info, kTrainerTag, kClassName);
  auto t = trainer(info.Env());
  Napi::Object o = arg_object(info, 0, "optimizer");
  train::AdamW a;
  a.lr = static_cast<float>(opt_finite(o, "lr", a.lr, 0, 3.0e38));  // a diverging lr is caught by the finiteness checks
  a.beta1 = static_cast<float>(opt_number(o, "beta1", a.beta1));
  a.beta2 = static_cast<float>(opt_number(o, "beta2", a.beta2));
  a.eps = static_cast<float>(opt_number(o, "eps", a.eps));
  a.weight_decay = static_cast<float>(opt_number(o, "weightDecay", a.weight_decay));
  a.max_grad_norm = static_cast<float>(opt_number(o, "maxGradNorm", a.max_grad_norm));
  auto norm = std::make_shared<double>(0.0);
  return PromiseWorker::run(
      info.Env(), [=]() { *norm = t->step(a); }, [=](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, *norm); });
}

// readFlat("parameters" | "gradients") -> Promise<Float32Array>
Napi::Value AddonTrainer::ReadFlat(const Napi::CallbackInfo& info) {
  check_this(info, kTrainerTag, kClassName);
  auto t = trainer(info.Env());
  const bool grads = arg_string(info, 0, "what") == "gradients";
  auto out = std::make_shared<std::vector<float>>();
  return PromiseWorker::run(
      info.Env(), [=]() { *out = t->read_flat(grads); }, [=](Napi::Env env) -> Napi::Value { return to_float32(env, *out); });
}

Napi::Value AddonTrainer::WriteParameters(const Napi::CallbackInfo& info) {
  check_this(info, kTrainerTag, kClassName);
  auto t = trainer(info.Env());
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(info.Env(), "parameters must be a Float32Array");
  auto a = info[0].As<Napi::Float32Array>();
  auto flat = std::make_shared<std::vector<float>>(a.Data(), a.Data() + a.ElementLength());
  return PromiseWorker::run(
      info.Env(), [=]() { t->write_parameters(*flat); }, [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
}

// save(kind, path[, { f16 }]): kind = adapter | model | state
Napi::Value AddonTrainer::Save(const Napi::CallbackInfo& info) {
  check_this(info, kTrainerTag, kClassName);
  auto t = trainer(info.Env());
  const std::string kind = arg_string(info, 0, "kind");
  const std::string path = arg_string(info, 1, "path");
  if (kind != "adapter" && kind != "model" && kind != "state") throw type_error(info.Env(), "kind must be adapter|model|state");
  const bool f16 = info.Length() > 2 && info[2].IsObject() && opt_bool(info[2].As<Napi::Object>(), "f16", false);
  return PromiseWorker::run(
      info.Env(),
      [=]() {
        // Diverged weights (a learning rate far too high) make every log-prob NaN downstream:
        // refuse to write them rather than leave a file that looks like a trained adapter.
        // An adapter must also stay inside F16's range: the engine's F16 KV cache turns larger
        // activations into Inf (an lr of 1e10 gave LoRA weights of 1e10 and NaN logits).
        const bool halfrange = f16 || kind == "adapter";
        const std::vector<float> flat = t->read_flat(false);
        const auto bad = std::find_if(flat.begin(), flat.end(),
                                      [halfrange](float x) { return !std::isfinite(x) || (halfrange && std::fabs(x) > 65504.0f); });
        if (bad != flat.end()) {
          throw CodedError(kNotFinite, std::string("the trained weights are not finite") + (halfrange ? " in F16" : "") + " (parameter " +
                                           std::to_string(bad - flat.begin()) + " is " + std::to_string(*bad) +
                                           "): training diverged (learning rate too high?); " + path + " was not written");
        }
        if (kind == "adapter")
          t->save_adapter(path);
        else if (kind == "model")
          t->save_model(path, f16);
        else
          t->save_state(path);
      },
      [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
}

Napi::Value AddonTrainer::LoadState(const Napi::CallbackInfo& info) {
  check_this(info, kTrainerTag, kClassName);
  auto t = trainer(info.Env());
  const std::string path = arg_string(info, 0, "path");
  return PromiseWorker::run(
      info.Env(), [=]() { t->load_state(path); }, [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
}

// Work in flight keeps the trainer alive; it is freed when the last job ends.
Napi::Value AddonTrainer::Dispose(const Napi::CallbackInfo& info) {
  check_this(info, kTrainerTag, kClassName);
  trainer_.reset();
  return info.Env().Undefined();
}

}  // namespace genius
