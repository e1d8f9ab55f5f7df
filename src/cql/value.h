// CQL values and their serialization (native_protocol_v4.spec, section 6): what the client
// binds to a prepared statement and reads back from a Rows result.
//
// Supported: text, uuid, int, bigint, double, boolean, timestamp, date, list and map of
// those, and null. Types are the protocol's [option] ids.
//
// Thread-safety: plain values.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/status.h"

namespace spate::cql {

// [option] ids of the types spate reads and writes.
enum class TypeId : uint16_t {
  kCustom = 0x0000,
  kAscii = 0x0001,
  kBigint = 0x0002,
  kBlob = 0x0003,
  kBoolean = 0x0004,
  kDouble = 0x0007,
  kInt = 0x0009,
  kTimestamp = 0x000B,
  kUuid = 0x000C,
  kVarchar = 0x000D,
  kTimeuuid = 0x000F,
  kDate = 0x0011,
  kList = 0x0020,
  kMap = 0x0021,
  kSet = 0x0022,
};

// A column or bind-marker type: the id, and element types for list/set (one) and map (two).
struct Type {
  Type(TypeId type_id = TypeId::kVarchar, std::vector<Type> element_types = {})  // NOLINT
      : id(type_id), params(std::move(element_types)) {}
  TypeId id;
  std::vector<Type> params;
  std::string custom;  // Class name, for kCustom.
};

struct Uuid {
  std::array<uint8_t, 16> bytes{};
  // From the 8-4-4-4-12 text form; nullopt if it is not one.
  static std::optional<Uuid> Parse(std::string_view text);
  std::string ToString() const;  // Lower-case 8-4-4-4-12.
  bool operator==(const Uuid&) const = default;
};

// Days since 1970-01-01 (the protocol stores them offset by 2^31).
struct Date {
  int32_t days_since_epoch = 0;
  bool operator==(const Date&) const = default;
};

// Milliseconds since the Unix epoch.
struct Timestamp {
  int64_t millis = 0;
  bool operator==(const Timestamp&) const = default;
};

struct Value;
using List = std::vector<Value>;
using Map = std::vector<std::pair<Value, Value>>;

struct Value {
  std::variant<std::monostate, std::string, Uuid, int32_t, int64_t, double, bool, Timestamp, Date,
               List, Map>
      v;

  Value() = default;
  static Value Null() { return Value(); }
  static Value Text(std::string s) { return Make(std::move(s)); }
  static Value Int(int32_t i) { return Make(i); }
  static Value Bigint(int64_t i) { return Make(i); }
  static Value Double(double d) { return Make(d); }
  static Value Boolean(bool b) { return Make(b); }
  static Value Of(Uuid u) { return Make(u); }
  static Value Of(Timestamp t) { return Make(t); }
  static Value Of(Date d) { return Make(d); }
  static Value Of(List l) { return Make(std::move(l)); }
  static Value Of(Map m) { return Make(std::move(m)); }

  bool is_null() const { return std::holds_alternative<std::monostate>(v); }
  bool operator==(const Value&) const = default;

 private:
  template <typename T>
  static Value Make(T x) {
    Value value;
    value.v = std::move(x);
    return value;
  }
};

// Appends `value` as a [value] (length-prefixed; -1 for null).
void AppendValue(const Value& value, std::string& out);

// Decodes the bytes of one non-null value of `type` (the [bytes] content, no length).
Result<Value> DecodeValue(const Type& type, std::string_view bytes);

// "text", "list<int>", "map<text, uuid>": for messages.
std::string TypeName(const Type& type);

}  // namespace spate::cql
