// Aggregation specs (issue 19): the JSON item and the NAME:WINDOW[:COL,...] shorthand, their
// errors (each names the aggregation and says what to write), Definition() read back as the
// same spec, the windows an event time falls in, and the table's columns.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "analytics/aggregate.h"

namespace spate {
namespace {

AggregationSpec Parsed(std::string_view item) {
  auto spec = ParseAggregation(item);
  EXPECT_TRUE(spec.ok()) << item << ": " << spec.status().message();
  return spec.ok() ? std::move(spec).value() : AggregationSpec{};
}

std::string Error(std::string_view item) {
  auto spec = ParseAggregation(item);
  EXPECT_FALSE(spec.ok()) << item << " parsed";
  return spec.ok() ? "" : spec.status().message();
}

bool Same(const AggregationSpec& a, const AggregationSpec& b) {
  if (a.name != b.name || a.size_ms != b.size_ms || a.slide_ms != b.slide_ms ||
      a.lateness_ms != b.lateness_ms || a.group_by != b.group_by ||
      a.values.size() != b.values.size()) {
    return false;
  }
  for (size_t i = 0; i < a.values.size(); ++i) {
    if (a.values[i].function != b.values[i].function || a.values[i].column != b.values[i].column) {
      return false;
    }
  }
  return true;
}

TEST(AggregateParse, IssueExampleAsJson) {
  const AggregationSpec spec = Parsed(
      R"j({"name": "users_per_minute_by_country", "window": "1m", "group_by": ["country"]})j");
  EXPECT_EQ(spec.name, "users_per_minute_by_country");
  EXPECT_EQ(spec.size_ms, 60000);
  EXPECT_EQ(spec.slide_ms, 60000);  // Tumbling by default.
  EXPECT_EQ(spec.lateness_ms, -1);
  EXPECT_EQ(spec.group_by, std::vector<std::string>{"country"});
  EXPECT_TRUE(spec.values.empty());
}

TEST(AggregateParse, EveryKey) {
  const AggregationSpec spec = Parsed(
      R"j({"name": "h", "window": "10m", "slide": "30s", "lateness": "2m",
          "group_by": ["gender", "age_band"], "agg": ["avg(age)", "MAX( latitude )", "count", "sum(longitude)"]})j");
  EXPECT_EQ(spec.size_ms, 600000);
  EXPECT_EQ(spec.slide_ms, 30000);
  EXPECT_EQ(spec.lateness_ms, 120000);
  EXPECT_EQ(spec.group_by, (std::vector<std::string>{"gender", "age_band"}));
  ASSERT_EQ(spec.values.size(), 3u);
  EXPECT_EQ(spec.values[0].function, AggFunction::kAvg);
  EXPECT_EQ(spec.values[0].column, "age");
  EXPECT_EQ(spec.values[1].function, AggFunction::kMax);
  EXPECT_EQ(spec.values[1].column, "latitude");
  EXPECT_EQ(spec.values[2].function, AggFunction::kSum);
  EXPECT_EQ(spec.values[2].column, "longitude");
}

TEST(AggregateParse, SingleStringsAndZeroLateness) {
  const AggregationSpec spec = Parsed(
      R"j({"name": "a", "window": "1h", "lateness": 0, "group_by": "nat", "agg": "min(age)"})j");
  EXPECT_EQ(spec.lateness_ms, 0);
  EXPECT_EQ(spec.group_by, std::vector<std::string>{"nat"});
  ASSERT_EQ(spec.values.size(), 1u);
  EXPECT_EQ(spec.values[0].function, AggFunction::kMin);
}

TEST(AggregateParse, Shorthand) {
  AggregationSpec spec = Parsed("users_per_minute_by_country:1m:country");
  EXPECT_EQ(spec.name, "users_per_minute_by_country");
  EXPECT_EQ(spec.size_ms, 60000);
  EXPECT_EQ(spec.slide_ms, 60000);
  EXPECT_EQ(spec.group_by, std::vector<std::string>{"country"});
  spec = Parsed("per_second:1s");
  EXPECT_EQ(spec.size_ms, 1000);
  EXPECT_TRUE(spec.group_by.empty());
  spec = Parsed("by_two:5m:gender, age");
  EXPECT_EQ(spec.group_by, (std::vector<std::string>{"gender", "age"}));
}

TEST(AggregateParse, ErrorsNameTheAggregationAndSayWhatToWrite) {
  struct Case {
    const char* item;
    const char* expected;  // A part of the message.
  };
  const Case cases[] = {
      {"", "write"},
      {"nowindow", "has no window: write NAME:WINDOW"},
      {"x:1m:contry", "aggregation x: cannot group by 'contry': group by one or more of"},
      {"x:1m:id", "cannot group by 'id'"},
      {"x:1m:latitude", "cannot group by 'latitude'"},
      {"x:1m:country,country", "names 'country' twice"},
      {"x:1m:", "write the columns to group by"},
      {"x:5:country", "aggregation x: window: '5' has no unit"},
      {"x:1x", "aggregation x: window: '1x' has an unknown unit"},
      {"x:500ms", "aggregation x: window 500ms is out of range: write 1s to"},
      {"Bad:1m", "name 'Bad' is not a table name"},
      {"9lives:1m", "is not a table name"},
      {"created_users:1m", "name 'created_users' is taken"},
      {"spate_x:1m", "is taken"},
      {"select:1m", "is taken"},
      {"a_name_that_is_much_too_long_for_a_table_name_really:1m", "at most 48 bytes"},
      {R"j({"name": "j", "window": "1m", "slide": "7s"})j", "aggregation j: slide 7s must divide"},
      {R"j({"name": "j", "window": "1m", "slide": "2m"})j", "slide 2m must divide the window 1m"},
      {R"j({"name": "j", "window": "1h", "slide": "1s"})j", "in 3600 windows of 1h: at most 60"},
      {R"j({"name": "j", "window": "1m", "agg": ["median(age)"]})j",
       "aggregation j: agg item 'median(age)' is not FUNCTION(COLUMN)"},
      {R"j({"name": "j", "window": "1m", "agg": ["avg(country)"]})j",
       "avg(country) is not supported: avg takes age, latitude or longitude"},
      {R"j({"name": "j", "window": "1m", "agg": ["min(age)", "min(age)"]})j", "min(age) twice"},
      {R"j({"name": "j", "window": "1m", "windw": "1m"})j", "unknown key 'windw': the keys are"},
      {R"j({"name": "j"})j", "aggregation j: has no window: add e.g. \"window\": \"1m\""},
      {R"j({"window": "1m"})j", "has no name"},
      {R"j({"name": 3, "window": "1m"})j", "name must be a string"},
      {R"j({"name": "j", "window": "1m", "group_by": [1]})j", "group_by must be a list of strings"},
      {R"j({"name": "j", "window": true})j", "window must be a duration"},
      {R"j({"name": "j", "window": "1m",)", "is not valid JSON"},
      {R"j(["j"])j",
       "is not a JSON object"},
  };
  for (const Case& c : cases) {
    EXPECT_NE(Error(c.item).find(c.expected), std::string::npos)
        << "item: " << c.item << "\nmessage: " << Error(c.item);
  }
}

TEST(AggregateParse, NamesMustBeUnique) {
  auto specs = ParseAggregations({"a:1m", "b:1m:country", "a:5m"});
  ASSERT_FALSE(specs.ok());
  EXPECT_NE(specs.status().message().find("aggregation a: two aggregations have this name"),
            std::string::npos);
  specs = ParseAggregations({"a:1m", "b:1m:country"});
  ASSERT_TRUE(specs.ok()) << specs.status().message();
  EXPECT_EQ(specs->size(), 2u);
  EXPECT_FALSE(ParseAggregations({"a:1m", "b"}).ok());
}

TEST(AggregateDefinition, ReadsBackAsTheSameSpec) {
  const char* items[] = {
      "users_per_minute_by_country:1m:country",
      "plain:1s",
      R"j({"name": "h", "window": "10m", "slide": "30s", "lateness": "2m",
          "group_by": ["gender", "age_band", "age"], "agg": ["avg(age)", "max(latitude)", "sum(age)", "min(longitude)"]})j",
      R"j({"name": "odd", "window": "1500ms", "lateness": "0ms"})j",
      R"j({"name": "day", "window": "24h", "slide": "1h"})j",
  };
  for (const char* item : items) {
    const AggregationSpec spec = Parsed(item);
    const std::string definition = spec.Definition();
    const AggregationSpec back = Parsed(definition);
    EXPECT_TRUE(Same(spec, back)) << item << " -> " << definition;
    EXPECT_EQ(back.Definition(), definition);
  }
  // Canonical: the same spec written differently has the same definition.
  EXPECT_EQ(Parsed("a:60s:country").Definition(),
            Parsed(R"j({"group_by": "country", "window": "1m", "name": "a", "slide": "60000ms"})j")
                .Definition());
  EXPECT_EQ(Parsed("a:1m:country").Definition(),
            R"j({"name":"a","window":"1m","slide":"1m","group_by":["country"],"agg":[]})j");
  // Whatever changes the table changes the definition.
  EXPECT_NE(Parsed("a:1m:country").Definition(), Parsed("a:2m:country").Definition());
  EXPECT_NE(Parsed("a:1m:country").Definition(), Parsed("a:1m:nat").Definition());
  EXPECT_NE(Parsed(R"j({"name": "a", "window": "1m", "agg": ["min(age)"]})j").Definition(),
            Parsed(R"j({"name": "a", "window": "1m", "agg": ["max(age)"]})j").Definition());
}

std::vector<int64_t> Starts(const AggregationSpec& spec, int64_t event_ms) {
  std::vector<int64_t> out = {12345};  // Cleared first.
  WindowStarts(spec, event_ms, out);
  return out;
}

TEST(AggregateWindows, Tumbling) {
  const AggregationSpec spec = Parsed("t:1m");
  EXPECT_EQ(Starts(spec, 0), std::vector<int64_t>{0});
  EXPECT_EQ(Starts(spec, 59999), std::vector<int64_t>{0});
  EXPECT_EQ(Starts(spec, 60000), std::vector<int64_t>{60000});  // [start, end): the edge.
  EXPECT_EQ(Starts(spec, 1764950399999), std::vector<int64_t>{1764950340000});
}

TEST(AggregateWindows, HoppingOldestFirst) {
  const AggregationSpec spec = Parsed(R"j({"name": "h", "window": "1m", "slide": "20s"})j");
  EXPECT_EQ(Starts(spec, 125000), (std::vector<int64_t>{80000, 100000, 120000}));
  EXPECT_EQ(Starts(spec, 120000), (std::vector<int64_t>{80000, 100000, 120000}));
  EXPECT_EQ(Starts(spec, 119999), (std::vector<int64_t>{60000, 80000, 100000}));
  // Each start s has s <= t < s + size.
  for (int64_t t : {int64_t{1764950399999}, int64_t{1764950400000}, int64_t{1764950412345}}) {
    const auto starts = Starts(spec, t);
    ASSERT_EQ(starts.size(), 3u);
    for (int64_t s : starts) {
      EXPECT_EQ(s % 20000, 0);
      EXPECT_LE(s, t);
      EXPECT_GT(s + 60000, t);
    }
  }
}

TEST(AggregateWindows, NoneBeforeTheEpoch) {
  const AggregationSpec spec = Parsed(R"j({"name": "h", "window": "1m", "slide": "20s"})j");
  EXPECT_EQ(Starts(spec, 0), std::vector<int64_t>{0});
  EXPECT_EQ(Starts(spec, 25000), (std::vector<int64_t>{0, 20000}));
  EXPECT_EQ(Starts(spec, 45000), (std::vector<int64_t>{0, 20000, 40000}));
  EXPECT_TRUE(Starts(spec, -1).empty());
}

TEST(AggregateColumns, TableOrderTypesAndKeys) {
  const AggregationSpec spec = Parsed(
      R"j({"name": "c", "window": "1m", "group_by": ["country", "age_band"],
          "agg": ["min(age)", "avg(latitude)", "sum(latitude)", "max(longitude)", "sum(age)"]})j");
  const std::vector<AggColumn> columns = AggregateColumns(spec);
  using T = AggColumn::Type;
  struct Expected {
    const char* name;
    T type;
    bool key;
  };
  const Expected expected[] = {
      {"window_start", T::kTimestamp, true}, {"window_end", T::kTimestamp, false},
      {"country", T::kText, true},           {"age_band", T::kInteger, true},
      {"users", T::kInteger, false},         {"min_age", T::kInteger, false},
      {"sum_latitude", T::kReal, false},     {"avg_latitude", T::kReal, false},
      {"max_longitude", T::kReal, false},    {"sum_age", T::kInteger, false},
  };
  ASSERT_EQ(columns.size(), std::size(expected));
  for (size_t i = 0; i < columns.size(); ++i) {
    EXPECT_EQ(columns[i].name, expected[i].name) << i;
    EXPECT_EQ(columns[i].type, expected[i].type) << expected[i].name;
    EXPECT_EQ(columns[i].key, expected[i].key) << expected[i].name;
  }
  // The issue's example: window_start, window_end, country, users.
  const auto plain = AggregateColumns(Parsed("users_per_minute_by_country:1m:country"));
  ASSERT_EQ(plain.size(), 4u);
  EXPECT_EQ(plain[2].name, "country");
  EXPECT_EQ(plain[3].name, "users");
}

}  // namespace
}  // namespace spate
