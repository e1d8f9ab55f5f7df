#include "cql/wire.h"

#include <fmt/format.h>

namespace spate::cql {

void Writer::Be(uint64_t v, int bytes) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
    out_ += static_cast<char>((v >> shift) & 0xff);
  }
}

void Writer::String(std::string_view s) {
  Short(static_cast<uint16_t>(s.size()));
  out_.append(s);
}

void Writer::LongString(std::string_view s) {
  Int(static_cast<int32_t>(s.size()));
  out_.append(s);
}

void Writer::Bytes(std::string_view b) {
  Int(static_cast<int32_t>(b.size()));
  out_.append(b);
}

void Writer::ShortBytes(std::string_view b) {
  Short(static_cast<uint16_t>(b.size()));
  out_.append(b);
}

void Writer::StringList(const std::vector<std::string>& list) {
  Short(static_cast<uint16_t>(list.size()));
  for (const std::string& s : list) String(s);
}

void Writer::StringMap(const std::map<std::string, std::string>& map) {
  Short(static_cast<uint16_t>(map.size()));
  for (const auto& [k, v] : map) {
    String(k);
    String(v);
  }
}

void Writer::PatchInt(size_t at, int32_t v) {
  const auto u = static_cast<uint32_t>(v);
  for (int i = 0; i < 4; ++i) out_[at + i] = static_cast<char>((u >> (24 - 8 * i)) & 0xff);
}

bool Reader::Take(size_t n, std::string_view& out, std::string_view what) {
  if (!error_.empty()) return false;
  if (rest_.size() < n) {
    error_ = fmt::format("truncated: {} needs {} bytes, {} left", what, n, rest_.size());
    return false;
  }
  out = rest_.substr(0, n);
  rest_.remove_prefix(n);
  return true;
}

namespace {
uint64_t FromBe(std::string_view b) {
  uint64_t v = 0;
  for (const char c : b) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}
}  // namespace

bool Reader::Byte(uint8_t& v) {
  std::string_view b;
  if (!Take(1, b, "[byte]")) return false;
  v = static_cast<uint8_t>(b[0]);
  return true;
}

bool Reader::Short(uint16_t& v) {
  std::string_view b;
  if (!Take(2, b, "[short]")) return false;
  v = static_cast<uint16_t>(FromBe(b));
  return true;
}

bool Reader::Int(int32_t& v) {
  std::string_view b;
  if (!Take(4, b, "[int]")) return false;
  v = static_cast<int32_t>(static_cast<uint32_t>(FromBe(b)));
  return true;
}

bool Reader::Long(int64_t& v) {
  std::string_view b;
  if (!Take(8, b, "[long]")) return false;
  v = static_cast<int64_t>(FromBe(b));
  return true;
}

bool Reader::String(std::string& s) {
  uint16_t n = 0;
  std::string_view b;
  if (!Short(n) || !Take(n, b, "[string]")) return false;
  s.assign(b);
  return true;
}

bool Reader::LongString(std::string& s) {
  int32_t n = 0;
  std::string_view b;
  if (!Int(n)) return false;
  if (n < 0) {
    error_ = fmt::format("[long string] with negative length {}", n);
    return false;
  }
  if (!Take(static_cast<size_t>(n), b, "[long string]")) return false;
  s.assign(b);
  return true;
}

bool Reader::Bytes(std::optional<std::string>& out) {
  std::optional<std::string_view> view;
  if (!BytesView(view)) return false;
  if (view) {
    out.emplace(*view);
  } else {
    out.reset();
  }
  return true;
}

bool Reader::BytesView(std::optional<std::string_view>& out) {
  int32_t n = 0;
  if (!Int(n)) return false;
  if (n < 0) {
    out.reset();
    return true;
  }
  std::string_view b;
  if (!Take(static_cast<size_t>(n), b, "[bytes]")) return false;
  out = b;
  return true;
}

bool Reader::ShortBytes(std::string& s) {
  uint16_t n = 0;
  std::string_view b;
  if (!Short(n) || !Take(n, b, "[short bytes]")) return false;
  s.assign(b);
  return true;
}

bool Reader::StringList(std::vector<std::string>& list) {
  uint16_t n = 0;
  if (!Short(n)) return false;
  // Each [string] takes at least its 2-byte length: a count beyond that is a lie, refused
  // before anything is allocated for it.
  if (size_t{n} * 2 > rest_.size()) {
    return Fail(fmt::format("[string list] of {} strings in {} bytes", n, rest_.size()));
  }
  list.resize(n);
  for (std::string& s : list) {
    if (!String(s)) return false;
  }
  return true;
}

bool Reader::StringMultimap(std::map<std::string, std::vector<std::string>>& map) {
  uint16_t n = 0;
  if (!Short(n)) return false;
  for (uint16_t i = 0; i < n; ++i) {
    std::string key;
    if (!String(key) || !StringList(map[key])) return false;
  }
  return true;
}

bool Reader::Skip(size_t n) {
  std::string_view b;
  return Take(n, b, "skipped bytes");
}

bool Reader::Fail(std::string_view why) {
  if (error_.empty()) error_ = std::string(why);
  return false;
}

Status Reader::status(std::string_view what) const {
  if (error_.empty()) return Status::Ok();
  return Status::Fatal(fmt::format("cql: malformed {}: {}", what, error_));
}

}  // namespace spate::cql
