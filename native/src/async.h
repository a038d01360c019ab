// One promise-returning async worker for every binding method: run `work` on the libuv pool,
// turn any std::exception into a rejected Promise with its message, resolve with `done`.
// Also: the error codes every native rejection carries, and the type tags every wrapped object
// carries (an object of another class passed where one is expected must not be unwrapped).
#pragma once
#include <napi.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>
#include <climits>
#include <string>
#include <thread>
#include <vector>

#include "errors.h"

namespace genius {

// A JS error with a machine-readable `code` (see errors.h).
inline Napi::Error coded(Napi::Error e, const char* code) {
  e.Set("code", Napi::String::New(e.Env(), code));
  return e;
}
inline Napi::Error type_error(Napi::Env env, const std::string& msg, const char* code = kInvalidArgument) {
  return coded(Napi::TypeError::New(env, msg), code);
}
inline Napi::Error range_error(Napi::Env env, const std::string& msg, const char* code = kInvalidArgument) {
  return coded(Napi::RangeError::New(env, msg), code);
}

// One tag per wrapped class (napi_type_tag_object): unwrapping checks it, so a Model passed where
// an Adapter is expected is a TypeError, not a segfault inside llama.cpp.
inline constexpr napi_type_tag kModelTag = {0x9b1f6f1c2a7d4e01ULL, 0x8c5e2f3a1b6d7c01ULL};
inline constexpr napi_type_tag kContextTag = {0x9b1f6f1c2a7d4e02ULL, 0x8c5e2f3a1b6d7c02ULL};
inline constexpr napi_type_tag kAdapterTag = {0x9b1f6f1c2a7d4e03ULL, 0x8c5e2f3a1b6d7c03ULL};
inline constexpr napi_type_tag kTrainerTag = {0x9b1f6f1c2a7d4e04ULL, 0x8c5e2f3a1b6d7c04ULL};

inline void tag_object(Napi::Env env, Napi::Object o, const napi_type_tag& tag) {
  NAPI_THROW_IF_FAILED_VOID(env, napi_type_tag_object(env, o, &tag));
}

inline bool has_tag(Napi::Env env, Napi::Value v, const napi_type_tag& tag) {
  bool ok = false;
  return v.IsObject() && napi_check_object_type_tag(env, v, &tag, &ok) == napi_ok && ok;
}

// `v` as a T (an ObjectWrap tagged `tag`), or a TypeError naming what was expected.
template <typename T>
T* unwrap_tagged(Napi::Env env, Napi::Value v, const napi_type_tag& tag, const char* what) {
  if (!has_tag(env, v, tag)) throw type_error(env, std::string(what) + " must be a " + T::kClassName + " (got another object)", kWrongType);
  return T::Unwrap(v.As<Napi::Object>());
}

// Every instance method starts here: `this` must be of the method's own class (a method called
// on another native object through .call() would otherwise read the wrong C++ type).
inline void check_this(const Napi::CallbackInfo& info, const napi_type_tag& tag, const char* cls) {
  if (!has_tag(info.Env(), info.This(), tag))
    throw type_error(info.Env(), std::string(cls) + " method called on an object that is not a " + cls, kWrongType);
}

class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Done = std::function<Napi::Value(Napi::Env)>;

  static Napi::Promise run(Napi::Env env, Work work, Done done) {
    auto* w = new PromiseWorker(env, std::move(work), std::move(done));
    auto promise = w->deferred_.Promise();
    w->Queue();
    return promise;
  }

 protected:
  void Execute() override {
    try {
      work_();
    } catch (const CodedError& e) {
      code_ = e.code();
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      code_ = kOutOfMemory;
      SetError("out of memory");
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("unknown native error");
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(done_(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override {
    Napi::Error err = e;
    deferred_.Reject(coded(err, code_).Value());
  }

 private:
  PromiseWorker(Napi::Env env, Work work, Done done)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)), done_(std::move(done)) {}

  Napi::Promise::Deferred deferred_;
  Work work_;
  Done done_;
  const char* code_ = kNativeError;
};

// Argument helpers: validate in the binding so bad JS input becomes a TypeError, not a crash.
inline std::string arg_string(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsString()) throw type_error(info.Env(), std::string(name) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

inline Napi::Object arg_object(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsObject()) throw type_error(info.Env(), std::string(name) + " must be an object");
  return info[i].As<Napi::Object>();
}

inline double opt_number(const Napi::Object& o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsNumber()) throw type_error(o.Env(), std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

// An integer option in [lo, hi]: NaN, fractions and out-of-range values are a RangeError naming
// the option, never a silent wrap when cast to a narrower C++ type.
inline double opt_integer(const Napi::Object& o, const char* key, double fallback, double lo, double hi) {
  const double x = opt_number(o, key, fallback);
  if (!(x >= lo && x <= hi) || std::floor(x) != x) {
    throw range_error(o.Env(), std::string(key) + " must be an integer between " + std::to_string(static_cast<long long>(lo)) + " and " +
                                   std::to_string(static_cast<long long>(hi)) + ", got " +
                                   Napi::Number::New(o.Env(), x).ToString().Utf8Value());
  }
  return x;
}

// A finite number option in [lo, hi].
inline double opt_finite(const Napi::Object& o, const char* key, double fallback, double lo, double hi) {
  const double x = opt_number(o, key, fallback);
  if (!(x >= lo && x <= hi)) {
    throw range_error(o.Env(), std::string(key) + " must be a finite number between " +
                                   Napi::Number::New(o.Env(), lo).ToString().Utf8Value() + " and " +
                                   Napi::Number::New(o.Env(), hi).ToString().Utf8Value() + ", got " +
                                   Napi::Number::New(o.Env(), x).ToString().Utf8Value());
  }
  return x;
}

// Threads for ggml: 0 (all cores) up to the machine's hardware threads. More only oversubscribes
// the cores (ggml's threads spin at barriers: 1000 threads on 16 cores make no progress) and a
// huge count is a std::bad_alloc abort inside ggml.
inline int32_t opt_threads(const Napi::Object& o, const char* key) {
  const double x = opt_number(o, key, 0);
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  if (!(x >= 0 && x <= hw) || std::floor(x) != x) {
    throw range_error(o.Env(), std::string(key) + " must be an integer between 0 (all) and " + std::to_string(hw) +
                                   " (this machine's hardware threads), got " + Napi::Number::New(o.Env(), x).ToString().Utf8Value());
  }
  return static_cast<int32_t>(x);
}

// Token ids from an Int32Array or an array of numbers: every element an exact int32 (1.5 or NaN is
// an error, not token 1 or 0). The vocabulary range is checked where the vocabulary is known.
inline std::vector<int32_t> token_ids(Napi::Env env, Napi::Value v, const char* name) {
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    Napi::Int32Array a = v.As<Napi::Int32Array>();
    return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
  }
  if (!v.IsArray()) throw type_error(env, std::string(name) + " must be an Int32Array or an array of integers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int32_t> out(a.Length());
  for (uint32_t k = 0; k < a.Length(); ++k) {
    Napi::Value e = a.Get(k);
    const double x = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : NAN;
    if (!(x >= INT32_MIN && x <= INT32_MAX) || std::floor(x) != x) {
      throw range_error(env,
                        std::string(name) + "[" + std::to_string(k) + "] must be an integer token id, got " + e.ToString().Utf8Value());
    }
    out[k] = static_cast<int32_t>(x);
  }
  return out;
}

inline bool opt_bool(const Napi::Object& o, const char* key, bool fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsBoolean()) throw type_error(o.Env(), std::string(key) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

inline std::string opt_string(const Napi::Object& o, const char* key, const std::string& fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsString()) throw type_error(o.Env(), std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

}  // namespace genius
