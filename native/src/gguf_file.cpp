#include "gguf_file.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "ggml.h"
#include "gguf.h"
#include "log.h"

namespace genius {

namespace {

struct GgufDeleter {
  void operator()(gguf_context* c) const { gguf_free(c); }
};
using GgufPtr = std::unique_ptr<gguf_context, GgufDeleter>;

[[noreturn]] void fail(const std::string& path, const std::string& why) { throw std::runtime_error(why + ": " + path); }

uint64_t check_readable(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) fail(path, "model file not found");
  if (S_ISDIR(st.st_mode)) fail(path, "model path is a directory, not a GGUF file");
  FILE* f = fopen(path.c_str(), "rb");
  if (!f) fail(path, std::string("cannot open model file (") + strerror(errno) + ")");
  char magic[4] = {0};
  const size_t n = fread(magic, 1, 4, f);
  fclose(f);
  if (n < 4 || memcmp(magic, "GGUF", 4) != 0) fail(path, "not a GGUF file (bad magic)");
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace

std::string gguf_string(const gguf_context* ctx, const char* key) {
  const int64_t id = gguf_find_key(ctx, key);
  if (id < 0 || gguf_get_kv_type(ctx, id) != GGUF_TYPE_STRING) return "";
  return gguf_get_val_str(ctx, id);
}

GgufSummary validate_gguf(const std::string& path) {
  GgufSummary s;
  s.file_size = check_readable(path);

  clear_thread_errors();
  gguf_init_params params{/*no_alloc=*/true, /*ctx=*/nullptr};
  GgufPtr ctx(gguf_init_from_file(path.c_str(), params));
  if (!ctx) {
    const std::string why = thread_errors();
    fail(path, "corrupt or truncated GGUF header/tensor table" + (why.empty() ? "" : " (" + why + ")"));
  }
  s.n_tensors = gguf_get_n_tensors(ctx.get());
  s.n_kv = gguf_get_n_kv(ctx.get());
  s.architecture = gguf_string(ctx.get(), "general.architecture");

  const uint64_t data_offset = gguf_get_data_offset(ctx.get());
  for (int64_t i = 0; i < s.n_tensors; ++i) {
    const uint64_t end = data_offset + gguf_get_tensor_offset(ctx.get(), i) + gguf_get_tensor_size(ctx.get(), i);
    if (end > s.file_size) {
      fail(path, std::string("truncated GGUF: tensor '") + gguf_get_tensor_name(ctx.get(), i) + "' ends at byte " + std::to_string(end) +
                     " but the file has " + std::to_string(s.file_size));
    }
  }
  return s;
}

}  // namespace genius
