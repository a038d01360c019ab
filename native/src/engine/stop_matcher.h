// Stop strings matched on the detokenized bytes, so a stop string split across two tokens is
// still found. Only the region that the newest piece can complete is searched.
#pragma once
#include <string>
#include <vector>

namespace genius {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops = {});
  // `text` grew from `prev_len` bytes; returns the start of the earliest match, or npos.
  size_t find(const std::string& text, size_t prev_len) const;
  bool empty() const { return stops_.empty(); }

 private:
  std::vector<std::string> stops_;
};

}  // namespace genius
