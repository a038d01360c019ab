// AddonContext: the JS handle on a rollout engine (one llama_context). Methods convert types and
// return Promises; results come back from the engine thread through one thread-safe function.
#pragma once
#include <napi.h>

#include <memory>

#include "engine/engine.h"

namespace genius {

class AddonContext : public Napi::ObjectWrap<AddonContext> {
 public:
  static constexpr const char* kClassName = "NativeContext";
  static Napi::Function Init(Napi::Env env);
  // createContext(model, options) -> Promise<AddonContext>
  static Napi::Value Create(const Napi::CallbackInfo& info);

  explicit AddonContext(const Napi::CallbackInfo& info);
  ~AddonContext() override;

 private:
  Napi::Value CreateSequence(const Napi::CallbackInfo& info);
  Napi::Value Fork(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value Extend(const Napi::CallbackInfo& info);
  Napi::Value Rewind(const Napi::CallbackInfo& info);
  Napi::Value Generate(const Napi::CallbackInfo& info);
  Napi::Value Score(const Napi::CallbackInfo& info);
  Napi::Value Logits(const Napi::CallbackInfo& info);
  Napi::Value SetAdapters(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  using Convert = std::function<Napi::Value(Napi::Env, Result&)>;
  // A Promise settled by `convert(result)` on the JS thread once the engine calls back.
  std::pair<Napi::Promise, Callback> promise(Napi::Env env, Convert convert);
  Engine& engine(Napi::Env env);
  void settled();
  void shutdown();
  static void OnEnvCleanup(void* self);

  std::unique_ptr<Engine> engine_;
  Napi::ThreadSafeFunction tsfn_;
  int outstanding_ = 0;
  napi_env env_ = nullptr;
  bool hooked_ = false;  // our env cleanup hook is registered
};

}  // namespace genius
