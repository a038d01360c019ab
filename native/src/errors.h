// Machine-readable error codes: every rejection or throw from the addon carries one as `code`
// (as SqliteError.code does), so callers branch on it instead of matching message text.
#pragma once
#include <stdexcept>
#include <string>

namespace genius {

inline constexpr const char* kInvalidArgument = "INVALID_ARGUMENT";  // a value out of its range or of the wrong type
inline constexpr const char* kWrongType = "WRONG_TYPE";              // a native object of another class
inline constexpr const char* kDisposed = "DISPOSED";                 // the model/context/adapter/trainer is disposed
inline constexpr const char* kBadModel = "BAD_MODEL";                // a model file that cannot be loaded
inline constexpr const char* kBadAdapter = "BAD_ADAPTER";            // an adapter file that cannot be loaded
inline constexpr const char* kKvFull = "KV_FULL";                    // no KV cells free for the request
inline constexpr const char* kNoSlot = "NO_SLOT";                    // no free sequence slot
inline constexpr const char* kContextFull = "CONTEXT_FULL";          // a request longer than one sequence can hold
inline constexpr const char* kBusy = "BUSY";                         // a second request on one sequence
inline constexpr const char* kUnknownSequence = "UNKNOWN_SEQUENCE";  // a released or never created sequence
inline constexpr const char* kAborted = "ABORTED";                   // cancelled (AbortSignal, release, shutdown)
inline constexpr const char* kNotFinite = "NOT_FINITE";              // NaN/Inf logits, loss or weights
inline constexpr const char* kOutOfMemory = "OUT_OF_MEMORY";         // an allocation that cannot succeed
inline constexpr const char* kNativeError = "NATIVE_ERROR";          // anything else llama.cpp/ggml reported

// A std::runtime_error with a code: thrown on worker threads, turned into a coded rejection.
class CodedError : public std::runtime_error {
 public:
  CodedError(const char* code, const std::string& msg) : std::runtime_error(msg), code_(code) {}
  const char* code() const { return code_; }

 private:
  const char* code_;
};

}  // namespace genius
