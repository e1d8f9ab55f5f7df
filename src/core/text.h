// Small text helpers shared by config parsing and the clients.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace spate {

// "a, b,,c " -> {"a", "b", "c"}: split on commas, spaces trimmed, empty items dropped.
inline std::vector<std::string> SplitComma(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view part = text.substr(start, end - start);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (!part.empty()) out.emplace_back(part);
    start = end + 1;
  }
  return out;
}

}  // namespace spate
