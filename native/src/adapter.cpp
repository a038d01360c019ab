#include "adapter.h"

#include "async.h"
#include "gguf_file.h"
#include "log.h"
#include "model.h"

namespace genius {

static Napi::FunctionReference* g_adapter_ctor = nullptr;

Napi::Function AddonAdapter::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "NativeAdapter", {InstanceMethod("dispose", &AddonAdapter::Dispose)});
  g_adapter_ctor = new Napi::FunctionReference(Napi::Persistent(ctor));
  return ctor;
}

Napi::Value AddonAdapter::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ModelPtr model = unwrap_tagged<AddonModel>(env, info.Length() > 0 ? info[0] : env.Undefined(), kModelTag, "model")->model(env);
  const std::string path = arg_string(info, 1, "path");
  auto result = std::make_shared<AdapterPtr>();
  return PromiseWorker::run(
      env,
      [=]() {
        GgufSummary g;
        try {
          g = validate_gguf(path);
        } catch (const std::exception& e) {
          throw CodedError(kBadAdapter, e.what());
        }
        clear_thread_errors();
        llama_adapter_lora* a = llama_adapter_lora_init(model.get(), path.c_str());
        if (!a) {
          const std::string why = thread_errors();
          throw CodedError(kBadAdapter, "failed to load LoRA adapter " + path + (why.empty() ? "" : ": " + why));
        }
        // The deleter holds the model: an adapter must be freed before its model.
        *result = AdapterPtr(a, [model](llama_adapter_lora* p) { llama_adapter_lora_free(p); });
        (void)g;
      },
      [=](Napi::Env env) -> Napi::Value { return g_adapter_ctor->New({Napi::External<AdapterPtr>::New(env, result.get())}); });
}

AddonAdapter::AddonAdapter(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AddonAdapter>(info) {
  if (info.Length() < 1 || !info[0].IsExternal())
    throw type_error(info.Env(), "NativeAdapter cannot be constructed directly; use loadAdapter()");
  tag_object(info.Env(), info.This().As<Napi::Object>(), kAdapterTag);
  adapter_ = *info[0].As<Napi::External<AdapterPtr>>().Data();
}

AdapterPtr AddonAdapter::adapter(Napi::Env env) const {
  if (!adapter_) throw coded(Napi::Error::New(env, "adapter is disposed"), kDisposed);
  return adapter_;
}

Napi::Value AddonAdapter::Dispose(const Napi::CallbackInfo& info) {
  check_this(info, kAdapterTag, kClassName);
  adapter_.reset();  // contexts that attached it keep it until detached
  return info.Env().Undefined();
}

}  // namespace genius
