// Issue 17, items 2 and 3: messages about a PostgreSQL connection string are built from its
// structure, never from its text; foreign text is redacted by structure. The properties:
// (a) a message does not depend on the password at all (the same for any password in the
// same place), so it cannot tell anything about it; (b) text with no secret in it comes out
// of the redaction byte for byte.
#include <cctype>
#include <chrono>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "sinks/pg.h"

namespace spate {
namespace {

bool Contains(const std::string& text, std::string_view what) {
  return text.find(what) != std::string::npos;
}

// Passwords as people and generators make them, and the nasty ones: one letter, pieces of
// the words libpq's messages are made of, characters that need quoting or escaping.
class Passwords {
 public:
  explicit Passwords(uint32_t seed) : rng_(seed) {}
  std::string Next() {
    static const std::vector<std::string> words = {
        "o",          "n",      "e",      "c",   "t",    "r",        "a",    "s",
        "on",         "to",     "re",     "con", "ion",  "host",     "port", "refused",
        "connection", "server", "failed", "127", "5432", "password", "at"};
    if (rng_() % 3 == 0) return words[rng_() % words.size()];
    static const std::string alphabet =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 '\\\"@:/%?&=#!$";
    std::string p;
    const size_t length = 1 + rng_() % 16;
    for (size_t i = 0; i < length; ++i) p += alphabet[rng_() % alphabet.size()];
    return p;
  }
  std::mt19937& rng() { return rng_; }

 private:
  std::mt19937 rng_;
};

std::string Quoted(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string PercentEncoded(const std::string& value) {
  std::string out;
  for (unsigned char c : value) {
    if (std::isalnum(c)) {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

TEST(PgDsn, IssueExamplesNeverShowTheSecret) {
  Status kv = CheckDsn("password=my TOPSECRET");
  ASSERT_FALSE(kv.ok());
  EXPECT_FALSE(Contains(kv.message(), "TOPSECRET")) << kv.message();
  EXPECT_TRUE(Contains(kv.message(), "after password=")) << kv.message();
  for (const char* uri :
       {"postgresql://spate:TOPSECRET@db:5432/spate?sslmode=bogus&x", "postgres://u:TOP%SECRET@h/d",
        "postgresql://u:TOPSECRET@h:5x/d", "postgresql://u:TOP@SECRET@h/d"}) {
    Status s = CheckDsn(uri);
    ASSERT_FALSE(s.ok()) << uri;
    EXPECT_FALSE(Contains(s.message(), "SECRET")) << s.message();
    EXPECT_FALSE(Contains(s.message(), "spate:")) << s.message();
  }
}

TEST(PgDsn, ValidStringsPass) {
  for (const char* dsn :
       {"", "   ", "host=127.0.0.1 port=5432 dbname=spate user=spate password='a b\\'c'",
        "dbname = spate  user=x", "postgresql://", "postgresql://u:p%40ss@127.0.0.1:5432/db",
        "postgres://[::1]:5432,h2:5433/db?sslmode=disable&connect_timeout=3",
        "postgresql:///db?host=/var/run/postgresql", "postgresql://h/db?ssl=true"}) {
    Status s = CheckDsn(dsn);
    EXPECT_TRUE(s.ok()) << dsn << ": " << s.message();
  }
}

// (a) for CheckDsn: one malformed shape, thousands of passwords, one message.
TEST(PgDsn, MalformedStringMessagesDoNotDependOnThePassword) {
  Passwords passwords(1702);
  // Each shape breaks the string somewhere; {} is where the password goes.
  const std::vector<std::function<std::string(const std::string&)>> shapes = {
      [](const std::string& p) { return "host=h password=" + Quoted(p) + " oops"; },
      [](const std::string& p) { return "host=h password=" + Quoted(p) + " 'x"; },
      [](const std::string& p) { return "host=h password=" + Quoted(p) + " bogus=1"; },
      [](const std::string& p) { return "password='" + PercentEncoded(p); },  // No closing '.
      [](const std::string& p) { return "postgresql://u:" + PercentEncoded(p) + "%zz@h/db"; },
      [](const std::string& p) { return "postgresql://u:" + PercentEncoded(p) + "@h:x/db"; },
      [](const std::string& p) { return "postgresql://u:" + PercentEncoded(p) + "@h/db?x"; },
      [](const std::string& p) { return "postgresql://u:" + PercentEncoded(p) + "@[::1/db"; },
      [](const std::string& p) { return "postgresql://u:" + PercentEncoded(p) + "@h@i/db"; },
  };
  int checked = 0;
  for (const auto& shape : shapes) {
    const Status reference = CheckDsn(shape("reference"));
    ASSERT_FALSE(reference.ok()) << shape("reference");
    EXPECT_FALSE(Contains(reference.message(), "reference")) << reference.message();
    for (int i = 0; i < 1000; ++i) {
      const std::string password = passwords.Next();
      const Status s = CheckDsn(shape(password));
      ASSERT_FALSE(s.ok()) << shape(password);
      ASSERT_EQ(s.message(), reference.message()) << shape(password);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 9000);
}

// (a) for valid strings: the password is checked to parse, and DescribeDsn never shows it.
TEST(PgDsn, ValidStringsWithAnyPasswordParseAndAreDescribedWithoutIt) {
  Passwords passwords(99);
  const std::string reference_kv = DescribeDsn("host=h port=1 dbname=d user=u password=x");
  for (int i = 0; i < 2000; ++i) {
    const std::string p = passwords.Next();
    const std::string kv = "host=h port=1 dbname=d user=u password=" + Quoted(p);
    const std::string uri = "postgresql://u:" + PercentEncoded(p) + "@h:1/d";
    ASSERT_TRUE(CheckDsn(kv).ok()) << kv;
    ASSERT_TRUE(CheckDsn(uri).ok()) << uri;
    EXPECT_EQ(DsnPassword(kv), p);
    EXPECT_EQ(DsnPassword(uri), p);
    EXPECT_EQ(DescribeDsn(kv), reference_kv);
    EXPECT_EQ(DescribeDsn(uri), reference_kv);
  }
}

// Review of items 2 and 3: a URI password typed without %-escapes. libpq ends the user
// information at the first '/', so `u:1234/TOPSECRET@h/db` was host u, port 1234 and a
// database "TOPSECRET@h/db", which every message then showed as the database name.
TEST(PgDsn, UnencodedSlashInAUriPasswordIsRefusedNotShownAsTheDatabase) {
  for (const char* uri :
       {"postgresql://u:1234/TOPSECRET@127.0.0.1:1/db", "postgresql://u:/TOPSECRET@127.0.0.1:1/db",
        "postgres://u:9/TOPSECRET@h"}) {
    Status s = CheckDsn(uri);
    ASSERT_FALSE(s.ok()) << uri << " is described as " << DescribeDsn(uri);
    EXPECT_FALSE(Contains(s.message(), "TOPSECRET")) << s.message();
    EXPECT_TRUE(Contains(s.message(), "%2F")) << s.message();
  }
  EXPECT_TRUE(CheckDsn("postgresql://u:1234%2FTOPSECRET@127.0.0.1:1/db").ok());
  EXPECT_TRUE(CheckDsn("postgresql://h/db?user=me@corp").ok());  // '@' in a query value.
}

// The class: a URI with the password as people type it, unencoded. Either the string is
// refused (with a message that does not show the password) or it is read with the password
// in its place: described as the same user, host, port and database whatever the password.
TEST(PgDsn, UnencodedUriPasswordsAreRefusedOrReadAsPasswords) {
  Passwords passwords(2026);
  const std::string reference = DescribeDsn("postgresql://u:x@h:1/d");
  int refused = 0;
  int read = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string p = passwords.Next();
    if (i % 4 == 0) p = std::to_string(passwords.rng()() % 100000) + "/" + p;
    const std::string uri = "postgresql://u:" + p + "@h:1/d";
    const Status s = CheckDsn(uri);
    if (s.ok()) {
      ASSERT_EQ(DescribeDsn(uri), reference) << uri;
      ++read;
    } else {
      if (p.size() >= 6) {
        ASSERT_FALSE(Contains(s.message(), p)) << uri << ": " << s.message();
      }
      ++refused;
    }
  }
  EXPECT_GT(refused, 500);
  EXPECT_GT(read, 500);
}

// Values libpq checks only when it connects, quoting them: bad configuration (a Status from
// CheckDsn, exit 2), named by keyword.
TEST(PgDsn, BadValuesAreRefusedByKeywordWithoutTheValue) {
  for (const char* dsn : {"host=127.0.0.1 port=TOPSECRET", "host=h port=5432,TOPSECRET",
                          "postgresql://u:pw@h:1/d?port=TOPSECRET",
                          "host=h connect_timeout=TOPSECRET", "host=h keepalives_idle=TOPSECRET",
                          "host=h sslmode=TOPSECRET", "postgresql://h/d?sslmode=TOPSECRET"}) {
    Status s = CheckDsn(dsn);
    ASSERT_FALSE(s.ok()) << dsn;
    EXPECT_FALSE(Contains(s.message(), "TOPSECRET")) << s.message();
  }
  for (const char* dsn :
       {"host=h port=5432", "host=a,b port=5432,", "host=h port=' 5432 '",
        "host=h connect_timeout=10", "host=h connect_timeout=' 10 '", "host=h sslmode=verify-full",
        "postgresql://h:5432,h2/d?ssl=true&keepalives=0"}) {
    Status s = CheckDsn(dsn);
    EXPECT_TRUE(s.ok()) << dsn << ": " << s.message();
  }
}

// (b) and the old bug: with password=o, "connection refused" stays "connection refused".
TEST(PgDsn, RedactionLeavesTextWithoutSecretsUnchanged) {
  const std::string refused =
      "connection to server at \"127.0.0.1\", port 1 failed: Connection refused Is the server "
      "running on that host and accepting TCP/IP connections?";
  EXPECT_EQ(RedactSecrets(refused), refused);
  EXPECT_EQ(RedactSecrets("password authentication failed for user \"spate\""),
            "password authentication failed for user \"spate\"");
  EXPECT_EQ(RedactSecrets("see https://www.postgresql.org/docs/ and http://h:80/x"),
            "see https://www.postgresql.org/docs/ and http://h:80/x");

  std::mt19937 rng(7);
  int checked = 0;
  const std::vector<std::string> words = {"connection", "refused",   "to",
                                          "server",     "at",        "\"127.0.0.1\",",
                                          "port",       "5432",      "failed:",
                                          "FATAL:",     "password",  "is",
                                          "o",          "=",         "'",
                                          "user",       "\"spate\"", "https://example.org/",
                                          "a:b",        "@",         "authentication",
                                          "://",        "x@y",       "%"};
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    const int n = 1 + static_cast<int>(rng() % 20);
    for (int w = 0; w < n; ++w) {
      std::string word = words[rng() % words.size()];
      // Never a password keyword followed by '=', never scheme://user:pass@.
      if (word == "=" && text.ends_with("password ")) word = "is";
      text += word + ' ';
    }
    const bool has_secret_shape =
        Contains(text, "password =") || Contains(text, "://a:b @") ||
        (Contains(text, "://") && Contains(text.substr(text.find("://")), "@"));
    if (has_secret_shape) continue;
    ASSERT_EQ(RedactSecrets(text), text) << text;
    ++checked;
  }
  EXPECT_GT(checked, 5000);
}

// (a) for foreign text: a message that embeds the string (as a server or proxy might) comes
// out the same whatever the password was.
TEST(PgDsn, RedactionRemovesEveryPasswordByStructure) {
  Passwords passwords(3);
  for (int i = 0; i < 5000; ++i) {
    const std::string p = passwords.Next();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"FATAL: bad conninfo host=h password=" + Quoted(p) + " port=1: refused",
         "FATAL: bad conninfo host=h password=*** port=1: refused"},
        {"x PASSWORD = " + Quoted(p) + " y", "x PASSWORD = *** y"},
        {"sslpassword=" + Quoted(p), "sslpassword=***"},
        {"cannot reach postgresql://spate:" + PercentEncoded(p) + "@db:5432/x today",
         "cannot reach postgresql://spate:***@db:5432/x today"},
    };
    for (const auto& [text, expected] : cases) {
      ASSERT_EQ(RedactSecrets(text), expected) << p;
    }
    if (p.find_first_of(" \t\n'\"\\") == std::string::npos) {  // Unquoted: up to a space.
      ASSERT_EQ(RedactSecrets("a password=" + p + " b"), "a password=*** b") << p;
    }
  }
}

// The connection error itself, with a real (refused) connection: one message for every
// password, and it reads as libpq wrote it.
TEST(PgDsn, ConnectionErrorsDoNotDependOnThePassword) {
  Passwords passwords(5);
  std::string reference;
  for (int i = 0; i < 40; ++i) {
    const std::string p = i == 0 ? "o" : passwords.Next();
    auto conn = PgConnect("host=127.0.0.1 port=1 dbname=d user=u password=" + Quoted(p),
                          std::chrono::seconds(2), false);
    ASSERT_FALSE(conn.ok());
    const std::string message = conn.status().message();
    if (i == 0) {
      reference = message;
      EXPECT_TRUE(Contains(message, "Connection refused")) << message;
      EXPECT_FALSE(Contains(message, "***")) << message;
    }
    ASSERT_EQ(message, reference) << p;
  }
  // A malformed string never reaches libpq (whose parser quotes it).
  auto bad = PgConnect("password=my TOPSECRET", std::chrono::seconds(2), false);
  ASSERT_FALSE(bad.ok());
  EXPECT_FALSE(Contains(bad.status().message(), "TOPSECRET")) << bad.status().message();
}

}  // namespace
}  // namespace spate
