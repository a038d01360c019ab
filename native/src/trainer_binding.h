// AddonTrainer: the native trainer as a JS object. Only converts types and schedules work on the
// libuv pool; every method but info/dispose returns a Promise.
#pragma once
#include <napi.h>

#include <memory>

#include "trainer/trainer.h"

namespace genius {

class AddonTrainer : public Napi::ObjectWrap<AddonTrainer> {
 public:
  static constexpr const char* kClassName = "NativeTrainer";
  static Napi::Function Init(Napi::Env env);
  // createTrainer(options) -> Promise<AddonTrainer>
  static Napi::Value Create(const Napi::CallbackInfo& info);
  explicit AddonTrainer(const Napi::CallbackInfo& info);

 private:
  std::shared_ptr<train::Trainer> trainer(Napi::Env env) const;
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Logprobs(const Napi::CallbackInfo& info);
  Napi::Value Accumulate(const Napi::CallbackInfo& info);
  Napi::Value ZeroGrad(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value Describe(const Napi::CallbackInfo& info);
  Napi::Value Measure(const Napi::CallbackInfo& info);
  Napi::Value ReadFlat(const Napi::CallbackInfo& info);
  Napi::Value WriteParameters(const Napi::CallbackInfo& info);
  Napi::Value Save(const Napi::CallbackInfo& info);
  Napi::Value LoadState(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  std::shared_ptr<train::Trainer> trainer_;
};

}  // namespace genius
