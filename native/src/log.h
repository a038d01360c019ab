// Process-wide logging: llama.cpp/ggml messages are captured so that a failure can be reported
// with llama.cpp's own reason, and printed only when the user asks (GENIUS_LOG or setLogLevel).
#pragma once
#include <string>

namespace genius {

enum class LogLevel { none = 0, error = 1, warn = 2, info = 3, debug = 4 };

void install_log_handler();
void set_log_level(LogLevel level);
LogLevel log_level();

// Errors llama.cpp logged on this thread since the last clear: the cause behind a NULL return.
void clear_thread_errors();
std::string thread_errors();

}  // namespace genius
