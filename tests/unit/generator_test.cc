// Tests for the built-in user generator (src/sources/generator.h).
//
// Every user is parsed with simdjson On-Demand and walked completely, which both validates
// the JSON and records its shape ("{gender:s,name:{title:s,...},...}") and its leaves
// (path -> type and text). The checks then run against those, so a wrong key order, a
// postcode of the wrong JSON type or a malformed uuid all fail here.
//
// Throughput is measured by bench/generator_bench.cc, not here: about 2.2 million users/s
// (CPU time, with login secrets, one reused buffer; 2.5 million without secrets) on one core
// of the 2-vCPU development VM, g++ 12 -O2.
#include "sources/generator.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "core/hash.h"

#ifndef SPATE_FIXTURES_DIR
#error "SPATE_FIXTURES_DIR must point at tests/fixtures"
#endif

namespace spate {
namespace {

namespace od = simdjson::ondemand;

// --- Parsing -------------------------------------------------------------------------------

struct Leaf {
  char type;         // 's' string, 'n' integer, 'z' null, 'b' bool
  std::string text;  // Unescaped string, decimal integer, "null", "true"/"false".
};

struct Parsed {
  std::string shape;
  std::map<std::string, Leaf> leaves;  // "/location/postcode" -> leaf
};

void WalkObject(od::object object, const std::string& path, Parsed& out);

void WalkValue(od::value value, const std::string& path, Parsed& out) {
  switch (value.type().value()) {
    case od::json_type::object:
      WalkObject(value.get_object().value(), path, out);
      return;
    case od::json_type::array: {
      out.shape += '[';
      size_t i = 0;
      for (auto element : value.get_array()) {
        WalkValue(element.value(), path + "/" + std::to_string(i++), out);
        out.shape += ',';
      }
      out.shape += ']';
      return;
    }
    case od::json_type::string:
      out.shape += 's';
      out.leaves[path] = {'s', std::string(value.get_string().value())};
      return;
    case od::json_type::number:
      out.shape += 'n';
      out.leaves[path] = {'n', std::to_string(value.get_int64().value())};
      return;
    case od::json_type::boolean:
      out.shape += 'b';
      out.leaves[path] = {'b', value.get_bool().value() ? "true" : "false"};
      return;
    case od::json_type::null:
      out.shape += 'z';
      EXPECT_TRUE(value.is_null().value());
      out.leaves[path] = {'z', "null"};
      return;
  }
}

void WalkObject(od::object object, const std::string& path, Parsed& out) {
  out.shape += '{';
  bool first = true;
  for (auto field : object) {
    if (!first) out.shape += ',';
    first = false;
    const std::string key(field.unescaped_key().value());
    out.shape += key;
    out.shape += ':';
    WalkValue(field.value().value(), path + "/" + key, out);
  }
  out.shape += '}';
}

// Parses one user object; fails the test (and returns an empty Parsed) on bad JSON.
Parsed ParseUser(const std::string& json) {
  Parsed parsed;
  EXPECT_TRUE(simdjson::validate_utf8(json.data(), json.size())) << json;
  try {
    od::parser parser;
    const simdjson::padded_string padded(json);
    od::document doc = parser.iterate(padded);
    WalkObject(doc.get_object().value(), "", parsed);
    // On-Demand does not look past the object; the DOM parser checks the whole text.
    simdjson::dom::parser dom;
    EXPECT_EQ(dom.parse(padded).error(), simdjson::SUCCESS) << json;
  } catch (const simdjson::simdjson_error& e) {
    ADD_FAILURE() << "invalid JSON (" << e.what() << "): " << json;
    return Parsed{};
  }
  return parsed;
}

// --- Small matchers (no std::regex: these say what failed) ---------------------------------

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsLowerHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f'); }

// '9' digit, 'A' upper-case letter, 'x' lower-case hex, anything else literally.
bool Matches(std::string_view s, std::string_view shape) {
  if (s.size() != shape.size()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    switch (shape[i]) {
      case '9':
        if (!IsDigit(c)) return false;
        break;
      case 'A':
        if (!IsUpper(c)) return false;
        break;
      case 'x':
        if (!IsLowerHex(c)) return false;
        break;
      default:
        if (c != shape[i]) return false;
    }
  }
  return true;
}

bool MatchesAny(std::string_view s, std::initializer_list<std::string_view> shapes) {
  return std::any_of(shapes.begin(), shapes.end(), [&](auto shape) { return Matches(s, shape); });
}

bool AllHex(std::string_view s) { return std::all_of(s.begin(), s.end(), IsLowerHex); }

bool IsUuidV4(std::string_view s) {
  return Matches(s, "xxxxxxxx-xxxx-4xxx-xxxx-xxxxxxxxxxxx") &&
         std::string_view("89ab").find(s[19]) != std::string_view::npos;
}

// "-86.3514": optional sign, 1-3 digits, exactly 4 decimals, within +-limit.
bool IsCoordinate(std::string_view s, int limit) {
  if (!s.empty() && s[0] == '-') s.remove_prefix(1);
  const size_t dot = s.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot > 3 || s.size() - dot != 5) return false;
  int whole = 0;
  for (size_t i = 0; i < dot; ++i) {
    if (!IsDigit(s[i])) return false;
    whole = whole * 10 + (s[i] - '0');
  }
  for (size_t i = dot + 1; i < s.size(); ++i) {
    if (!IsDigit(s[i])) return false;
  }
  return whole < limit || (whole == limit && s.substr(dot + 1) == "0000");
}

bool IsTimezoneOffset(std::string_view s) {
  return s == "0:00" || MatchesAny(s, {"+9:99", "-9:99", "+99:99", "-99:99"});
}

// Whole years from an ISO date to 2026-01-01T00:00:00.000Z, the generator's reference.
int AgeAtReference(std::string_view iso) {
  const int year = std::stoi(std::string(iso.substr(0, 4)));
  const bool exactly_new_year = iso.substr(4) == "-01-01T00:00:00.000Z";
  return 2026 - year - (exactly_new_year ? 0 : 1);
}

bool HasPersianLetter(std::string_view s) {
  // U+0600..U+06FF encode as 0xD8..0xDB followed by a continuation byte.
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto b = static_cast<unsigned char>(c);
    return b >= 0xD8 && b <= 0xDB;
  });
}

// --- Helpers -------------------------------------------------------------------------------

UserGenerator MakeGenerator(std::vector<std::string> nats = {}, std::string seed = "spate",
                            bool secrets = true) {
  GeneratorOptions options;
  options.seed = std::move(seed);
  options.nationalities = std::move(nats);
  options.include_login_secrets = secrets;
  Result<UserGenerator> generator = UserGenerator::Create(std::move(options));
  EXPECT_TRUE(generator.ok()) << generator.status().message();
  return std::move(generator).value();
}

std::string User(const UserGenerator& generator, uint64_t index) {
  std::string out;
  generator.AppendUser(index, out);
  return out;
}

std::string ExpectedShape(bool string_postcode, bool null_id, bool secrets) {
  std::string shape =
      "{gender:s,name:{title:s,first:s,last:s},location:{street:{number:n,name:s},city:s,"
      "state:s,country:s,postcode:";
  shape += string_postcode ? "s" : "n";
  shape +=
      ",coordinates:{latitude:s,longitude:s},timezone:{offset:s,description:s}},email:s,"
      "login:{uuid:s,username:s";
  if (secrets) shape += ",password:s,salt:s,md5:s,sha1:s,sha256:s";
  shape += "},dob:{date:s,age:n},registered:{date:s,age:n},phone:s,cell:s,id:{name:s,value:";
  shape += null_id ? "z" : "s";
  shape += "},picture:{large:s,medium:s,thumbnail:s},nat:s}";
  return shape;
}

const std::set<std::string_view> kStringPostcodeNats = {"CA", "GB", "NL", "NO"};
const std::set<std::string_view> kNullIdNats = {"IR", "NZ", "TR", "UA"};

// --- Create --------------------------------------------------------------------------------

TEST(UserGeneratorCreateTest, RejectsUnknownNationalityNamingItAndTheValidOnes) {
  GeneratorOptions options;
  options.nationalities = {"US", "xx"};
  Result<UserGenerator> generator = UserGenerator::Create(options);
  ASSERT_FALSE(generator.ok());
  EXPECT_EQ(generator.status().kind(), ErrorKind::kFatal);
  const std::string& message = generator.status().message();
  EXPECT_NE(message.find("\"xx\""), std::string::npos) << message;
  for (std::string_view code : kNationalities) {
    EXPECT_NE(message.find(code), std::string::npos) << code << " missing from: " << message;
  }
}

TEST(UserGeneratorCreateTest, RejectsEmptyCode) {
  GeneratorOptions options;
  options.nationalities = {""};
  EXPECT_FALSE(UserGenerator::Create(options).ok());
}

TEST(UserGeneratorCreateTest, AcceptsAnyCaseAndCanonicalisesTheSet) {
  const UserGenerator a = MakeGenerator({"us", "Gb", "US"});
  EXPECT_EQ(a.options().nationalities, (std::vector<std::string>{"GB", "US"}));
  const UserGenerator b = MakeGenerator({"GB", "us"});
  for (uint64_t i = 0; i < 50; ++i) EXPECT_EQ(User(a, i), User(b, i));
}

// --- Determinism ---------------------------------------------------------------------------

TEST(UserGeneratorTest, SameSeedGivesSameBytes) {
  const UserGenerator a = MakeGenerator();
  const UserGenerator b = MakeGenerator();
  for (uint64_t i = 0; i < 500; ++i) ASSERT_EQ(User(a, i), User(b, i)) << "index " << i;
  // Order of generation does not matter: user i depends on i only.
  EXPECT_EQ(User(a, 123456789), User(b, 123456789));
}

TEST(UserGeneratorTest, AppendsWithoutTouchingWhatIsAlreadyInTheBuffer) {
  const UserGenerator generator = MakeGenerator();
  std::string out = "prefix";
  generator.AppendUser(7, out);
  EXPECT_EQ(out, "prefix" + User(generator, 7));
}

TEST(UserGeneratorTest, DifferentSeedsOrIndexesGiveDifferentUsers) {
  const UserGenerator a = MakeGenerator({}, "alpha");
  const UserGenerator b = MakeGenerator({}, "beta");
  std::set<std::string> uuids;
  for (uint64_t i = 0; i < 200; ++i) {
    EXPECT_NE(User(a, i), User(b, i)) << "index " << i;
    uuids.insert(ParseUser(User(a, i)).leaves["/login/uuid"].text);
    uuids.insert(ParseUser(User(b, i)).leaves["/login/uuid"].text);
  }
  EXPECT_EQ(uuids.size(), 400u);
}

// Pins the exact bytes: the same seed must give the same users on every platform and
// release (the mock API's pages depend on it). If you change the generator on purpose,
// update the constant and say so in the commit.
TEST(UserGeneratorTest, OutputIsPinned) {
  const UserGenerator generator = MakeGenerator();
  std::string all;
  for (uint64_t i = 0; i < 1000; ++i) {
    generator.AppendUser(i, all);
    all.push_back('\n');
  }
  EXPECT_EQ(Fnv1a64(all), 0xc7729575200cb2bfull) << std::hex << Fnv1a64(all);
}

// --- Shape and types, every nationality ----------------------------------------------------

TEST(UserGeneratorTest, EveryNationalityHasTheApiShapeAndTypes) {
  for (const std::string_view nat : kNationalities) {
    SCOPED_TRACE(std::string(nat));
    const bool string_postcode = kStringPostcodeNats.count(nat) > 0;
    const bool null_id = kNullIdNats.count(nat) > 0;
    for (const bool secrets : {true, false}) {
      const UserGenerator generator = MakeGenerator({std::string(nat)}, "shape", secrets);
      const std::string expected = ExpectedShape(string_postcode, null_id, secrets);
      for (uint64_t i = 0; i < 200; ++i) {
        const std::string json = User(generator, i);
        Parsed user = ParseUser(json);
        ASSERT_EQ(user.shape, expected) << json;
        EXPECT_EQ(user.leaves["/nat"].text, nat);
      }
    }
  }
}

// The real API responses in tests/fixtures have exactly our shape, nationality by
// nationality (postcode and id.value types included).
TEST(UserGeneratorTest, ShapeMatchesRealApiResponses) {
  const simdjson::padded_string json =
      simdjson::padded_string::load(SPATE_FIXTURES_DIR "/v1.4-111-users-all-nats.json");
  od::parser parser;
  od::document doc = parser.iterate(json);
  std::set<std::string> nats_seen;
  for (auto element : doc["results"].get_array()) {
    Parsed real;
    WalkObject(element.get_object().value(), "", real);
    const std::string nat = real.leaves["/nat"].text;
    nats_seen.insert(nat);
    const UserGenerator generator = MakeGenerator({nat});
    EXPECT_EQ(ParseUser(User(generator, 0)).shape, real.shape) << nat;
  }
  EXPECT_EQ(nats_seen.size(), kNationalities.size());
}

// --- Field formats -------------------------------------------------------------------------

void CheckCommonFields(Parsed& u) {
  const std::string json_context = u.leaves["/email"].text;
  SCOPED_TRACE(json_context);
  const std::string& gender = u.leaves["/gender"].text;
  ASSERT_TRUE(gender == "male" || gender == "female") << gender;
  const bool male = gender == "male";
  const std::string& nat = u.leaves["/nat"].text;

  const std::string& title = u.leaves["/name/title"].text;
  if (nat == "CH") {
    EXPECT_EQ(male, title == "Monsieur") << title;
    EXPECT_TRUE(title == "Monsieur" || title == "Madame" || title == "Mademoiselle") << title;
  } else if (nat == "FR") {
    EXPECT_EQ(male, title == "Mr" || title == "Monsieur") << title;
  } else {
    EXPECT_EQ(male, title == "Mr") << title;
    EXPECT_TRUE(title == "Mr" || title == "Mrs" || title == "Ms" || title == "Miss") << title;
  }
  EXPECT_FALSE(u.leaves["/name/first"].text.empty());
  EXPECT_FALSE(u.leaves["/name/last"].text.empty());

  const int64_t number = std::stoll(u.leaves["/location/street/number"].text);
  EXPECT_GE(number, 1);
  EXPECT_LE(number, 9999);
  EXPECT_FALSE(u.leaves["/location/city"].text.empty());
  EXPECT_FALSE(u.leaves["/location/state"].text.empty());
  EXPECT_FALSE(u.leaves["/location/country"].text.empty());
  EXPECT_TRUE(IsCoordinate(u.leaves["/location/coordinates/latitude"].text, 90))
      << u.leaves["/location/coordinates/latitude"].text;
  EXPECT_TRUE(IsCoordinate(u.leaves["/location/coordinates/longitude"].text, 180))
      << u.leaves["/location/coordinates/longitude"].text;
  EXPECT_TRUE(IsTimezoneOffset(u.leaves["/location/timezone/offset"].text))
      << u.leaves["/location/timezone/offset"].text;
  EXPECT_FALSE(u.leaves["/location/timezone/description"].text.empty());

  // first.last@example.com, lower-case ASCII.
  const std::string& email = u.leaves["/email"].text;
  const size_t at = email.find('@');
  ASSERT_NE(at, std::string::npos) << email;
  EXPECT_EQ(email.substr(at), "@example.com");
  const std::string local = email.substr(0, at);
  const size_t dot = local.find('.');
  ASSERT_NE(dot, std::string::npos) << email;
  EXPECT_GT(dot, 0u) << email;
  EXPECT_LT(dot + 1, local.size()) << email;
  for (size_t i = 0; i < local.size(); ++i) {
    const char c = local[i];
    EXPECT_TRUE(IsLower(c) || IsDigit(c) || c == '-' || (c == '.' && i == dot)) << email;
  }

  EXPECT_TRUE(IsUuidV4(u.leaves["/login/uuid"].text)) << u.leaves["/login/uuid"].text;
  const std::string& username = u.leaves["/login/username"].text;
  ASSERT_GT(username.size(), 3u);
  EXPECT_TRUE(Matches(username.substr(username.size() - 3), "999")) << username;
  EXPECT_TRUE(std::all_of(username.begin(), username.end() - 3, IsLower)) << username;

  for (const char* field : {"/dob", "/registered"}) {
    const std::string& date = u.leaves[std::string(field) + "/date"].text;
    EXPECT_TRUE(Matches(date, "9999-99-99T99:99:99.999Z")) << date;
    EXPECT_EQ(std::stoi(u.leaves[std::string(field) + "/age"].text), AgeAtReference(date)) << date;
  }
  const int age = std::stoi(u.leaves["/dob/age"].text);
  EXPECT_GE(age, 18);
  EXPECT_LE(age, 100);

  EXPECT_FALSE(u.leaves["/phone"].text.empty());
  EXPECT_FALSE(u.leaves["/cell"].text.empty());

  // The three picture URLs show the same portrait number, in the gender's folder.
  const std::string& large = u.leaves["/picture/large"].text;
  const std::string folder = male ? "men/" : "women/";
  const std::string prefix = "https://randomuser.me/api/portraits/";
  ASSERT_EQ(large.rfind(prefix + folder, 0), 0u) << large;
  const std::string file = large.substr(prefix.size() + folder.size());  // "63.jpg"
  ASSERT_GT(file.size(), 4u);
  const int picture = std::stoi(file);
  EXPECT_GE(picture, 0);
  EXPECT_LE(picture, 99);
  EXPECT_EQ(file, std::to_string(picture) + ".jpg");
  EXPECT_EQ(u.leaves["/picture/medium"].text, prefix + "med/" + folder + file);
  EXPECT_EQ(u.leaves["/picture/thumbnail"].text, prefix + "thumb/" + folder + file);
}

TEST(UserGeneratorTest, CommonFieldFormatsHoldForEveryNationality) {
  for (const std::string_view nat : kNationalities) {
    SCOPED_TRACE(std::string(nat));
    const UserGenerator generator = MakeGenerator({std::string(nat)}, "formats");
    for (uint64_t i = 0; i < 200; ++i) {
      Parsed user = ParseUser(User(generator, i));
      CheckCommonFields(user);
      if (HasFailure()) return;  // One broken user says enough.
    }
  }
}

TEST(UserGeneratorTest, PostcodesHaveEachNationalitysTypeAndFormat) {
  for (const std::string_view nat : kNationalities) {
    SCOPED_TRACE(std::string(nat));
    const UserGenerator generator = MakeGenerator({std::string(nat)}, "postcodes");
    bool no_leading_zero_seen = false;
    for (uint64_t i = 0; i < 500; ++i) {
      Parsed user = ParseUser(User(generator, i));
      const Leaf& postcode = user.leaves["/location/postcode"];
      const std::string& p = postcode.text;
      if (nat == "CA") {
        ASSERT_EQ(postcode.type, 's');
        EXPECT_TRUE(Matches(p, "A9A 9A9")) << p;  // "B6B 6V2"
      } else if (nat == "GB") {
        ASSERT_EQ(postcode.type, 's');
        EXPECT_TRUE(MatchesAny(p, {"AA9A 9AA", "A9 9AA", "AA9 9AA", "AA99 9AA"})) << p;
      } else if (nat == "NL") {
        ASSERT_EQ(postcode.type, 's');
        EXPECT_TRUE(Matches(p, "9999 AA")) << p;  // "3315 DJ"
      } else if (nat == "NO") {
        ASSERT_EQ(postcode.type, 's');
        EXPECT_TRUE(Matches(p, "9999")) << p;  // "0010": leading zeros kept
        no_leading_zero_seen |= p[0] == '0';
      } else {
        ASSERT_EQ(postcode.type, 'n') << p;
        const int value = std::stoi(p);
        if (nat == "AU") {
          EXPECT_GE(value, 200);  // Three or four digits.
          EXPECT_LE(value, 9999);
        } else if (nat == "CH") {
          EXPECT_GE(value, 1000);
          EXPECT_LE(value, 9999);
        } else {
          EXPECT_GE(value, 10000);
          EXPECT_LE(value, 99999);
        }
      }
    }
    if (nat == "NO") {
      EXPECT_TRUE(no_leading_zero_seen);
    }
  }
}

TEST(UserGeneratorTest, IdIsNullForIrNzTrUaAndFilledElsewhere) {
  for (const std::string_view nat : kNationalities) {
    SCOPED_TRACE(std::string(nat));
    const UserGenerator generator = MakeGenerator({std::string(nat)}, "ids");
    for (uint64_t i = 0; i < 50; ++i) {
      const std::string json = User(generator, i);
      Parsed user = ParseUser(json);
      if (kNullIdNats.count(nat)) {
        EXPECT_NE(json.find(R"("id":{"name":"","value":null})"), std::string::npos) << json;
      } else {
        EXPECT_FALSE(user.leaves["/id/name"].text.empty()) << json;
        EXPECT_EQ(user.leaves["/id/value"].type, 's') << json;
        EXPECT_FALSE(user.leaves["/id/value"].text.empty()) << json;
      }
    }
  }
}

TEST(UserGeneratorTest, NationalQuirks) {
  const UserGenerator ua = MakeGenerator({"UA"});
  const UserGenerator ca = MakeGenerator({"CA"});
  const UserGenerator ir = MakeGenerator({"IR"});
  const UserGenerator no = MakeGenerator({"NO"});
  const UserGenerator us = MakeGenerator({"US"});
  const UserGenerator dk = MakeGenerator({"DK"});
  bool street_with_trailing_space = false;
  const UserGenerator br = MakeGenerator({"BR"});
  for (uint64_t i = 0; i < 100; ++i) {
    Parsed u = ParseUser(User(ua, i));
    EXPECT_TRUE(Matches(u.leaves["/phone"].text, "(099) A99-9999")) << u.leaves["/phone"].text;
    EXPECT_TRUE(Matches(u.leaves["/cell"].text, "(099) A99-9999")) << u.leaves["/cell"].text;

    Parsed c = ParseUser(User(ca, i));
    EXPECT_TRUE(Matches(c.leaves["/phone"].text, "A99 A99-9999")) << c.leaves["/phone"].text;

    Parsed p = ParseUser(User(ir, i));
    for (const char* field : {"/name/first", "/name/last", "/location/street/name",
                              "/location/city", "/location/state"}) {
      EXPECT_TRUE(HasPersianLetter(p.leaves[field].text)) << field << p.leaves[field].text;
    }
    EXPECT_EQ(p.leaves["/location/country"].text, "Iran");

    Parsed n = ParseUser(User(no, i));
    EXPECT_TRUE(Matches(n.leaves["/phone"].text, "99999999"));

    // ASCII names map straight to the email.
    Parsed a = ParseUser(User(us, i));
    std::string expected = a.leaves["/name/first"].text + "." + a.leaves["/name/last"].text;
    std::transform(expected.begin(), expected.end(), expected.begin(),
                   [](char ch) { return IsUpper(ch) ? static_cast<char>(ch - 'A' + 'a') : ch; });
    EXPECT_EQ(a.leaves["/email"].text, expected + "@example.com");
    EXPECT_TRUE(Matches(a.leaves["/id/value"].text, "999-99-9999"));

    // Danish CPR starts with the date of birth, ddmmyy.
    Parsed d = ParseUser(User(dk, i));
    const std::string& dob = d.leaves["/dob/date"].text;  // 1958-06-23T...
    const std::string ddmmyy = dob.substr(8, 2) + dob.substr(5, 2) + dob.substr(2, 2);
    EXPECT_EQ(d.leaves["/id/value"].text, ddmmyy + "-" + d.leaves["/id/value"].text.substr(7));

    Parsed b = ParseUser(User(br, i));
    const std::string& street = b.leaves["/location/street/name"].text;
    street_with_trailing_space |= !street.empty() && street.back() == ' ';
  }
  EXPECT_TRUE(street_with_trailing_space);
}

TEST(UserGeneratorTest, EmailsFoldAccentsAndScriptsToAscii) {
  for (const char* nat : {"TR", "RS", "DK", "NO", "DE", "IR", "ES", "FR", "NL", "IE"}) {
    const UserGenerator generator = MakeGenerator({nat});
    for (uint64_t i = 0; i < 200; ++i) {
      Parsed u = ParseUser(User(generator, i));
      const std::string& email = u.leaves["/email"].text;
      EXPECT_TRUE(std::all_of(email.begin(), email.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x80;
      })) << email;
    }
  }
}

TEST(UserGeneratorTest, LoginSecretsFollowTheOption) {
  const UserGenerator with = MakeGenerator({}, "secrets", true);
  const UserGenerator without = MakeGenerator({}, "secrets", false);
  for (uint64_t i = 0; i < 200; ++i) {
    Parsed a = ParseUser(User(with, i));
    Parsed b = ParseUser(User(without, i));
    const std::string& password = a.leaves["/login/password"].text;
    EXPECT_FALSE(password.empty());
    EXPECT_TRUE(std::all_of(password.begin(), password.end(), [](char c) {
      return IsLower(c) || IsDigit(c);
    })) << password;
    const std::string& salt = a.leaves["/login/salt"].text;
    EXPECT_EQ(salt.size(), 8u);
    EXPECT_TRUE(std::all_of(salt.begin(), salt.end(), [](char c) {
      return IsLower(c) || IsUpper(c) || IsDigit(c);
    })) << salt;
    EXPECT_EQ(a.leaves["/login/md5"].text.size(), 32u);
    EXPECT_EQ(a.leaves["/login/sha1"].text.size(), 40u);
    EXPECT_EQ(a.leaves["/login/sha256"].text.size(), 64u);
    for (const char* hash : {"/login/md5", "/login/sha1", "/login/sha256"}) {
      EXPECT_TRUE(AllHex(a.leaves[hash].text)) << a.leaves[hash].text;
    }

    for (const char* secret :
         {"/login/password", "/login/salt", "/login/md5", "/login/sha1", "/login/sha256"}) {
      EXPECT_EQ(b.leaves.count(secret), 0u) << secret;
      a.leaves.erase(secret);
    }
    // Apart from the secrets the user is the same.
    ASSERT_EQ(a.leaves.size(), b.leaves.size());
    for (const auto& [path, leaf] : a.leaves) {
      EXPECT_EQ(leaf.text, b.leaves[path].text) << path;
    }
  }
}

// --- Nationality selection -----------------------------------------------------------------

TEST(UserGeneratorTest, FiltersNationalities) {
  const UserGenerator generator = MakeGenerator({"no", "IE"});
  std::map<std::string, int> counts;
  for (uint64_t i = 0; i < 2000; ++i) ++counts[ParseUser(User(generator, i)).leaves["/nat"].text];
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_GT(counts["NO"], 850);  // Uniform: 1000 expected each.
  EXPECT_GT(counts["IE"], 850);
}

TEST(UserGeneratorTest, AllNationalitiesAppearUniformlyByDefault) {
  const UserGenerator generator = MakeGenerator();
  std::map<std::string, int> counts;
  const int users = 21000;
  for (uint64_t i = 0; i < users; ++i) {
    std::string json = User(generator, i);
    const size_t nat = json.rfind(R"("nat":")");
    ++counts[json.substr(nat + 7, 2)];
  }
  ASSERT_EQ(counts.size(), kNationalities.size());
  for (const auto& [nat, count] : counts) {
    EXPECT_GT(count, 850) << nat;  // 1000 expected; 5 sigma is about 150.
    EXPECT_LT(count, 1150) << nat;
  }
}

// --- GeneratorSource -----------------------------------------------------------------------

TEST(GeneratorSourceTest, ProducesCountUsersInBatchesThenFinishes) {
  const UserGenerator generator = MakeGenerator({}, "source");
  GeneratorSource source(generator, 25, 100);
  std::stop_source stop;
  std::vector<uint64_t> positions;
  std::vector<SourceState> states;
  for (int call = 0; call < 3; ++call) {
    Batch batch;
    Result<SourceState> state = source.Next(batch, 10, stop.get_token());
    ASSERT_TRUE(state.ok()) << state.status().message();
    states.push_back(state.value());
    EXPECT_EQ(batch.origin, "generator");
    EXPECT_EQ(batch.source_records, batch.records.size());
    for (const RawRecord& record : batch.records) {
      positions.push_back(record.position);
      EXPECT_EQ(record.json, User(generator, record.position));
    }
  }
  EXPECT_EQ(states, (std::vector<SourceState>{SourceState::kHaveMore, SourceState::kHaveMore,
                                              SourceState::kFinished}));
  ASSERT_EQ(positions.size(), 25u);
  for (uint64_t i = 0; i < 25; ++i) EXPECT_EQ(positions[i], 100 + i);
}

TEST(GeneratorSourceTest, FinishesOnTheCallThatReachesTheCount) {
  GeneratorSource source(MakeGenerator(), 20);
  Batch batch;
  Result<SourceState> state = source.Next(batch, 20, std::stop_source().get_token());
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state.value(), SourceState::kFinished);
  EXPECT_EQ(batch.records.size(), 20u);
  EXPECT_EQ(batch.source_records, 20u);
}

// The pipeline hands an earlier batch's records back as spare_records: the generator writes
// over them (keeping their buffers) and leaves nothing of their old contents.
TEST(GeneratorSourceTest, SpareRecordsAreOverwritten) {
  const UserGenerator generator = MakeGenerator();
  GeneratorSource source(generator, 0);
  std::stop_source stop;
  Batch first;
  ASSERT_TRUE(source.Next(first, 8, stop.get_token()).ok());
  Batch batch;
  batch.spare_records = std::move(first.records);
  ASSERT_TRUE(source.Next(batch, 5, stop.get_token()).ok());
  ASSERT_EQ(batch.records.size(), 5u);
  EXPECT_EQ(batch.spare_records.size(), 3u);
  EXPECT_EQ(batch.source_records, 5u);
  for (size_t i = 0; i < batch.records.size(); ++i) {
    EXPECT_EQ(batch.records[i].position, 8u + i);
    EXPECT_EQ(batch.records[i].json, User(generator, 8 + i));
    EXPECT_EQ(batch.records[i].key.size(), 36u);
    EXPECT_NE(batch.records[i].json.find(batch.records[i].key), std::string::npos);
  }
}

TEST(GeneratorSourceTest, UnboundedRunsUntilStopped) {
  GeneratorSource source(MakeGenerator(), 0);
  std::stop_source stop;
  for (int call = 0; call < 5; ++call) {
    Batch batch;
    Result<SourceState> state = source.Next(batch, 100, stop.get_token());
    ASSERT_TRUE(state.ok());
    EXPECT_EQ(state.value(), SourceState::kHaveMore);
    EXPECT_EQ(batch.records.size(), 100u);
  }
  stop.request_stop();
  Batch batch;
  Result<SourceState> state = source.Next(batch, 100, stop.get_token());
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state.value(), SourceState::kFinished);
  EXPECT_TRUE(batch.records.empty());
  EXPECT_EQ(batch.source_records, 0u);
}

TEST(GeneratorSourceTest, DescribeNamesTheGenerator) {
  GeneratorSource source(MakeGenerator({"fr"}, "abc"), 10);
  const std::string description = source.Describe();
  EXPECT_EQ(description.rfind("generator", 0), 0u) << description;
  EXPECT_NE(description.find("FR"), std::string::npos) << description;
  EXPECT_NE(description.find("abc"), std::string::npos) << description;
}

}  // namespace
}  // namespace spate
