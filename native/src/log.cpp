#include "log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "llama.h"

namespace genius {

static std::atomic<int> g_level{static_cast<int>(LogLevel::none)};
static thread_local std::string t_errors;
static thread_local bool t_last_was_error = false;

static LogLevel level_of(ggml_log_level l) {
  switch (l) {
    case GGML_LOG_LEVEL_ERROR:
      return LogLevel::error;
    case GGML_LOG_LEVEL_WARN:
      return LogLevel::warn;
    case GGML_LOG_LEVEL_INFO:
      return LogLevel::info;
    default:
      return LogLevel::debug;
  }
}

static void on_log(ggml_log_level l, const char* text, void*) {
  if (text == nullptr) return;
  // CONT lines continue the previous message, whatever its level.
  const bool is_error = l == GGML_LOG_LEVEL_ERROR || (l == GGML_LOG_LEVEL_CONT && t_last_was_error);
  if (l != GGML_LOG_LEVEL_CONT) t_last_was_error = l == GGML_LOG_LEVEL_ERROR;
  if (is_error && t_errors.size() < 4096) t_errors += text;
  const LogLevel lvl = l == GGML_LOG_LEVEL_CONT ? (t_last_was_error ? LogLevel::error : LogLevel::debug) : level_of(l);
  if (static_cast<int>(lvl) <= g_level.load()) fputs(text, stderr);
}

void install_log_handler() {
  if (const char* env = std::getenv("GENIUS_LOG")) {
    if (!strcmp(env, "error"))
      g_level = static_cast<int>(LogLevel::error);
    else if (!strcmp(env, "warn"))
      g_level = static_cast<int>(LogLevel::warn);
    else if (!strcmp(env, "info"))
      g_level = static_cast<int>(LogLevel::info);
    else if (!strcmp(env, "debug"))
      g_level = static_cast<int>(LogLevel::debug);
  }
  llama_log_set(on_log, nullptr);
}

void set_log_level(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel log_level() { return static_cast<LogLevel>(g_level.load()); }

void clear_thread_errors() {
  t_errors.clear();
  t_last_was_error = false;
}

std::string thread_errors() {
  std::string s = t_errors;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (auto& c : s)
    if (c == '\n') c = ';';
  return s;
}

}  // namespace genius
