// AddonAdapter: a LoRA adapter (GGUF) loaded against a model, attachable to contexts.
#pragma once
#include <napi.h>

#include "engine/engine.h"

namespace genius {

class AddonAdapter : public Napi::ObjectWrap<AddonAdapter> {
 public:
  static constexpr const char* kClassName = "NativeAdapter";
  static Napi::Function Init(Napi::Env env);
  // loadAdapter(model, path) -> Promise<AddonAdapter>
  static Napi::Value Load(const Napi::CallbackInfo& info);
  explicit AddonAdapter(const Napi::CallbackInfo& info);
  AdapterPtr adapter(Napi::Env env) const;

 private:
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  AdapterPtr adapter_;
};

}  // namespace genius
