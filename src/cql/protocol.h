// CQL native protocol v4 messages (native_protocol_v4.spec, sections 2, 4 and 9): the frame
// header, requests the client sends, and the responses it decodes. Pure encoding and
// decoding, no I/O: the connection (later) and the test server both build on it.
//
// Thread-safety: plain functions and values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "cql/value.h"

namespace spate::cql {

inline constexpr uint8_t kRequestVersion = 0x04;
inline constexpr uint8_t kResponseVersion = 0x84;
inline constexpr size_t kHeaderSize = 9;
// The spec's limit on a frame body.
inline constexpr uint32_t kMaxBodySize = 256u << 20;

enum class Opcode : uint8_t {
  kError = 0x00,
  kStartup = 0x01,
  kReady = 0x02,
  kAuthenticate = 0x03,
  kOptions = 0x05,
  kSupported = 0x06,
  kQuery = 0x07,
  kResult = 0x08,
  kPrepare = 0x09,
  kExecute = 0x0A,
  kRegister = 0x0B,
  kEvent = 0x0C,
  kBatch = 0x0D,
  kAuthChallenge = 0x0E,
  kAuthResponse = 0x0F,
  kAuthSuccess = 0x10,
};

enum FrameFlags : uint8_t {
  kFlagCompression = 0x01,
  kFlagTracing = 0x02,
  kFlagCustomPayload = 0x04,
  kFlagWarning = 0x08,
};

struct FrameHeader {
  uint8_t version = kRequestVersion;
  uint8_t flags = 0;
  int16_t stream = 0;
  Opcode opcode = Opcode::kOptions;
  uint32_t length = 0;
};

// Appends the 9 header bytes.
void AppendHeader(const FrameHeader& header, std::string& out);
// Decodes the first 9 bytes of `bytes` (which must hold at least that many); checks the
// version byte against `expected_version` and the length against kMaxBodySize.
Result<FrameHeader> DecodeHeader(std::string_view bytes, uint8_t expected_version);

enum class Consistency : uint16_t {
  kAny = 0x0000,
  kOne = 0x0001,
  kTwo = 0x0002,
  kThree = 0x0003,
  kQuorum = 0x0004,
  kAll = 0x0005,
  kLocalQuorum = 0x0006,
  kEachQuorum = 0x0007,
  kSerial = 0x0008,
  kLocalSerial = 0x0009,
  kLocalOne = 0x000A,
};
// "LOCAL_QUORUM" -> kLocalQuorum (any case); nullopt for an unknown name.
std::optional<Consistency> ParseConsistency(std::string_view name);
std::string_view ConsistencyName(Consistency c);

// <query_parameters> of QUERY and EXECUTE.
struct QueryParams {
  Consistency consistency = Consistency::kLocalQuorum;
  std::vector<Value> values;
  bool skip_metadata = false;
  int32_t page_size = 0;  // 0: no paging.
  std::optional<std::string> paging_state;
  std::optional<int64_t> timestamp_micros;
};

// Request frames, header included. `stream` is the request's stream id.
std::string EncodeStartup(int16_t stream, const std::map<std::string, std::string>& options);
std::string EncodeOptions(int16_t stream);
// PasswordAuthenticator's token: "\0user\0password".
std::string EncodeAuthResponse(int16_t stream, std::string_view user, std::string_view password);
std::string EncodeQuery(int16_t stream, std::string_view cql, const QueryParams& params);
std::string EncodePrepare(int16_t stream, std::string_view cql);
std::string EncodeExecute(int16_t stream, std::string_view id, const QueryParams& params);
std::string EncodeRegister(int16_t stream, const std::vector<std::string>& events);
// An unlogged batch of executions of one prepared statement, one value list each.
std::string EncodeBatch(int16_t stream, std::string_view id,
                        const std::vector<std::vector<Value>>& rows, Consistency consistency);

// Error codes (section 9).
enum class ErrorCode : int32_t {
  kServerError = 0x0000,
  kProtocolError = 0x000A,
  kBadCredentials = 0x0100,
  kUnavailable = 0x1000,
  kOverloaded = 0x1001,
  kIsBootstrapping = 0x1002,
  kTruncateError = 0x1003,
  kWriteTimeout = 0x1100,
  kReadTimeout = 0x1200,
  kReadFailure = 0x1300,
  kFunctionFailure = 0x1400,
  kWriteFailure = 0x1500,
  kSyntaxError = 0x2000,
  kUnauthorized = 0x2100,
  kInvalid = 0x2200,
  kConfigError = 0x2300,
  kAlreadyExists = 0x2400,
  kUnprepared = 0x2500,
};

struct ServerError {
  ErrorCode code = ErrorCode::kServerError;
  std::string message;
  std::string unprepared_id;  // For kUnprepared: the id the server does not know.
  // Whether the same request may succeed if sent again (after a backoff, or to another
  // node): Unavailable, Overloaded, Is_bootstrapping, the timeouts, Truncate_error and
  // Server_error are; Syntax, Invalid, Unauthorized, Config, Already_exists, Bad
  // credentials, Protocol, Function failure and Write/Read_failure are not. Unprepared is
  // handled by re-preparing, so it counts as retriable.
  bool retriable() const;
  // "Write_timeout: ... (LOCAL_QUORUM, 1 of 2 replicas acknowledged, SIMPLE)".
  std::string Describe() const;
  Status ToStatus(std::string_view context) const;
};
std::string_view ErrorName(ErrorCode code);
Result<ServerError> DecodeError(std::string_view body);

struct ColumnSpec {
  std::string keyspace;
  std::string table;
  std::string name;
  Type type;
};

struct RowsResult {
  std::vector<ColumnSpec> columns;
  std::optional<std::string> paging_state;  // Set when there are more pages.
  // Each column's [bytes], null as nullopt: views into the body given to DecodeResult, which
  // must outlive them (no copy per value; DecodeValue makes the typed values).
  std::vector<std::vector<std::optional<std::string_view>>> rows;
};

struct PreparedResult {
  std::string id;
  std::vector<ColumnSpec> bind;      // The bind markers, in order.
  std::vector<uint16_t> pk_indexes;  // Which markers make the partition key.
  std::vector<ColumnSpec> result;
};

struct SchemaChange {
  std::string change;  // CREATED, UPDATED, DROPPED.
  std::string target;  // KEYSPACE, TABLE, TYPE, FUNCTION, AGGREGATE.
  std::string keyspace;
  std::string name;  // Table or type; empty for KEYSPACE.
};

enum class ResultKind : int32_t {
  kVoid = 0x0001,
  kRows = 0x0002,
  kSetKeyspace = 0x0003,
  kPrepared = 0x0004,
  kSchemaChange = 0x0005,
};

struct ResultMessage {
  ResultKind kind = ResultKind::kVoid;
  RowsResult rows;
  std::string keyspace;  // kSetKeyspace.
  PreparedResult prepared;
  SchemaChange schema_change;
};

// Decodes a RESULT body (after any tracing id and warnings were taken off).
Result<ResultMessage> DecodeResult(std::string_view body);

// An EVENT body: the type, and for SCHEMA_CHANGE the change; for the others the change type
// ("UP", "NEW_NODE"...) and the node's address as text.
struct Event {
  std::string type;
  std::string change;
  std::string address;
  SchemaChange schema;
};
Result<Event> DecodeEvent(std::string_view body);

// Takes the tracing id and warnings (flags 0x02 and 0x08) off a response body, returning
// the warnings; `body` then starts at the message proper.
Result<std::vector<std::string>> StripResponsePrefix(uint8_t flags, std::string_view& body);

}  // namespace spate::cql
