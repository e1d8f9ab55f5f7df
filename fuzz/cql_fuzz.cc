// Fuzz target for what spate decodes from a Cassandra node (src/cql/protocol.h, wire.h,
// value.h): frame headers, response prefixes (tracing id, warnings, custom payload), and
// the ERROR, RESULT (Void, Rows, Set_keyspace, Prepared, Schema_change), SUPPORTED, EVENT
// and AUTHENTICATE bodies, the values of Rows results, and the Reader's notations.
//
// The first input byte picks what the rest is (see Mode), so that the fuzzer can reach
// each decoder directly as well as through a stream of frames.
//
// Invariants, checked on every input (a violation aborts):
//   - No crash, no read outside the input, no undefined behaviour (ASan, UBSan); a length
//     field larger than what follows is an error, never an allocation (run libFuzzer with
//     -malloc_limit_mb to catch one: no input of a few KB needs more than a few MB).
//   - Whatever decodes re-encodes, where spate has an encoder, to the bytes it came from:
//     frame headers (AppendHeader), values (AppendValue; a boolean byte other than 0/1 and a
//     null's negative length other than -1 are normalised, so there the re-encoding must be
//     a fixed point instead), and each notation the Reader reads (Writer).
//   - Decoded views (Rows values, the body after the prefix) lie inside the input; a Rows
//     result with metadata has one value per column in every row.
//   - Errors are Status values: a failed Reader stays failed and consumes nothing more.
//   - Memory follows the input: no single allocation exceeds 64 bytes per input byte (plus
//     64 KB), so a count or length that the bytes after it cannot back is refused, not
//     allocated. Checked through the sanitizer allocator's hook, so wherever ASan is linked
//     (libFuzzer, the ASan replay test); the plain release replay cannot see allocations.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cql/protocol.h"
#include "cql/value.h"
#include "cql/wire.h"
#include "fuzz_check.h"

// Declared by <sanitizer/allocator_interface.h>; weak, so null without a sanitizer.
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*,
                                                                             size_t),
                                                         void (*free_hook)(const volatile void*))
    __attribute__((weak));

namespace spate::cql {
namespace {

// The largest single allocation since the last reset (the fuzz target is single-threaded).
size_t largest_allocation = 0;
void OnMalloc(const volatile void*, size_t size) {
  if (size > largest_allocation) largest_allocation = size;
}
void OnFree(const volatile void*) {}

bool Inside(std::string_view part, std::string_view whole) {
  const auto b = reinterpret_cast<uintptr_t>(whole.data());
  const auto p = reinterpret_cast<uintptr_t>(part.data());
  return part.empty() || (p >= b && p - b + part.size() <= whole.size());
}

// The input, consumed from the front, for building types and scripts.
class Input {
 public:
  explicit Input(std::string_view bytes) : rest_(bytes) {}
  uint8_t Byte() {
    if (rest_.empty()) return 0;
    const auto b = static_cast<uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    return b;
  }
  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
};

// A type built from the input: every id spate knows, nested up to 9 deep as ReadOption
// allows, sometimes with the wrong number of element types or an id spate does not know.
Type FuzzType(Input& in, int depth) {
  static constexpr TypeId kIds[] = {
      TypeId::kCustom,  TypeId::kAscii,   TypeId::kBigint,   TypeId::kBlob,
      TypeId::kBoolean, TypeId::kDouble,  TypeId::kInt,      TypeId::kTimestamp,
      TypeId::kUuid,    TypeId::kVarchar, TypeId::kTimeuuid, TypeId::kDate,
      TypeId::kList,    TypeId::kMap,     TypeId::kSet,      static_cast<TypeId>(0x0030)};
  const uint8_t b = in.Byte();
  Type type(kIds[b % std::size(kIds)]);
  if (type.id == TypeId::kList || type.id == TypeId::kSet || type.id == TypeId::kMap) {
    size_t params = type.id == TypeId::kMap ? 2 : 1;
    if ((b & 0x80) != 0) params = (b >> 4) & 3;  // Malformed: 0 to 3 element types.
    for (size_t i = 0; i < params && depth < 9; ++i) type.params.push_back(FuzzType(in, depth + 1));
  }
  return type;
}

// True if re-encoding `value` may differ from the bytes it was decoded from: a boolean
// (any non-zero byte is true, written back as 01) or a null inside a collection (any
// negative length is null, written back as -1).
bool MayNormalise(const Value& value) {
  if (std::holds_alternative<bool>(value.v) || value.is_null()) return true;
  if (const auto* list = std::get_if<List>(&value.v)) {
    for (const Value& e : *list) {
      if (MayNormalise(e)) return true;
    }
  }
  if (const auto* map = std::get_if<Map>(&value.v)) {
    for (const auto& [k, v] : *map) {
      if (MayNormalise(k) || MayNormalise(v)) return true;
    }
  }
  return false;
}

// Decodes the content of one non-null value and checks that it re-encodes.
void CheckValue(const Type& type, std::string_view bytes) {
  (void)TypeName(type);
  auto value = DecodeValue(type, bytes);
  if (!value.ok()) {
    FUZZ_CHECK(!value.status().message().empty(), "a value error without a message");
    return;
  }
  FUZZ_CHECK(!value->is_null(), "a non-null value decoded to null");
  std::string encoded;
  AppendValue(*value, encoded);
  FUZZ_CHECK(encoded.size() >= 4, "an encoded value without its length");
  const std::string_view content = std::string_view(encoded).substr(4);
  if (!MayNormalise(*value)) {
    FUZZ_CHECK(content == bytes, "a value does not re-encode to its bytes");
    return;
  }
  // Normalised once, it is a fixed point.
  auto again = DecodeValue(type, content);
  FUZZ_CHECK(again.ok(), "a re-encoded value does not decode");
  std::string encoded_again;
  AppendValue(*again, encoded_again);
  FUZZ_CHECK(encoded_again == encoded, "a re-encoded value is not a fixed point");
}

void CheckColumns(const std::vector<ColumnSpec>& columns) {
  for (const ColumnSpec& c : columns) (void)TypeName(c.type);
}

void CheckResult(std::string_view body) {
  auto result = DecodeResult(body);
  if (!result.ok()) {
    FUZZ_CHECK(result.status().kind() == ErrorKind::kFatal, "a RESULT error is not fatal");
    FUZZ_CHECK(!result.status().message().empty(), "a RESULT error without a message");
    return;
  }
  switch (result->kind) {
    case ResultKind::kRows: {
      const RowsResult& rows = result->rows;
      CheckColumns(rows.columns);
      for (const auto& row : rows.rows) {
        FUZZ_CHECK(rows.columns.empty() || row.size() == rows.columns.size(),
                   "a row without one value per column");
        for (size_t i = 0; i < row.size(); ++i) {
          if (!row[i]) continue;
          FUZZ_CHECK(Inside(*row[i], body), "a value view outside the body");
          if (!rows.columns.empty()) CheckValue(rows.columns[i].type, *row[i]);
        }
      }
      break;
    }
    case ResultKind::kPrepared:
      CheckColumns(result->prepared.bind);
      CheckColumns(result->prepared.result);
      break;
    default:
      break;
  }
}

void CheckError(std::string_view body) {
  auto error = DecodeError(body);
  if (!error.ok()) {
    FUZZ_CHECK(!error.status().message().empty(), "an ERROR error without a message");
    return;
  }
  const Status status = error->ToStatus("fuzz");
  FUZZ_CHECK(!status.ok() && status.retriable() == error->retriable(),
             "an ERROR's status disagrees with retriable()");
  FUZZ_CHECK(error->Describe().starts_with(ErrorName(error->code)),
             "Describe does not name the code");
}

void CheckEvent(std::string_view body) {
  auto event = DecodeEvent(body);
  if (!event.ok()) {
    FUZZ_CHECK(!event.status().message().empty(), "an EVENT error without a message");
    return;
  }
  // Topology and status events name a node: address and port.
  if (event->type != "SCHEMA_CHANGE") {
    FUZZ_CHECK(event->address.find(':') != std::string::npos, "an EVENT without its node");
  }
}

void CheckBody(Opcode opcode, std::string_view body) {
  switch (opcode) {
    case Opcode::kError:
      return CheckError(body);
    case Opcode::kResult:
      return CheckResult(body);
    case Opcode::kEvent:
      return CheckEvent(body);
    case Opcode::kSupported: {
      Reader r(body);
      std::map<std::string, std::vector<std::string>> options;
      r.StringMultimap(options);
      return;
    }
    case Opcode::kAuthenticate: {
      Reader r(body);
      std::string authenticator;
      r.String(authenticator);
      return;
    }
    case Opcode::kAuthChallenge:
    case Opcode::kAuthSuccess: {
      Reader r(body);
      std::optional<std::string> token;
      r.Bytes(token);
      return;
    }
    default:
      return;
  }
}

// A stream of response frames, as Connection::ReadFrames cuts them. Compressed bodies are
// skipped: decompression is the connection's (not reachable from here).
void CheckFrames(std::string_view rest) {
  while (rest.size() >= kHeaderSize) {
    auto header = DecodeHeader(rest, kResponseVersion);
    if (!header.ok()) {
      FUZZ_CHECK(!header.status().message().empty(), "a header error without a message");
      return;
    }
    FUZZ_CHECK(header->version == kResponseVersion && header->length <= kMaxBodySize,
               "a header passed with a bad version or length");
    std::string again;
    AppendHeader(*header, again);
    FUZZ_CHECK(again == rest.substr(0, kHeaderSize), "a header does not re-encode to its bytes");
    if (rest.size() - kHeaderSize < header->length) return;  // The connection would wait.
    std::string_view body = rest.substr(kHeaderSize, header->length);
    rest.remove_prefix(kHeaderSize + header->length);
    if ((header->flags & kFlagCompression) != 0) continue;
    const std::string_view whole = body;
    auto warnings = StripResponsePrefix(header->flags, body);
    if (!warnings.ok()) continue;
    FUZZ_CHECK(Inside(body, whole) && body.data() + body.size() == whole.data() + whole.size(),
               "the message is not the end of the body");
    CheckBody(header->opcode, body);
  }
}

// Reads the notations a script from the input names, writes each back with the Writer and
// compares: every notation read re-encodes to the bytes it took.
void CheckWire(Input& in) {
  const size_t ops = in.Byte() % 32;
  std::vector<uint8_t> script;
  for (size_t i = 0; i < ops; ++i) script.push_back(in.Byte());
  const std::string_view body = in.rest();
  Reader r(body);
  bool failed = false;
  for (const uint8_t op : script) {
    const size_t before = r.remaining();
    std::string written;
    Writer w(written);
    bool ok = false;
    bool exact = true;  // Whether `written` must equal the bytes read.
    switch (op % 12) {
      case 0: {
        uint8_t v = 0;
        if ((ok = r.Byte(v))) w.Byte(v);
        break;
      }
      case 1: {
        uint16_t v = 0;
        if ((ok = r.Short(v))) w.Short(v);
        break;
      }
      case 2: {
        int32_t v = 0;
        if ((ok = r.Int(v))) w.Int(v);
        break;
      }
      case 3: {
        int64_t v = 0;
        if ((ok = r.Long(v))) w.Long(v);
        break;
      }
      case 4: {
        std::string s;
        if ((ok = r.String(s))) w.String(s);
        break;
      }
      case 5: {
        std::string s;
        if ((ok = r.LongString(s))) w.LongString(s);
        break;
      }
      case 6: {
        std::optional<std::string> b;
        if ((ok = r.Bytes(b))) {
          if (b) {
            w.Bytes(*b);
          } else {
            w.NullBytes();
            exact = false;  // Any negative length is null.
          }
        }
        break;
      }
      case 7: {
        std::optional<std::string_view> b;
        if ((ok = r.BytesView(b))) {
          if (b) {
            FUZZ_CHECK(Inside(*b, body), "a [bytes] view outside the body");
            w.Bytes(*b);
          } else {
            w.NullBytes();
            exact = false;
          }
        }
        break;
      }
      case 8: {
        std::string s;
        if ((ok = r.ShortBytes(s))) w.ShortBytes(s);
        break;
      }
      case 9: {
        std::vector<std::string> list;
        if ((ok = r.StringList(list))) w.StringList(list);
        break;
      }
      case 10: {
        std::map<std::string, std::vector<std::string>> map;
        ok = r.StringMultimap(map);
        exact = false;  // No writer; a repeated key keeps its last list.
        break;
      }
      default:
        ok = r.Skip(op >> 4);
        exact = false;
        break;
    }
    FUZZ_CHECK(r.remaining() <= before, "a read gave bytes back");
    if (failed) {
      FUZZ_CHECK(!ok && r.remaining() == before, "a failed Reader read on");
      continue;
    }
    if (!ok) {
      failed = true;
      FUZZ_CHECK(!r.ok() && !r.status("fuzz").ok(), "a failed read left no error");
      continue;
    }
    const std::string_view taken = body.substr(body.size() - before, before - r.remaining());
    if (exact) {
      FUZZ_CHECK(written == taken, "a notation does not re-encode to its bytes");
    } else if (op % 12 == 6 || op % 12 == 7) {
      FUZZ_CHECK(taken.size() == 4 && (static_cast<unsigned char>(taken[0]) & 0x80) != 0,
                 "a null [bytes] without a negative length");
    }
  }
  FUZZ_CHECK(failed != r.ok(), "Reader::ok() disagrees with the reads");
}

enum Mode : uint8_t {
  kFrames,
  kResultBody,
  kErrorBody,
  kEventBody,
  kSupportedBody,
  kValue,
  kWire,
  kModes
};

}  // namespace
}  // namespace spate::cql

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace spate::cql;
  static const bool hooked = __sanitizer_install_malloc_and_free_hooks != nullptr &&
                             __sanitizer_install_malloc_and_free_hooks(OnMalloc, OnFree) != 0;
  if (size == 0) return 0;
  largest_allocation = 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % kModes) {
    case kFrames:
      CheckFrames(body);
      break;
    case kResultBody:
      CheckResult(body);
      break;
    case kErrorBody:
      CheckError(body);
      break;
    case kEventBody:
      CheckEvent(body);
      break;
    case kSupportedBody:
      CheckBody(Opcode::kSupported, body);
      break;
    case kValue: {
      Input in(body);
      const Type type = FuzzType(in, 0);
      CheckValue(type, in.rest());
      break;
    }
    default: {
      Input in(body);
      CheckWire(in);
      break;
    }
  }
  FUZZ_CHECK(!hooked || largest_allocation <= 64 * size + (64 << 10),
             "an allocation out of proportion to the input");
  return 0;
}
