#include "cql/value.h"

#include <bit>

#include <fmt/format.h>

#include "cql/wire.h"

namespace spate::cql {
namespace {

// The protocol's date is unsigned days with 1970-01-01 at 2^31.
constexpr int64_t kDateEpoch = int64_t{1} << 31;

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The serialized form, without the [value] length.
void AppendBody(const Value& value, std::string& out) {
  Writer w(out);
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          w.Raw(x);
        } else if constexpr (std::is_same_v<T, Uuid>) {
          w.Raw(std::string_view(reinterpret_cast<const char*>(x.bytes.data()), 16));
        } else if constexpr (std::is_same_v<T, int32_t>) {
          w.Int(x);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          w.Long(x);
        } else if constexpr (std::is_same_v<T, double>) {
          w.Long(static_cast<int64_t>(std::bit_cast<uint64_t>(x)));
        } else if constexpr (std::is_same_v<T, bool>) {
          w.Byte(x ? 1 : 0);
        } else if constexpr (std::is_same_v<T, Timestamp>) {
          w.Long(x.millis);
        } else if constexpr (std::is_same_v<T, Date>) {
          w.Int(static_cast<int32_t>(static_cast<uint32_t>(kDateEpoch + x.days_since_epoch)));
        } else if constexpr (std::is_same_v<T, List>) {
          w.Int(static_cast<int32_t>(x.size()));
          for (const Value& e : x) AppendValue(e, out);
        } else if constexpr (std::is_same_v<T, Map>) {
          w.Int(static_cast<int32_t>(x.size()));
          for (const auto& [k, v] : x) {
            AppendValue(k, out);
            AppendValue(v, out);
          }
        }
      },
      value.v);
}

Status WrongSize(const Type& type, size_t want, size_t got) {
  return Status::Fatal(
      fmt::format("cql: a {} value has {} bytes, expected {}", TypeName(type), got, want));
}

}  // namespace

std::optional<Uuid> Uuid::Parse(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  Uuid u;
  size_t out = 0;
  for (size_t i = 0; i < 36;) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    const int hi = HexDigit(text[i]);
    const int lo = HexDigit(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    u.bytes[out++] = static_cast<uint8_t>(hi << 4 | lo);
    i += 2;
  }
  return u;
}

std::string Uuid::ToString() const {
  std::string s;
  s.reserve(36);
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += kHex[bytes[i] >> 4];
    s += kHex[bytes[i] & 0xf];
  }
  return s;
}

void AppendValue(const Value& value, std::string& out) {
  Writer w(out);
  if (value.is_null()) {
    w.NullBytes();
    return;
  }
  const size_t at = out.size();
  w.Int(0);  // Length, patched below.
  AppendBody(value, out);
  w.PatchInt(at, static_cast<int32_t>(out.size() - at - 4));
}

Result<Value> DecodeValue(const Type& type, std::string_view bytes) {
  Reader r(bytes);
  switch (type.id) {
    case TypeId::kAscii:
    case TypeId::kVarchar:
    case TypeId::kBlob:
    case TypeId::kCustom:
      return Value::Text(std::string(bytes));
    case TypeId::kUuid:
    case TypeId::kTimeuuid: {
      if (bytes.size() != 16) return WrongSize(type, 16, bytes.size());
      Uuid u;
      for (size_t i = 0; i < 16; ++i) u.bytes[i] = static_cast<uint8_t>(bytes[i]);
      return Value::Of(u);
    }
    case TypeId::kInt: {
      int32_t i = 0;
      if (bytes.size() != 4 || !r.Int(i)) return WrongSize(type, 4, bytes.size());
      return Value::Int(i);
    }
    case TypeId::kBigint:
    case TypeId::kTimestamp:
    case TypeId::kDouble: {
      int64_t i = 0;
      if (bytes.size() != 8 || !r.Long(i)) return WrongSize(type, 8, bytes.size());
      if (type.id == TypeId::kBigint) return Value::Bigint(i);
      if (type.id == TypeId::kTimestamp) return Value::Of(Timestamp{i});
      return Value::Double(std::bit_cast<double>(static_cast<uint64_t>(i)));
    }
    case TypeId::kBoolean:
      if (bytes.size() != 1) return WrongSize(type, 1, bytes.size());
      return Value::Boolean(bytes[0] != 0);
    case TypeId::kDate: {
      int32_t raw = 0;
      if (bytes.size() != 4 || !r.Int(raw)) return WrongSize(type, 4, bytes.size());
      const int64_t days = int64_t{static_cast<uint32_t>(raw)} - kDateEpoch;
      return Value::Of(Date{static_cast<int32_t>(days)});
    }
    case TypeId::kList:
    case TypeId::kSet:
    case TypeId::kMap: {
      const bool map = type.id == TypeId::kMap;
      if (type.params.size() != (map ? 2u : 1u)) {
        return Status::Fatal(fmt::format("cql: {} without element types", TypeName(type)));
      }
      int32_t n = 0;
      if (!r.Int(n) || n < 0) return Status::Fatal("cql: bad collection length");
      List list;
      Map pairs;
      for (int32_t i = 0; i < n; ++i) {
        Value parts[2];
        for (int part = 0; part < (map ? 2 : 1); ++part) {
          std::optional<std::string> element;
          if (!r.Bytes(element)) return r.status("collection element");
          if (element) {
            auto decoded = DecodeValue(type.params[part], *element);
            if (!decoded.ok()) return decoded.status();
            parts[part] = std::move(decoded).value();
          }
        }
        if (map) {
          pairs.emplace_back(std::move(parts[0]), std::move(parts[1]));
        } else {
          list.push_back(std::move(parts[0]));
        }
      }
      if (r.remaining() != 0) return Status::Fatal("cql: trailing bytes after a collection");
      return map ? Value::Of(std::move(pairs)) : Value::Of(std::move(list));
    }
  }
  return Status::Fatal(
      fmt::format("cql: unsupported type id 0x{:04x}", static_cast<unsigned>(type.id)));
}

std::string TypeName(const Type& type) {
  switch (type.id) {
    case TypeId::kCustom:
      return "'" + type.custom + "'";
    case TypeId::kAscii:
      return "ascii";
    case TypeId::kBigint:
      return "bigint";
    case TypeId::kBlob:
      return "blob";
    case TypeId::kBoolean:
      return "boolean";
    case TypeId::kDouble:
      return "double";
    case TypeId::kInt:
      return "int";
    case TypeId::kTimestamp:
      return "timestamp";
    case TypeId::kUuid:
      return "uuid";
    case TypeId::kVarchar:
      return "text";
    case TypeId::kTimeuuid:
      return "timeuuid";
    case TypeId::kDate:
      return "date";
    case TypeId::kList:
    case TypeId::kSet: {
      const char* name = type.id == TypeId::kList ? "list" : "set";
      return fmt::format("{}<{}>", name, type.params.empty() ? "?" : TypeName(type.params[0]));
    }
    case TypeId::kMap:
      return type.params.size() == 2
                 ? fmt::format("map<{}, {}>", TypeName(type.params[0]), TypeName(type.params[1]))
                 : "map<?>";
  }
  return fmt::format("type 0x{:04x}", static_cast<unsigned>(type.id));
}

}  // namespace spate::cql
