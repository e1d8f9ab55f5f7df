// The CQL native protocol's notations (native_protocol_v4.spec, section 3), big-endian.
//
// Writer appends [byte] [short] [int] [long] [string] [long string] [bytes] [short bytes]
// [string list] [string map] and friends to a std::string. Reader takes them back off a
// body, checking every length against what is left: a truncated or lying frame gives an
// error, never a read past the end.
//
// Thread-safety: plain values; one thread each.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace spate::cql {

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void Byte(uint8_t v) { out_ += static_cast<char>(v); }
  void Short(uint16_t v) { Be(v, 2); }
  void Int(int32_t v) { Be(static_cast<uint32_t>(v), 4); }
  void Long(int64_t v) { Be(static_cast<uint64_t>(v), 8); }
  void String(std::string_view s);      // [short] n, n bytes.
  void LongString(std::string_view s);  // [int] n, n bytes.
  void Bytes(std::string_view b);       // [int] n, n bytes.
  void NullBytes() { Int(-1); }         // [bytes] / [value] null.
  void ShortBytes(std::string_view b);  // [short] n, n bytes.
  void StringList(const std::vector<std::string>& list);
  void StringMap(const std::map<std::string, std::string>& map);
  void Raw(std::string_view b) { out_.append(b); }

  // Overwrites 4 bytes at `at` with v: for a length known only after the body is written.
  void PatchInt(size_t at, int32_t v);
  size_t size() const { return out_.size(); }

 private:
  void Be(uint64_t v, int bytes);
  std::string& out_;
};

class Reader {
 public:
  explicit Reader(std::string_view body) : rest_(body) {}

  // Each returns false (and sets error()) when the body is too short; later reads then fail
  // too, so a caller may check once at the end.
  bool Byte(uint8_t& v);
  bool Short(uint16_t& v);
  bool Int(int32_t& v);
  bool Long(int64_t& v);
  bool String(std::string& s);
  bool LongString(std::string& s);
  // [bytes]: nullopt for a negative length (null).
  bool Bytes(std::optional<std::string>& b);
  // The same without a copy: a view into the body the Reader was given.
  bool BytesView(std::optional<std::string_view>& b);
  bool ShortBytes(std::string& b);
  bool StringList(std::vector<std::string>& list);
  bool StringMultimap(std::map<std::string, std::vector<std::string>>& map);
  bool Skip(size_t n);
  // Stops reading for a reason of the caller's (a count no body could hold, types nested
  // too deep): returns false, and error() and status() say `why`, as for a short body. A
  // caller that returns status() after a false must never find it Ok.
  bool Fail(std::string_view why);

  bool ok() const { return error_.empty(); }
  // Why reading stopped, for the Status of the whole message.
  Status status(std::string_view what) const;
  size_t remaining() const { return rest_.size(); }
  std::string_view rest() const { return rest_; }

 private:
  bool Take(size_t n, std::string_view& out, std::string_view what);
  std::string_view rest_;
  std::string error_;
};

}  // namespace spate::cql
