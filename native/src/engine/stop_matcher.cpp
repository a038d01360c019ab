#include "stop_matcher.h"

#include <algorithm>

namespace genius {

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (auto& s : stops)
    if (!s.empty()) stops_.push_back(std::move(s));
}

size_t StopMatcher::find(const std::string& text, size_t prev_len) const {
  size_t best = std::string::npos;
  for (const std::string& s : stops_) {
    // A new match must end past prev_len, so it starts after prev_len - |s|.
    const size_t from = prev_len >= s.size() ? prev_len - s.size() + 1 : 0;
    const size_t at = text.find(s, from);
    if (at != std::string::npos) best = std::min(best, at);
  }
  return best;
}

}  // namespace genius
