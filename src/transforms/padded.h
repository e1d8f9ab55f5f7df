// Helpers around simdjson's on-demand parser, shared by the transforms. PaddedBuffer: a
// reusable copy of input text with the zeroed tail the parser needs; reusing one buffer per
// thread keeps the hot path free of allocations. AtEnd, and JSON's whitespace: raw tokens
// run up to the next token, so they may end in it.
#pragma once

#include <cstring>
#include <string>
#include <string_view>

#include <simdjson.h>

namespace spate {

class PaddedBuffer {
 public:
  simdjson::padded_string_view Set(std::string_view text) {
    const size_t need = text.size() + simdjson::SIMDJSON_PADDING;
    if (data_.size() < need) data_.resize(need + need / 2);
    std::memcpy(data_.data(), text.data(), text.size());
    std::memset(data_.data() + text.size(), 0, simdjson::SIMDJSON_PADDING);
    return simdjson::padded_string_view(data_.data(), text.size(), data_.size());
  }

 private:
  std::string data_;
};

// The four characters JSON allows between tokens.
inline bool IsJsonSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// `s` without the JSON whitespace at its end.
inline std::string_view TrimJsonSpace(std::string_view s) {
  while (!s.empty() && IsJsonSpace(s.back())) s.remove_suffix(1);
  return s;
}

// True when the document has been consumed to its end; false if anything trails the value
// (two objects on one line, garbage after the closing brace).
inline bool AtEnd(simdjson::ondemand::document& doc) {
  return doc.current_location().error() == simdjson::OUT_OF_BOUNDS;
}

}  // namespace spate
