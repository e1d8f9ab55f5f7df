// /api/aggregates (issue 19): the aggregation tables the app reads from the store, served as
// JSON by DashboardApi. Every key and value parsed back with simdjson; text from the store
// (group values, errors) as valid UTF-8 without markup; the store read at most once per
// interval, and never waited for while a reading is under way; and the route through the
// real server.
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>

#include "http/dashboard_api.h"
#include "http/dashboard_server.h"
#include "http/metrics_history.h"
#include "json_test_util.h"
#include "observe/feeds.h"
#include "observe/metrics.h"

namespace spate {
namespace {

using spate::testing::ParseJson;

using std::chrono::hours;
using std::chrono::milliseconds;

struct World {
  MetricsRegistry metrics;
  DeadLetterFeed dead_letters{100};
  LandedTally landed;
  HealthBoard health;
  MetricsHistory history{metrics};
  DashboardSources sources() { return DashboardSources{&metrics, &dead_letters, &landed, &health}; }
  DashboardInfo info() {
    return DashboardInfo{"run", "9.9.9", "", std::chrono::system_clock::now()};
  }
};

AggregateCell Int(int64_t v) {
  AggregateCell c;
  c.type = AggregateCell::Type::kInteger;
  c.integer = v;
  return c;
}
AggregateCell Real(double v) {
  AggregateCell c;
  c.type = AggregateCell::Type::kReal;
  c.real = v;
  return c;
}
AggregateCell Str(std::string v) {
  AggregateCell c;
  c.type = AggregateCell::Type::kText;
  c.text = std::move(v);
  return c;
}

// Two tables as a reader would give them: one by country with min/avg of age over two
// windows (hostile and invalid UTF-8 group values among them), one that could not be read.
StoreAggregates Sample() {
  StoreAggregates out;
  StoreAggregate& a = out.aggregations.emplace_back();
  a.store = "sqlite";
  a.name = "users_per_minute_by_country";
  a.definition = R"({"name":"users_per_minute_by_country","window":"1m","group_by":["country"]})";
  a.window_ms = 60'000;
  a.slide_ms = 30'000;
  a.group_by = {"country"};
  a.columns = {"country", "users", "min_age", "avg_age"};
  StoreAggregate::Window& newest = a.windows.emplace_back();
  newest.start = "2026-12-06T09:22:00.000Z";
  newest.end = "2026-12-06T09:23:00.000Z";
  newest.complete = false;
  newest.groups = 1;
  newest.users = 4;
  newest.rows.push_back({Str("Germany"), Int(4), Int(21), Real(33.25)});
  StoreAggregate::Window& older = a.windows.emplace_back();
  older.start = "2026-12-06T09:21:00.000Z";
  older.end = "2026-12-06T09:22:00.000Z";
  older.complete = true;
  older.groups = 5;
  older.users = 90;
  older.rows.push_back({Str("<script>x</script>"), Int(40), Int(18), Real(40.5)});
  older.rows.push_back({Str("Bad\xff"), Int(30), AggregateCell{}, Real(0.125)});
  StoreAggregate& broken = out.aggregations.emplace_back();
  broken.store = "postgres";
  broken.name = "by_gender";
  broken.error = "relation \"by_gender\" does not exist";
  out.error = "sqlite: database is locked & busy";
  return out;
}

TEST(DashboardAggregates, WithoutAReaderThereAreNone) {
  World w;
  DashboardApi api(w.info(), w.sources(), w.history);
  const HttpAnswer answer = api.Handle("GET", "/api/aggregates", {});
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.content_type, kJsonType);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = ParseJson(parser, answer.body);
  EXPECT_TRUE(doc["aggregations"].is_array());
  EXPECT_EQ(doc["aggregations"].get_array().size(), 0u);
  EXPECT_TRUE(doc["error"].is_null());
  EXPECT_EQ(std::string_view(doc["read_at"]).size(),
            std::string_view("2026-12-06T09:22:00.000Z").size());
}

TEST(DashboardAggregates, EveryKeyAndValueOfTheReading) {
  World w;
  const StoreAggregates sample = Sample();
  DashboardApi api(w.info(), w.sources(), w.history, [&] { return sample; });
  const HttpAnswer answer = api.Handle("GET", "/api/aggregates", {});
  ASSERT_EQ(answer.status, 200);
  // Text from the store is never markup, and always UTF-8.
  EXPECT_EQ(answer.body.find_first_of("<>&"), std::string::npos) << answer.body;
  EXPECT_EQ(answer.body.find('\xff'), std::string::npos);

  simdjson::dom::parser parser;
  simdjson::dom::element doc = ParseJson(parser, answer.body);
  EXPECT_EQ(std::string_view(doc["error"]), sample.error);
  simdjson::dom::array list = doc["aggregations"].get_array();
  ASSERT_EQ(list.size(), 2u);

  simdjson::dom::element a = list.at(0);
  const StoreAggregate& want = sample.aggregations[0];
  EXPECT_EQ(std::string_view(a["store"]), "sqlite");
  EXPECT_EQ(std::string_view(a["name"]), want.name);
  EXPECT_EQ(std::string_view(a["definition"]), want.definition);
  EXPECT_TRUE(a["error"].is_null());
  EXPECT_EQ(int64_t(a["window_ms"]), 60'000);
  EXPECT_EQ(int64_t(a["slide_ms"]), 30'000);
  ASSERT_EQ(a["group_by"].get_array().size(), 1u);
  EXPECT_EQ(std::string_view(a["group_by"].at(0)), "country");
  std::vector<std::string> columns;
  for (simdjson::dom::element c : a["columns"].get_array())
    columns.emplace_back(c.get_string().value());
  EXPECT_EQ(columns, want.columns);

  simdjson::dom::array windows = a["windows"].get_array();
  ASSERT_EQ(windows.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const StoreAggregate::Window& ww = want.windows[i];
    simdjson::dom::element got = windows.at(i);
    EXPECT_EQ(std::string_view(got["start"]), ww.start);
    EXPECT_EQ(std::string_view(got["end"]), ww.end);
    EXPECT_EQ(bool(got["complete"]), ww.complete);
    EXPECT_EQ(int64_t(got["groups"]), ww.groups);
    EXPECT_EQ(int64_t(got["users"]), ww.users);
    ASSERT_EQ(got["rows"].get_array().size(), ww.rows.size());
  }
  simdjson::dom::element first = windows.at(0)["rows"].at(0);
  EXPECT_EQ(std::string_view(first["country"]), "Germany");
  EXPECT_EQ(int64_t(first["users"]), 4);
  EXPECT_EQ(int64_t(first["min_age"]), 21);
  EXPECT_EQ(double(first["avg_age"]), 33.25);
  simdjson::dom::element hostile = windows.at(1)["rows"].at(0);
  EXPECT_EQ(std::string_view(hostile["country"]), "<script>x</script>");
  EXPECT_EQ(int64_t(hostile["users"]), 40);
  simdjson::dom::element bad = windows.at(1)["rows"].at(1);
  EXPECT_EQ(std::string_view(bad["country"]), "Bad\xEF\xBF\xBD");  // U+FFFD
  EXPECT_TRUE(bad["min_age"].is_null());
  EXPECT_EQ(double(bad["avg_age"]), 0.125);

  simdjson::dom::element broken = list.at(1);
  EXPECT_EQ(std::string_view(broken["store"]), "postgres");
  EXPECT_EQ(std::string_view(broken["error"]), sample.aggregations[1].error);
  EXPECT_EQ(broken["windows"].get_array().size(), 0u);
}

TEST(DashboardAggregates, TheStoreIsReadAtMostOncePerInterval) {
  World w;
  int reads = 0;
  StoreAggregates sample = Sample();
  DashboardApi cached(
      w.info(), w.sources(), w.history,
      [&] {
        ++reads;
        return sample;
      },
      hours(1));
  const std::string first = cached.Handle("GET", "/api/aggregates", {}).body;
  sample.aggregations[0].windows[0].users = 5;  // The store changes ...
  // ... but within the hour it is not read again.
  EXPECT_EQ(cached.Handle("GET", "/api/aggregates", {}).body, first);
  EXPECT_EQ(cached.Handle("GET", "/api/aggregates", {}).body, first);
  EXPECT_EQ(reads, 1);

  int fresh_reads = 0;
  DashboardApi always(
      w.info(), w.sources(), w.history,
      [&] {
        ++fresh_reads;
        return sample;
      },
      milliseconds(0));
  always.AggregatesJson();
  always.AggregatesJson();
  EXPECT_EQ(fresh_reads, 2);
}

TEST(DashboardAggregates, ASlowReadingHoldsNoOtherRequest) {
  World w;
  int reads = 0;
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  StoreAggregates sample = Sample();
  DashboardApi api(
      w.info(), w.sources(), w.history,
      [&] {
        if (++reads == 2) {  // The second reading hangs, as a server that does not answer.
          entered.set_value();
          released.wait();
        }
        return sample;
      },
      milliseconds(0));
  const std::string first = api.AggregatesJson();
  sample.aggregations[0].windows[0].users = 7;
  std::jthread slow([&] { api.AggregatesJson(); });
  entered.get_future().wait();
  // Answered at once, with the last reading, while the second one is under way.
  EXPECT_EQ(api.AggregatesJson(), first);
  EXPECT_EQ(reads, 2);
  release.set_value();
  slow.join();
  simdjson::dom::parser parser;
  EXPECT_EQ(int64_t(ParseJson(parser, api.AggregatesJson())["aggregations"].at(0)["windows"].at(
                0)["users"]),
            7);
}

TEST(DashboardAggregates, TheServerRoutesItToTheReader) {
  World w;
  const StoreAggregates sample = Sample();
  DashboardServer server(w.info(), w.sources(), [&] { return sample; });
  auto port = server.Start(DashboardServerOptions{});
  ASSERT_TRUE(port.ok()) << port.status().message();
  httplib::Client client("127.0.0.1", port.value());
  auto r = client.Get("/api/aggregates");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json; charset=utf-8");
  simdjson::dom::parser parser;
  simdjson::dom::element doc = ParseJson(parser, r->body);
  EXPECT_EQ(std::string_view(doc["aggregations"].at(0)["name"]), "users_per_minute_by_country");
  server.Stop();
}

}  // namespace
}  // namespace spate
