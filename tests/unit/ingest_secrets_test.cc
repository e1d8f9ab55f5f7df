// Ingest, login secrets in anything at all (issue 17, item 1): no value of password, salt,
// md5, sha1 or sha256 can be read back from a record, a dead letter's bytes or its reason,
// whatever the bytes are. Regression tests for the issue's examples, then a property test:
// random users whose secrets are unique markers, mutated, through every ingest entry point.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <fstream>
#include <functional>
#include <random>

#include "sources/file_source.h"
#include "test_util.h"
#include "transforms/ingest.h"

namespace spate {
namespace {

using spate::testing::Fixture;
using spate::testing::TempDir;

const char* const kMarkers[] = {"hunter2", "NaCl", "5e88", "0xabad1dea", "cafebabe"};

void ExpectNoMarker(const std::string& text, const std::string& what) {
  for (const char* marker : kMarkers) {
    EXPECT_EQ(text.find(marker), std::string::npos) << what << ": " << text;
  }
}

// Every way bytes can reach a dead letter or a record: AddUser, SplitPage (as a page of one
// user and inside a response) and the file source (JSON Lines and a document).
void ExpectSafeEverywhere(const std::string& bytes) {
  SCOPED_TRACE(bytes);
  Ingestor ingestor;
  Batch batch;
  ingestor.AddUser(bytes, 1, batch);
  ingestor.SplitPage(bytes, 1, batch);
  ingestor.SplitPage("{\"results\":[" + bytes + "]}", 1, batch);
  ingestor.SplitPage("{\"results\":[\n" + bytes + "\n,{\"a\":1}]}", 1, batch);
  TempDir dir;
  for (const std::string& text : {bytes + "\n{\"a\":1}\n", "[\n" + bytes + "\n]\n"}) {
    std::ofstream(dir.File("in"), std::ios::binary | std::ios::trunc) << text;
    FileSource source(dir.File("in"), 0);
    ASSERT_TRUE(source.Open().ok());
    std::stop_source stop;
    for (int i = 0; i < 100; ++i) {
      auto state = source.Next(batch, 1000, stop.get_token());
      ASSERT_TRUE(state.ok());
      if (state.value() == SourceState::kFinished) break;
    }
  }
  EXPECT_FALSE(batch.records.empty() && batch.dead.empty());
  for (const RawRecord& r : batch.records) ExpectNoMarker(r.json, "record");
  for (const DeadLetter& d : batch.dead) {
    ExpectNoMarker(d.raw, "dead letter raw");
    ExpectNoMarker(d.reason, "dead letter reason");
  }
}

// The issue's examples, and their relatives.
TEST(IngestSecrets, IssueExamplesLeakNothing) {
  const std::string uuid = R"("uuid":"8b8f5b8e-2d1a-4a8e-9a77-0c1f2b3c4d5e")";
  for (const std::string& bytes : std::vector<std::string>{
           // One missing quote earlier in the line: string parity flips.
           R"({"gender":male","login":{)" + uuid +
               R"(,"password":"hunter2","salt":"NaCl","sha256":"5e88"}})",
           // An unterminated value.
           R"({"login":{)" + uuid + R"(,"password":"hunter2)",
           R"({"login":{"salt":"NaCl)",
           // Escaped keys: any letter, any case of the hex digits, upper-case names.
           R"({"login":{"pass\u0077ord":"hunter2"},"x":)",
           R"({"login":{"\u0070assword":"hunter2","s\u0041LT":"NaCl"}})",
           R"({"login":{"\u0050ASSWORD":"hunter2","\u0073\u0068\u0061\u0032\u0035\u0036":"5e88"},)",
           R"({"login":{"PassWord":"hunter2","MD5":"cafebabe"}})",
           R"({"login":{"pass\word":"hunter2"}})",
           "{\"login\":{\"pass\\\nword\":\"hunter2\"}}",
           // Array and object values.
           R"({"login":{"password":["hunter2","x"],"salt":{"v":"NaCl"}},)",
           R"({"login":{"password":["hunter2","x"],"salt":{"v":"NaCl"}}})",
           // Keys without quotes, broken nesting, a name in a string's place.
           R"({login:{password:hunter2,sha1:0xabad1dea}})",
           R"({"login":{"password" "hunter2"}}]]}})",
           R"(password=hunter2 salt=NaCl)",
           // Other spellings: fullwidth letters, long s, zero-width space, overlong UTF-8.
           "{\"login\":{\"\xEF\xBD\x90\xEF\xBD\x81ssword\":\"hunter2\"}",
           "{\"login\":{\"pa\xC5\xBF\xC5\xBFword\":\"hunter2\"}",
           "{\"login\":{\"pass\xE2\x80\x8Bword\":\"hunter2\"}",
           "{\"login\":{\"\xC1\xB0\x61ssword\":\"hunter2\"}",
           // A value cut off from its name by broken structure: a line break after the
           // colon, a colon where an array wants a comma.
           "{\"login\":{\"password\":\n{\"v\":\"hunter2\"}}",
           "{\"login\":{\"password\":\n\"hunter2\"}}",
           R"(["salt": "NaCl"])",
           R"({"results":["sha1" : {"v":"0xabad1dea"}]})",
           // Values the parser refuses: too large a number, invalid UTF-8, too deep.
           R"({"n":1e99999,"login":{"password":"hunter2"}})",
           "{\"n\":\"\xff\",\"login\":{\"password\":\"hunter2\"}}",
           R"({"login":{"password":"hunter2"},"d":)" + std::string(100, '[') +
               std::string(100, ']') + "}",
       }) {
    ExpectSafeEverywhere(bytes);
  }
}

TEST(IngestSecrets, IssueExampleKeepsTheBytesBeforeTheFirstName) {
  const std::string bytes =
      R"({"gender":male","login":{"uuid":"8b8f5b8e-2d1a-4a8e-9a77-0c1f2b3c4d5e","password":"hunter2","salt":"NaCl","sha256":"5e88"}})";
  const std::string kept = DeadLetterBytes(bytes);
  EXPECT_EQ(
      kept.rfind(R"({"gender":male","login":{"uuid":"8b8f5b8e-2d1a-4a8e-9a77-0c1f2b3c4d5e",")", 0),
      0u)
      << kept;
  EXPECT_NE(kept.find("bytes cut here"), std::string::npos) << kept;
  EXPECT_EQ(DeadLetterBytes(kept), kept);  // Idempotent: the marker names no secret.
}

TEST(IngestSecrets, ParseableBytesAreStrippedByStructure) {
  EXPECT_EQ(DeadLetterBytes(R"([{"a":1,"Password":"hunter2","b":{"pass\u0077ord":[1]}},2])"),
            R"([{"a":1,"b":{}},2])");
  // A name inside a string is data, not a key.
  EXPECT_EQ(DeadLetterBytes(R"({"city":"Salt Lake City"})"), R"({"city":"Salt Lake City"})");
  // Not JSON: cut at the first name, wherever it is.
  EXPECT_EQ(DeadLetterBytes("abc salt"),
            "abc [spate: 4 bytes cut here, from a login secret's name on]");
  EXPECT_EQ(DeadLetterBytes("no names here {"), "no names here {");
}

TEST(IngestSecrets, SecretKeyNameFoldsSpellings) {
  for (std::string_view key : {"password", "PASSWORD", "Salt", "md5", "SHA1", "sha256",
                               "pa\xC5\xBF\xC5\xBFword", "\xEF\xBD\x8D\xEF\xBD\x84\x35"}) {
    EXPECT_TRUE(SecretKeyName(key)) << key;
  }
  for (std::string_view key : {"uuid", "username", "passwords", "sha", "sha2", "md", "salty"}) {
    EXPECT_FALSE(SecretKeyName(key)) << key;
  }
}

TEST(IngestSecrets, ReasonsAndApiErrorsAreCut) {
  Ingestor ingestor;
  Batch batch;
  auto page = ingestor.SplitPage(R"({"error":"bad password hunter2"})", 0, batch);
  EXPECT_EQ(page.api_error.find("hunter2"), std::string::npos) << page.api_error;
  EXPECT_NE(page.api_error.find("the API answered with an error: bad "), std::string::npos);
  // In a file, the error object is a dead letter: its reason and bytes are cut as text.
  TempDir dir;
  std::ofstream(dir.File("in")) << R"({"error":"bad password hunter2"})"
                                << "\n";
  FileSource source(dir.File("in"), 0);
  ASSERT_TRUE(source.Open().ok());
  std::stop_source stop;
  Batch file;
  ASSERT_TRUE(source.Next(file, 100, stop.get_token()).ok());
  ASSERT_EQ(file.dead.size(), 1u);
  EXPECT_NE(file.dead[0].reason.find("the API answered with an error"), std::string::npos);
  EXPECT_EQ(file.dead[0].reason.find("hunter2"), std::string::npos) << file.dead[0].reason;
  EXPECT_EQ(file.dead[0].raw.find("hunter2"), std::string::npos) << file.dead[0].raw;
  DeadLetter dead = MakeDeadLetter("field sha1 is hunter2", "o", 1, 2, "x");
  EXPECT_EQ(dead.reason.find("hunter2"), std::string::npos);
  EXPECT_EQ(dead.item, 2u);
}

// ---- Property: random users, secrets as unique markers, mutated. ----

// A unique marker per secret: letters no name is made of, digits, so no marker names a
// secret and no two markers overlap.
std::string Marker(std::mt19937_64& rng) {
  return "Q" + std::to_string(rng() % 9000000000ULL + 1000000000ULL) + "Z";
}

struct Mutated {
  std::string text;
  std::vector<std::string> secret_markers;  // Markers that are still values of a secret.
};

// Whether `marker` is still a secret's value in `text`: when the text parses, only markers
// under a key SecretKeyName accepts are (a mutation may have made the name a plain string);
// when it does not, every intact marker is.
bool StillSecret(const std::string& text, const std::string& marker) {
  if (text.find(marker) == std::string::npos) return false;  // Mutated away.
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(text).get(root)) return true;
  std::function<bool(simdjson::dom::element, bool)> walk = [&](simdjson::dom::element e,
                                                               bool secret) -> bool {
    if (e.is_object()) {
      for (auto field : e.get_object()) {
        if (walk(field.value, secret || SecretKeyName(field.key))) return true;
      }
      return false;
    }
    if (e.is_array()) {
      for (auto item : e.get_array()) {
        if (walk(item, secret)) return true;
      }
      return false;
    }
    return secret && simdjson::minify(e).find(marker) != std::string::npos;
  };
  return walk(root, false);
}

// A user with marker secrets, mutated where a hostile or broken producer could: bytes
// flipped, deleted (quotes above all) or inserted outside the names; names escaped or
// re-cased letter by letter; secret values made arrays, objects or bare words; cut short.
Mutated MutatedUser(const std::string& user, std::mt19937_64& rng, bool pretty) {
  std::vector<std::pair<std::string, bool>> parts;  // (text, is a secret's name)
  std::vector<std::string> markers;
  std::string rest = user;
  // The fixture's secrets, each with its name kept apart and a marker for its value.
  for (;;) {
    size_t best = std::string::npos;
    std::string_view name;
    for (std::string_view n : kLoginSecrets) {
      const size_t at = rest.find("\"" + std::string(n) + "\":\"");
      if (at < best) {
        best = at;
        name = n;
      }
    }
    if (best == std::string::npos) break;
    const size_t value = best + name.size() + 4;
    const size_t value_end = rest.find('"', value);
    const std::string marker = Marker(rng);
    markers.push_back(marker);
    std::string shaped;
    switch (rng() % 5) {
      case 0:
        shaped = "[\"" + marker + "\",1]";
        break;
      case 1:
        shaped = "{\"v\":\"" + marker + "\"}";
        break;
      case 2:
        shaped = marker;  // A bare word.
        break;
      default:
        shaped = "\"" + marker + "\"";
    }
    parts.emplace_back(rest.substr(0, best + 1), false);
    parts.emplace_back(std::string(name), true);
    parts.emplace_back("\":" + shaped, false);
    rest = rest.substr(value_end + 1);
  }
  parts.emplace_back(rest, false);
  if (pretty) {
    for (auto& [text, is_name] : parts) {
      if (is_name) continue;
      std::string out;
      for (char c : text) {
        out.push_back(c);
        if (c == ',' && rng() % 2) out += "\n    ";
      }
      text = out;
    }
  }
  const int mutations = 1 + static_cast<int>(rng() % 4);
  for (int m = 0; m < mutations; ++m) {
    auto& [text, is_name] = parts[rng() % parts.size()];
    if (text.empty()) continue;
    const size_t at = rng() % text.size();
    if (is_name) {
      // Respell one letter of the name (never one already respelled: "\u00\u0036" is
      // no longer the name, and its value no longer a secret).
      if (text.find('\\') != std::string::npos) continue;
      const int letter = static_cast<unsigned char>(text[at]);
      if (rng() % 2) {
        text.replace(
            at, 1, rng() % 2 ? fmt::format("\\u{:04x}", letter) : fmt::format("\\u{:04X}", letter));
      } else {
        text[at] = static_cast<char>(std::toupper(letter));
      }
      continue;
    }
    switch (rng() % 5) {
      case 0:
        text[at] = static_cast<char>(rng() % 256);
        break;
      case 1:
        text.erase(at, 1);
        break;
      case 2: {
        const size_t quote = text.find('"', at);
        if (quote != std::string::npos) text.erase(quote, 1);
        break;
      }
      case 3:
        text.insert(at, 1, "\"{}[],:\\ \n"[rng() % 10]);
        break;
      default:
        text.insert(at, 1, static_cast<char>(rng() % 256));
    }
  }
  Mutated out;
  for (const auto& part : parts) out.text += part.first;
  if (rng() % 4 == 0) out.text.resize(rng() % (out.text.size() + 1));
  for (const std::string& marker : markers) {
    if (StillSecret(out.text, marker)) out.secret_markers.push_back(marker);
  }
  return out;
}

void ExpectAbsent(const Batch& batch, const std::vector<std::string>& markers,
                  const std::string& input) {
  for (const std::string& marker : markers) {
    for (const RawRecord& r : batch.records) {
      ASSERT_EQ(r.json.find(marker), std::string::npos) << "record of " << input;
    }
    for (const DeadLetter& d : batch.dead) {
      ASSERT_EQ(d.raw.find(marker), std::string::npos) << "dead letter of " << input << "\n"
                                                       << d.raw;
      ASSERT_EQ(d.reason.find(marker), std::string::npos) << input;
    }
  }
}

TEST(IngestSecrets, PropertyNoSecretSurvivesAnyMutation) {
  simdjson::dom::parser parser;
  const std::string doc = Fixture("v1.4-111-users-all-nats.json");
  std::vector<std::string> users;
  for (simdjson::dom::element u : parser.parse(doc)["results"].get_array()) {
    users.push_back(simdjson::minify(u));
  }
  std::mt19937_64 rng(17);
  TempDir dir;
  uint64_t secret_markers = 0;
  for (int round = 0; round < 300; ++round) {
    SCOPED_TRACE(round);
    // A few users, some mutated; all checked in every entry point.
    std::vector<Mutated> batch_users;
    std::vector<std::string> secrets;
    for (int k = 0; k < 4; ++k) {
      Mutated m = MutatedUser(users[rng() % users.size()], rng, round % 2 == 1);
      secrets.insert(secrets.end(), m.secret_markers.begin(), m.secret_markers.end());
      batch_users.push_back(std::move(m));
    }
    secret_markers += secrets.size();
    Ingestor ingestor(8192);
    Batch out;
    std::string lines, response = "{\"results\":[", pretty = "{\n  \"results\": [\n";
    for (size_t k = 0; k < batch_users.size(); ++k) {
      const std::string& text = batch_users[k].text;
      ingestor.AddUser(text, k, out);
      lines += text + "\n";
      response += (k ? "," : "") + text;
      pretty += (k ? ",\n    " : "    ") + text;
    }
    response += "]}";
    pretty += "\n  ]\n}\n";
    ingestor.SplitPage(response, 0, out);
    ingestor.SplitPage(pretty, 0, out);
    for (const std::string& text : {lines, response + "\n" + lines, pretty}) {
      std::ofstream(dir.File("in"), std::ios::binary | std::ios::trunc) << text;
      FileSource source(dir.File("in"), 0, 8192);
      ASSERT_TRUE(source.Open().ok());
      std::stop_source stop;
      for (int i = 0; i < 1000; ++i) {
        auto state = source.Next(out, 1000, stop.get_token());
        ASSERT_TRUE(state.ok());
        if (state.value() == SourceState::kFinished) break;
      }
    }
    ExpectAbsent(out, secrets, lines);
  }
  EXPECT_GT(secret_markers, 1000u);  // The property was exercised.
}

}  // namespace
}  // namespace spate
