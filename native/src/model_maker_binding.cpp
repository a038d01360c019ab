// makeModel(spec) -> Promise<{parameterCount, fileBytes, vocabSize}>: converts the JS spec only.
#include <napi.h>

#include "async.h"
#include "model_maker.h"

namespace genius {

static std::vector<std::string> string_array(Napi::Object o, const char* key) {
  std::vector<std::string> out;
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) throw Napi::TypeError::New(o.Env(), std::string(key) + " must be an array of strings");
  Napi::Array a = v.As<Napi::Array>();
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(a.Get(i).ToString().Utf8Value());
  return out;
}

template <typename T>
static std::vector<T> number_array(Napi::Object o, const char* key) {
  std::vector<T> out;
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) throw Napi::TypeError::New(o.Env(), std::string(key) + " must be an array of numbers");
  Napi::Array a = v.As<Napi::Array>();
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(static_cast<T>(a.Get(i).ToNumber().DoubleValue()));
  return out;
}

static VocabSpec parse_vocab(Napi::Object v) {
  VocabSpec s;
  s.from_path = opt_string(v, "path", "");
  if (!s.from_path.empty()) return s;
  s.model = opt_string(v, "model", "llama");
  s.pre = opt_string(v, "pre", "");
  s.tokens = string_array(v, "tokens");
  s.scores = number_array<float>(v, "scores");
  s.types = number_array<int32_t>(v, "types");
  s.bos = static_cast<int32_t>(opt_number(v, "bos", -1));
  s.eos = static_cast<int32_t>(opt_number(v, "eos", -1));
  s.unk = static_cast<int32_t>(opt_number(v, "unk", -1));
  s.pad = static_cast<int32_t>(opt_number(v, "pad", -1));
  s.add_bos = opt_bool(v, "addBos", true);
  s.add_eos = opt_bool(v, "addEos", false);
  s.add_space_prefix = opt_bool(v, "addSpacePrefix", true);
  s.chat_template = opt_string(v, "chatTemplate", "");
  return s;
}

Napi::Value MakeModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = arg_object(info, 0, "spec");
  ModelSpec s;
  s.out = opt_string(o, "out", "");
  if (s.out.empty()) throw Napi::TypeError::New(env, "spec.out (output path) is required");
  s.arch = opt_string(o, "arch", "llama");
  s.name = opt_string(o, "name", "genius-random");
  s.dtype = opt_string(o, "dtype", "f32");
  s.seed = static_cast<uint64_t>(opt_number(o, "seed", 0));
  s.n_embd = static_cast<int64_t>(opt_number(o, "embeddingLength", 64));
  s.n_layer = static_cast<int64_t>(opt_number(o, "layerCount", 2));
  s.n_head = static_cast<int64_t>(opt_number(o, "headCount", 4));
  s.n_head_kv = static_cast<int64_t>(opt_number(o, "headCountKv", 2));
  s.n_ff = static_cast<int64_t>(opt_number(o, "feedForwardLength", 128));
  s.head_dim = static_cast<int64_t>(opt_number(o, "headDim", 0));
  s.n_ctx = static_cast<int64_t>(opt_number(o, "contextLength", 2048));
  s.rope_theta = static_cast<float>(opt_number(o, "ropeTheta", 10000));
  s.rms_eps = static_cast<float>(opt_number(o, "rmsEps", 1e-5));
  s.tied_embeddings = opt_bool(o, "tiedEmbeddings", false);
  s.vocab = parse_vocab(arg_object(info, 1, "vocab"));

  auto made = std::make_shared<MadeModel>();
  return PromiseWorker::run(
      env, [s, made]() { *made = make_model(s); },
      [made](Napi::Env env) -> Napi::Value {
        Napi::Object r = Napi::Object::New(env);
        r.Set("parameterCount", Napi::Number::New(env, static_cast<double>(made->parameter_count)));
        r.Set("fileBytes", Napi::Number::New(env, static_cast<double>(made->file_bytes)));
        r.Set("vocabSize", Napi::Number::New(env, static_cast<double>(made->vocab_size)));
        return r;
      });
}

// makeLora({base, out, rank, alpha, targets?, seed}) -> Promise<{parameterCount, fileBytes}>
Napi::Value MakeLora(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = arg_object(info, 0, "spec");
  LoraSpec s;
  s.base = opt_string(o, "base", "");
  s.out = opt_string(o, "out", "");
  if (s.base.empty() || s.out.empty()) throw Napi::TypeError::New(env, "spec.base and spec.out are required");
  s.rank = static_cast<int64_t>(opt_number(o, "rank", 8));
  s.alpha = static_cast<float>(opt_number(o, "alpha", 16));
  s.seed = static_cast<uint64_t>(opt_number(o, "seed", 0));
  if (o.Get("targets").IsArray()) s.targets = string_array(o, "targets");
  auto made = std::make_shared<MadeModel>();
  return PromiseWorker::run(
      env, [s, made]() { *made = make_lora(s); },
      [made](Napi::Env env) -> Napi::Value {
        Napi::Object r = Napi::Object::New(env);
        r.Set("parameterCount", Napi::Number::New(env, static_cast<double>(made->parameter_count)));
        r.Set("fileBytes", Napi::Number::New(env, static_cast<double>(made->file_bytes)));
        return r;
      });
}

}  // namespace genius
