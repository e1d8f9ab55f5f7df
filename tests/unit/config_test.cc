// The property table: defaults, validation, YAML, unknown keys.
#include "config/config.h"

#include <gtest/gtest.h>

namespace spate {
namespace {

TEST(Config, DefaultsComeFromTheTable) {
  Config config;
  EXPECT_EQ(config.GetString("source"), "generator");
  EXPECT_EQ(config.GetInt("count"), 100000);
  EXPECT_EQ(config.GetString("data_dir"), "./spate-data");
  EXPECT_EQ(config.GetList("sink"), std::vector<std::string>{"sqlite"});
  EXPECT_TRUE(config.GetList("nat").empty());
  EXPECT_EQ(config.GetMillis("timeout"), 30000);
}

TEST(Config, SetValidates) {
  Config config;
  EXPECT_TRUE(config.Set("count", "5").ok());
  EXPECT_EQ(config.GetInt("count"), 5);
  EXPECT_FALSE(config.Set("count", "-1").ok());
  EXPECT_FALSE(config.Set("count", "5x").ok());
  EXPECT_FALSE(config.Set("page_size", "5001").ok());
  EXPECT_FALSE(config.Set("source", "kafka").ok());
  EXPECT_FALSE(config.Set("timeout", "5 parsecs").ok());
  EXPECT_TRUE(config.Set("data-dir", "/tmp/x").ok());  // Dashes and underscores both work.
  EXPECT_EQ(config.GetString("data_dir"), "/tmp/x");
  EXPECT_FALSE(config.Set("no_such_option", "1").ok());
}

TEST(Config, ListsSplitOnCommasAndValidateEachItem) {
  Config config;
  ASSERT_TRUE(config.SetList("sink", {"sqlite,discard"}).ok());
  EXPECT_EQ(config.GetList("sink"), (std::vector<std::string>{"sqlite", "discard"}));
  Status bad = config.SetList("sink", {"sqlite", "mongo"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("'mongo' is not one of"), std::string::npos);
}

TEST(Config, YamlSetsOptions) {
  Config config;
  ASSERT_TRUE(
      config.LoadYamlString("count: 7\nnat: [gb, fr]\nretry-backoff: 2s\nsink: discard\n", "test")
          .ok());
  EXPECT_EQ(config.GetInt("count"), 7);
  EXPECT_EQ(config.GetList("nat"), (std::vector<std::string>{"gb", "fr"}));
  EXPECT_EQ(config.GetMillis("retry_backoff"), 2000);
}

TEST(Config, YamlKafkaMapBecomesPassThroughOptionsWithCommasIntact) {
  Config config;
  Status status = config.LoadYamlString(
      "brokers: a:9092,b:9092\nkafka:\n  security.protocol: SASL_SSL\n"
      "  ssl.cipher.suites: AES128,AES256\nexit-at-end: true\n",
      "test");
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(config.GetString("brokers"), "a:9092,b:9092");
  EXPECT_EQ(
      config.GetList("kafka_opt"),
      (std::vector<std::string>{"security.protocol=SASL_SSL", "ssl.cipher.suites=AES128,AES256"}));
  EXPECT_TRUE(config.GetBool("exit_at_end"));
  // The flag form keeps commas too: one --kafka-opt is one property.
  ASSERT_TRUE(config.SetList("kafka_opt", {"ssl.cipher.suites=A,B"}).ok());
  EXPECT_EQ(config.GetList("kafka_opt"), (std::vector<std::string>{"ssl.cipher.suites=A,B"}));
  // A map for a property that is not a list is still an error.
  EXPECT_FALSE(config.LoadYamlString("topic: {a: 1}\n", "t").ok());
}

TEST(Config, YamlUnknownKeyIsNamedWithASuggestion) {
  Config config;
  Status status = config.LoadYamlString("data_dri: /x\n", "my.yaml");
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("unknown key 'data_dri'"), std::string::npos);
  EXPECT_NE(status.message().find("did you mean 'data_dir'"), std::string::npos);
  EXPECT_NE(status.message().find("my.yaml"), std::string::npos);
}

TEST(Config, YamlBadShapesAreErrors) {
  Config config;
  EXPECT_FALSE(config.LoadYamlString("- a\n- b\n", "t").ok());
  EXPECT_FALSE(config.LoadYamlString("count: [1, 2]\n", "t").ok());
  EXPECT_FALSE(config.LoadYamlString("count: {a: 1}\n", "t").ok());
  EXPECT_FALSE(config.LoadYamlString("count: [unclosed\n", "t").ok());
  EXPECT_TRUE(config.LoadYamlString("", "t").ok());
  EXPECT_FALSE(config.LoadYamlFile("/nonexistent/spate.yaml").ok());
}

TEST(Config, Durations) {
  EXPECT_FALSE(ParseDurationMillis("250").ok());  // No unit: 250 ms or 250 s? (issue 17, 13)
  EXPECT_EQ(ParseDurationMillis("0").value(), 0);
  EXPECT_EQ(ParseDurationMillis("250ms").value(), 250);
  EXPECT_EQ(ParseDurationMillis("3s").value(), 3000);
  EXPECT_EQ(ParseDurationMillis("2m").value(), 120000);
  EXPECT_FALSE(ParseDurationMillis("s").ok());
  EXPECT_FALSE(ParseDurationMillis("3d").ok());
}

TEST(Config, EveryPropertyHasHelpAndAValidDefault) {
  for (const PropertyDef& def : AllProperties()) {
    EXPECT_FALSE(def.help.empty()) << def.name;
    Config config;
    if (def.type == PropType::kList) {
      EXPECT_TRUE(config.SetList(def.name, {std::string(def.default_value)}).ok()) << def.name;
    } else {
      EXPECT_TRUE(config.Set(def.name, def.default_value).ok()) << def.name;
    }
  }
}

}  // namespace
}  // namespace spate
