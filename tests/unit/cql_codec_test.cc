// Golden bytes for the CQL v4 codec, written out by hand from native_protocol_v4.spec
// (sections 2-6 and 9), and decoding of hostile (truncated, lying) bodies.
#include <gtest/gtest.h>

#include <string>

#include "cql/protocol.h"
#include "cql/value.h"
#include "cql/wire.h"

namespace spate::cql {
namespace {

// "04 00 00 01 ..." for bytes; the expectations below are written the same way.
std::string Hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    if (!out.empty()) out += ' ';
    out += kHex[u >> 4];
    out += kHex[u & 0xf];
  }
  return out;
}

// The inverse, for building response bodies: "00 01 'ab'" -> bytes; quoted text is literal.
std::string Bytes(std::string_view spec) {
  std::string out;
  for (size_t i = 0; i < spec.size();) {
    if (spec[i] == ' ') {
      ++i;
    } else if (spec[i] == '\'') {
      const size_t end = spec.find('\'', i + 1);
      out.append(spec.substr(i + 1, end - i - 1));
      i = end + 1;
    } else {
      out += static_cast<char>(std::stoi(std::string(spec.substr(i, 2)), nullptr, 16));
      i += 2;
    }
  }
  return out;
}

QueryParams Params(Consistency consistency, std::vector<Value> values = {}) {
  QueryParams p;
  p.consistency = consistency;
  p.values = std::move(values);
  return p;
}

std::string ValueHex(const Value& v) {
  std::string out;
  AppendValue(v, out);
  return Hex(out);
}

TEST(CqlFrames, StartupOptionsQueryAuthAndBatchMatchTheSpec) {
  // Header: version 0x04, flags 0, stream, opcode, body length; body a [string map].
  EXPECT_EQ(
      Hex(EncodeStartup(0, {{"CQL_VERSION", "3.0.0"}})),
      "04 00 00 00 01 00 00 00 16 00 01 00 0b " + Hex("CQL_VERSION") + " 00 05 " + Hex("3.0.0"));
  EXPECT_EQ(Hex(EncodeOptions(5)), "04 00 00 05 05 00 00 00 00");
  // QUERY: [long string] query, [consistency] ONE, flags 0 (no values).
  EXPECT_EQ(Hex(EncodeQuery(1, "SELECT 1", Params(Consistency::kOne))),
            "04 00 00 01 07 00 00 00 0f 00 00 00 08 " + Hex("SELECT 1") + " 00 01 00");
  // Stream ids are signed shorts: 300 = 0x012c; values flag 0x01, then [short] n, [value]s.
  const QueryParams with_values = Params(Consistency::kLocalQuorum, {Value::Int(7), Value::Null()});
  EXPECT_EQ(Hex(EncodeExecute(300, Bytes("ab cd"), with_values)),
            "04 00 01 2c 0a 00 00 00 15 00 02 ab cd 00 06 01 00 02 00 00 00 04 00 00 00 07 ff "
            "ff ff ff");
  // PasswordAuthenticator: [bytes] "\0user\0password".
  EXPECT_EQ(
      Hex(EncodeAuthResponse(2, "cassandra", "secret")),
      "04 00 00 02 0f 00 00 00 15 00 00 00 11 00 " + Hex("cassandra") + " 00 " + Hex("secret"));
  // BATCH: type 1 (unlogged), [short] n, per query kind 1 + [short bytes] id + [short] n +
  // values, then [consistency] and flags.
  EXPECT_EQ(Hex(EncodeBatch(3, Bytes("ab"), {{Value::Int(7)}}, Consistency::kOne)),
            "04 00 00 03 0d 00 00 00 14 01 00 01 01 00 01 ab 00 01 00 00 00 04 00 00 00 07 00 "
            "01 00");
  EXPECT_EQ(Hex(EncodeRegister(0, {"SCHEMA_CHANGE"})),
            "04 00 00 00 0b 00 00 00 11 00 01 00 0d " + Hex("SCHEMA_CHANGE"));
}

TEST(CqlFrames, PagingAndTimestampParametersAreInSpecOrder) {
  QueryParams p = Params(Consistency::kQuorum);
  p.page_size = 100;
  p.paging_state = Bytes("01 02");
  p.timestamp_micros = 1;
  // flags = 0x04 page size | 0x08 paging state | 0x20 timestamp = 0x2c.
  EXPECT_EQ(Hex(EncodeQuery(0, "q", p)),
            "04 00 00 00 07 00 00 00 1a 00 00 00 01 71 00 04 2c 00 00 00 64 00 00 00 02 01 02 "
            "00 00 00 00 00 00 00 01");
}

TEST(CqlValues, EncodingsMatchSection6) {
  EXPECT_EQ(ValueHex(Value::Null()), "ff ff ff ff");
  EXPECT_EQ(ValueHex(Value::Int(1)), "00 00 00 04 00 00 00 01");
  EXPECT_EQ(ValueHex(Value::Int(-2)), "00 00 00 04 ff ff ff fe");
  EXPECT_EQ(ValueHex(Value::Bigint(-1)), "00 00 00 08 ff ff ff ff ff ff ff ff");
  EXPECT_EQ(ValueHex(Value::Text("ab")), "00 00 00 02 61 62");
  EXPECT_EQ(ValueHex(Value::Text("")), "00 00 00 00");  // Empty is not null.
  EXPECT_EQ(ValueHex(Value::Boolean(true)), "00 00 00 01 01");
  EXPECT_EQ(ValueHex(Value::Boolean(false)), "00 00 00 01 00");
  EXPECT_EQ(ValueHex(Value::Double(1.0)), "00 00 00 08 3f f0 00 00 00 00 00 00");
  EXPECT_EQ(ValueHex(Value::Of(Timestamp{1000})), "00 00 00 08 00 00 00 00 00 00 03 e8");
  // date: days with 1970-01-01 at 2^31.
  EXPECT_EQ(ValueHex(Value::Of(Date{0})), "00 00 00 04 80 00 00 00");
  EXPECT_EQ(ValueHex(Value::Of(Date{-1})), "00 00 00 04 7f ff ff ff");
  EXPECT_EQ(ValueHex(Value::Of(*Uuid::Parse("00112233-4455-6677-8899-aabbccddeeff"))),
            "00 00 00 10 00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff");
  // list: [int] n then n [bytes]; map: [int] n then n key/value [bytes] pairs.
  EXPECT_EQ(ValueHex(Value::Of(List{Value::Int(1), Value::Int(2)})),
            "00 00 00 14 00 00 00 02 00 00 00 04 00 00 00 01 00 00 00 04 00 00 00 02");
  EXPECT_EQ(ValueHex(Value::Of(Map{{Value::Text("a"), Value::Int(1)}})),
            "00 00 00 11 00 00 00 01 00 00 00 01 61 00 00 00 04 00 00 00 01");
}

TEST(CqlValues, EveryTypeDecodesBackToWhatWasEncoded) {
  const Type text{TypeId::kVarchar}, int_type{TypeId::kInt};
  const struct {
    Type type;
    Value value;
  } cases[] = {
      {text, Value::Text("h\u00e9llo")},
      {{TypeId::kUuid}, Value::Of(*Uuid::Parse("4bbbf423-b3dd-409f-b35b-53957fc1b362"))},
      {int_type, Value::Int(-123456)},
      {{TypeId::kBigint}, Value::Bigint(int64_t{1} << 40)},
      {{TypeId::kDouble}, Value::Double(-78.1478)},
      {{TypeId::kBoolean}, Value::Boolean(true)},
      {{TypeId::kTimestamp}, Value::Of(Timestamp{1409376384274})},
      {{TypeId::kDate}, Value::Of(Date{-4209})},
      {{TypeId::kList, {int_type}}, Value::Of(List{Value::Int(3), Value::Int(4)})},
      {{TypeId::kMap, {text, int_type}},
       Value::Of(Map{{Value::Text("a"), Value::Int(1)}, {Value::Text("b"), Value::Null()}})},
  };
  for (const auto& c : cases) {
    std::string encoded;
    AppendValue(c.value, encoded);
    auto decoded = DecodeValue(c.type, std::string_view(encoded).substr(4));
    ASSERT_TRUE(decoded.ok()) << TypeName(c.type) << ": " << decoded.status().message();
    EXPECT_EQ(decoded.value(), c.value) << TypeName(c.type);
  }
  EXPECT_EQ(Uuid::Parse("4BBBF423-B3DD-409F-B35B-53957FC1B362")->ToString(),
            "4bbbf423-b3dd-409f-b35b-53957fc1b362");
  EXPECT_FALSE(Uuid::Parse("4bbbf423-b3dd-409f-b35b-53957fc1b36"));
  EXPECT_FALSE(Uuid::Parse("4bbbf423xb3dd-409f-b35b-53957fc1b362"));
  // Wrong sizes are errors, not reads past the end.
  EXPECT_FALSE(DecodeValue(int_type, Bytes("00 01")).ok());
  EXPECT_FALSE(DecodeValue({TypeId::kUuid}, Bytes("00")).ok());
  EXPECT_FALSE(DecodeValue({TypeId::kList, {int_type}}, Bytes("00 00 00 05 00 00 00 04")).ok());
  EXPECT_EQ(TypeName({TypeId::kMap, {text, {TypeId::kList, {int_type}}}}), "map<text, list<int>>");
}

TEST(CqlErrors, CodesDecodeWithTheirExtrasAndSayWhetherToRetry) {
  auto unavailable = DecodeError(Bytes("00 00 10 00 00 04 'oops' 00 06 00 00 00 03 00 00 00 01"));
  ASSERT_TRUE(unavailable.ok()) << unavailable.status().message();
  EXPECT_EQ(unavailable->code, ErrorCode::kUnavailable);
  EXPECT_TRUE(unavailable->retriable());
  EXPECT_EQ(unavailable->Describe(),
            "Unavailable: oops (LOCAL_QUORUM: 3 replicas needed, 1 alive)");
  EXPECT_TRUE(unavailable->ToStatus("insert").retriable());

  auto timeout =
      DecodeError(Bytes("00 00 11 00 00 02 'wt' 00 01 00 00 00 00 00 00 00 01 00 06 'SIMPLE'"));
  ASSERT_TRUE(timeout.ok());
  EXPECT_TRUE(timeout->retriable());
  EXPECT_EQ(timeout->Describe(),
            "Write_timeout: wt (ONE: 0 of 1 replicas acknowledged, SIMPLE write)");

  for (const auto& [code, retriable] :
       std::vector<std::pair<std::string, bool>>{{"10 01", true},   // Overloaded
                                                 {"10 02", true},   // Is_bootstrapping
                                                 {"20 00", false},  // Syntax_error
                                                 {"21 00", false},  // Unauthorized
                                                 {"22 00", false},  // Invalid
                                                 {"23 00", false},  // Config_error
                                                 {"01 00", false},  // Bad credentials
                                                 {"00 0a", false}}) {
    auto e = DecodeError(Bytes("00 00 " + code + " 00 01 'x'"));
    ASSERT_TRUE(e.ok()) << code;
    EXPECT_EQ(e->retriable(), retriable) << code << " " << ErrorName(e->code);
    EXPECT_EQ(e->ToStatus("q").retriable(), retriable);
  }
  auto syntax = DecodeError(Bytes("00 00 20 00 00 0a 'line 1:0 x'"));
  ASSERT_TRUE(syntax.ok());
  EXPECT_EQ(syntax->ToStatus("create table").message(),
            "cassandra: create table: Syntax_error: line 1:0 x");

  auto unprepared = DecodeError(Bytes("00 00 25 00 00 01 'u' 00 02 ab cd"));
  ASSERT_TRUE(unprepared.ok());
  EXPECT_EQ(unprepared->code, ErrorCode::kUnprepared);
  EXPECT_EQ(Hex(unprepared->unprepared_id), "ab cd");
}

TEST(CqlResults, RowsWithPagingStatePreparedSchemaChangeAndEvents) {
  // Rows: flags Global_tables_spec | Has_more_pages, 2 columns, paging state, ks/table,
  // (id uuid) (n int), 1 row: a uuid and a null.
  const std::string rows_body = Bytes(
      "00 00 00 02 00 00 00 03 00 00 00 02 00 00 00 02 'PS' 00 02 'ks' 00 01 't' "
      "00 02 'id' 00 0c 00 01 'n' 00 09 00 00 00 01 00 00 00 10 "
      "00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff ff ff ff ff");
  auto rows = DecodeResult(rows_body);
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  ASSERT_EQ(rows->kind, ResultKind::kRows);
  ASSERT_EQ(rows->rows.columns.size(), 2u);
  EXPECT_EQ(rows->rows.columns[0].keyspace, "ks");
  EXPECT_EQ(rows->rows.columns[1].name, "n");
  EXPECT_EQ(rows->rows.columns[1].type.id, TypeId::kInt);
  EXPECT_EQ(rows->rows.paging_state, "PS");
  ASSERT_EQ(rows->rows.rows.size(), 1u);
  ASSERT_TRUE(rows->rows.rows[0][0]);
  auto id = DecodeValue(rows->rows.columns[0].type, *rows->rows.rows[0][0]);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(std::get<Uuid>(id->v).ToString(), "00112233-4455-6677-8899-aabbccddeeff");
  EXPECT_FALSE(rows->rows.rows[0][1].has_value());

  // Every truncation of a valid body is an error, never a crash or a read past the end.
  for (size_t n = 0; n < rows_body.size(); ++n) {
    EXPECT_FALSE(DecodeResult(std::string_view(rows_body).substr(0, n)).ok()) << n;
  }
  // A row count no body could hold is refused before anything is allocated for it.
  EXPECT_FALSE(DecodeResult(Bytes("00 00 00 02 00 00 00 04 00 00 00 02 7f ff ff ff")).ok());

  // Prepared: id, flags global, 1 marker, 1 pk index (0), ks/table, (id uuid), then result
  // metadata with No_metadata.
  auto prepared = DecodeResult(
      Bytes("00 00 00 04 00 02 01 02 00 00 00 01 00 00 00 01 00 00 00 01 00 00 00 02 'ks' "
            "00 01 't' 00 02 'id' 00 0c 00 00 00 04 00 00 00 00"));
  ASSERT_TRUE(prepared.ok()) << prepared.status().message();
  EXPECT_EQ(Hex(prepared->prepared.id), "01 02");
  ASSERT_EQ(prepared->prepared.bind.size(), 1u);
  EXPECT_EQ(prepared->prepared.bind[0].type.id, TypeId::kUuid);
  EXPECT_EQ(prepared->prepared.pk_indexes, std::vector<uint16_t>{0});

  auto schema =
      DecodeResult(Bytes("00 00 00 05 00 07 'CREATED' 00 05 'TABLE' 00 02 'ks' 00 01 't'"));
  ASSERT_TRUE(schema.ok());
  EXPECT_EQ(schema->schema_change.target, "TABLE");
  EXPECT_EQ(schema->schema_change.name, "t");
  auto keyspace = DecodeResult(Bytes("00 00 00 03 00 02 'ks'"));
  ASSERT_TRUE(keyspace.ok());
  EXPECT_EQ(keyspace->keyspace, "ks");

  auto up = DecodeEvent(Bytes("00 0d 'STATUS_CHANGE' 00 02 'UP' 04 7f 00 00 01 00 00 23 52"));
  ASSERT_TRUE(up.ok()) << up.status().message();
  EXPECT_EQ(up->change, "UP");
  EXPECT_EQ(up->address, "127.0.0.1:9042");
}

TEST(CqlFrames, HeadersAreCheckedAndResponsePrefixesStripped) {
  auto header = DecodeHeader(Bytes("84 08 ff ff 0c 00 00 00 05"), kResponseVersion);
  ASSERT_TRUE(header.ok());
  EXPECT_EQ(header->stream, -1);  // Events come on stream -1.
  EXPECT_EQ(header->opcode, Opcode::kEvent);
  EXPECT_EQ(header->flags, kFlagWarning);
  EXPECT_EQ(header->length, 5u);
  EXPECT_FALSE(DecodeHeader(Bytes("83 00 00 00 02 00 00 00 00"), kResponseVersion).ok())
      << "protocol v3 is refused";
  EXPECT_FALSE(DecodeHeader(Bytes("84 00 00 00 08 7f ff ff ff"), kResponseVersion).ok())
      << "over the 256 MB limit";
  EXPECT_FALSE(DecodeHeader(Bytes("84 00 00"), kResponseVersion).ok());

  std::string_view body;
  const std::string with_warning = Bytes("00 01 00 04 'warn' 00 00 00 01");
  body = with_warning;
  auto warnings = StripResponsePrefix(kFlagWarning, body);
  ASSERT_TRUE(warnings.ok());
  EXPECT_EQ(warnings.value(), std::vector<std::string>{"warn"});
  EXPECT_EQ(Hex(body), "00 00 00 01");
  EXPECT_EQ(ParseConsistency("local_quorum"), Consistency::kLocalQuorum);
  EXPECT_FALSE(ParseConsistency("MOST"));
}

}  // namespace
}  // namespace spate::cql
