// Module entry: registers the objects JS can hold and the process-wide functions. No algorithm
// lives here.
#include <napi.h>

#include <cstdlib>
#include <string>

#include "ggml-cpu.h"
#include "llama.h"
#include "adapter.h"
#include "async.h"
#include "context.h"
#include "log.h"
#include "model.h"
#include "trainer_binding.h"

namespace genius {
Napi::Value MakeModel(const Napi::CallbackInfo& info);
Napi::Value MakeLora(const Napi::CallbackInfo& info);

static Napi::Value SetLogLevel(const Napi::CallbackInfo& info) {
  const std::string l = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "none";
  LogLevel level = LogLevel::none;
  if (l == "error")
    level = LogLevel::error;
  else if (l == "warn")
    level = LogLevel::warn;
  else if (l == "info")
    level = LogLevel::info;
  else if (l == "debug")
    level = LogLevel::debug;
  else if (l != "none")
    throw type_error(info.Env(), "log level must be none|error|warn|info|debug");
  set_log_level(level);
  return info.Env().Undefined();
}

// setReproducible(on): CPU kernels whose algorithm depends on the batch shape use their
// per-row reference path, so a sequence's numbers do not depend on what it was batched with.
static Napi::Value SetReproducible(const Napi::CallbackInfo& info) {
  ggml_cpu_set_reproducible(info.Length() > 0 && info[0].ToBoolean());
  return info.Env().Undefined();
}

static Napi::Value SystemInfo(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("llamaSystemInfo", llama_print_system_info());
  o.Set("gpuOffload", llama_supports_gpu_offload());
  o.Set("mmap", llama_supports_mmap());
  o.Set("maxDevices", Napi::Number::New(info.Env(), static_cast<double>(llama_max_devices())));
#ifdef GENIUS_CUDA
  o.Set("cuda", true);
#else
  o.Set("cuda", false);
#endif
  return o;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  install_log_handler();
  llama_backend_init();
  const char* repro = std::getenv("GENIUS_REPRODUCIBLE");
  ggml_cpu_set_reproducible(!(repro && std::string(repro) == "0"));
  exports.Set("NativeModel", AddonModel::Init(env));
  exports.Set("loadModel", Napi::Function::New(env, AddonModel::Load, "loadModel"));
  exports.Set("NativeContext", AddonContext::Init(env));
  exports.Set("createContext", Napi::Function::New(env, AddonContext::Create, "createContext"));
  exports.Set("NativeAdapter", AddonAdapter::Init(env));
  exports.Set("loadAdapter", Napi::Function::New(env, AddonAdapter::Load, "loadAdapter"));
  exports.Set("NativeTrainer", AddonTrainer::Init(env));
  exports.Set("createTrainer", Napi::Function::New(env, AddonTrainer::Create, "createTrainer"));
  exports.Set("makeModel", Napi::Function::New(env, MakeModel, "makeModel"));
  exports.Set("makeLora", Napi::Function::New(env, MakeLora, "makeLora"));
  exports.Set("setLogLevel", Napi::Function::New(env, SetLogLevel, "setLogLevel"));
  exports.Set("setReproducible", Napi::Function::New(env, SetReproducible, "setReproducible"));
  exports.Set("systemInfo", Napi::Function::New(env, SystemInfo, "systemInfo"));
  return exports;
}

}  // namespace genius

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return genius::Init(env, exports); }
NODE_API_MODULE(genius, InitModule)
