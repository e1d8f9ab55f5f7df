// The schedule's HTTP API (src/http/runs_api.h, issue 20): RunsApi::Handle over a
// ScheduleService on a real SqliteRunStore in a temporary directory, filled with runs in
// every state; every endpoint's shape parsed back with simdjson; null for unknown values;
// filters and limits; the 400/404/405/413/415 errors; trigger and backfill checked in the
// store through a second connection; never a log path, a pid or a job's options in any
// answer. Then the same through DashboardServer::ServeSchedule on a loopback port.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>

#include "http/dashboard_api.h"
#include "http/dashboard_server.h"
#include "http/runs_api.h"
#include "json_test_util.h"
#include "observe/feeds.h"
#include "observe/metrics.h"
#include "schedule/job.h"
#include "schedule/run_store.h"
#include "schedule/service.h"
#include "test_util.h"

namespace spate {
namespace {

using spate::testing::ParseJson;

using Params = std::multimap<std::string, std::string>;

constexpr int64_t kHour = 3'600'000;
// 2026-12-05T00:00:00Z: the fixture's runs are the hours of that day.
constexpr int64_t kDay = 1'796'428'800'000;
constexpr int64_t kNow = kDay + 10 * kHour + 1234;  // What the API's clock says.
constexpr std::string_view kJson = "application/json";
// Words that must never reach an answer: a log path, a job option holding a password, the
// run's host and pid.
constexpr std::string_view kLogDir = "/var/lib/spate/logs";
constexpr std::string_view kSecret = "hunter2-secret";
constexpr std::string_view kHost = "build-host-7";

std::shared_ptr<const TimeZone> Zone(std::string_view name) {
  auto zone = TimeZone::Open(name);
  EXPECT_TRUE(zone.ok()) << zone.status().message();
  return std::make_shared<const TimeZone>(std::move(zone.value()));
}

JobSpec Job(std::string name, std::string_view schedule, std::string_view zone) {
  JobSpec job;
  job.name = std::move(name);
  auto parsed = CronSchedule::Parse(schedule);
  EXPECT_TRUE(parsed.ok()) << parsed.status().message();
  job.schedule = parsed.value();
  job.zone = Zone(zone);
  return job;
}

JobSet Jobs() {
  JobSpec stream = Job("stream_data_from_api", "@hourly", "UTC");
  stream.command = "produce";
  stream.options = {{"duration", {"60s"}}, {"pg_password", {std::string(kSecret)}}};
  stream.retries = 2;
  stream.timeout_ms = 90'500;
  stream.max_active_runs = 1;
  JobSpec load = Job("load", "every 5m", "Europe/Berlin");
  load.command = "process";
  load.catchup = true;
  load.max_active_runs = 3;
  load.depends_on = {"stream_data_from_api"};
  auto jobs = JobSet::FromSpecs({stream, load});
  EXPECT_TRUE(jobs.ok()) << jobs.status().message();
  return std::move(jobs.value());
}

RunRecord Run(std::string job, int hour, RunState state) {
  RunRecord run;
  run.job = std::move(job);
  run.type = RunType::kScheduled;
  run.interval_start_ms = kDay + hour * kHour;
  run.interval_end_ms = run.interval_start_ms + kHour;
  run.state = state;
  run.queued_at_ms = run.interval_end_ms + 5;
  if (state != RunState::kQueued && state != RunState::kSkipped) {
    run.attempt = state == RunState::kUpForRetry ? 1 : 2;
    run.started_at_ms = run.queued_at_ms + 100;
    run.log_path = std::string(kLogDir) + "/" + run.job + "/" + std::to_string(hour) + ".log";
    run.host = std::string(kHost);
    run.pid = 4242;
    run.pid_start = 987654;
  }
  if (IsFinal(state) || state == RunState::kUpForRetry) {
    if (state != RunState::kSkipped) {
      run.ended_at_ms = *run.started_at_ms + 61'250;
      run.exit_code = state == RunState::kSuccess ? 0 : 1;
    } else {
      run.ended_at_ms = run.queued_at_ms + 1;
    }
  }
  if (state == RunState::kSuccess) {
    run.records_in = 1200;
    run.records_stored = 1190;
    run.records_rejected = 10;
  }
  if (state == RunState::kFailed) run.error = "kafka: broker <b>down</b> \xff\xfe";
  if (state == RunState::kUpForRetry) {
    run.error = "exit code 1";
    run.next_try_at_ms = *run.ended_at_ms + 10'000;
  }
  if (state == RunState::kSkipped) run.error = "upstream other failed";
  return run;
}

// A store with one run in every state of the hourly job (hours 0..5 of kDay), a success of
// `load`, and a run of a job the jobs file no longer has.
struct World {
  testing::TempDir dir;
  JobSet jobs = Jobs();
  std::unique_ptr<RunStore> store;  // A second connection: what the tests read back.
  std::unique_ptr<ScheduleService> service;
  std::unique_ptr<RunsApi> api;
  std::map<RunState, int64_t> ids;

  World() {
    auto opened = OpenSqliteRunStore(dir.path());
    EXPECT_TRUE(opened.ok()) << opened.status().message();
    store = std::move(opened.value());
    const RunState states[] = {RunState::kSuccess, RunState::kFailed,  RunState::kUpForRetry,
                               RunState::kSkipped, RunState::kRunning, RunState::kQueued};
    int hour = 0;
    for (RunState state : states) ids[state] = Add(Run("stream_data_from_api", hour++, state));
    Add(Run("load", 0, RunState::kSuccess));
    Add(Run("retired_job", 1, RunState::kFailed));
    auto own = OpenSqliteRunStore(dir.path());
    EXPECT_TRUE(own.ok()) << own.status().message();
    service = std::make_unique<ScheduleService>(jobs, std::move(own.value()));
    api = std::make_unique<RunsApi>(*service, [] { return kNow; });
  }

  // Created, then written whole: the store sets what Create leaves out.
  int64_t Add(RunRecord run) {
    auto id = store->Create(run);
    EXPECT_TRUE(id.ok() && id.value()) << (id.ok() ? "exists" : id.status().message());
    run.run_id = id.ok() && id.value() ? *id.value() : 0;
    EXPECT_TRUE(store->Update(run).ok());
    return run.run_id;
  }

  std::vector<RunRecord> All() {
    RunFilter filter;
    filter.limit = 100'000;
    auto runs = store->List(filter);
    EXPECT_TRUE(runs.ok()) << runs.status().message();
    return runs.ok() ? runs.value() : std::vector<RunRecord>{};
  }

  HttpAnswer Get(std::string_view path, Params params = {}) {
    return api->Handle("GET", path, params, "", "");
  }
  HttpAnswer Post(std::string_view path, std::string_view body = "{}",
                  std::string_view type = kJson) {
    return api->Handle("POST", path, {}, type, body);
  }
};

std::vector<std::string> Keys(simdjson::dom::element object) {
  std::vector<std::string> keys;
  if (!object.is_object()) return keys;
  for (auto field : object.get_object()) keys.emplace_back(field.key);
  return keys;
}

const std::vector<std::string> kRunKeys = {
    "run_id",      "job",        "run_type",       "interval_start",   "interval_end",
    "state",       "attempt",    "queued_at",      "started_at",       "ended_at",
    "next_try_at", "records_in", "records_stored", "records_rejected", "exit_code",
    "error"};

void ExpectNothingPrivate(const std::string& body) {
  EXPECT_EQ(body.find(kLogDir), std::string::npos) << body;
  EXPECT_EQ(body.find(".log"), std::string::npos) << body;
  EXPECT_EQ(body.find(kSecret), std::string::npos) << body;
  EXPECT_EQ(body.find("options"), std::string::npos) << body;
  EXPECT_EQ(body.find(kHost), std::string::npos) << body;
  EXPECT_EQ(body.find("4242"), std::string::npos) << body;
  EXPECT_EQ(body.find("\"pid"), std::string::npos) << body;
}

simdjson::dom::element RunById(simdjson::dom::array runs, int64_t id) {
  for (simdjson::dom::element run : runs) {
    if (int64_t(run["run_id"]) == id) return run;
  }
  ADD_FAILURE() << "no run " << id << " in " << simdjson::to_string(runs);
  return {};
}

std::string Str(simdjson::dom::element e) {
  std::string_view s;
  if (e.get(s) != simdjson::SUCCESS) return "<not a string: " + simdjson::to_string(e) + ">";
  return std::string(s);
}

// --- GET /api/jobs ---

TEST(RunsApi, JobsListsEveryJobWithItsSettingsAndNoOptions) {
  World w;
  const HttpAnswer answer = w.Get("/api/jobs");
  ASSERT_EQ(answer.status, 200) << answer.body;
  EXPECT_EQ(answer.content_type, kJsonType);
  ExpectNothingPrivate(answer.body);
  simdjson::dom::parser parser;
  const auto doc = ParseJson(parser, answer.body);
  EXPECT_EQ(Keys(doc), std::vector<std::string>{"jobs"});
  const simdjson::dom::array jobs = doc["jobs"].get_array();
  ASSERT_EQ(jobs.size(), 2u);
  const std::vector<std::string> keys = {
      "name",      "schedule",        "timezone",        "command",
      "retries",   "timeout_seconds", "max_active_runs", "catchup",
      "depends_on"};
  const auto stream = jobs.at(0).value();
  EXPECT_EQ(Keys(stream), keys);
  EXPECT_EQ(Str(stream["name"]), "stream_data_from_api");
  EXPECT_EQ(Str(stream["schedule"]), "@hourly");
  EXPECT_EQ(Str(stream["timezone"]), "UTC");
  EXPECT_EQ(Str(stream["command"]), "produce");
  EXPECT_EQ(int64_t(stream["retries"]), 2);
  EXPECT_DOUBLE_EQ(double(stream["timeout_seconds"]), 90.5);
  EXPECT_EQ(int64_t(stream["max_active_runs"]), 1);
  EXPECT_FALSE(bool(stream["catchup"]));
  EXPECT_EQ(stream["depends_on"].get_array().size(), 0u);

  const auto load = jobs.at(1).value();
  EXPECT_EQ(Keys(load), keys);
  EXPECT_EQ(Str(load["schedule"]), "every 5m");
  EXPECT_EQ(Str(load["timezone"]), "Europe/Berlin");
  EXPECT_EQ(Str(load["command"]), "process");
  EXPECT_EQ(int64_t(load["retries"]), 0);
  EXPECT_TRUE(load["timeout_seconds"].is_null()) << "no timeout is null, not 0";
  EXPECT_EQ(int64_t(load["max_active_runs"]), 3);
  EXPECT_TRUE(bool(load["catchup"]));
  ASSERT_EQ(load["depends_on"].get_array().size(), 1u);
  EXPECT_EQ(Str(load["depends_on"].at(0)), "stream_data_from_api");
}

// --- GET /api/runs ---

TEST(RunsApi, RunsHaveEveryKeyNewestFirstAndNullForWhatIsUnknown) {
  World w;
  const HttpAnswer answer = w.Get("/api/runs");
  ASSERT_EQ(answer.status, 200) << answer.body;
  ExpectNothingPrivate(answer.body);
  EXPECT_EQ(answer.body.find('<'), std::string::npos) << "markup in " << answer.body;
  simdjson::dom::parser parser;
  const auto doc = ParseJson(parser, answer.body);
  EXPECT_EQ(Keys(doc), std::vector<std::string>{"runs"});
  const simdjson::dom::array runs = doc["runs"].get_array();
  ASSERT_EQ(runs.size(), 8u);
  std::string previous = "9999";
  for (simdjson::dom::element run : runs) {
    EXPECT_EQ(Keys(run), kRunKeys);
    const std::string start = Str(run["interval_start"]);
    EXPECT_LE(start, previous) << "not newest first: " << answer.body;
    previous = start;
  }

  const auto success = RunById(runs, w.ids[RunState::kSuccess]);
  EXPECT_EQ(Str(success["job"]), "stream_data_from_api");
  EXPECT_EQ(Str(success["run_type"]), "scheduled");
  EXPECT_EQ(Str(success["state"]), "success");
  EXPECT_EQ(Str(success["interval_start"]), "2026-12-05T00:00:00.000Z");
  EXPECT_EQ(Str(success["interval_end"]), "2026-12-05T01:00:00.000Z");
  EXPECT_EQ(Str(success["queued_at"]), "2026-12-05T01:00:00.005Z");
  EXPECT_EQ(Str(success["started_at"]), "2026-12-05T01:00:00.105Z");
  EXPECT_EQ(Str(success["ended_at"]), "2026-12-05T01:01:01.355Z");
  EXPECT_TRUE(success["next_try_at"].is_null());
  EXPECT_EQ(int64_t(success["attempt"]), 2);
  EXPECT_EQ(int64_t(success["records_in"]), 1200);
  EXPECT_EQ(int64_t(success["records_stored"]), 1190);
  EXPECT_EQ(int64_t(success["records_rejected"]), 10);
  EXPECT_EQ(int64_t(success["exit_code"]), 0);
  EXPECT_TRUE(success["error"].is_null()) << "no error is null, not \"\"";

  const auto queued = RunById(runs, w.ids[RunState::kQueued]);
  EXPECT_EQ(Str(queued["state"]), "queued");
  EXPECT_EQ(int64_t(queued["attempt"]), 0);
  for (const char* key : {"started_at", "ended_at", "next_try_at", "records_in", "records_stored",
                          "records_rejected", "exit_code", "error"}) {
    EXPECT_TRUE(queued[key].is_null())
        << key << " of a queued run: " << simdjson::to_string(queued);
  }

  const auto retry = RunById(runs, w.ids[RunState::kUpForRetry]);
  EXPECT_EQ(Str(retry["state"]), "up_for_retry");
  EXPECT_EQ(Str(retry["next_try_at"]), "2026-12-05T03:01:11.355Z");
  EXPECT_EQ(Str(retry["error"]), "exit code 1");
  EXPECT_TRUE(retry["records_in"].is_null());

  // The child's error line: markup escaped, invalid bytes replaced, still the same text.
  const auto failed = RunById(runs, w.ids[RunState::kFailed]);
  EXPECT_EQ(Str(failed["error"]), "kafka: broker <b>down</b> \xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(int64_t(failed["exit_code"]), 1);
  EXPECT_NE(answer.body.find("\\u003cb\\u003edown"), std::string::npos);

  EXPECT_EQ(Str(RunById(runs, w.ids[RunState::kRunning])["state"]), "running");
  EXPECT_EQ(Str(RunById(runs, w.ids[RunState::kSkipped])["state"]), "skipped");
}

TEST(RunsApi, RunsFilterByJobAndStateAndLimit) {
  World w;
  simdjson::dom::parser parser;
  auto count = [&](Params params) -> int64_t {
    const HttpAnswer answer = w.Get("/api/runs", params);
    EXPECT_EQ(answer.status, 200) << answer.body;
    return static_cast<int64_t>(ParseJson(parser, answer.body)["runs"].get_array().size());
  };
  EXPECT_EQ(count({{"job", "stream_data_from_api"}}), 6);
  EXPECT_EQ(count({{"job", "load"}}), 1);
  // The history keeps runs of jobs no longer in the file; an unknown name is no error.
  EXPECT_EQ(count({{"job", "retired_job"}}), 1);
  EXPECT_EQ(count({{"job", "no_such_job"}}), 0);
  EXPECT_EQ(count({{"state", "failed"}}), 2);
  EXPECT_EQ(count({{"state", "failed"}, {"job", "stream_data_from_api"}}), 1);
  EXPECT_EQ(count({{"state", "skipped"}}), 1);
  EXPECT_EQ(count({{"state", ""}}), 8);
  EXPECT_EQ(count({{"limit", "3"}}), 3);
  EXPECT_EQ(count({{"limit", "0"}}), 1);
  EXPECT_EQ(count({{"limit", "-7"}}), 1);
  EXPECT_EQ(count({{"limit", "99999999999999999999999"}}), 8);

  const HttpAnswer newest = w.Get("/api/runs", {{"limit", "1"}, {"job", "stream_data_from_api"}});
  EXPECT_EQ(int64_t(ParseJson(parser, newest.body)["runs"].at(0)["run_id"]),
            w.ids[RunState::kQueued]);

  for (Params bad : {Params{{"state", "done"}}, Params{{"state", "FAILED"}},
                     Params{{"limit", "ten"}}, Params{{"limit", "5x"}}}) {
    const HttpAnswer answer = w.Get("/api/runs", bad);
    EXPECT_EQ(answer.status, 400) << bad.begin()->second;
    EXPECT_EQ(Keys(ParseJson(parser, answer.body)), std::vector<std::string>{"error"});
  }
}

// A store that only records the filter it was asked for: the limit the API passes on.
class FilterRecorder : public RunStore {
 public:
  explicit FilterRecorder(std::vector<RunFilter>* seen) : seen_(seen) {}
  Result<std::optional<int64_t>> Create(const RunRecord&) override { return Status::Fatal("no"); }
  Status Update(const RunRecord&) override { return Status::Fatal("no"); }
  Result<std::optional<RunRecord>> Get(int64_t) override { return Status::Fatal("no"); }
  Result<std::vector<RunRecord>> List(const RunFilter& filter) override {
    seen_->push_back(filter);
    return std::vector<RunRecord>{};
  }
  Result<std::vector<RunRecord>> Unfinished() override { return Status::Fatal("no"); }
  Result<std::optional<int64_t>> LastScheduledStart(std::string_view) override {
    return Status::Fatal("no");
  }
  Result<std::optional<RunRecord>> RunCovering(std::string_view, int64_t) override {
    return Status::Fatal("no");
  }
  Status Lock(std::string_view, int64_t) override { return Status::Fatal("no"); }
  Status Heartbeat(int64_t) override { return Status::Fatal("no"); }
  Result<std::optional<SchedulerHeartbeat>> LastHeartbeat() override { return Status::Fatal("no"); }
  std::string Describe() const override { return "recorder"; }

 private:
  std::vector<RunFilter>* seen_;
};

TEST(RunsApi, LimitIsClampedToOneThousandAndDefaultsToOneHundred) {
  const JobSet jobs = Jobs();
  std::vector<RunFilter> seen;
  ScheduleService service(jobs, std::make_unique<FilterRecorder>(&seen));
  RunsApi api(service, [] { return kNow; });
  for (const char* limit : {"", "5000", "1000", "999", "1"}) {
    const HttpAnswer answer = api.Handle("GET", "/api/runs", {{"limit", limit}}, "", "");
    EXPECT_EQ(answer.status, 200) << answer.body;
  }
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen[0].limit, 100u);
  EXPECT_EQ(seen[1].limit, 1000u);
  EXPECT_EQ(seen[2].limit, 1000u);
  EXPECT_EQ(seen[3].limit, 999u);
  EXPECT_EQ(seen[4].limit, 1u);
}

TEST(RunsApi, AStoreErrorIsA500WithItsMessage) {
  const JobSet jobs = Jobs();
  std::vector<RunFilter> seen;
  ScheduleService service(jobs, std::make_unique<FilterRecorder>(&seen));
  RunsApi api(service, [] { return kNow; });
  const HttpAnswer answer =
      api.Handle("POST", "/api/jobs/load/trigger", {}, "application/json", "{}");
  EXPECT_EQ(answer.status, 500) << answer.body;
  EXPECT_NE(answer.body.find("\"error\""), std::string::npos);
}

// --- POST /api/jobs/NAME/trigger ---

TEST(RunsApi, TriggerQueuesAManualRunNowInTheStore) {
  World w;
  const size_t before = w.All().size();
  const HttpAnswer answer = w.Post("/api/jobs/load/trigger");
  ASSERT_EQ(answer.status, 201) << answer.body;
  ExpectNothingPrivate(answer.body);
  simdjson::dom::parser parser;
  const auto doc = ParseJson(parser, answer.body);
  EXPECT_EQ(Keys(doc), std::vector<std::string>{"run"});
  const simdjson::dom::element run = doc["run"];
  EXPECT_EQ(Keys(run), kRunKeys);
  EXPECT_EQ(Str(run["job"]), "load");
  EXPECT_EQ(Str(run["run_type"]), "manual");
  EXPECT_EQ(Str(run["state"]), "queued");
  EXPECT_EQ(Str(run["interval_start"]), "2026-12-05T10:00:01.234Z") << "the API's clock";
  EXPECT_EQ(Str(run["interval_end"]), Str(run["interval_start"]));
  EXPECT_TRUE(run["started_at"].is_null());

  const int64_t id = int64_t(run["run_id"]);
  auto stored = w.store->Get(id);
  ASSERT_TRUE(stored.ok() && stored.value()) << "run " << id << " is not in the store";
  EXPECT_EQ(stored.value()->job, "load");
  EXPECT_EQ(stored.value()->type, RunType::kManual);
  EXPECT_EQ(stored.value()->state, RunState::kQueued);
  EXPECT_EQ(stored.value()->interval_start_ms, kNow);
  EXPECT_EQ(w.All().size(), before + 1);

  // A second trigger is a second run (manual runs are not unique per interval).
  const HttpAnswer again = w.Post("/api/jobs/load/trigger", "");
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_NE(int64_t(ParseJson(parser, again.body)["run"]["run_id"]), id);
  EXPECT_EQ(w.All().size(), before + 2);
}

TEST(RunsApi, TriggerRefusesUnknownJobsOtherMethodsAndOtherContentTypes) {
  World w;
  simdjson::dom::parser parser;
  const size_t before = w.All().size();

  HttpAnswer answer = w.Post("/api/jobs/no_such_job/trigger");
  EXPECT_EQ(answer.status, 404);
  EXPECT_NE(answer.body.find("stream_data_from_api, load"), std::string::npos)
      << "the message lists the jobs: " << answer.body;
  // A job only the history knows cannot be triggered either: nothing says how to run it.
  EXPECT_EQ(w.Post("/api/jobs/retired_job/trigger").status, 404);

  for (std::string_view type :
       {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "",
        "application/jsonx", "text/json"}) {
    answer = w.Post("/api/jobs/load/trigger", "{}", type);
    EXPECT_EQ(answer.status, 415) << type;
    EXPECT_EQ(Keys(ParseJson(parser, answer.body)), std::vector<std::string>{"error"});
  }
  for (std::string_view type : {"application/json; charset=utf-8", "Application/JSON",
                                " application/json ;charset=UTF-8"}) {
    EXPECT_EQ(w.Post("/api/jobs/load/trigger", "{}", type).status, 201) << type;
  }
  EXPECT_EQ(w.All().size(), before + 3) << "only the JSON POSTs made runs";

  for (std::string_view method : {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"}) {
    answer = w.api->Handle(method, "/api/jobs/load/trigger", {}, kJson, "{}");
    EXPECT_EQ(answer.status, 405) << method;
    EXPECT_EQ(answer.allow, "POST") << method;
  }
  for (std::string_view path : {"/api/runs", "/api/jobs"}) {
    for (std::string_view method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
      answer = w.api->Handle(method, path, {}, kJson, "{}");
      EXPECT_EQ(answer.status, 405) << method << " " << path;
      EXPECT_EQ(answer.allow, "GET, HEAD") << method << " " << path;
    }
  }
  for (std::string_view path : {"/api/jobs/load", "/api/jobs/load/", "/api/jobs//trigger",
                                "/api/jobs/load/run", "/api/jobs/load/trigger/now"}) {
    EXPECT_EQ(w.Post(path).status, 404) << path;
  }
  EXPECT_EQ(w.Post("/api/jobs/load/trigger", std::string(kMaxPostBody + 1, ' ')).status, 413);
  EXPECT_EQ(w.All().size(), before + 3);
}

// --- POST /api/jobs/NAME/backfill ---

TEST(RunsApi, BackfillQueuesTheMissingIntervalsAndCountsTheRest) {
  World w;
  simdjson::dom::parser parser;
  // Hours 0..7 of the day: 0..5 have runs (of every state), 6 and 7 do not.
  HttpAnswer answer = w.Post("/api/jobs/stream_data_from_api/backfill",
                             R"({"from":"2026-12-05","to":"2026-12-05T07:00"})");
  ASSERT_EQ(answer.status, 201) << answer.body;
  auto doc = ParseJson(parser, answer.body);
  EXPECT_EQ(Keys(doc), (std::vector<std::string>{"created", "existed"}));
  EXPECT_EQ(int64_t(doc["created"]), 2);
  EXPECT_EQ(int64_t(doc["existed"]), 6);

  RunFilter filter;
  filter.job = "stream_data_from_api";
  filter.limit = 100;
  auto runs = w.store->List(filter);
  ASSERT_TRUE(runs.ok());
  std::vector<int64_t> backfilled;
  for (const RunRecord& run : runs.value()) {
    if (run.type == RunType::kBackfill) {
      EXPECT_EQ(run.state, RunState::kQueued);
      backfilled.push_back(run.interval_start_ms);
    }
  }
  EXPECT_EQ(backfilled, (std::vector<int64_t>{kDay + 7 * kHour, kDay + 6 * kHour}));

  // Again: nothing new.
  answer = w.Post("/api/jobs/stream_data_from_api/backfill",
                  R"({"from":"2026-12-05","to":"2026-12-05T07:00"})");
  ASSERT_EQ(answer.status, 201) << answer.body;
  doc = ParseJson(parser, answer.body);
  EXPECT_EQ(int64_t(doc["created"]), 0);
  EXPECT_EQ(int64_t(doc["existed"]), 8);
}

TEST(RunsApi, BackfillDatesAreInTheJobsZone) {
  World w;
  simdjson::dom::parser parser;
  // load is every 5m in Europe/Berlin (UTC+1 in December): 01:00..01:10 there is
  // 00:00..00:10Z, three intervals.
  const HttpAnswer answer =
      w.Post("/api/jobs/load/backfill", R"({"from":"2026-12-05T01:00","to":"2026-12-05 01:10"})");
  ASSERT_EQ(answer.status, 201) << answer.body;
  const auto doc = ParseJson(parser, answer.body);
  // 00:00Z has load's success already.
  EXPECT_EQ(int64_t(doc["created"]), 2);
  EXPECT_EQ(int64_t(doc["existed"]), 1);
  RunFilter filter;
  filter.job = "load";
  auto runs = w.store->List(filter);
  ASSERT_TRUE(runs.ok());
  std::vector<int64_t> starts;
  for (const RunRecord& run : runs.value()) {
    if (run.type == RunType::kBackfill) starts.push_back(run.interval_start_ms);
  }
  EXPECT_EQ(starts, (std::vector<int64_t>{kDay + 600'000, kDay + 300'000}));
}

TEST(RunsApi, BackfillRefusesBadBodiesDatesAndTooManyIntervals) {
  World w;
  simdjson::dom::parser parser;
  const size_t before = w.All().size();
  const std::string path = "/api/jobs/load/backfill";
  for (std::string_view body :
       {"", "{", "[]", "\"2026-12-01\"", R"({"from":"2026-12-01"})", R"({"to":"2026-12-01"})",
        R"({"from":20261201,"to":"2026-12-02"})", R"({"from":"2026-12-01","to":null})",
        R"({"from":"2026-12-01","to":"2026-12-02","job":"x"})",
        R"({"from":"yesterday","to":"2026-12-02"})", R"({"from":"2026-12-01","to":"2026-13-02"})",
        R"({"from":"2026-12-02","to":"2026-12-01"})",
        // every 5m for six years: far over kMaxBackfillRuns.
        R"({"from":"2020-01-01","to":"2026-01-01"})"}) {
    const HttpAnswer answer = w.Post(path, body);
    EXPECT_EQ(answer.status, 400) << body << " -> " << answer.body;
    EXPECT_EQ(Keys(ParseJson(parser, answer.body)), std::vector<std::string>{"error"}) << body;
  }
  const HttpAnswer many = w.Post(path, R"({"from":"2020-01-01","to":"2026-01-01"})");
  EXPECT_NE(many.body.find("10000"), std::string::npos) << many.body;
  EXPECT_EQ(w.Post("/api/jobs/nope/backfill", R"({"from":"2026-12-01","to":"2026-12-01"})").status,
            404);
  EXPECT_EQ(w.Post(path, R"({"from":"2026-12-01","to":"2026-12-01"})", "text/plain").status, 415);
  EXPECT_EQ(w.api->Handle("GET", path, {}, "", "").status, 405);
  EXPECT_EQ(w.All().size(), before) << "a refused backfill queued runs";
}

TEST(RunsApi, ServesOnlyItsOwnPaths) {
  EXPECT_TRUE(RunsApi::Serves("/api/jobs"));
  EXPECT_TRUE(RunsApi::Serves("/api/runs"));
  EXPECT_TRUE(RunsApi::Serves("/api/jobs/x/trigger"));
  EXPECT_FALSE(RunsApi::Serves("/api/overview"));
  EXPECT_FALSE(RunsApi::Serves("/"));
  EXPECT_FALSE(RunsApi::Serves("/api/jobsx"));
  EXPECT_TRUE(RunsApi::WantsBody("POST", "/api/jobs/x/backfill", "application/json"));
  EXPECT_FALSE(RunsApi::WantsBody("POST", "/api/jobs/x/backfill", "text/plain"));
  EXPECT_FALSE(RunsApi::WantsBody("PUT", "/api/jobs/x/backfill", "application/json"));
  EXPECT_FALSE(RunsApi::WantsBody("POST", "/api/runs", "application/json"));
}

// --- Over HTTP: DashboardServer::ServeSchedule ---

// Sends `request` as it is on a new connection to 127.0.0.1:port and returns all the
// server answers until it closes (or 5 s pass): for requests httplib's client cannot make.
std::string RawExchange(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    char buffer[4096];
    for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;) response.append(buffer, n);
  }
  ::close(fd);
  return response;
}

struct ServerWorld {
  MetricsRegistry metrics;
  DeadLetterFeed dead_letters{10};
  LandedTally landed;
  HealthBoard health;
  DashboardSources sources() { return DashboardSources{&metrics, &dead_letters, &landed, &health}; }
  DashboardInfo info() {
    return DashboardInfo{"schedule", "9.9.9", "", std::chrono::system_clock::now()};
  }
};

TEST(RunsApiServer, ServesTheGridTheApiAndJsonPostsOnly) {
  World w;
  ServerWorld s;
  DashboardServer server(s.info(), s.sources());
  server.ServeSchedule(w.service.get());
  auto port = server.Start(DashboardServerOptions{});
  ASSERT_TRUE(port.ok()) << port.status().message();
  httplib::Client client("127.0.0.1", port.value());
  simdjson::dom::parser parser;

  auto r = client.Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("schedule.js"), std::string::npos) << "/ is not the runs grid";
  EXPECT_NE(r->get_header_value("Content-Security-Policy").find("script-src 'self'"),
            std::string::npos);
  r = client.Get("/schedule.js");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = client.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // The dashboard's paths are still there (longer than a short string: the server must not
  // keep a view of a temporary copy of the path).
  r = client.Get("/api/dead_letters?limit=5");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;

  r = client.Get("/api/jobs");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(ParseJson(parser, r->body)["jobs"].get_array().size(), 2u);
  r = client.Get("/api/runs?state=failed&job=stream_data_from_api");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(ParseJson(parser, r->body)["runs"].get_array().size(), 1u);
  r = client.Get("/api/runs?limit=x");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);

  const size_t before = w.All().size();
  r = client.Post("/api/jobs/load/trigger", "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(Str(ParseJson(parser, r->body)["run"]["run_type"]), "manual");
  EXPECT_EQ(w.All().size(), before + 1);

  // What `curl -X POST -H 'Content-Type: application/json' URL` sends: no body, and no
  // Content-Length saying so.
  const std::string raw =
      RawExchange(port.value(),
                  "POST /api/jobs/load/trigger HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Content-Type: application/json\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(raw.starts_with("HTTP/1.1 201 ")) << raw;
  EXPECT_NE(raw.find("\"run_type\":\"manual\""), std::string::npos) << raw;
  EXPECT_EQ(w.All().size(), before + 2);

  r = client.Post("/api/jobs/stream_data_from_api/backfill",
                  R"({"from":"2026-12-05T06:00","to":"2026-12-05T06:00"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(int64_t(ParseJson(parser, r->body)["created"]), 1);

  // What a page on another site can send without a preflight: refused, nothing created.
  httplib::Client other("127.0.0.1", port.value());
  r = other.Post("/api/jobs/load/trigger", "a=b", "application/x-www-form-urlencoded");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  EXPECT_EQ(r->get_header_value("Connection"), "close");
  EXPECT_EQ(Keys(ParseJson(parser, r->body)), std::vector<std::string>{"error"});
  r = other.Post("/api/jobs/load/trigger", "{}", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415);
  // The preflight a JSON POST from elsewhere needs is never granted.
  httplib::Headers headers = {{"Origin", "http://evil.example"},
                              {"Access-Control-Request-Method", "POST"},
                              {"Access-Control-Request-Headers", "content-type"}};
  r = other.Options("/api/jobs/load/trigger", headers);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "POST");
  EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin"));
  r = other.Get("/api/jobs/load/trigger");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "POST");
  r = other.Post("/api/runs", "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->get_header_value("Allow"), "GET, HEAD");
  r = other.Post("/api/overview", "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  // Bodies are bounded: over RunsApi's limit, and over the server's.
  for (size_t size : {kMaxPostBody + 10, size_t{64 * 1024}}) {
    httplib::Client big("127.0.0.1", port.value());
    r = big.Post("/api/jobs/load/trigger", std::string(size, ' '), "application/json");
    ASSERT_TRUE(r) << size;
    EXPECT_EQ(r->status, 413) << size;
    EXPECT_EQ(Keys(ParseJson(parser, r->body)), std::vector<std::string>{"error"}) << size;
  }
  EXPECT_EQ(w.All().size(), before + 3);
  server.Stop();
}

TEST(RunsApiServer, WithoutAScheduleThereIsNoRunsApiAndNoPost) {
  ServerWorld s;
  DashboardServer server(s.info(), s.sources());
  auto port = server.Start(DashboardServerOptions{});
  ASSERT_TRUE(port.ok()) << port.status().message();
  httplib::Client client("127.0.0.1", port.value());
  auto r = client.Get("/api/runs");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = client.Get("/api/dead_letters?limit=5");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  r = client.Post("/api/jobs/load/trigger", "{}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  r = client.Get("/");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("app.js"), std::string::npos) << "/ is the pipeline dashboard";
  EXPECT_EQ(r->body.find("schedule.js"), std::string::npos);
  r = client.Get("/schedule.html");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

}  // namespace
}  // namespace spate
