// AddonModel: the JS handle on a loaded llama_model (weights + vocabulary). Contexts (the rollout
// engine) share ownership of the llama_model, so disposing the handle never pulls weights from
// under work in flight.
#pragma once
#include <napi.h>

#include <memory>

#include "engine/engine.h"
#include "llama.h"

namespace genius {

class AddonModel : public Napi::ObjectWrap<AddonModel> {
 public:
  static constexpr const char* kClassName = "NativeModel";
  static Napi::Function Init(Napi::Env env);
  // loadModel(path, options) -> Promise<AddonModel>; validates the file before llama.cpp sees it.
  static Napi::Value Load(const Napi::CallbackInfo& info);

  explicit AddonModel(const Napi::CallbackInfo& info);

  // The owned model; throws a JS error if disposed.
  ModelPtr model(Napi::Env env) const;

 private:
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Tokenize(const Napi::CallbackInfo& info);
  Napi::Value Detokenize(const Napi::CallbackInfo& info);
  Napi::Value TokenPiece(const Napi::CallbackInfo& info);
  Napi::Value ApplyChatTemplate(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);

  const llama_vocab* vocab(Napi::Env env) const;

  ModelPtr model_;
  std::string path_;
};

}  // namespace genius
