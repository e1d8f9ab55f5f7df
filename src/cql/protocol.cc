#include "cql/protocol.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "cql/wire.h"

namespace spate::cql {
namespace {

constexpr struct {
  Consistency level;
  std::string_view name;
} kConsistencies[] = {
    {Consistency::kAny, "ANY"},
    {Consistency::kOne, "ONE"},
    {Consistency::kTwo, "TWO"},
    {Consistency::kThree, "THREE"},
    {Consistency::kQuorum, "QUORUM"},
    {Consistency::kAll, "ALL"},
    {Consistency::kLocalQuorum, "LOCAL_QUORUM"},
    {Consistency::kEachQuorum, "EACH_QUORUM"},
    {Consistency::kSerial, "SERIAL"},
    {Consistency::kLocalSerial, "LOCAL_SERIAL"},
    {Consistency::kLocalOne, "LOCAL_ONE"},
};

// A request frame: header with the body's length, then the body `fill` writes.
template <typename Fill>
std::string Frame(Opcode opcode, int16_t stream, Fill fill) {
  std::string out;
  out.reserve(512);  // Most requests fit: one allocation instead of a few growths.
  AppendHeader({kRequestVersion, 0, stream, opcode, 0}, out);
  Writer w(out);
  fill(w, out);
  w.PatchInt(5, static_cast<int32_t>(out.size() - kHeaderSize));
  return out;
}

void AppendQueryParams(const QueryParams& p, std::string& out) {
  Writer w(out);
  w.Short(static_cast<uint16_t>(p.consistency));
  uint8_t flags = 0;
  if (!p.values.empty()) flags |= 0x01;
  if (p.skip_metadata) flags |= 0x02;
  if (p.page_size > 0) flags |= 0x04;
  if (p.paging_state) flags |= 0x08;
  if (p.timestamp_micros) flags |= 0x20;
  w.Byte(flags);
  if (!p.values.empty()) {
    w.Short(static_cast<uint16_t>(p.values.size()));
    for (const Value& v : p.values) AppendValue(v, out);
  }
  if (p.page_size > 0) w.Int(p.page_size);
  if (p.paging_state) w.Bytes(*p.paging_state);
  if (p.timestamp_micros) w.Long(*p.timestamp_micros);
}

bool ReadOption(Reader& r, Type& type, int depth = 0) {
  uint16_t id = 0;
  if (!r.Short(id)) return false;
  type.id = static_cast<TypeId>(id);
  if (depth > 8) return r.Fail("types nested more than 8 deep");  // Hostile: no end.
  switch (type.id) {
    case TypeId::kCustom:
      return r.String(type.custom);
    case TypeId::kList:
    case TypeId::kSet:
      type.params.resize(1);
      return ReadOption(r, type.params[0], depth + 1);
    case TypeId::kMap:
      type.params.resize(2);
      return ReadOption(r, type.params[0], depth + 1) && ReadOption(r, type.params[1], depth + 1);
    default:
      return true;  // Native types carry no value. (UDT and tuple are not supported.)
  }
}

bool ReadColumns(Reader& r, int32_t flags, int32_t count, std::vector<ColumnSpec>& columns) {
  std::string global_ks, global_table;
  if ((flags & 0x0001) != 0 && (!r.String(global_ks) || !r.String(global_table))) return false;
  // Each column takes at least its name's and its type's 2-byte lengths (and its keyspace's
  // and table's without the global spec): a count beyond that is a lie, refused before
  // anything is allocated for it.
  const size_t least = (flags & 0x0001) != 0 ? 4 : 8;
  if (count < 0 || static_cast<size_t>(count) > r.remaining() / least) {
    return r.Fail(fmt::format("{} columns claimed, {} bytes left", count, r.remaining()));
  }
  columns.resize(static_cast<size_t>(count));
  for (ColumnSpec& c : columns) {
    if ((flags & 0x0001) != 0) {
      c.keyspace = global_ks;
      c.table = global_table;
    } else if (!r.String(c.keyspace) || !r.String(c.table)) {
      return false;
    }
    if (!r.String(c.name) || !ReadOption(r, c.type)) return false;
  }
  return true;
}

// <metadata> of a Rows result (or a Prepared result's result metadata).
bool ReadRowsMetadata(Reader& r, std::vector<ColumnSpec>& columns,
                      std::optional<std::string>* paging_state, int32_t& count) {
  int32_t flags = 0;
  if (!r.Int(flags) || !r.Int(count)) return false;
  if ((flags & 0x0002) != 0) {
    std::optional<std::string> state;
    if (!r.Bytes(state)) return false;
    if (paging_state != nullptr) *paging_state = std::move(state);
  }
  if ((flags & 0x0004) != 0) return true;  // No_metadata.
  return ReadColumns(r, flags, count, columns);
}

bool ReadSchemaChange(Reader& r, SchemaChange& sc) {
  if (!r.String(sc.change) || !r.String(sc.target) || !r.String(sc.keyspace)) return false;
  if (sc.target == "KEYSPACE") return true;
  if (!r.String(sc.name)) return false;
  if (sc.target == "FUNCTION" || sc.target == "AGGREGATE") {
    std::vector<std::string> args;
    return r.StringList(args);
  }
  return true;
}

}  // namespace

void AppendHeader(const FrameHeader& h, std::string& out) {
  Writer w(out);
  w.Byte(h.version);
  w.Byte(h.flags);
  w.Short(static_cast<uint16_t>(h.stream));
  w.Byte(static_cast<uint8_t>(h.opcode));
  w.Int(static_cast<int32_t>(h.length));
}

Result<FrameHeader> DecodeHeader(std::string_view bytes, uint8_t expected_version) {
  Reader r(bytes.substr(0, kHeaderSize));
  FrameHeader h;
  uint8_t opcode = 0;
  uint16_t stream = 0;
  int32_t length = 0;
  if (!r.Byte(h.version) || !r.Byte(h.flags) || !r.Short(stream) || !r.Byte(opcode) ||
      !r.Int(length)) {
    return r.status("frame header");
  }
  if (h.version != expected_version) {
    return Status::Fatal(
        fmt::format("cql: frame version byte 0x{:02x}, expected 0x{:02x} (protocol v4 only)",
                    h.version, expected_version));
  }
  if (length < 0 || static_cast<uint32_t>(length) > kMaxBodySize) {
    return Status::Fatal(fmt::format("cql: frame body of {} bytes is over the limit", length));
  }
  h.stream = static_cast<int16_t>(stream);
  h.opcode = static_cast<Opcode>(opcode);
  h.length = static_cast<uint32_t>(length);
  return h;
}

std::optional<Consistency> ParseConsistency(std::string_view name) {
  std::string upper(name);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  for (const auto& c : kConsistencies) {
    if (c.name == upper) return c.level;
  }
  return std::nullopt;
}

std::string_view ConsistencyName(Consistency level) {
  for (const auto& c : kConsistencies) {
    if (c.level == level) return c.name;
  }
  return "UNKNOWN";
}

std::string EncodeStartup(int16_t stream, const std::map<std::string, std::string>& options) {
  return Frame(Opcode::kStartup, stream, [&](Writer& w, std::string&) { w.StringMap(options); });
}

std::string EncodeOptions(int16_t stream) {
  return Frame(Opcode::kOptions, stream, [](Writer&, std::string&) {});
}

std::string EncodeAuthResponse(int16_t stream, std::string_view user, std::string_view password) {
  return Frame(Opcode::kAuthResponse, stream, [&](Writer& w, std::string&) {
    std::string token;
    token += '\0';
    token.append(user);
    token += '\0';
    token.append(password);
    w.Bytes(token);
  });
}

std::string EncodeQuery(int16_t stream, std::string_view cql, const QueryParams& params) {
  return Frame(Opcode::kQuery, stream, [&](Writer& w, std::string& out) {
    w.LongString(cql);
    AppendQueryParams(params, out);
  });
}

std::string EncodePrepare(int16_t stream, std::string_view cql) {
  return Frame(Opcode::kPrepare, stream, [&](Writer& w, std::string&) { w.LongString(cql); });
}

std::string EncodeExecute(int16_t stream, std::string_view id, const QueryParams& params) {
  return Frame(Opcode::kExecute, stream, [&](Writer& w, std::string& out) {
    w.ShortBytes(id);
    AppendQueryParams(params, out);
  });
}

std::string EncodeRegister(int16_t stream, const std::vector<std::string>& events) {
  return Frame(Opcode::kRegister, stream, [&](Writer& w, std::string&) { w.StringList(events); });
}

std::string EncodeBatch(int16_t stream, std::string_view id,
                        const std::vector<std::vector<Value>>& rows, Consistency consistency) {
  return Frame(Opcode::kBatch, stream, [&](Writer& w, std::string& out) {
    w.Byte(1);  // Unlogged.
    w.Short(static_cast<uint16_t>(rows.size()));
    for (const std::vector<Value>& values : rows) {
      w.Byte(1);  // A prepared statement id follows.
      w.ShortBytes(id);
      w.Short(static_cast<uint16_t>(values.size()));
      for (const Value& v : values) AppendValue(v, out);
    }
    w.Short(static_cast<uint16_t>(consistency));
    w.Byte(0);  // No serial consistency, no default timestamp.
  });
}

std::string_view ErrorName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kServerError:
      return "Server_error";
    case ErrorCode::kProtocolError:
      return "Protocol_error";
    case ErrorCode::kBadCredentials:
      return "Bad_credentials";
    case ErrorCode::kUnavailable:
      return "Unavailable";
    case ErrorCode::kOverloaded:
      return "Overloaded";
    case ErrorCode::kIsBootstrapping:
      return "Is_bootstrapping";
    case ErrorCode::kTruncateError:
      return "Truncate_error";
    case ErrorCode::kWriteTimeout:
      return "Write_timeout";
    case ErrorCode::kReadTimeout:
      return "Read_timeout";
    case ErrorCode::kReadFailure:
      return "Read_failure";
    case ErrorCode::kFunctionFailure:
      return "Function_failure";
    case ErrorCode::kWriteFailure:
      return "Write_failure";
    case ErrorCode::kSyntaxError:
      return "Syntax_error";
    case ErrorCode::kUnauthorized:
      return "Unauthorized";
    case ErrorCode::kInvalid:
      return "Invalid";
    case ErrorCode::kConfigError:
      return "Config_error";
    case ErrorCode::kAlreadyExists:
      return "Already_exists";
    case ErrorCode::kUnprepared:
      return "Unprepared";
  }
  return "Unknown_error";
}

bool ServerError::retriable() const {
  switch (code) {
    case ErrorCode::kServerError:
    case ErrorCode::kUnavailable:
    case ErrorCode::kOverloaded:
    case ErrorCode::kIsBootstrapping:
    case ErrorCode::kTruncateError:
    case ErrorCode::kWriteTimeout:
    case ErrorCode::kReadTimeout:
    case ErrorCode::kUnprepared:
      return true;
    default:
      return false;
  }
}

std::string ServerError::Describe() const {
  return fmt::format("{}: {}", ErrorName(code), message);
}

Status ServerError::ToStatus(std::string_view context) const {
  std::string text = fmt::format("cassandra: {}: {}", context, Describe());
  return retriable() ? Status::Retriable(std::move(text)) : Status::Fatal(std::move(text));
}

Result<ServerError> DecodeError(std::string_view body) {
  Reader r(body);
  ServerError e;
  int32_t code = 0;
  if (!r.Int(code) || !r.String(e.message)) return r.status("ERROR");
  e.code = static_cast<ErrorCode>(code);
  // The extra fields of some codes, folded into the message so the user sees them.
  uint16_t cl = 0;
  int32_t a = 0, b = 0, failures = 0;
  std::string write_type;
  switch (e.code) {
    case ErrorCode::kUnavailable:
      if (r.Short(cl) && r.Int(a) && r.Int(b)) {
        e.message += fmt::format(" ({}: {} replicas needed, {} alive)",
                                 ConsistencyName(static_cast<Consistency>(cl)), a, b);
      }
      break;
    case ErrorCode::kWriteTimeout:
      if (r.Short(cl) && r.Int(a) && r.Int(b) && r.String(write_type)) {
        e.message += fmt::format(" ({}: {} of {} replicas acknowledged, {} write)",
                                 ConsistencyName(static_cast<Consistency>(cl)), a, b, write_type);
      }
      break;
    case ErrorCode::kWriteFailure:
      if (r.Short(cl) && r.Int(a) && r.Int(b) && r.Int(failures) && r.String(write_type)) {
        e.message +=
            fmt::format(" ({}: {} of {} replicas acknowledged, {} failed, {} write)",
                        ConsistencyName(static_cast<Consistency>(cl)), a, b, failures, write_type);
      }
      break;
    case ErrorCode::kUnprepared:
      if (!r.ShortBytes(e.unprepared_id)) return r.status("Unprepared error");
      break;
    default:
      break;  // Other extras are not needed to act on the error.
  }
  return e;
}

Result<ResultMessage> DecodeResult(std::string_view body) {
  Reader r(body);
  ResultMessage m;
  int32_t kind = 0;
  if (!r.Int(kind)) return r.status("RESULT");
  m.kind = static_cast<ResultKind>(kind);
  switch (m.kind) {
    case ResultKind::kVoid:
      return m;
    case ResultKind::kSetKeyspace:
      if (!r.String(m.keyspace)) return r.status("Set_keyspace result");
      return m;
    case ResultKind::kSchemaChange:
      if (!ReadSchemaChange(r, m.schema_change)) return r.status("Schema_change result");
      return m;
    case ResultKind::kRows: {
      int32_t columns = 0, count = 0;
      if (!ReadRowsMetadata(r, m.rows.columns, &m.rows.paging_state, columns) || !r.Int(count)) {
        return r.status("Rows result");
      }
      // Each value takes at least its 4-byte length: a count beyond that is a lie. Rows of
      // no columns would take no bytes at all, so any count would pass; no query has them.
      if (count < 0 || columns < 0 || (columns == 0 && count > 0) ||
          static_cast<uint64_t>(count) * static_cast<uint64_t>(columns) * 4 > r.remaining()) {
        return Status::Fatal(
            fmt::format("cql: Rows result claims {} rows of {} columns in {} bytes", count, columns,
                        r.remaining()));
      }
      m.rows.rows.resize(static_cast<size_t>(count));
      for (auto& row : m.rows.rows) {
        row.resize(static_cast<size_t>(columns));
        for (auto& value : row) {
          if (!r.BytesView(value)) return r.status("Rows result");
        }
      }
      return m;
    }
    case ResultKind::kPrepared: {
      int32_t flags = 0, count = 0, pk_count = 0;
      if (!r.ShortBytes(m.prepared.id) || !r.Int(flags) || !r.Int(count) || !r.Int(pk_count)) {
        return r.status("Prepared result");
      }
      if (pk_count < 0 || static_cast<size_t>(pk_count) * 2 > r.remaining()) {
        return Status::Fatal("cql: Prepared result with a bad partition key count");
      }
      m.prepared.pk_indexes.resize(static_cast<size_t>(pk_count));
      for (uint16_t& index : m.prepared.pk_indexes) {
        if (!r.Short(index)) return r.status("Prepared result");
      }
      int32_t result_count = 0;
      if (!ReadColumns(r, flags, count, m.prepared.bind) ||
          !ReadRowsMetadata(r, m.prepared.result, nullptr, result_count)) {
        return r.status("Prepared result");
      }
      return m;
    }
  }
  return Status::Fatal(fmt::format("cql: unknown RESULT kind 0x{:04x}", kind));
}

Result<Event> DecodeEvent(std::string_view body) {
  Reader r(body);
  Event e;
  if (!r.String(e.type)) return r.status("EVENT");
  if (e.type == "SCHEMA_CHANGE") {
    if (!ReadSchemaChange(r, e.schema)) return r.status("SCHEMA_CHANGE event");
    e.change = e.schema.change;
    return e;
  }
  uint8_t size = 0;
  if (!r.String(e.change) || !r.Byte(size)) return r.status("EVENT");
  std::string_view rest = r.rest();
  if ((size != 4 && size != 16) || rest.size() < size + 4u) {
    return Status::Fatal("cql: EVENT with a malformed [inet]");
  }
  const auto* ip = reinterpret_cast<const unsigned char*>(rest.data());
  if (size == 4) {
    e.address = fmt::format("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]);
  } else {
    for (int i = 0; i < 16; i += 2) {
      e.address += fmt::format("{}{:x}", i ? ":" : "", ip[i] << 8 | ip[i + 1]);
    }
  }
  r.Skip(size);
  int32_t port = 0;
  if (!r.Int(port)) return r.status("EVENT");
  e.address += fmt::format(":{}", port);
  return e;
}

Result<std::vector<std::string>> StripResponsePrefix(uint8_t flags, std::string_view& body) {
  Reader r(body);
  std::vector<std::string> warnings;
  if ((flags & kFlagTracing) != 0 && !r.Skip(16)) return r.status("tracing id");
  if ((flags & kFlagWarning) != 0 && !r.StringList(warnings)) return r.status("warnings");
  if ((flags & kFlagCustomPayload) != 0) {
    uint16_t n = 0;
    if (!r.Short(n)) return r.status("custom payload");
    for (uint16_t i = 0; i < n; ++i) {
      std::string key;
      std::optional<std::string> value;
      if (!r.String(key) || !r.Bytes(value)) return r.status("custom payload");
    }
  }
  body = r.rest();
  return warnings;
}

}  // namespace spate::cql
