// Regression tests for what fuzz/cql_fuzz.cc found in the CQL decoders (issue 17, fuzzing),
// and a property test for the class: whatever a node sends, a decoder that fails says why
// (never an Ok status without a value), and a length or count field is never trusted
// beyond the bytes that follow it.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cql/protocol.h"
#include "cql/value.h"
#include "cql/wire.h"

namespace spate::cql {
namespace {

// "00 01 'ab'" -> bytes; quoted text is literal (as in cql_codec_test).
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

// Found by the fuzzer (fuzz/corpus/cql/crash-rows-column-count-error-was-ok): a Rows result
// claiming more columns than its body holds was refused with an Ok status, so a caller
// returning the status on failure (Session::Prepare did) reported success.
TEST(CqlDecodeFuzz, AColumnCountLieIsAnErrorWithAReason) {
  auto result = DecodeResult(Bytes("00 00 00 02 00 7a 60 20 00 60 20 00"));
  ASSERT_FALSE(result.ok());
  EXPECT_FALSE(result.status().ok());
  EXPECT_EQ(result.status().kind(), ErrorKind::kFatal);
  EXPECT_NE(result.status().message().find("columns claimed"), std::string::npos)
      << result.status().message();
  // The same in a Prepared result's bind markers.
  auto prepared =
      DecodeResult(Bytes("00 00 00 04 00 01 aa 00 00 00 01 00 00 00 09 00 00 00 00 "
                         "00 02 'ks' 00 01 't'"));
  ASSERT_FALSE(prepared.ok());
  EXPECT_FALSE(prepared.status().ok());
}

// Each column takes at least 4 bytes (name and type lengths) with the global table spec, 8
// without: a count one more than the body could hold is refused before columns are made.
TEST(CqlDecodeFuzz, ColumnCountsAreCheckedAgainstTheLeastBytesAColumnTakes) {
  // Global spec, 2 columns claimed, 4 bytes left ("00 01 'a' 00"): refused up front.
  auto global = DecodeResult(Bytes("00 00 00 02 00 00 00 01 00 00 00 02 00 00 00 00 00 01 'a' 00"));
  ASSERT_FALSE(global.ok());
  EXPECT_NE(global.status().message().find("2 columns claimed, 4 bytes left"), std::string::npos)
      << global.status().message();
  // Without it, 2 columns in 8 bytes is a lie too.
  auto per_column =
      DecodeResult(Bytes("00 00 00 02 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 00"));
  ASSERT_FALSE(per_column.ok());
  EXPECT_NE(per_column.status().message().find("2 columns claimed, 8 bytes left"),
            std::string::npos)
      << per_column.status().message();
  // One column that does fit still decodes.
  auto one = DecodeResult(
      Bytes("00 00 00 02 00 00 00 01 00 00 00 01 00 00 00 00 00 01 'a' 00 09 00 00 00 00"));
  ASSERT_TRUE(one.ok()) << one.status().message();
  ASSERT_EQ(one->rows.columns.size(), 1u);
  EXPECT_EQ(one->rows.columns[0].name, "a");
}

// Found by the fuzzer (fuzz/corpus/cql/crash-rows-of-no-columns-allocated): rows of zero
// columns take no bytes, so the "4 bytes per value" check let any row count through, and
// 2^31 - 1 empty rows were allocated (48 GB).
TEST(CqlDecodeFuzz, RowsOfNoColumnsAreRefusedNotAllocated) {
  // No_metadata, 0 columns, 0x7fffffff rows.
  auto result = DecodeResult(Bytes("00 00 00 02 00 00 00 04 00 00 00 00 7f ff ff ff"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().kind(), ErrorKind::kFatal);
  // Zero rows of zero columns is harmless and still fine.
  auto empty = DecodeResult(Bytes("00 00 00 02 00 00 00 04 00 00 00 00 00 00 00 00"));
  ASSERT_TRUE(empty.ok()) << empty.status().message();
  EXPECT_TRUE(empty->rows.rows.empty());
}

// Found by the fuzzer (fuzz/corpus/cql/crash-string-list-length-allocated): a [string list]
// of 65535 strings with nothing after it allocated the 65535 strings (2 MB) before finding
// the body empty. Now the count is checked first: nothing is made for a lie.
TEST(CqlDecodeFuzz, AStringListLengthLieAllocatesNothing) {
  // The Reader holds a view: each body lives in a named string for as long as it reads.
  const std::string lie = Bytes("ff ff 00 01 'a'");
  Reader r(lie);
  std::vector<std::string> list;
  EXPECT_FALSE(r.StringList(list));
  EXPECT_EQ(list.capacity(), 0u);
  EXPECT_FALSE(r.status("list").ok());
  EXPECT_NE(r.status("list").message().find("65535 strings in 3 bytes"), std::string::npos)
      << r.status("list").message();
  // SUPPORTED, as the handshake reads it.
  const std::string handshake = Bytes("00 01 00 01 'k' ff ff");
  Reader supported(handshake);
  std::map<std::string, std::vector<std::string>> options;
  EXPECT_FALSE(supported.StringMultimap(options));
  EXPECT_FALSE(supported.ok());
  // A list that fits still reads.
  const std::string honest = Bytes("00 02 00 01 'a' 00 00");
  Reader fits(honest);
  ASSERT_TRUE(fits.StringList(list));
  EXPECT_EQ(list, (std::vector<std::string>{"a", ""}));
}

// Types nested deeper than the decoder allows are an error with a reason.
TEST(CqlDecodeFuzz, TypesNestedTooDeepAreAnErrorWithAReason) {
  std::string body = Bytes("00 00 00 02 00 00 00 01 00 00 00 01 00 00 00 00 00 01 'a'");
  for (int i = 0; i < 12; ++i) body += Bytes("00 20");  // list<list<...
  body += Bytes("00 09");
  auto result = DecodeResult(body);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("nested"), std::string::npos)
      << result.status().message();
}

// Valid bodies from the spec, cut and changed at random: every decoder either succeeds or
// fails with a non-Ok status and a message; nothing is allocated beyond what the body can
// hold (a lie would throw bad_alloc or take the memory here); values that decode re-encode.
TEST(CqlDecodeFuzz, MutatedBodiesNeverFailSilently) {
  const std::string rows = Bytes(
      "00 00 00 02 00 00 00 03 00 00 00 03 00 00 00 02 'PS' 00 02 'ks' 00 01 't' "
      "00 02 'id' 00 0c 00 01 'n' 00 09 00 01 'l' 00 20 00 0d 00 00 00 01 00 00 00 10 "
      "00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff 00 00 00 04 00 00 00 07 "
      "00 00 00 0d 00 00 00 01 00 00 00 05 'hello'");
  const std::string prepared = Bytes(
      "00 00 00 04 00 02 01 02 00 00 00 01 00 00 00 01 00 00 00 01 00 00 00 02 'ks' "
      "00 01 't' 00 02 'id' 00 0c 00 00 00 04 00 00 00 00");
  const std::string schema =
      Bytes("00 00 00 05 00 07 'CREATED' 00 05 'TABLE' 00 02 'ks' 00 01 't'");
  const std::string error =
      Bytes("00 00 11 00 00 02 'wt' 00 01 00 00 00 00 00 00 00 01 00 06 'SIMPLE'");
  const std::string event = Bytes("00 0d 'STATUS_CHANGE' 00 02 'UP' 04 7f 00 00 01 00 00 23 52");
  const std::string prefix = Bytes("00 01 00 04 'warn' 00 01 00 01 'k' 00 00 00 01 'v'");
  const std::vector<std::string> bodies = {rows, prepared, schema, error, event, prefix};
  std::mt19937_64 random(20261206);
  auto pick = [&random](size_t n) { return static_cast<size_t>(random() % n); };
  const std::string special = Bytes("00 ff 7f 80 01 02 04 20 21 22");
  int decoded = 0, refused = 0;
  for (int i = 0; i < 30000; ++i) {
    const size_t which = pick(bodies.size());
    std::string body = bodies[which];
    for (size_t edits = 1 + pick(3); edits > 0; --edits) {
      const size_t at = pick(body.size());
      switch (pick(4)) {
        case 0:
          body[at] = special[pick(special.size())];
          break;
        case 1:
          body[at] = static_cast<char>(random());
          break;
        case 2:
          body.resize(at);
          break;
        default:
          body.insert(at, 1, special[pick(special.size())]);
          break;
      }
      if (body.empty()) body = bodies[which];
    }
    SCOPED_TRACE(::testing::PrintToString(body));
    Status status;
    if (which <= 2) {
      auto result = DecodeResult(body);
      status = result.status();
      if (result.ok() && result->kind == ResultKind::kRows) {
        for (const auto& row : result->rows.rows) {
          ASSERT_TRUE(result->rows.columns.empty() || row.size() == result->rows.columns.size());
          for (size_t c = 0; c < row.size() && !result->rows.columns.empty(); ++c) {
            if (!row[c]) continue;
            auto value = DecodeValue(result->rows.columns[c].type, *row[c]);
            if (!value.ok()) continue;
            std::string encoded;
            AppendValue(*value, encoded);
            // Booleans (any non-zero byte is true) and collections (any negative length
            // is null) are normalised; the rest re-encodes to its bytes.
            if (!std::holds_alternative<bool>(value->v) &&
                !std::holds_alternative<List>(value->v)) {
              EXPECT_EQ(encoded.substr(4), *row[c]);
            }
          }
        }
      }
      (result.ok() ? decoded : refused) += 1;
      if (!result.ok()) {
        ASSERT_FALSE(status.ok());
      }
    } else if (which == 3) {
      auto result = DecodeError(body);
      (result.ok() ? decoded : refused) += 1;
      if (!result.ok()) {
        ASSERT_FALSE(result.status().ok());
      }
      status = result.status();
    } else if (which == 4) {
      auto result = DecodeEvent(body);
      (result.ok() ? decoded : refused) += 1;
      if (!result.ok()) {
        ASSERT_FALSE(result.status().ok());
      }
      status = result.status();
    } else {
      std::string_view view = body;
      auto result = StripResponsePrefix(kFlagWarning | kFlagCustomPayload, view);
      (result.ok() ? decoded : refused) += 1;
      if (!result.ok()) {
        ASSERT_FALSE(result.status().ok());
      }
      status = result.status();
    }
    if (!status.ok()) {
      ASSERT_FALSE(status.message().empty());
    }
  }
  // Both outcomes are exercised, many times.
  EXPECT_GT(decoded, 3000);
  EXPECT_GT(refused, 3000);
}

}  // namespace
}  // namespace spate::cql
