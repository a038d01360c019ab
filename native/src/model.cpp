#include "model.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "async.h"
#include "gguf_file.h"
#include "log.h"

namespace genius {

static Napi::FunctionReference* g_model_ctor = nullptr;

Napi::Function AddonModel::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "NativeModel",
                                    {
                                        InstanceMethod("info", &AddonModel::Info),
                                        InstanceMethod("tokenize", &AddonModel::Tokenize),
                                        InstanceMethod("detokenize", &AddonModel::Detokenize),
                                        InstanceMethod("tokenPiece", &AddonModel::TokenPiece),
                                        InstanceMethod("applyChatTemplate", &AddonModel::ApplyChatTemplate),
                                        InstanceMethod("dispose", &AddonModel::Dispose),
                                        InstanceAccessor("disposed", &AddonModel::IsDisposed, nullptr),
                                    });
  g_model_ctor = new Napi::FunctionReference(Napi::Persistent(ctor));
  return ctor;
}

AddonModel::AddonModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AddonModel>(info) {
  // Only Load() constructs us, passing the model through an External.
  if (info.Length() < 2 || !info[0].IsExternal()) {
    throw type_error(info.Env(), "NativeModel cannot be constructed directly; use loadModel()");
  }
  tag_object(info.Env(), info.This().As<Napi::Object>(), kModelTag);
  model_ = *info[0].As<Napi::External<ModelPtr>>().Data();
  path_ = info[1].As<Napi::String>().Utf8Value();
}

ModelPtr AddonModel::model(Napi::Env env) const {
  if (!model_) throw coded(Napi::Error::New(env, "model is disposed"), kDisposed);
  return model_;
}

const llama_vocab* AddonModel::vocab(Napi::Env env) const { return llama_model_get_vocab(model(env).get()); }

Napi::Value AddonModel::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = arg_string(info, 0, "path");
  Napi::Object opts = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  const int gpu_layers = static_cast<int>(opt_integer(opts, "gpuLayers", 0, -1, 1e6));
  const bool vocab_only = opt_bool(opts, "vocabOnly", false);
  const bool use_mmap = opt_bool(opts, "mmap", true);

  auto result = std::make_shared<ModelPtr>();
  return PromiseWorker::run(
      env,
      [=]() {
        try {
          validate_gguf(path);
        } catch (const std::exception& e) {
          throw CodedError(kBadModel, e.what());
        }
        llama_model_params mp = llama_model_default_params();
        mp.n_gpu_layers = gpu_layers;
        mp.vocab_only = vocab_only;
        mp.load_mode = use_mmap ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
        clear_thread_errors();
        llama_model* m = llama_model_load_from_file(path.c_str(), mp);
        if (!m) {
          const std::string why = thread_errors();
          throw CodedError(kBadModel, "failed to load model " + path + (why.empty() ? "" : ": " + why));
        }
        *result = ModelPtr(m, llama_model_free);
      },
      [=](Napi::Env env) -> Napi::Value {
        auto external = Napi::External<ModelPtr>::New(env, result.get());
        return g_model_ctor->New({external, Napi::String::New(env, path)});
      });
}

static std::string meta_string(const llama_model* m, const char* key) {
  std::vector<char> buf(256);
  int32_t n = llama_model_meta_val_str(m, key, buf.data(), buf.size());
  if (n < 0) return "";
  if (static_cast<size_t>(n) >= buf.size()) {
    buf.resize(n + 1);
    n = llama_model_meta_val_str(m, key, buf.data(), buf.size());
  }
  return std::string(buf.data(), n);
}

static const char* vocab_type_name(enum llama_vocab_type t) {
  switch (t) {
    case LLAMA_VOCAB_TYPE_NONE:
      return "none";
    case LLAMA_VOCAB_TYPE_SPM:
      return "spm";
    case LLAMA_VOCAB_TYPE_BPE:
      return "bpe";
    case LLAMA_VOCAB_TYPE_WPM:
      return "wpm";
    case LLAMA_VOCAB_TYPE_UGM:
      return "ugm";
    case LLAMA_VOCAB_TYPE_RWKV:
      return "rwkv";
    default:
      return "other";
  }
}

Napi::Value AddonModel::Info(const Napi::CallbackInfo& info) {
  check_this(info, kModelTag, kClassName);
  Napi::Env env = info.Env();
  const llama_model* m = model(env).get();
  const llama_vocab* v = llama_model_get_vocab(m);
  Napi::Object o = Napi::Object::New(env);
  char desc[256];
  llama_model_desc(m, desc, sizeof desc);
  o.Set("path", path_);
  o.Set("architecture", meta_string(m, "general.architecture"));
  o.Set("name", meta_string(m, "general.name"));
  o.Set("description", desc);
  o.Set("parameterCount", Napi::Number::New(env, static_cast<double>(llama_model_n_params(m))));
  o.Set("sizeBytes", Napi::Number::New(env, static_cast<double>(llama_model_size(m))));
  o.Set("vocabSize", llama_vocab_n_tokens(v));
  o.Set("vocabType", vocab_type_name(llama_vocab_type(v)));
  o.Set("contextLength", llama_model_n_ctx_train(m));
  o.Set("embeddingLength", llama_model_n_embd(m));
  o.Set("layerCount", llama_model_n_layer(m));
  // A vocab-only load has no layers; llama.cpp aborts when asked for layer 0's head counts.
  const bool has_layers = llama_model_n_layer(m) > 0;
  o.Set("headCount", has_layers ? llama_model_n_head(m) : 0);
  o.Set("headCountKv", has_layers ? llama_model_n_head_kv(m) : 0);
  const char* tmpl = llama_model_chat_template(m, nullptr);
  o.Set("chatTemplate", tmpl ? Napi::Value(Napi::String::New(env, tmpl)) : env.Null());
  Napi::Object special = Napi::Object::New(env);
  special.Set("bos", llama_vocab_bos(v));
  special.Set("eos", llama_vocab_eos(v));
  special.Set("eot", llama_vocab_eot(v));
  special.Set("nl", llama_vocab_nl(v));
  special.Set("pad", llama_vocab_pad(v));
  special.Set("addBos", llama_vocab_get_add_bos(v));
  special.Set("addEos", llama_vocab_get_add_eos(v));
  Napi::Array eog = Napi::Array::New(env);
  for (int32_t t = 0, n = llama_vocab_n_tokens(v), k = 0; t < n; ++t) {
    if (llama_vocab_is_eog(v, t)) eog.Set(k++, t);
  }
  special.Set("endOfGeneration", eog);
  o.Set("specialTokens", special);
  return o;
}

// tokenize(text, addSpecial, parseSpecial) -> Int32Array
Napi::Value AddonModel::Tokenize(const Napi::CallbackInfo& info) {
  check_this(info, kModelTag, kClassName);
  Napi::Env env = info.Env();
  const std::string text = arg_string(info, 0, "text");
  const bool add_special = info.Length() > 1 && info[1].ToBoolean();
  const bool parse_special = info.Length() > 2 && info[2].ToBoolean();
  const llama_vocab* v = vocab(env);
  std::vector<llama_token> toks(text.size() + 8);
  int32_t n = llama_tokenize(v, text.data(), static_cast<int32_t>(text.size()), toks.data(), static_cast<int32_t>(toks.size()), add_special,
                             parse_special);
  if (n == INT32_MIN) throw Napi::RangeError::New(env, "text too long to tokenize");
  if (n < 0) {
    toks.resize(-n);
    n = llama_tokenize(v, text.data(), static_cast<int32_t>(text.size()), toks.data(), static_cast<int32_t>(toks.size()), add_special,
                       parse_special);
  }
  Napi::Int32Array out = Napi::Int32Array::New(env, n);
  std::copy(toks.begin(), toks.begin() + n, out.Data());
  return out;
}

static std::vector<llama_token> token_list(Napi::Env env, Napi::Value value, const llama_vocab* v) {
  const std::vector<llama_token> toks = token_ids(env, value, "tokens");
  const int32_t n_vocab = llama_vocab_n_tokens(v);
  for (llama_token t : toks) {
    if (t < 0 || t >= n_vocab)
      throw range_error(env, "token id " + std::to_string(t) + " is outside the vocabulary (size " + std::to_string(n_vocab) + ")");
  }
  return toks;
}

// detokenize(tokens, special) -> string
Napi::Value AddonModel::Detokenize(const Napi::CallbackInfo& info) {
  check_this(info, kModelTag, kClassName);
  Napi::Env env = info.Env();
  const llama_vocab* v = vocab(env);
  if (info.Length() < 1) throw Napi::TypeError::New(env, "tokens are required");
  const std::vector<llama_token> toks = token_list(env, info[0], v);
  const bool special = info.Length() > 1 && info[1].ToBoolean();
  std::string out(toks.size() * 8 + 16, '\0');
  int32_t n =
      llama_detokenize(v, toks.data(), static_cast<int32_t>(toks.size()), out.data(), static_cast<int32_t>(out.size()), false, special);
  if (n < 0) {
    out.resize(-n);
    n = llama_detokenize(v, toks.data(), static_cast<int32_t>(toks.size()), out.data(), static_cast<int32_t>(out.size()), false, special);
  }
  out.resize(n);
  return Napi::String::New(env, out);
}

// tokenPiece(id, special) -> string (raw bytes of one token, as UTF-8 with replacement)
Napi::Value AddonModel::TokenPiece(const Napi::CallbackInfo& info) {
  check_this(info, kModelTag, kClassName);
  Napi::Env env = info.Env();
  const llama_vocab* v = vocab(env);
  if (info.Length() < 1 || !info[0].IsNumber()) throw type_error(env, "token id must be a number");
  const double x = info[0].As<Napi::Number>().DoubleValue();
  if (!(x >= 0 && x < llama_vocab_n_tokens(v)) || std::floor(x) != x)
    throw range_error(env, "token id " + info[0].ToString().Utf8Value() + " is not an integer inside the vocabulary");
  const llama_token t = static_cast<llama_token>(x);
  if (t < 0 || t >= llama_vocab_n_tokens(v)) throw range_error(env, "token id " + std::to_string(t) + " is outside the vocabulary");
  const bool special = info.Length() > 1 && info[1].ToBoolean();
  char buf[256];
  const int32_t n = llama_token_to_piece(v, t, buf, sizeof buf, 0, special);
  return Napi::String::New(env, buf, n > 0 ? n : 0);
}

// applyChatTemplate(messages, addAssistant, template?) -> string
Napi::Value AddonModel::ApplyChatTemplate(const Napi::CallbackInfo& info) {
  check_this(info, kModelTag, kClassName);
  Napi::Env env = info.Env();
  const llama_model* m = model(env).get();
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "messages must be an array of {role, content}");
  Napi::Array arr = info[0].As<Napi::Array>();
  const bool add_assistant = info.Length() > 1 && info[1].ToBoolean();
  std::string tmpl;
  if (info.Length() > 2 && info[2].IsString()) {
    tmpl = info[2].As<Napi::String>().Utf8Value();
  } else {
    const char* t = llama_model_chat_template(m, nullptr);
    if (!t)
      throw Napi::Error::New(env, "the model has no chat template; pass one explicitly (a built-in name such as 'chatml' or 'llama3')");
    tmpl = t;
  }
  std::vector<std::string> roles, contents;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value e = arr.Get(i);
    if (!e.IsObject()) throw Napi::TypeError::New(env, "each message must be an object {role, content}");
    Napi::Object msg = e.As<Napi::Object>();
    if (!msg.Get("role").IsString() || !msg.Get("content").IsString())
      throw Napi::TypeError::New(env, "each message needs string role and content");
    roles.push_back(msg.Get("role").As<Napi::String>().Utf8Value());
    contents.push_back(msg.Get("content").As<Napi::String>().Utf8Value());
  }
  std::vector<llama_chat_message> chat;
  size_t total = 0;
  for (size_t i = 0; i < roles.size(); ++i) {
    chat.push_back({roles[i].c_str(), contents[i].c_str()});
    total += roles[i].size() + contents[i].size();
  }
  std::string buf(2 * total + 256, '\0');
  int32_t n =
      llama_chat_apply_template(tmpl.c_str(), chat.data(), chat.size(), add_assistant, buf.data(), static_cast<int32_t>(buf.size()));
  if (n < 0) throw Napi::Error::New(env, "unsupported chat template (llama.cpp recognises only its built-in templates)");
  if (static_cast<size_t>(n) > buf.size()) {
    buf.resize(n);
    n = llama_chat_apply_template(tmpl.c_str(), chat.data(), chat.size(), add_assistant, buf.data(), static_cast<int32_t>(buf.size()));
  }
  buf.resize(n);
  return Napi::String::New(env, buf);
}

Napi::Value AddonModel::Dispose(const Napi::CallbackInfo& info) {
  check_this(info, kModelTag, kClassName);
  model_.reset();
  return info.Env().Undefined();
}

Napi::Value AddonModel::IsDisposed(const Napi::CallbackInfo& info) {
  check_this(info, kModelTag, kClassName);
  return Napi::Boolean::New(info.Env(), !model_);
}

}  // namespace genius
