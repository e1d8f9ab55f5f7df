#include "schedule/job.h"

#include <chrono>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "config/config.h"

namespace spate {
namespace {

// Instants written with std::chrono (UTC), not ICU.
int64_t Utc(int y, unsigned m, unsigned d, int hour = 0, int minute = 0, int second = 0) {
  const std::chrono::sys_days day{std::chrono::year{y} / std::chrono::month{m} /
                                  std::chrono::day{d}};
  return ((day.time_since_epoch().count() * 1440 + hour * 60 + minute) * 60 + second) *
         int64_t{1000};
}

std::string Text(int64_t ms) {
  const int64_t seconds = ms / 1000;
  const std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{seconds / 86400}}};
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", static_cast<int>(ymd.year()),
                     static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                     seconds % 86400 / 3600, seconds % 3600 / 60, seconds % 60);
}

std::string Text(const std::optional<Interval>& interval) {
  if (!interval) return "none";
  return Text(interval->start_ms) + " .. " + Text(interval->end_ms);
}

// What the app tells the parser: produce makes no rows, so it takes no sink or filter; no
// command takes the scheduler's own settings.
bool Takes(std::string_view command, std::string_view property) {
  for (std::string_view p : {"jobs", "history_store", "timezone", "http"}) {
    if (property == p) return false;
  }
  if (command == "produce") {
    for (std::string_view p : {"sink", "where", "rule", "aggregate", "pg_dsn", "group", "from"}) {
      if (property == p) return false;
    }
  }
  if (command == "run" && property == "group") return false;
  if (command != "run" && property == "transport") return false;  // Kafka is theirs always.
  return true;
}

Result<JobSet> Parse(const std::vector<std::string>& items, std::string_view zone = "UTC") {
  return JobSet::Parse(items, zone, Takes);
}

// The error of parsing one item, or "ok".
std::string Error(const std::string& item, std::string_view zone = "UTC") {
  auto set = Parse({item}, zone);
  return set.ok() ? std::string("ok") : set.status().message();
}

JobSpec Job(std::string_view schedule, std::string_view zone = "UTC") {
  JobSpec job;
  job.name = "j";
  job.command = "run";
  auto parsed = CronSchedule::Parse(schedule);
  EXPECT_TRUE(parsed.ok()) << parsed.status().message();
  if (parsed.ok()) job.schedule = *parsed;
  auto z = TimeZone::Open(zone);
  EXPECT_TRUE(z.ok());
  if (z.ok()) job.zone = std::make_shared<const TimeZone>(std::move(z).value());
  return job;
}

TEST(ScheduleJob, TheIssuesTickJobParsesWithTheDefaults) {
  auto set = Parse({R"j({"name":"tick","schedule":"every 1s","run":"run",)j"
                    R"j("options":{"count":"100","seed":"tick"},"retries":"2"})j"});
  ASSERT_TRUE(set.ok()) << set.status().message();
  ASSERT_EQ(set->jobs().size(), 1u);
  const JobSpec* tick = set->Find("tick");
  ASSERT_NE(tick, nullptr);
  EXPECT_EQ(set->Find("tock"), nullptr);
  EXPECT_EQ(tick->command, "run");
  EXPECT_TRUE(tick->schedule.is_interval());
  EXPECT_EQ(tick->schedule.interval_ms(), 1000);
  EXPECT_EQ(tick->zone->name(), "UTC");
  EXPECT_EQ(tick->options, (std::map<std::string, std::vector<std::string>>{{"count", {"100"}},
                                                                            {"seed", {"tick"}}}));
  EXPECT_EQ(tick->retries, 2);
  EXPECT_EQ(tick->retry_delay_ms, 10'000);
  EXPECT_TRUE(tick->retry_exponential_backoff);
  EXPECT_EQ(tick->max_retry_delay_ms, 600'000);
  EXPECT_EQ(tick->timeout_ms, 0);
  EXPECT_EQ(tick->kill_grace_ms, 30'000);
  EXPECT_EQ(tick->max_active_runs, 1);
  EXPECT_FALSE(tick->catchup);
  EXPECT_FALSE(tick->start_date_ms);
  EXPECT_TRUE(tick->depends_on.empty());
}

TEST(ScheduleJob, EveryKeyIsRead) {
  auto set = Parse(
      {R"j({"name":"up","schedule":"@hourly","run":"produce","options":{}})j",
       R"j({"name":"down","schedule":"15 * * * *","timezone":"Europe/Berlin","run":"process",)j"
       R"j("options":{"data-dir":"./d","sink":["sqlite","postgres"],"nat":"DE,FR","pg_dsn":"x",)j"
       R"j("rule":["ok:reject:country in ('a', 'b')"],"kafka":["a.b=c,d"]},)j"
       R"j("retries":"3","retry_delay":"2s","retry_exponential_backoff":"false",)j"
       R"j("max_retry_delay":"1m","timeout":"90s","kill_grace":"5s","max_active_runs":"4",)j"
       R"j("catchup":"true","start_date":"2026-12-01T10:00","depends_on":["up"]})j"},
      "America/New_York");
  ASSERT_TRUE(set.ok()) << set.status().message();
  const JobSpec& up = set->jobs()[0];
  EXPECT_EQ(up.zone->name(), "America/New_York");  // The file's zone.
  EXPECT_EQ(up.command, "produce");
  const JobSpec& down = set->jobs()[1];
  EXPECT_EQ(down.zone->name(), "Europe/Berlin");
  EXPECT_EQ(down.schedule.text(), "15 * * * *");
  EXPECT_EQ(down.command, "process");
  // Canonical names; lists one entry per item, split as Config splits them.
  EXPECT_EQ(down.options, (std::map<std::string, std::vector<std::string>>{
                              {"data_dir", {"./d"}},
                              {"sink", {"sqlite", "postgres"}},
                              {"nat", {"DE", "FR"}},
                              {"pg_dsn", {"x"}},
                              {"rule", {"ok:reject:country in ('a', 'b')"}},
                              {"kafka_opt", {"a.b=c,d"}}}));
  EXPECT_EQ(down.retries, 3);
  EXPECT_EQ(down.retry_delay_ms, 2000);
  EXPECT_FALSE(down.retry_exponential_backoff);
  EXPECT_EQ(down.max_retry_delay_ms, 60'000);
  EXPECT_EQ(down.timeout_ms, 90'000);
  EXPECT_EQ(down.kill_grace_ms, 5000);
  EXPECT_EQ(down.max_active_runs, 4);
  EXPECT_TRUE(down.catchup);
  // 10:00 in Berlin (CET, UTC+1) on 1 December.
  EXPECT_EQ(down.start_date_ms, Utc(2026, 12, 1, 9, 0));
  EXPECT_EQ(down.depends_on, std::vector<std::string>{"up"});
}

TEST(ScheduleJob, EachMistakeIsAnErrorNamingTheJobAndTheKey) {
  const std::string base = R"j("schedule":"@daily","run":"run")j";
  auto job = [&](const std::string& rest) {
    return fmt::format(R"j({{"name":"t",{}{}}})j", base, rest);
  };
  struct Case {
    std::string item;
    std::string message;
  };
  const Case cases[] = {
      {job(R"j(,"retires":"2")j"), "job 't': unknown key 'retires' (did you mean 'retries'?)"},
      {job(R"j(,"retries":"2","retries":"3")j"), "job #1: 'retries' is given twice: keep one"},
      {job(R"j(,"retry-delay":"2s","retry_delay":"3s")j"),
       "job #1: 'retry-delay' and 'retry_delay' are the same key: keep one"},
      {R"j({"schedule":"@daily","run":"run"})j",
       "job #1: no name: give each job a name (- name: my_job)"},
      {R"j({"name":"a b","schedule":"@daily","run":"run"})j",
       "job #1: name: 'a b' is not a job name: use letters, digits, '_' and '-'"},
      {R"j({"name":"t","run":"run"})j",
       "job 't': no schedule: give one (schedule: '@daily', '0 6 * * *' or 'every 5m')"},
      {R"j({"name":"t","schedule":"0 0 * *","run":"run"})j",
       "job 't': schedule '0 0 * *': has 4 field(s): write five (minute hour day-of-month month "
       "day-of-week, e.g. '0 0 * * *'), a macro (@daily) or 'every 5m'"},
      {R"j({"name":"t","schedule":"@daily"})j",
       "job 't': no command: give one (run: run, run: produce or run: process)"},
      {R"j({"name":"t","schedule":"@daily","run":"query"})j",
       "job 't': run: 'query' is not a command: write run, produce, process"},
      {job(R"j(,"timezone":"Mars/Olympus")j"),
       "job 't': timezone: time zone 'Mars/Olympus': unknown (write an IANA name such as UTC, "
       "Europe/Berlin, America/New_York)"},
      {job(R"j(,"retries":"-1")j"), "job 't': retries: '-1' is not a whole number from 0 to 100"},
      {job(R"j(,"retries":["1","2"])j"),
       "job 't': retries: takes one value, not a list or mapping"},
      {job(R"j(,"retry_delay":"10")j"),
       "job 't': retry_delay: '10' has no unit: write 10s for seconds or 10ms for milliseconds "
       "(also m, h)"},
      {job(R"j(,"max_retry_delay":"0")j"),
       "job 't': max_retry_delay: must be longer than 0 (leave the key out for the default)"},
      {job(R"j(,"timeout":"30d")j"),
       "job 't': timeout: '30d' has an unknown unit (use ms, s, m or h)"},
      {job(R"j(,"timeout":"1000h")j"),
       "job 't': timeout: '1000h' is longer than the 24 days a duration may be"},
      {job(R"j(,"catchup":"yes")j"), "job 't': catchup: 'yes' is not true or false"},
      {job(R"j(,"max_active_runs":"0")j"),
       "job 't': max_active_runs: '0' is not a whole number from 1 to 1000"},
      {job(R"j(,"start_date":"2023-09-31")j"),
       "job 't': start_date: '2023-09-31' is not a date: write 2026-12-01, 2026-12-01T10:00 or "
       "2026-12-01T10:00:00 (in the job's time zone), or end it in Z or +01:00 for another "
       "offset"},
      {job(R"j(,"depends_on":["t"])j"), "job 't': depends_on: a job cannot depend on itself"},
      {job(R"j(,"depends_on":"tt")j"),
       "job 't': depends_on: no job is named 'tt' (did you mean "
       "'t'?)"},
      {job(R"j(,"options":"count=1")j"),
       "job 't': options: expected a mapping of option: value ({count: 100, seed: tick})"},
      {job(R"j(,"options":{"cuont":"1"})j"),
       "job 't': options: unknown key 'cuont' (did you mean 'count'?)"},
      {job(R"j(,"options":{"count":"many"})j"),
       "job 't': options: count: 'many' is not an integer (write digits only, e.g. 100000)"},
      {job(R"j(,"options":{"sink":"sqlite,mysql"})j"),
       "job 't': options: sink: 'mysql' is not one of: sqlite, postgres, cassandra, discard"},
      {job(R"j(,"options":{"data_dir":"a","data-dir":"b"})j"),
       "job 't': options: 'data_dir' and 'data-dir' both set data_dir: keep one"},
      {job(R"j(,"options":{"count":{"a":"b"}})j"),
       "job #1: options: count: is nested too deep: give a value or a list of plain values ([a, "
       "b])"},
      {job(R"j(,"options":{"http":":0"})j"),
       "job 't': options: 'http': spate run does not take --http"},
      {R"j({"name":"t","schedule":"@daily","run":"produce","options":{"sink":"postgres"}})j",
       "job 't': options: 'sink': spate produce does not take --sink"},
      {job(R"j(,"options":{"input":"x.json","source":"generator"})j"),
       "job 't': options: --input is read only with --source file (--source is generator, from "
       "options.source): add --source file, or drop --input"},
      {job(R"j(,"options":{"batch_size":"100000","queue_capacity":"4096"})j"),
       "job 't': options: batch_size 100000 x queue_capacity 4096 lets 409600000 records wait in "
       "each queue, more than the 1048576 spate allows (about a gigabyte of users): lower one of "
       "them (from options.batch_size and options.queue_capacity)"},
      {"[1,2]",
       "job #1: '[1,2]' is not a job: give a mapping with name, schedule and run (- "
       "name: ...)"},
      {"tick",
       "job #1: 'tick' is not a job: give a mapping with name, schedule and run (- "
       "name: ...)"},
      {"{\"name\":",
       "job #1: not a JSON object: The JSON document has an improper structure: "
       "missing or superfluous commas, braces, missing keys, etc."},
  };
  for (const Case& c : cases) EXPECT_EQ(Error(c.item), c.message) << c.item;
}

TEST(ScheduleJob, ErrorsAcrossJobs) {
  const auto item = [](std::string_view name, std::string_view depends) {
    return fmt::format(R"j({{"name":"{}","schedule":"@daily","run":"run","depends_on":[{}]}})j",
                       name, depends);
  };
  auto set = Parse({item("a", ""), item("a", "")});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().message(), "job 'a' is declared twice: job names are unique");
  set = Parse({item("a", R"j("c")j"), item("b", R"j("a")j"), item("c", R"j("b")j")});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().message(), "job 'a': depends_on forms a cycle: a -> c -> b -> a");
  set = Parse({item("a", R"j("b")j"), item("b", ""), item("c", R"j("a","b")j")});
  EXPECT_TRUE(set.ok()) << set.status().message();
  set = Parse({});
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().message(),
            "no jobs: add a `jobs:` list (- name: ..., schedule: ..., run: ...)");
  set = Parse({item("a", "")}, "Europe/Berln");
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().message(),
            "timezone: time zone 'Europe/Berln': unknown (write an IANA name such as UTC, "
            "Europe/Berlin, America/New_York)");

  // FromSpecs runs the same checks over specs built in code.
  std::vector<JobSpec> specs = {Job("@daily"), Job("every 5m")};
  specs[1].name = "k";
  specs[1].depends_on = {"j"};
  auto built = JobSet::FromSpecs(specs);
  ASSERT_TRUE(built.ok()) << built.status().message();
  EXPECT_EQ(built->Find("k")->depends_on, std::vector<std::string>{"j"});
  specs[1].depends_on = {"x"};
  EXPECT_EQ(JobSet::FromSpecs(specs).status().message(),
            "job 'k': depends_on: no job is named 'x' (did you mean 'j'?)");
  specs[1].depends_on = {};
  specs[1].name = "j";
  EXPECT_FALSE(JobSet::FromSpecs(specs).ok());
  specs[1].name = "k";
  specs[1].command = "serve";
  EXPECT_FALSE(JobSet::FromSpecs(specs).ok());
}

TEST(ScheduleJob, EveryIntervalsAreAlignedToTheEpoch) {
  const JobSpec job = Job("every 5m");
  const int64_t now = Utc(2026, 12, 6, 12, 7, 30);
  EXPECT_EQ(Text(LatestDueInterval(job, now)), "2026-12-06T12:00:00Z .. 2026-12-06T12:05:00Z");
  // An interval is due at its end: at 12:05:00 exactly, [12:00, 12:05) is.
  EXPECT_EQ(Text(LatestDueInterval(job, Utc(2026, 12, 6, 12, 5))),
            "2026-12-06T12:00:00Z .. 2026-12-06T12:05:00Z");
  EXPECT_EQ(Text(LatestDueInterval(job, Utc(2026, 12, 6, 12, 5) - 1)),
            "2026-12-06T11:55:00Z .. 2026-12-06T12:00:00Z");
  const Interval first{Utc(2026, 12, 6, 12, 0), Utc(2026, 12, 6, 12, 5)};
  EXPECT_EQ(Text(NextInterval(job, first)), "2026-12-06T12:05:00Z .. 2026-12-06T12:10:00Z");
  // An interval from an older schedule (every 1m): the next one starts at the next multiple.
  EXPECT_EQ(Text(NextInterval(job, {Utc(2026, 12, 6, 12, 1), Utc(2026, 12, 6, 12, 2)})),
            "2026-12-06T12:05:00Z .. 2026-12-06T12:10:00Z");
  // The issue's tick job: every second.
  const JobSpec tick = Job("every 1s");
  EXPECT_EQ(Text(LatestDueInterval(tick, Utc(2026, 12, 6, 12, 0, 1) + 999)),
            "2026-12-06T12:00:00Z .. 2026-12-06T12:00:01Z");
}

TEST(ScheduleJob, CronIntervalsRunFromOneFireToTheNextAcrossDst) {
  // Berlin's spring-forward (29 March 2026) makes that day 23 hours long, its fall-back (25
  // October) 25 hours.
  const JobSpec daily = Job("@daily", "Europe/Berlin");
  EXPECT_EQ(Text(LatestDueInterval(daily, Utc(2026, 3, 30, 12, 0))),
            "2026-03-28T23:00:00Z .. 2026-03-29T22:00:00Z");
  auto interval = LatestDueInterval(daily, Utc(2026, 3, 29, 12, 0));
  EXPECT_EQ(Text(interval), "2026-03-27T23:00:00Z .. 2026-03-28T23:00:00Z");
  ASSERT_TRUE(interval);
  std::vector<std::string> chain;
  for (int i = 0; i < 3 && interval; ++i) {
    interval = NextInterval(daily, *interval);
    chain.push_back(Text(interval));
  }
  EXPECT_EQ(chain, (std::vector<std::string>{"2026-03-28T23:00:00Z .. 2026-03-29T22:00:00Z",
                                             "2026-03-29T22:00:00Z .. 2026-03-30T22:00:00Z",
                                             "2026-03-30T22:00:00Z .. 2026-03-31T22:00:00Z"}));
  EXPECT_EQ(Text(LatestDueInterval(daily, Utc(2026, 10, 26, 0, 0))),
            "2026-10-24T22:00:00Z .. 2026-10-25T23:00:00Z");
  // Hourly through the gap: 02:00 does not exist, so 01:00 CET runs to 03:00 CEST, one hour.
  const JobSpec hourly = Job("0 * * * *", "Europe/Berlin");
  const auto hours =
      IntervalsStartingBetween(hourly, Utc(2026, 3, 28, 23, 30), Utc(2026, 3, 29, 2, 0), 10);
  std::vector<std::string> texts;
  for (const Interval& i : hours) texts.push_back(Text(i));
  EXPECT_EQ(texts, (std::vector<std::string>{"2026-03-29T00:00:00Z .. 2026-03-29T01:00:00Z",
                                             "2026-03-29T01:00:00Z .. 2026-03-29T02:00:00Z",
                                             "2026-03-29T02:00:00Z .. 2026-03-29T03:00:00Z"}));
  // A five-field schedule in New York: weekdays at 06:30.
  const JobSpec weekdays = Job("30 6 * * mon-fri", "America/New_York");
  EXPECT_EQ(Text(LatestDueInterval(weekdays, Utc(2026, 12, 7, 12, 0))),  // Monday.
            "2026-12-04T11:30:00Z .. 2026-12-07T11:30:00Z");
}

TEST(ScheduleJob, StartDateHidesEarlierIntervalsButNotBackfills) {
  JobSpec job = Job("@daily");
  job.start_date_ms = Utc(2023, 9, 3, 10, 0);
  // [3 Sep, 4 Sep) starts before 10:00 on the 3rd: never due.
  EXPECT_EQ(Text(LatestDueInterval(job, Utc(2023, 9, 4, 5, 0))), "none");
  EXPECT_EQ(Text(LatestDueInterval(job, Utc(2023, 9, 5, 1, 0))),
            "2023-09-04T00:00:00Z .. 2023-09-05T00:00:00Z");
  // Catching up from an old interval starts at the first interval after start_date.
  EXPECT_EQ(Text(NextInterval(job, {Utc(2023, 1, 1), Utc(2023, 1, 2)})),
            "2023-09-04T00:00:00Z .. 2023-09-05T00:00:00Z");
  const auto backfill = IntervalsStartingBetween(job, Utc(2023, 9, 1), Utc(2023, 9, 3), 100);
  ASSERT_EQ(backfill.size(), 3u);
  EXPECT_EQ(Text(backfill.front()), "2023-09-01T00:00:00Z .. 2023-09-02T00:00:00Z");
  EXPECT_EQ(Text(backfill.back()), "2023-09-03T00:00:00Z .. 2023-09-04T00:00:00Z");
}

TEST(ScheduleJob, BackfillRanges) {
  const JobSpec daily = Job("@daily", "Europe/Berlin");
  auto from = ParseDateTime("2026-12-01", *daily.zone);
  auto to = ParseDateTime("2026-12-03", *daily.zone);
  ASSERT_TRUE(from.ok() && to.ok());
  auto intervals = IntervalsStartingBetween(daily, *from, *to, 100);
  ASSERT_EQ(intervals.size(), 3u);  // Both ends included.
  EXPECT_EQ(Text(intervals[0]), "2026-11-30T23:00:00Z .. 2026-12-01T23:00:00Z");
  EXPECT_EQ(Text(intervals[2]), "2026-12-02T23:00:00Z .. 2026-12-03T23:00:00Z");
  EXPECT_EQ(IntervalsStartingBetween(daily, *from, *to, 2).size(), 2u);
  EXPECT_TRUE(IntervalsStartingBetween(daily, *to, *from, 100).empty());
  EXPECT_TRUE(IntervalsStartingBetween(daily, *from, *to, 0).empty());
  // A range between two fires holds nothing.
  EXPECT_TRUE(IntervalsStartingBetween(daily, *from + 1, *from + 3'600'000, 100).empty());
  const JobSpec every = Job("every 1h");
  EXPECT_EQ(IntervalsStartingBetween(every, Utc(2026, 12, 1), Utc(2026, 12, 2), 1000).size(), 25u);
  EXPECT_EQ(IntervalsStartingBetween(every, Utc(2026, 12, 1), Utc(2026, 12, 2) - 1, 1000).size(),
            24u);
}

TEST(ScheduleJob, RetryDelaysDoubleUpToTheCap) {
  JobSpec job;  // retry_delay 10s, backoff on, max 10m.
  EXPECT_EQ(job.RetryDelayMs(1), 0);
  EXPECT_EQ(job.RetryDelayMs(2), 10'000);
  EXPECT_EQ(job.RetryDelayMs(3), 20'000);
  EXPECT_EQ(job.RetryDelayMs(4), 40'000);
  EXPECT_EQ(job.RetryDelayMs(7), 320'000);
  EXPECT_EQ(job.RetryDelayMs(8), 600'000);  // 640 s, capped.
  EXPECT_EQ(job.RetryDelayMs(101), 600'000);
  EXPECT_EQ(job.RetryDelayMs(1'000'000), 600'000);  // No overflow on the way.
  job.max_retry_delay_ms = kMaxDurationMillis;
  EXPECT_EQ(job.RetryDelayMs(101), kMaxDurationMillis);
  job.retry_exponential_backoff = false;
  EXPECT_EQ(job.RetryDelayMs(2), 10'000);
  EXPECT_EQ(job.RetryDelayMs(9), 10'000);
  job.retry_exponential_backoff = true;
  job.retry_delay_ms = 0;
  EXPECT_EQ(job.RetryDelayMs(5), 0);
}

TEST(ScheduleJob, DatesInTheZoneOrAtAnOffset) {
  auto berlin = TimeZone::Open("Europe/Berlin");
  ASSERT_TRUE(berlin.ok());
  auto at = [&](std::string_view text) {
    auto ms = ParseDateTime(text, *berlin);
    return ms.ok() ? Text(*ms) : "error";
  };
  EXPECT_EQ(at("2026-12-01"), "2026-11-30T23:00:00Z");
  EXPECT_EQ(at("2026-07-01T10:00"), "2026-07-01T08:00:00Z");  // CEST.
  EXPECT_EQ(at("2026-07-01 10:00:42"), "2026-07-01T08:00:42Z");
  EXPECT_EQ(at("2023-09-03T10:00:00Z"), "2023-09-03T10:00:00Z");
  EXPECT_EQ(at("2023-09-03T10:00:00+05:30"), "2023-09-03T04:30:00Z");
  EXPECT_EQ(at("2023-09-03T10:00-01:00"), "2023-09-03T11:00:00Z");
  EXPECT_EQ(at("2024-02-29"), "2024-02-28T23:00:00Z");
  // 02:30 on 29 March 2026 does not exist in Berlin: the first instant after the gap.
  EXPECT_EQ(at("2026-03-29T02:30"), "2026-03-29T01:00:00Z");
  for (std::string_view bad :
       {"2023-02-29", "2023-9-3", "2023-09-03T25:00", "2023-09-03T10", "2023-09-03T10:00:60",
        "2023-09-03T10:00+1", "2023-09-03x", "20230903", "", "2023-09-03T10:00Z ", "2023-13-01"}) {
    EXPECT_EQ(at(bad), "error") << bad;
  }
}

// The child reads its options back with Config: every value must come back the same, whatever
// characters it holds.
TEST(ScheduleJob, OptionsYamlRoundTripsThroughConfig) {
  auto set =
      Parse({R"j({"name":"t","schedule":"@daily","run":"run","options":{)j"
             R"j("seed":"a: b # not a comment","data_dir":"./with space/- x",)j"
             R"j("where":"name = 'O\"Brien' or city like '%\\\\'","count":"0",)j"
             R"j("nat":["DE","FR"],"sink":"sqlite, postgres","pg_dsn":"host=h password='p w'",)j"
             R"j("rule":["r1:reject:country in ('a', 'b')","r2:count:age >= 18"],)j"
             R"j("kafka":{"0":"x"}}})j"});
  // A nested mapping in options is refused; without it, the rest round-trips.
  ASSERT_FALSE(set.ok());
  set = Parse({R"j({"name":"t","schedule":"@daily","run":"run","options":{)j"
               R"j("seed":"a: b # not a comment\ttab\nline","data_dir":"./with space/- x",)j"
               R"j("where":"name = 'O\"Brien' or city like '%\\\\'","count":"0",)j"
               R"j("nat":["DE","FR"],"sink":"sqlite, postgres","pg_dsn":"host=h password='p w'",)j"
               R"j("rule":["r1:reject:country in ('a', 'b')","r2:count:age >= 18"],)j"
               R"j("exit_at_end":"true","linger":"0","url":"http://127.0.0.1:1/api/?a=1&b=ü",)j"
               R"j("source":"randomuser","raw_sink":[]}})j"});
  ASSERT_TRUE(set.ok()) << set.status().message();
  const JobSpec& job = set->jobs()[0];
  EXPECT_EQ(job.options.at("seed"), std::vector<std::string>{"a: b # not a comment\ttab\nline"});
  EXPECT_EQ(job.options.at("raw_sink"), std::vector<std::string>{});
  const std::string yaml = OptionsYaml(job);
  Config config;
  ASSERT_TRUE(config.LoadYamlString(yaml, "child config").ok()) << yaml;
  for (const auto& [name, values] : job.options) {
    const PropertyDef* def = FindProperty(name);
    ASSERT_NE(def, nullptr) << name;
    EXPECT_TRUE(config.IsSet(name)) << name;
    if (def->type == PropType::kList) {
      EXPECT_EQ(config.GetList(name), values) << name << "\n" << yaml;
    } else {
      ASSERT_EQ(values.size(), 1u);
      EXPECT_EQ(config.GetString(name), values.front()) << name << "\n" << yaml;
    }
  }
  EXPECT_EQ(config.GetList("sink"), (std::vector<std::string>{"sqlite", "postgres"}));
  EXPECT_EQ(config.GetList("rule").size(), 2u);
  EXPECT_EQ(config.GetString("where"), "name = 'O\"Brien' or city like '%\\\\'");
  EXPECT_TRUE(config.GetBool("exit_at_end"));
}

// examples/jobs.yaml is the tutorial's DAG: user_automation, @daily from 2023-09-03 10:00
// (UTC), no catch-up, a 60-second stream from randomuser.me into users_created.
TEST(ScheduleJob, TheShippedExampleIsTheTutorialsDag) {
  Config config;
  Status s = config.LoadYamlFile(std::string(SPATE_FIXTURES_DIR) + "/../../examples/jobs.yaml");
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(config.GetString("history_store"), "sqlite");
  auto set = JobSet::Parse(config.GetList("jobs"), config.GetString("timezone"), Takes);
  ASSERT_TRUE(set.ok()) << set.status().message();
  ASSERT_EQ(set->jobs().size(), 1u);
  const JobSpec& job = set->jobs().front();
  EXPECT_EQ(job.name, "user_automation");
  EXPECT_EQ(job.schedule.text(), "@daily");
  EXPECT_EQ(job.zone->name(), "UTC");
  EXPECT_EQ(job.start_date_ms, Utc(2023, 9, 3, 10, 0));
  EXPECT_FALSE(job.catchup);
  EXPECT_EQ(job.command, "produce");
  EXPECT_EQ(job.options,
            (std::map<std::string, std::vector<std::string>>{{"source", {"randomuser"}},
                                                             {"duration", {"60s"}},
                                                             {"topic", {"users_created"}},
                                                             {"brokers", {"127.0.0.1:9092"}}}));
  // As in Airflow, the first interval is the first whole day after start_date, run when it
  // ends: [4 Sep, 5 Sep), at midnight on the 5th.
  EXPECT_EQ(Text(LatestDueInterval(job, Utc(2023, 9, 4, 23, 59))), "none");
  EXPECT_EQ(Text(LatestDueInterval(job, Utc(2023, 9, 5))),
            "2023-09-04T00:00:00Z .. 2023-09-05T00:00:00Z");
}

}  // namespace
}  // namespace spate
