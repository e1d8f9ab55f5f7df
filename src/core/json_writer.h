// JsonWriter: a small append-only JSON writer (simdjson only parses).
//
// It writes compact JSON into a caller-owned std::string so hot loops can reuse one buffer.
// It does not check structure (the caller writes keys and values in a valid order); Comma()
// bookkeeping is the caller's via the first-field flag in Object()/Array() scopes.
//
// Thread-safety: none; one writer per thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace spate {

// Appends `s` as a quoted JSON string, escaping what RFC 8259 requires. Bytes >= 0x80 are
// copied as they are: callers pass valid UTF-8 (simdjson has validated it).
void AppendJsonString(std::string& out, std::string_view s);

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  void BeginObject() { Separator(); out_.push_back('{'); first_ = true; }
  void EndObject() { out_.push_back('}'); first_ = false; }
  void BeginArray() { Separator(); out_.push_back('['); first_ = true; }
  void EndArray() { out_.push_back(']'); first_ = false; }

  void Key(std::string_view key) {
    Separator();
    AppendJsonString(out_, key);
    out_.push_back(':');
    first_ = true;  // The value that follows takes no comma.
  }
  void String(std::string_view v) { Separator(); AppendJsonString(out_, v); }
  void Int(int64_t v);
  void Double(double v);
  void Bool(bool v) { Separator(); out_.append(v ? "true" : "false"); }
  void Null() { Separator(); out_.append("null"); }
  // Already-valid JSON text, copied verbatim.
  void Raw(std::string_view json) { Separator(); out_.append(json); }

 private:
  void Separator() {
    if (!first_) out_.push_back(',');
    first_ = false;
  }

  std::string& out_;
  bool first_ = true;
};

}  // namespace spate
