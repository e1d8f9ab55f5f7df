// Fuzz target: document and line splitting (issue 17, items 4, 5, 9).
//
// RecordSplitter on any bytes, with a small record limit, fed whole and in chunks.
// Invariants, on every input:
//   - no crash, and the same units whatever the chunking;
//   - bounded output: a value unit holds at most the limit, an oversized one at most its
//     prefix, a broken one at most max(limit, prefix); units are disjoint stretches of the
//     input (their sizes add up to no more than it);
//   - positions identify units: lines never go back, items count 0, 1, 2, ... on a line;
//   - complete() means one well-formed document: then no unit is broken.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "transforms/ingest.h"

namespace {

constexpr size_t kLimit = 512;
constexpr size_t kPrefix = 4096;  // What an oversized unit keeps (ingest.cc kTooLargeKeep).

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  spate::RecordSplitter whole(kLimit);
  std::vector<spate::SplitUnit> units;
  whole.Feed(input, units);
  whole.Finish(units);

  spate::RecordSplitter chunked(kLimit);
  std::vector<spate::SplitUnit> again;
  size_t at = 0;
  for (size_t k = 0; at < size; ++k) {
    const size_t n = 1 + (size > 0 ? data[k % size] % 61 : 0);
    chunked.Feed(input.substr(at, n), again);
    at += n;
  }
  chunked.Finish(again);
  FUZZ_CHECK(again.size() == units.size(), "chunking changes the number of units");
  FUZZ_CHECK(chunked.complete() == whole.complete(), "chunking changes completeness");

  uint64_t lines = 1;
  for (char c : input) lines += c == '\n';
  uint64_t spanned = 0;
  uint64_t last_line = 0;
  uint32_t next_item = 0;
  for (size_t i = 0; i < units.size(); ++i) {
    const spate::SplitUnit& u = units[i];
    FUZZ_CHECK(u.bytes == again[i].bytes && u.line == again[i].line && u.item == again[i].item &&
                   u.kind == again[i].kind,
               "chunking changes a unit");
    switch (u.kind) {
      case spate::SplitUnit::Kind::kValue:
        FUZZ_CHECK(u.bytes.size() <= kLimit && u.size <= kLimit, "a value unit over the limit");
        FUZZ_CHECK(!u.bytes.empty(), "an empty value unit");
        break;
      case spate::SplitUnit::Kind::kTooLarge:
        FUZZ_CHECK(u.bytes.size() <= kPrefix && u.size > kLimit, "an oversized unit misreported");
        break;
      case spate::SplitUnit::Kind::kBroken:
        FUZZ_CHECK(u.bytes.size() <= std::max(kLimit, kPrefix), "a broken unit over its bound");
        FUZZ_CHECK(!u.problem.empty(), "a broken unit without a reason");
        FUZZ_CHECK(!whole.complete(), "a complete document with a broken unit");
        break;
    }
    FUZZ_CHECK(u.bytes.size() <= u.size, "a unit holds more than it spans");
    spanned += u.size;
    FUZZ_CHECK(u.line >= 1 && u.line <= lines, "a line outside the input");
    FUZZ_CHECK(u.line >= last_line, "lines go back");
    if (u.line != last_line) next_item = 0;
    FUZZ_CHECK(u.item == next_item, "items on a line are not 0, 1, 2, ...");
    next_item = u.item + 1;
    last_line = u.line;
  }
  FUZZ_CHECK(spanned <= size, "units overlap");
  FUZZ_CHECK(units.size() <= size + 1, "more units than bytes");
  return 0;
}
