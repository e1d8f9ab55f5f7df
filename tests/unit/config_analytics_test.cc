// The analytics properties (issue 19): where / filter:, rule / rules:, aggregate /
// aggregations:, and how a YAML list of mappings becomes one JSON object per mapping.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.h"

namespace spate {
namespace {

std::vector<std::string> Items(const std::string& yaml, std::string_view property) {
  Config config;
  const Status status = config.LoadYamlString(yaml, "config file 'test.yaml'");
  EXPECT_TRUE(status.ok()) << status.message();
  return config.GetList(property);
}

std::string Error(const std::string& yaml) {
  Config config;
  const Status status = config.LoadYamlString(yaml, "config file 'test.yaml'");
  EXPECT_FALSE(status.ok()) << "loaded: " << yaml;
  return status.message();
}

TEST(ConfigAnalytics, TheIssuesAggregationLoadsAsOneJsonObject) {
  // Issue 19's config, exactly as written there.
  const std::string yaml =
      "aggregations:\n"
      "  - name: users_per_minute_by_country\n"
      "    window: 1m\n"
      "    group_by: [country]\n";
  EXPECT_EQ(
      Items(yaml, "aggregate"),
      (std::vector<std::string>{
          R"j({"name":"users_per_minute_by_country","window":"1m","group_by":["country"]})j"}));
}

TEST(ConfigAnalytics, EveryMappingIsOneItemInOrderAndScalarsAreStrings) {
  const std::string yaml =
      "aggregate:\n"
      "  - name: a\n"
      "    window: 30s\n"
      "    lateness: 10m\n"
      "    agg:\n"
      "      - avg(age)\n"
      "      - max(age)\n"
      "  - b:1m:country,gender\n"
      "  - {name: c, window: 1h, group_by: []}\n";
  EXPECT_EQ(Items(yaml, "aggregate"),
            (std::vector<std::string>{
                R"j({"name":"a","window":"30s","lateness":"10m","agg":["avg(age)","max(age)"]})j",
                "b:1m:country,gender",  // Flag shorthand, commas kept.
                R"j({"name":"c","window":"1h","group_by":[]})j"}));
}

TEST(ConfigAnalytics, RulesKeepQuotesAndBackslashesAsJsonEscapes) {
  const std::string yaml =
      "rules:\n"
      "  - name: valid_email\n"
      "    check: \"email matches '^[^@ ]+@[^@ ]+$' and name != \\\"x\\\\y\\\"\"\n"
      "    action: count\n";
  EXPECT_EQ(
      Items(yaml, "rule"),
      (std::vector<std::string>{
          R"j({"name":"valid_email","check":"email matches '^[^@ ]+@[^@ ]+$' and name != \"x\\y\"","action":"count"})j"}));
}

TEST(ConfigAnalytics, WhereAndItsFilterAlias) {
  EXPECT_EQ(Items("where: gender = 'female' and age >= 30\n", "where"),
            std::vector<std::string>{"gender = 'female' and age >= 30"});
  Config config;
  ASSERT_TRUE(config.LoadYamlString("filter: \"country in ('Germany', 'France')\"\n", "t").ok());
  EXPECT_EQ(config.GetString("where"), "country in ('Germany', 'France')");
  EXPECT_EQ(config.Origin("where"), "filter in t");
  EXPECT_NE(Error("where: a\nfilter: b\n").find("'where' and 'filter' both set where"),
            std::string::npos);
}

TEST(ConfigAnalytics, FlagsKeepCommasInOneItem) {
  Config config;
  ASSERT_TRUE(config.Set("rule", "g:reject:gender in ('female', 'male')").ok());
  ASSERT_TRUE(config.Set("aggregate", "by_country:1m:country,gender").ok());
  EXPECT_EQ(config.GetList("rule"),
            std::vector<std::string>{"g:reject:gender in ('female', 'male')"});
  EXPECT_EQ(config.GetList("aggregate"), std::vector<std::string>{"by_country:1m:country,gender"});
  EXPECT_EQ(config.GetString("where"), "");  // No filter by default.
}

TEST(ConfigAnalytics, NestingDeeperThanAListOfValuesNamesTheKeyAndLine) {
  const std::string message = Error(
      "aggregations:\n"
      "  - name: a\n"
      "    window: 1m\n"
      "    group_by:\n"
      "      - [country, gender]\n");
  EXPECT_NE(message.find("config file 'test.yaml': line 5: aggregations: 'group_by' is nested too "
                         "deep"),
            std::string::npos)
      << message;

  const std::string mapping = Error(
      "rules:\n"
      "  - name: r\n"
      "    check:\n"
      "      text: age > 1\n");
  EXPECT_NE(mapping.find("line 3: rules: 'check' is nested too deep"), std::string::npos)
      << mapping;
}

TEST(ConfigAnalytics, OtherMistakesInAMappingAreErrors) {
  EXPECT_NE(Error("aggregations:\n  - name: a\n    name: b\n")
                .find("line 3: aggregations: 'name' "
                      "is given twice"),
            std::string::npos);
  EXPECT_NE(Error("aggregations:\n  - name:\n    window: 1m\n").find("'name' has no value"),
            std::string::npos);
  EXPECT_NE(Error("rules:\n  - name: \"a\\0b\"\n").find("NUL"), std::string::npos);
  // One mapping where a list is expected: not guessed at.
  EXPECT_NE(Error("aggregations:\n  name: a\n  window: 1m\n").find("expected a list of mappings"),
            std::string::npos);
  // Other list properties still take only plain items.
  EXPECT_NE(Error("sink:\n  - name: sqlite\n").find("list items must be plain values"),
            std::string::npos);
  EXPECT_NE(Error("where:\n  - age > 3\n").find("takes one value, not a list"), std::string::npos);
}

TEST(ConfigAnalytics, HelpShowsAnExampleOfEach) {
  EXPECT_NE(HelpText(*FindProperty("where")).find("--where \"gender = 'female' and age >= 30\""),
            std::string::npos);
  EXPECT_NE(HelpText(*FindProperty("aggregate"))
                .find("--aggregate users_per_minute_by_country:1m:country"),
            std::string::npos);
  EXPECT_NE(HelpText(*FindProperty("rule"))
                .find("--rule valid_email:reject:\"email matches '^[^@ ]+@[^@ ]+$'\""),
            std::string::npos);
}

}  // namespace
}  // namespace spate
