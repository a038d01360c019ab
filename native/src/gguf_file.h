// Validation of a GGUF file before llama.cpp sees it: llama.cpp/ggml abort the process on some
// malformed inputs, so everything we can check cheaply is checked here first, with a clear cause.
#pragma once
#include <cstdint>
#include <string>

struct gguf_context;

namespace genius {

struct GgufSummary {
  std::string architecture;  // general.architecture ("" if absent)
  int64_t n_tensors = 0;
  int64_t n_kv = 0;
  uint64_t file_size = 0;
};

// Throws std::runtime_error naming the cause: missing file, not a GGUF, truncated, corrupt
// header or tensor table, tensor data outside the file.
GgufSummary validate_gguf(const std::string& path);

// Reads a string key, "" when absent or of another type (never asserts).
std::string gguf_string(const gguf_context* ctx, const char* key);

}  // namespace genius
