// The transform against every user in real API responses, and against bad input.
#include "transforms/user_transform.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <bit>
#include <charconv>
#include <random>
#include <set>

#include "sources/generator.h"
#include "test_util.h"
#include "transforms/ingest.h"

namespace spate {
namespace {

using spate::testing::Fixture;

Batch Split(const std::string& document) {
  Ingestor ingestor;
  Batch batch;
  batch.origin = "test";
  auto result = ingestor.SplitResponse(document, 0, batch);
  EXPECT_TRUE(result.ok()) << result.status().message();
  return batch;
}

// The expected row, computed independently with simdjson's DOM API from the original
// (unstripped) document: the tutorial's formulas spelled out again.
struct Expected {
  std::string id, first, last, gender, address, postcode, email, username, registered, phone,
      picture, dob, nat, city, state, country, timezone, cell;
  int64_t age;
  double latitude, longitude;
};

std::string Str(simdjson::dom::element e) { return std::string(std::string_view(e)); }

std::string Number(simdjson::dom::element e) {
  if (e.is_string()) return Str(e);
  return std::to_string(int64_t(e));
}

std::vector<Expected> ExpectedRows(const std::string& document) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(document);
  std::vector<Expected> out;
  for (simdjson::dom::element u : doc["results"].get_array()) {
    auto loc = u["location"];
    Expected e;
    e.id = Str(u["login"]["uuid"]);
    e.first = Str(u["name"]["first"]);
    e.last = Str(u["name"]["last"]);
    e.gender = Str(u["gender"]);
    e.city = Str(loc["city"]);
    e.state = Str(loc["state"]);
    e.country = Str(loc["country"]);
    e.address = Number(loc["street"]["number"]) + " " + Str(loc["street"]["name"]) + ", " + e.city +
                ", " + e.state + ", " + e.country;
    e.postcode = Number(loc["postcode"]);
    e.email = Str(u["email"]);
    e.username = Str(u["login"]["username"]);
    e.registered = Str(u["registered"]["date"]);
    e.phone = Str(u["phone"]);
    e.picture = Str(u["picture"]["medium"]);
    e.dob = Str(u["dob"]["date"]);
    e.age = int64_t(u["dob"]["age"]);
    e.nat = Str(u["nat"]);
    e.timezone = Str(loc["timezone"]["offset"]);
    e.cell = Str(u["cell"]);
    e.latitude = std::stod(Str(loc["coordinates"]["latitude"]));
    e.longitude = std::stod(Str(loc["coordinates"]["longitude"]));
    out.push_back(e);
  }
  return out;
}

void ExpectAllRowsMatch(const std::string& fixture, size_t expected_users) {
  const std::string document = Fixture(fixture);
  Batch batch = Split(document);
  std::vector<Expected> expected = ExpectedRows(document);
  ASSERT_EQ(batch.records.size(), expected_users);
  ASSERT_EQ(expected.size(), expected_users);
  UserTransform transform;
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(fixture + " user " + std::to_string(i) + " nat " + expected[i].nat);
    Row row;
    Status status = transform.Apply(batch.records[i].json, 1234, row);
    ASSERT_TRUE(status.ok()) << status.message();
    const Expected& e = expected[i];
    EXPECT_EQ(row.id, e.id);
    EXPECT_EQ(row.first_name, e.first);
    EXPECT_EQ(row.last_name, e.last);
    EXPECT_EQ(row.gender, e.gender);
    EXPECT_EQ(row.address, e.address);
    EXPECT_EQ(row.post_code, e.postcode);
    EXPECT_EQ(row.email, e.email);
    EXPECT_EQ(row.username, e.username);
    EXPECT_EQ(row.registered_date, e.registered);
    EXPECT_EQ(row.phone, e.phone);
    EXPECT_EQ(row.picture, e.picture);
    EXPECT_EQ(row.dob, e.dob);
    EXPECT_EQ(row.age, e.age);
    EXPECT_EQ(row.nat, e.nat);
    EXPECT_EQ(row.city, e.city);
    EXPECT_EQ(row.state, e.state);
    EXPECT_EQ(row.country, e.country);
    EXPECT_DOUBLE_EQ(row.latitude, e.latitude);
    EXPECT_DOUBLE_EQ(row.longitude, e.longitude);
    EXPECT_EQ(row.timezone, e.timezone);
    EXPECT_EQ(row.cell, e.cell);
    EXPECT_EQ(row.ingested_at_ms, 1234);
  }
}

TEST(UserTransform, EveryUserOfAllNationalitiesMaps) {
  ExpectAllRowsMatch("v1.4-111-users-all-nats.json", 111);
  // And the file really covers all 21 nationalities.
  std::set<std::string> nats;
  for (const Expected& e : ExpectedRows(Fixture("v1.4-111-users-all-nats.json"))) {
    nats.insert(e.nat);
  }
  EXPECT_EQ(nats.size(), 21u);
}

TEST(UserTransform, SingleBrazilianUser) { ExpectAllRowsMatch("v1.4-1-user-br.json", 1); }

TEST(UserTransform, NullIdValueIsFine) { ExpectAllRowsMatch("v1.4-2-users-de-nz-null-id.json", 2); }

TEST(UserTransform, Version13Works) { ExpectAllRowsMatch("v1.3-200-users-us.json", 200); }

TEST(UserTransform, PostcodeQuirks) {
  const std::string document = Fixture("v1.4-111-users-all-nats.json");
  Batch batch = Split(document);
  UserTransform transform;
  bool saw_string = false, saw_leading_zero_kept = false;
  for (const RawRecord& record : batch.records) {
    Row row;
    ASSERT_TRUE(transform.Apply(record.json, 0, row).ok());
    if (row.nat == "GB" || row.nat == "CA" || row.nat == "NL") {
      saw_string = saw_string || row.post_code.find(' ') != std::string::npos;
    }
    if (row.nat == "NO" && !row.post_code.empty() && row.post_code[0] == '0') {
      saw_leading_zero_kept = true;
    }
  }
  EXPECT_TRUE(saw_string);
  // Not every sample has a leading-zero NO postcode; check the exact one we know about.
  Row row;
  const std::string user = R"({"gender":"male","name":{"title":"Mr","first":"A","last":"B"},
    "location":{"street":{"number":1,"name":"Gate"},"city":"Oslo","state":"Oslo",
    "country":"Norway","postcode":"0010","coordinates":{"latitude":"1.5","longitude":"-2"},
    "timezone":{"offset":"0:00","description":"x"}},"email":"a@example.com",
    "login":{"uuid":"4BBBF423-B3DD-409F-B35B-53957FC1B362","username":"u"},
    "dob":{"date":"d","age":3},"registered":{"date":"r","age":1},"phone":"p","cell":"c",
    "id":{"name":"","value":null},"picture":{"medium":"m"},"nat":"NO"})";
  ASSERT_TRUE(transform.Apply(user, 0, row).ok());
  EXPECT_EQ(row.post_code, "0010");
  EXPECT_EQ(row.id, "4bbbf423-b3dd-409f-b35b-53957fc1b362");  // Canonical lower case.
  EXPECT_DOUBLE_EQ(row.longitude, -2.0);
  (void)saw_leading_zero_kept;
}

TEST(UserTransform, LegacyDocumentIsRejectedPerRecord) {
  Batch batch = Split(Fixture("legacy-0.x-format.json"));
  ASSERT_EQ(batch.records.size(), 100u);
  UserTransform transform;
  for (const RawRecord& record : batch.records) {
    Row row;
    Status status = transform.Apply(record.json, 0, row);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.kind(), ErrorKind::kInvalidInput);
    EXPECT_NE(status.message().find("legacy 0.x"), std::string::npos) << status.message();
  }
}

// A valid v1.4 user from the fixture, for the malformed-input tests to break.
std::string GoodUser() { return Split(Fixture("v1.4-1-user-br.json")).records.at(0).json; }

std::string Reject(const std::string& json) {
  UserTransform transform;
  Row row;
  Status status = transform.Apply(json, 0, row);
  EXPECT_FALSE(status.ok()) << "accepted: " << json.substr(0, 200);
  return status.message();
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return s.replace(at, from.size(), to);
}

TEST(UserTransformMalformed, GoodUserIsAccepted) {
  UserTransform transform;
  Row row;
  EXPECT_TRUE(transform.Apply(GoodUser(), 0, row).ok());
}

TEST(UserTransformMalformed, TruncatedJson) {
  const std::string good = GoodUser();
  for (size_t cut : {size_t{1}, size_t{10}, good.size() / 2, good.size() - 1}) {
    EXPECT_NE(Reject(good.substr(0, cut)).find("JSON"), std::string::npos) << cut;
  }
}

TEST(UserTransformMalformed, NotAnObject) {
  EXPECT_NE(Reject("[1,2,3]").find("not a JSON object"), std::string::npos);
  EXPECT_NE(Reject("42").find("not a JSON object"), std::string::npos);
  EXPECT_NE(Reject("").find("JSON"), std::string::npos);
  EXPECT_NE(Reject("not json at all").find("JSON"), std::string::npos);
}

TEST(UserTransformMalformed, WrongTypes) {
  const std::string good = GoodUser();
  EXPECT_EQ(Reject(Replace(good, R"("first":"Damas")", R"("first":7)")),
            "name.first: expected string, got number");
  EXPECT_EQ(Reject(Replace(good, R"("age":64)", R"("age":"64")")),
            "dob.age: expected integer, got string");
  EXPECT_EQ(Reject(Replace(good, R"("postcode":32158)", R"("postcode":[1])")),
            "location.postcode: expected string or number, got array");
  EXPECT_EQ(Reject(Replace(good, R"("latitude":"-78.1478")", R"("latitude":"north")")),
            "location.coordinates.latitude: \"north\" is not a number");
  EXPECT_EQ(Reject(Replace(good, R"("email":"damas.oliveira@example.com")", R"("email":null)")),
            "email: expected string, got null");
}

TEST(UserTransformMalformed, MissingFields) {
  const std::string good = GoodUser();
  EXPECT_EQ(Reject(Replace(good, R"("email":"damas.oliveira@example.com",)", "")),
            "missing required field email");
  EXPECT_EQ(Reject(Replace(good, R"("uuid":"4bbbf423-b3dd-409f-b35b-53957fc1b362",)", "")),
            "missing required field login.uuid");
  EXPECT_EQ(Reject("{}"), "missing required field login.uuid");
}

TEST(UserTransformMalformed, InvalidUuid) {
  const std::string good = GoodUser();
  EXPECT_NE(Reject(Replace(good, "4bbbf423-b3dd", "4bbbf423+b3dd")).find("not a valid UUID"),
            std::string::npos);
  EXPECT_NE(Reject(Replace(good, "4bbbf423-", "xbbbf423-")).find("not a valid UUID"),
            std::string::npos);
}

TEST(UserTransformMalformed, HugeStrings) {
  const std::string good = GoodUser();
  // Within the limit a long value is data, stored as it is.
  const std::string long_name(100000, 'a');
  UserTransform transform;
  Row row;
  ASSERT_TRUE(transform.Apply(Replace(good, "Damas", long_name), 0, row).ok());
  EXPECT_EQ(row.first_name, long_name);
  // The reused row gives the big buffer back with the next, ordinary record.
  ASSERT_TRUE(transform.Apply(good, 0, row).ok());
  EXPECT_EQ(row.first_name, "Damas");
  EXPECT_LT(row.storage.capacity(), size_t{64} << 10);
  // Past the limit the record is rejected before parsing.
  UserTransform small(4096);
  Status status = small.Apply(Replace(good, "Damas", std::string(10000, 'b')), 0, row);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("record too large"), std::string::npos);
}

TEST(UserTransformMalformed, InvalidUtf8) {
  const std::string good = GoodUser();
  EXPECT_NE(Reject(Replace(good, "Damas",
                           "Da\xff\xfe"
                           "mas"))
                .find("UTF"),
            std::string::npos);
  EXPECT_NE(Reject(Replace(good, "Damas", "Da\xc3")).find("UTF"), std::string::npos);
}

TEST(UserTransformMalformed, TrailingGarbage) {
  EXPECT_NE(Reject(GoodUser() + " {}").find("trailing"), std::string::npos);
}

// Escaped strings are unescaped into the parser's buffer, which the next record reuses; the
// row must keep its own copy. An upper-case id is lower-cased in the row's bytes.
TEST(UserTransform, EscapedStringsOutliveTheNextRecord) {
  std::string escaped = GoodUser();
  escaped = Replace(escaped, R"("first":"Damas")", R"("first":"Da\"mas\u00e9")");
  escaped = Replace(escaped, R"("city":"Cotia")", R"("city":"C\/otia")");
  escaped = Replace(escaped, R"("name":"Rua Vinte)", R"("name":"R\u00faa Vinte)");
  escaped = Replace(escaped, "4bbbf423-b3dd-409f-b35b-53957fc1b362",
                    "4BBBF423-B3DD-409F-B35B-53957FC1B362");
  UserTransform transform;
  Row row;
  ASSERT_TRUE(transform.Apply(escaped, 7, row).ok());
  // Another record through the same parser, with escapes of its own at the same places.
  std::string other = Replace(GoodUser(), R"("first":"Damas")", R"("first":"\u0041\u0042zzzzzz")");
  other = Replace(other, R"("city":"Cotia")", R"("city":"\u0058\u0059zzzzzz")");
  Row second;
  ASSERT_TRUE(transform.Apply(other, 8, second).ok());
  EXPECT_EQ(second.first_name, "ABzzzzzz");
  EXPECT_EQ(row.first_name, "Da\"mas\u00e9");
  EXPECT_EQ(row.city, "C/otia");
  EXPECT_EQ(row.address, "6972 R\u00faa Vinte E Quatro de Outubro, C/otia, Bahia, Brazil");
  EXPECT_EQ(row.id, "4bbbf423-b3dd-409f-b35b-53957fc1b362");
  EXPECT_EQ(row.email, "damas.oliveira@example.com");
}

// Escaped text longer than the room Apply reserves makes the row's storage grow: every
// column, in the record's bytes or copied, must then point into the new buffer.
TEST(UserTransform, ColumnsSurviveTheStorageGrowing) {
  std::string long_name;
  std::string long_escaped;
  for (int i = 0; i < 500; ++i) {
    long_name += "\xc3\xa9x";  // "éx"
    long_escaped += R"(\u00e9x)";
  }
  const std::string json =
      Replace(Replace(GoodUser(), R"("first":"Damas")", R"("first":")" + long_escaped + R"(")"),
              R"("state":"Bahia")", R"("state":")" + long_escaped + R"(")");
  UserTransform transform;
  Row row;
  // A recycled row: its storage already has a buffer, smaller than this record needs.
  ASSERT_TRUE(transform.Apply(GoodUser(), 0, row).ok());
  ASSERT_TRUE(transform.Apply(json, 0, row).ok());
  EXPECT_EQ(row.first_name, long_name);
  EXPECT_EQ(row.state, long_name);
  EXPECT_EQ(row.address, "6972 Rua Vinte E Quatro de Outubro, Cotia, " + long_name + ", Brazil");
  EXPECT_EQ(row.last_name, "Oliveira");
  EXPECT_EQ(row.email, "damas.oliveira@example.com");
  EXPECT_EQ(row.cell, "(97) 9244-6490");
  EXPECT_EQ(row.id, "4bbbf423-b3dd-409f-b35b-53957fc1b362");
}

// A reused row whose record grows a little gets a buffer of about the record's size, not
// twice its old one (std::string::reserve doubles): rows in flight hold about one record each.
TEST(UserTransform, AReusedRowsBufferFitsTheRecord) {
  UserTransform transform;
  Row row;
  const std::string good = GoodUser();
  ASSERT_TRUE(transform.Apply(good, 0, row).ok());
  const std::string longer =
      Replace(good, R"("first":"Damas")", R"("first":")" + std::string(100, 'd') + R"(")");
  ASSERT_TRUE(transform.Apply(longer, 0, row).ok());
  EXPECT_EQ(row.first_name, std::string(100, 'd'));
  EXPECT_LT(row.storage.capacity(), longer.size() * 3 / 2);
}

// Rows are values: a copy or a moved-to row keeps its text when the original is reused or
// gone, and views at other memory (a literal) are kept as they are.
TEST(UserTransform, RowsCopyAndMoveWithTheirText) {
  UserTransform transform;
  Row original;
  ASSERT_TRUE(transform.Apply(GoodUser(), 5, original).ok());
  original.gender = "literal";
  Row copy = original;
  Row assigned;
  ASSERT_TRUE(transform.Apply(GoodUser(), 6, assigned).ok());
  assigned = original;
  std::vector<Row> rows;
  rows.push_back(original);
  for (int i = 0; i < 100; ++i) rows.emplace_back();  // Grows the vector: rows[0] moves.
  Row moved = std::move(rows[0]);
  rows.clear();
  // Reuse the original for another record: nothing above may change.
  ASSERT_TRUE(
      transform.Apply(Replace(GoodUser(), R"("last":"Oliveira")", R"("last":"Souza")"), 9, original)
          .ok());
  EXPECT_EQ(original.last_name, "Souza");
  for (const Row* row : {&copy, &assigned, &moved}) {
    EXPECT_EQ(row->last_name, "Oliveira");
    EXPECT_EQ(row->address, "6972 Rua Vinte E Quatro de Outubro, Cotia, Bahia, Brazil");
    EXPECT_EQ(row->gender, "literal");
    EXPECT_EQ(row->ingested_at_ms, 5);
    EXPECT_TRUE(PointsInto(row->last_name, row->storage.data(), row->storage.size()));
  }
  copy = copy;  // Self-assignment keeps the row.
  EXPECT_EQ(copy.last_name, "Oliveira");
}

TEST(RowJson, EscapesAndRoundTrips) {
  Row row;
  row.id = "id";
  row.first_name = "quote\" back\\ nl\n ctl\x01 é";
  std::string out;
  AppendRowJson(row, out);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(out).get(doc), simdjson::SUCCESS) << out;
  EXPECT_EQ(std::string_view(doc["first_name"]), row.first_name);
}

}  // namespace
}  // namespace spate

namespace spate {
namespace {

TEST(UserTransformMalformed, CoordinatesMustBeFiniteAndInRange) {
  const std::string good = GoodUser();
  EXPECT_EQ(Reject(Replace(good, R"("latitude":"-78.1478")", R"("latitude":"nan")")),
            "location.coordinates.latitude: nan is out of range [-90, 90]");
  EXPECT_EQ(Reject(Replace(good, R"("latitude":"-78.1478")", R"("latitude":"91")")),
            "location.coordinates.latitude: 91 is out of range [-90, 90]");
  EXPECT_EQ(Reject(Replace(good, R"("longitude":"-175.9694")", R"("longitude":"-inf")")),
            "location.coordinates.longitude: -inf is out of range [-180, 180]");
  UserTransform transform;
  Row row;
  EXPECT_TRUE(
      transform.Apply(Replace(good, R"("longitude":"-175.9694")", R"("longitude":180)"), 0, row)
          .ok());
}

}  // namespace
}  // namespace spate

namespace spate {
namespace {

// Coordinates in strings are read by a fast path for plain decimals; it must give exactly
// the double std::from_chars gives (bit for bit), whatever the digits and their count.
TEST(UserTransform, CoordinateStringsReadExactlyAsFromChars) {
  const std::string good = GoodUser();
  UserTransform transform;
  uint64_t state = 12345;
  auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  int checked = 0;
  for (int i = 0; i < 20000; ++i) {
    // 1-3 integer digits, 0-13 fraction digits (up to 16 digits: past the fast path too),
    // either sign, sometimes leading zeros.
    std::string text = next() % 2 ? "-" : "";
    const int int_digits = 1 + static_cast<int>(next() % 2);
    for (int d = 0; d < int_digits; ++d) text += static_cast<char>('0' + next() % 10);
    const int fraction_digits = static_cast<int>(next() % 14);
    if (fraction_digits > 0) text += '.';
    for (int d = 0; d < fraction_digits; ++d) text += static_cast<char>('0' + next() % 10);
    double expected = 0;
    std::from_chars(text.data(), text.data() + text.size(), expected);
    Row row;
    const std::string user =
        Replace(good, R"("longitude":"-175.9694")", "\"longitude\":\"" + text + "\"");
    Status status = transform.Apply(user, 0, row);
    ASSERT_TRUE(status.ok()) << text << ": " << status.message();
    ASSERT_EQ(std::bit_cast<uint64_t>(row.longitude), std::bit_cast<uint64_t>(expected)) << text;
    ++checked;
  }
  EXPECT_EQ(checked, 20000);
}

}  // namespace
}  // namespace spate

namespace spate {
namespace {

// The two readers (see UserTransform::Readers) must not differ: every column, bit for bit.
void ExpectSameRow(const Row& a, const Row& b) {
  for (std::string_view Row::*column : kRowTextColumns) EXPECT_EQ(a.*column, b.*column);
  EXPECT_EQ(a.age, b.age);
  EXPECT_EQ(std::bit_cast<uint64_t>(a.latitude), std::bit_cast<uint64_t>(b.latitude));
  EXPECT_EQ(std::bit_cast<uint64_t>(a.longitude), std::bit_cast<uint64_t>(b.longitude));
  EXPECT_EQ(a.ingested_at_ms, b.ingested_at_ms);
}

// Applies both readers to `json`; true if the canonical reader took it. The results (row or
// reason) must be the same.
bool ExpectReadersAgree(const std::string& json) {
  UserTransform fast;
  UserTransform general(kDefaultMaxRecordBytes, UserTransform::Readers::kGeneralOnly);
  Row fast_row, general_row;
  const Status fast_status = fast.Apply(json, 77, fast_row);
  const Status general_status = general.Apply(json, 77, general_row);
  EXPECT_EQ(general.canonical_reads(), 0u);
  EXPECT_EQ(fast_status.ok(), general_status.ok()) << json;
  EXPECT_EQ(fast_status.message(), general_status.message()) << json;
  if (fast_status.ok() && general_status.ok()) ExpectSameRow(fast_row, general_row);
  return fast.canonical_reads() == 1;
}

// What the pipeline feeds the transform: API records after ingest (secrets stripped) and
// the generator's.
std::vector<std::string> TypicalRecords() {
  std::vector<std::string> out;
  for (const char* fixture : {"v1.4-111-users-all-nats.json", "v1.4-1-user-br.json",
                              "v1.4-2-users-de-nz-null-id.json", "v1.3-200-users-us.json"}) {
    for (RawRecord& record : Split(Fixture(fixture)).records) out.push_back(std::move(record.json));
  }
  GeneratorOptions options;
  options.include_login_secrets = false;
  auto generator = UserGenerator::Create(options);
  EXPECT_TRUE(generator.ok());
  for (uint64_t i = 0; i < 500; ++i) {
    std::string json;
    generator.value().AppendUser(i, json);
    out.push_back(std::move(json));
  }
  return out;
}

TEST(UserTransformReaders, TheCanonicalReaderTakesEveryTypicalRecord) {
  const std::vector<std::string> records = TypicalRecords();
  ASSERT_EQ(records.size(), 111u + 1 + 2 + 200 + 500);
  for (size_t i = 0; i < records.size(); ++i) {
    SCOPED_TRACE(records[i]);
    EXPECT_TRUE(ExpectReadersAgree(records[i])) << "record " << i << " went to simdjson";
  }
}

// Records in other layouts go to simdjson, which accepts or rejects them as before (a
// fractional age, say, is still rejected); either way both readers agree.
TEST(UserTransformReaders, OtherLayoutsGoToSimdjson) {
  const std::string good = GoodUser();
  ASSERT_TRUE(ExpectReadersAgree(good));
  const std::string others[] = {
      Replace(good, "Damas", R"(D\u00e2mas)"),                      // An escape.
      Replace(good, R"("gender":"male")", R"("gender" : "male")"),  // Whitespace.
      " " + good,                                                   // Leading whitespace.
      Replace(Replace(good, R"({"gender":"male",)", R"({"nat":"BR","gender":"male",)"),
              R"(,"nat":"BR"})", "}"),                                      // Another order.
      Replace(good, R"("number":6972)", R"("number":"6972")"),              // A string: canonical.
      Replace(good, R"("postcode":32158)", R"("postcode":-32158)"),         // Negative.
      Replace(good, R"("age":64)", R"("age":64.0)"),                        // Not an integer.
      Replace(good, R"("age":64)", R"("age":1234567890123456789)"),         // 19 digits.
      Replace(good, R"("latitude":"-78.1478")", R"("latitude":-78.1478)"),  // A number.
      Replace(good, R"("username":"goldenpeacock430")",
              R"("username":"goldenpeacock430","password":"x")"),  // Secrets not stripped.
  };
  int taken = 0;
  for (const std::string& json : others) taken += ExpectReadersAgree(json) ? 1 : 0;
  EXPECT_EQ(taken, 1);  // Only the street number as a string is still canonical.
  // Trailing whitespace is fine for both.
  EXPECT_TRUE(ExpectReadersAgree(good + " \n"));
}

// Bad records: the canonical reader gives up and simdjson names the reason, as before.
TEST(UserTransformReaders, RejectedRecordsGetTheGeneralReason) {
  const std::string good = GoodUser();
  const std::string bad[] = {
      Replace(good, "4bbbf423-b3dd", "4bbbf423+b3dd"),
      Replace(good, R"("latitude":"-78.1478")", R"("latitude":"-98.1478")"),
      Replace(good, R"("latitude":"-78.1478")", R"("latitude":"nan")"),
      Replace(good, "Damas", "Da\xff\xfe"),
      Replace(good, "Damas", "Da\x01mas"),
      Replace(good, R"("age":64)", R"("age":064)"),
      good + "}",
      good.substr(0, good.size() - 1),
  };
  for (const std::string& json : bad) {
    UserTransform transform;
    Row row;
    EXPECT_FALSE(transform.Apply(json, 0, row).ok()) << json;
    EXPECT_EQ(transform.canonical_reads(), 0u) << json;
    EXPECT_FALSE(ExpectReadersAgree(json));
  }
}

// ApplyOwned parses a record with room to spare where it is: the row takes its buffer and
// gives the record its old one. Without room it copies, and a rejected record is left as it
// was, for the dead-letter sink.
TEST(UserTransform, ApplyOwnedTakesTheBufferOnlyWithRoom) {
  const std::string good = GoodUser();
  UserTransform transform;
  Row row;
  ASSERT_TRUE(transform.Apply(good, 0, row).ok());
  const char* row_buffer = row.storage.data();

  std::string json;
  ReserveRecordBuffer(json, good.size());
  json.assign(good);
  const char* json_buffer = json.data();
  ASSERT_TRUE(transform.ApplyOwned(json, 5, row).ok());
  EXPECT_EQ(row.storage.data(), json_buffer);
  EXPECT_EQ(json.data(), row_buffer);
  EXPECT_EQ(row.storage.substr(0, good.size()), good);
  EXPECT_EQ(row.first_name, "Damas");
  EXPECT_EQ(row.address, "6972 Rua Vinte E Quatro de Outubro, Cotia, Bahia, Brazil");
  EXPECT_EQ(row.ingested_at_ms, 5);

  std::string tight = good;  // No room: copied, left as it is.
  tight.shrink_to_fit();
  ASSERT_LT(tight.capacity(), good.size() + kRecordRoom);
  ASSERT_TRUE(transform.ApplyOwned(tight, 6, row).ok());
  EXPECT_EQ(tight, good);
  EXPECT_NE(row.storage.data(), tight.data());
  EXPECT_EQ(row.first_name, "Damas");

  std::string bad = Replace(good, R"("age":64)", R"("age":"64")");
  ReserveRecordBuffer(json, bad.size());
  json.assign(bad);
  const Status status = transform.ApplyOwned(json, 7, row);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message(), "dob.age: expected integer, got string");
  EXPECT_EQ(json, bad);
}

// Random edits of typical records: one byte changed, removed or added, or a span repeated.
// Whatever the edit does, both readers agree; many edits (inside strings) keep the record
// canonical, so the canonical reader's acceptance is exercised as much as its refusals.
TEST(UserTransformReaders, BothReadersAgreeOnMutatedRecords) {
  const std::vector<std::string> records = TypicalRecords();
  const std::string alphabet = std::string("\"\\{}[],: \n\t0159-.eEaZnul/") + '\x01' + '\x7f' +
                               '\xc3' + '\xa9' + '\xff' + '\0';
  std::mt19937_64 random(20261130);
  auto pick = [&random](size_t n) { return static_cast<size_t>(random() % n); };
  int canonical = 0, accepted = 0, rejected = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string json = records[pick(records.size())];
    const size_t at = pick(json.size());
    switch (pick(4)) {
      case 0:
        json[at] = alphabet[pick(alphabet.size())];
        break;
      case 1:
        json.erase(at, 1);
        break;
      case 2:
        json.insert(at, 1, alphabet[pick(alphabet.size())]);
        break;
      default:
        json.insert(at, json.substr(at, 1 + pick(12)));
        break;
    }
    SCOPED_TRACE(json);
    const bool took = ExpectReadersAgree(json);
    canonical += took ? 1 : 0;
    UserTransform transform;
    Row row;
    (transform.Apply(json, 0, row).ok() ? accepted : rejected) += 1;
    if (::testing::Test::HasFailure()) break;  // One record's report is enough.
  }
  EXPECT_GT(canonical, 2000);
  EXPECT_GT(accepted, canonical);  // Some valid edits are not canonical.
  EXPECT_GT(rejected, 2000);
}

}  // namespace
}  // namespace spate
