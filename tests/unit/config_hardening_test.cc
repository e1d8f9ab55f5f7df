// Issue 17, items 10 and 13: the config loader never throws, whatever it is given, and
// values that would be misread (a duration without a unit, a key given twice, an option that
// nothing reads) are rejected with a message that says what to write.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <random>
#include <set>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "config/config.h"
#include "test_util.h"

namespace spate {
namespace {

using spate::testing::TempDir;

bool Contains(const std::string& text, std::string_view what) {
  return text.find(what) != std::string::npos;
}

TEST(ConfigHardening, DurationWithoutAUnitIsRejectedWithTheFix) {
  Config config;
  Status flag = config.Set("timeout", "5");
  ASSERT_FALSE(flag.ok());
  EXPECT_TRUE(Contains(flag.message(), "write 5s")) << flag.message();
  EXPECT_TRUE(Contains(flag.message(), "5ms")) << flag.message();

  Status yaml = config.LoadYamlString("timeout: 30\n", "t.yaml");
  ASSERT_FALSE(yaml.ok());
  EXPECT_TRUE(Contains(yaml.message(), "write 30s")) << yaml.message();
  EXPECT_EQ(config.GetMillis("timeout"), 30000);  // Unchanged: the default.

  // With a unit it is what it says; 0 needs no unit.
  ASSERT_TRUE(config.Set("timeout", "5s").ok());
  EXPECT_EQ(config.GetMillis("timeout"), 5000);
  ASSERT_TRUE(config.Set("retry_backoff", "0").ok());
  EXPECT_EQ(config.GetMillis("retry_backoff"), 0);
}

TEST(ConfigHardening, EveryDurationPropertyRejectsBareNumbersAndHugeValues) {
  std::mt19937_64 rng(17);
  int checked = 0;
  for (const PropertyDef& def : AllProperties()) {
    if (def.type != PropType::kDuration) continue;
    for (int i = 0; i < 200; ++i) {
      const uint64_t n = 1 + rng() % 1000000;
      Config config;
      EXPECT_FALSE(config.Set(def.name, std::to_string(n)).ok()) << def.name << " " << n;
      EXPECT_FALSE(config.LoadYamlString(fmt::format("{}: {}\n", def.name, n), "t").ok());
      ++checked;
    }
    Config config;
    // More than a 32-bit millisecond count would wrap around in libcurl or librdkafka.
    EXPECT_FALSE(config.Set(def.name, "600h").ok()) << def.name;
    EXPECT_FALSE(config.Set(def.name, "99999999999999999999h").ok()) << def.name;
    EXPECT_TRUE(config.Set(def.name, "500h").ok()) << def.name;
  }
  EXPECT_GT(checked, 1000);
  // A zero timeout means "never" to libcurl and librdkafka: a timeout is at least 1 ms.
  Config config;
  EXPECT_FALSE(config.Set("timeout", "0").ok());
  EXPECT_FALSE(config.Set("delivery_timeout", "0ms").ok());
}

TEST(ConfigHardening, DuplicateKeysAndBothSpellingsAreRejected) {
  Config config;
  Status both = config.LoadYamlString("data_dir: /a\ndata-dir: /b\n", "c.yaml");
  ASSERT_FALSE(both.ok());
  EXPECT_TRUE(Contains(both.message(), "'data_dir' and 'data-dir' both set data_dir: keep one"))
      << both.message();
  Status twice = config.LoadYamlString("count: 5\ncount: 6\n", "c.yaml");
  ASSERT_FALSE(twice.ok());
  EXPECT_TRUE(Contains(twice.message(), "key 'count' is given twice")) << twice.message();
  // The kafka: alias and kafka_opt are one property; and keys inside the map are unique too.
  EXPECT_FALSE(config.LoadYamlString("kafka: {a: 1}\nkafka_opt: [b=2]\n", "c").ok());
  EXPECT_FALSE(config.LoadYamlString("kafka:\n  a: 1\n  a: 2\n", "c").ok());
}

TEST(ConfigHardening, KeysOfTheWrongShapeAreErrorsNotExceptions) {
  Config config;
  for (const char* yaml :
       {"? [a]\n: 1\n", "{a: 1}: 2\n", "kafka:\n  ? [a]\n  : 1\n", "kafka:\n  a: [1]\n",
        "kafka: {'': 1}\n", "kafka: {'a=b': 1}\n", "~: 1\n", "count: !!binary aGVsbG8=\n",
        "sink: [[a]]\n", "<<: {count: 1}\n", "[", "{", "\"", "count: \"\\0\"\n", "data_dir: ''\n",
        "data_dir: file:x?mode=memory\n"}) {
    Status s = config.LoadYamlString(yaml, "t");
    EXPECT_FALSE(s.ok()) << yaml;
    EXPECT_FALSE(s.message().empty()) << yaml;
  }
}

TEST(ConfigHardening, DataDirIsAPathNeverASqliteUri) {
  Config config;
  Status uri = config.Set("data_dir", "file:x?mode=memory");
  ASSERT_FALSE(uri.ok());
  EXPECT_TRUE(Contains(uri.message(), "write ./file:x?mode=memory")) << uri.message();
  EXPECT_TRUE(config.Set("data_dir", "./file:x?mode=memory").ok());
  EXPECT_FALSE(config.Set("data_dir", "").ok());
  EXPECT_FALSE(config.Set("data_dir", std::string("a\0b", 3)).ok());
}

TEST(ConfigHardening, FilesThatAreNotRegularAreRefusedWithoutBlocking) {
  TempDir dir;
  const std::string fifo = dir.File("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const auto started = std::chrono::steady_clock::now();
  Config config;
  Status s = config.LoadYamlFile(fifo);  // Blocks forever with a plain open().
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "FIFO")) << s.message();

  Status d = config.LoadYamlFile(dir.path());
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(Contains(d.message(), "is a directory")) << d.message();

  Status dev = config.LoadYamlFile("/dev/null");
  ASSERT_FALSE(dev.ok());
  EXPECT_TRUE(Contains(dev.message(), "character device")) << dev.message();

  const std::string big = dir.File("big.yaml");
  {
    std::ofstream out(big);
    out << "seed: " << std::string(kMaxConfigFileBytes, 'x') << "\n";
  }
  Status b = config.LoadYamlFile(big);
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(Contains(b.message(), "bytes")) << b.message();

  const std::string binary = dir.File("bin.yaml");
  {
    std::ofstream out(binary, std::ios::binary);
    std::mt19937 rng(3);
    for (int i = 0; i < 4096; ++i) out.put(static_cast<char>(rng()));
  }
  EXPECT_FALSE(config.LoadYamlFile(binary).ok());

  // Unreadable whoever runs the test (root reads a file of mode 000): a regular file whose
  // read fails (EIO), and a path through a file.
  for (const std::string& path : {std::string("/proc/self/mem"), binary + "/x"}) {
    Status u = config.LoadYamlFile(path);
    ASSERT_FALSE(u.ok()) << path;
    EXPECT_TRUE(Contains(u.message(), "cannot read config file")) << u.message();
  }

  const std::string good = dir.File("good.yaml");
  std::ofstream(good) << "count: 5\ntimeout: 2s\n";
  ASSERT_TRUE(config.LoadYamlFile(good).ok());
  EXPECT_EQ(config.GetInt("count"), 5);
  EXPECT_EQ(config.Origin("count"), "count in config file '" + good + "'");
}

TEST(ConfigHardening, InputOrUrlAloneImpliesTheirSource) {
  Config file;
  ASSERT_TRUE(file.Set("input", "users.json").ok());
  ASSERT_TRUE(file.ImplySource().ok());
  EXPECT_EQ(file.GetString("source"), "file");

  Config http;
  ASSERT_TRUE(http.LoadYamlString("url: http://127.0.0.1:1/api/\n", "t").ok());
  ASSERT_TRUE(http.ImplySource().ok());
  EXPECT_EQ(http.GetString("source"), "randomuser");

  Config both;
  ASSERT_TRUE(both.Set("input", "users.json").ok());
  ASSERT_TRUE(both.Set("url", "http://127.0.0.1:1/").ok());
  Status s = both.ImplySource();
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "add --source file or --source randomuser")) << s.message();

  Config chosen;  // An explicit source is never overridden.
  ASSERT_TRUE(chosen.Set("source", "generator").ok());
  ASSERT_TRUE(chosen.Set("input", "users.json").ok());
  ASSERT_TRUE(chosen.ImplySource().ok());
  EXPECT_EQ(chosen.GetString("source"), "generator");
}

TEST(ConfigHardening, AnOptionThatNothingReadsIsRejected) {
  const std::set<std::string_view> run = {"source", "sink", "raw_sink", "transport"};
  auto has = [&](std::string_view name) { return run.count(name) > 0; };
  Config config;
  ASSERT_TRUE(config.Set("source", "generator").ok());
  ASSERT_TRUE(config.Set("input", "users.json").ok());
  Status input = config.CheckApplies("input", has);
  ASSERT_FALSE(input.ok());
  EXPECT_TRUE(Contains(input.message(), "--input is read only with --source file"))
      << input.message();
  EXPECT_TRUE(Contains(input.message(), "add --source file")) << input.message();

  EXPECT_FALSE(config.CheckApplies("url", has).ok());
  EXPECT_TRUE(config.CheckApplies("seed", has).ok());
  EXPECT_FALSE(config.CheckApplies("pg_dsn", has).ok());
  EXPECT_FALSE(config.CheckApplies("keyspace", has).ok());
  EXPECT_FALSE(config.CheckApplies("brokers", has).ok());
  ASSERT_TRUE(config.SetList("raw_sink", {"postgres"}).ok());
  EXPECT_TRUE(config.CheckApplies("pg_dsn", has).ok());
  ASSERT_TRUE(config.Set("transport", "kafka").ok());
  EXPECT_TRUE(config.CheckApplies("brokers", has).ok());

  // A command without the deciding setting (produce has no --transport) is not checked.
  auto produce = [](std::string_view name) { return name == "source"; };
  Config plain;
  EXPECT_TRUE(plain.CheckApplies("brokers", produce).ok());
}

TEST(ConfigHardening, QueuesCannotHoldMoreThanMemoryAllows) {
  Config config;
  EXPECT_TRUE(config.CheckLimits().ok());  // The defaults.
  ASSERT_TRUE(config.Set("batch_size", "100000").ok());
  ASSERT_TRUE(config.Set("queue_capacity", "4096").ok());  // Each alone is within range.
  Status s = config.CheckLimits();
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.message(), "lower one of them")) << s.message();
  ASSERT_TRUE(config.Set("queue_capacity", "8").ok());
  EXPECT_TRUE(config.CheckLimits().ok());
}

TEST(ConfigHardening, HelpSaysNatDefaultsToAll) {
  const PropertyDef* nat = FindProperty("nat");
  ASSERT_NE(nat, nullptr);
  EXPECT_TRUE(Contains(HelpText(*nat), "(default: all)")) << HelpText(*nat);
  EXPECT_FALSE(Contains(HelpText(*nat), "none")) << HelpText(*nat);
}

TEST(ConfigHardening, SecretValuesNeverAppearInValidationMessages) {
  // pg_dsn and cassandra_password are secret: whatever is wrong, the value is not echoed.
  Config config;
  for (const char* name : {"pg_dsn", "cassandra_password"}) {
    Status s = config.Set(name, std::string("hunter2\0x", 9));
    ASSERT_FALSE(s.ok());
    EXPECT_FALSE(Contains(s.message(), "hunter2")) << s.message();
  }
}

// The class, over whole config files: a secret (a DSN, a Cassandra password, a Kafka
// sasl.password) in a file that is wrong somewhere (around it, next to it, in its own
// shape) never shows up in the error, whatever the secret is.
TEST(ConfigHardening, SecretsInBrokenConfigFilesNeverAppearInTheError) {
  std::mt19937 rng(1717);
  const std::string alphabet =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !#$%&()*+,-./:;<=>?@[]^_{|}~";
  // {} is where the secret goes (always inside double quotes, escaped for YAML).
  const std::vector<std::string> shapes = {
      "pg_dsn: \"host=h password={}\"\ncount: x\n",
      "pg_dsn: \"host=h password={}\"\npg_dsn: \"host=h\"\n",
      "pg_dsn: \"host=h password={}\"\npg-dsn: \"host=h\"\n",
      "pg_dsn: [\"{}\", b]\n",
      "pg_dsn: {{\"{}\": 1}}\n",
      "pg_dsn: \"postgresql://u:{}@h/d\"\nbogus_key: 1\n",
      "pg_dsn: \"{}\"\ntimeout: 30\n",
      "cassandra_password: \"{}\"\ncassandra_password: x\n",
      "cassandra_password: [\"{}\"]\n",
      "cassandra_password: \"{}\"\n  bad: indentation\n",
      "kafka:\n  sasl.password: \"{}\"\n  sasl.password: y\n",
      "kafka:\n  sasl.password: [\"{}\"]\n",
      "kafka:\n  sasl.password: \"{}\"\ncount: -1\n",
      "pg_dsn: \"{}\"\n- list item\n",
      "pg_dsn: \"{}\"\ncount: 99999999999999999999999\n",
  };
  int checked = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string secret = "Zq";  // Letters no message has together, then anything.
    const size_t length = 6 + rng() % 20;
    for (size_t k = 0; k < length; ++k) secret += alphabet[rng() % alphabet.size()];
    const std::string& shape = shapes[i % shapes.size()];
    const std::string yaml = fmt::format(fmt::runtime(shape), secret);
    Config config;
    const Status s = config.LoadYamlString(yaml, "c.yaml");
    ASSERT_FALSE(s.ok()) << yaml;
    ASSERT_FALSE(Contains(s.message(), "Zq")) << yaml << " -> " << s.message();
    ++checked;
  }
  EXPECT_EQ(checked, 3000);
}

// Random YAML-ish documents built from config fragments: every outcome is Ok or an error
// message, never an exception, and an Ok load leaves every value valid for its getter.
TEST(ConfigHardening, RandomDocumentsNeverThrow) {
  const std::vector<std::string> fragments = {
      "count",  "timeout", "data_dir", "data-dir", "kafka", "sink", "nat", ":",           ": ",
      "\n",     "  ",      "- ",       "[",        "]",     "{",    "}",   ",",           "?",
      "!!str ", "&a ",     "*a",       "'",        "\"",    "#",    "5",   "5s",          "-1",
      "1e9",    "true",    "~",        "\\",       "\t",    "|\n",  ">\n", "%YAML 1.2\n", "---\n",
      "...\n",  "\xff",    "\xc3\xa9", "<<: ",     "file:x"};
  std::mt19937 rng(1717);
  int ok = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string doc;
    const int parts = 1 + static_cast<int>(rng() % 24);
    for (int p = 0; p < parts; ++p) doc += fragments[rng() % fragments.size()];
    Config config;
    Status s;
    EXPECT_NO_THROW(s = config.LoadYamlString(doc, "random")) << doc;
    if (s.ok()) {
      ++ok;
      for (const PropertyDef& def : AllProperties()) {
        if (def.type == PropType::kDuration) {
          EXPECT_GE(config.GetMillis(def.name), 0);
        }
      }
    } else {
      EXPECT_FALSE(s.message().empty());
    }
  }
  EXPECT_GT(ok, 0);
}

}  // namespace
}  // namespace spate
