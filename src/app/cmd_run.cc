// spate run: the whole pipeline in one process. With --transport memory (the default):
// source -> bounded in-memory queue -> transform -> sinks. With --transport kafka: produce to
// the topic and, at the same time, consume it back as `spate process` would.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/commands.h"
#include "app/components.h"
#include "app/query_aggregates.h"
#include "app/signals.h"
#include "http/dashboard_server.h"
#include "schedule/launcher.h"
#include "transport/kafka_source.h"

namespace spate {
namespace {

// What one sink holds, in words: "1,000 rows stored, 2 rejected". A discard sink stores
// nothing, so it says so.
// How the user runs this binary again, for the summary's hints: `spate` when that name on
// PATH is this very file (installed), else its path (a build tree's build/release/spate is
// not on PATH, and a hint naming `spate` would fail there), relative to the working
// directory when it lies under it.
std::string SelfCommand() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "spate";
  struct stat mine {};
  if (::stat(self.c_str(), &mine) != 0) return "spate";
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "";
  while (!dirs.empty()) {
    const size_t colon = dirs.find(':');
    const std::string_view dir = dirs.substr(0, colon);
    dirs = colon == std::string_view::npos ? std::string_view() : dirs.substr(colon + 1);
    const std::string candidate = fmt::format("{}/spate", dir.empty() ? "." : dir);
    struct stat found {};
    if (::stat(candidate.c_str(), &found) != 0) continue;
    // The first spate on PATH is the one the shell runs.
    if (found.st_dev == mine.st_dev && found.st_ino == mine.st_ino) return "spate";
    break;
  }
  const std::filesystem::path cwd = std::filesystem::current_path(ec);
  if (!ec) {
    const std::filesystem::path rel = self.lexically_relative(cwd);
    if (!rel.empty() && *rel.begin() != "..") {
      return rel.has_parent_path() ? rel.string() : "./" + rel.string();
    }
  }
  return self.string();
}

std::string SinkText(const std::string& name, const SinkCounts& counts) {
  if (name == "discard") {
    return fmt::format("{} rows and {} dead letters discarded", Thousands(counts.stored.load()),
                       Thousands(counts.rejected.load()));
  }
  return fmt::format("{} rows stored, {} rejected", Thousands(counts.stored.load()),
                     Thousands(counts.rejected.load()));
}

// The counts of the progress line: one sink's, or each named sink's with several.
std::string ProgressText(const std::vector<std::string>& names, const PipelineStats& s) {
  if (names.size() == 1) {
    const SinkCounts& c = s.sinks.front();
    return fmt::format("{} {}  {} rejected", Thousands(c.stored.load()),
                       names.front() == "discard" ? "discarded" : "stored",
                       Thousands(c.rejected.load()));
  }
  std::string out;
  for (size_t i = 0; i < names.size() && i < s.sinks.size(); ++i) {
    out += fmt::format("{}{} {}/{}", i ? "  " : "", names[i], Thousands(s.sinks[i].stored.load()),
                       Thousands(s.sinks[i].rejected.load()));
  }
  return out + " stored/rejected";
}

// How a run ended, for the end of its summary line.
enum class Ending { kDone, kFailed, kStoppedEarly, kStopped, kAborted };

Ending EndingOf(const DriveResult& drive, const Status& status, bool runs_until_stopped) {
  if (drive.interrupts >= 2) return Ending::kAborted;
  if (!status.ok()) return Ending::kFailed;
  if (drive.interrupts == 0) return Ending::kDone;
  // A process copy without --exit-at-end is meant to run until it is stopped.
  return runs_until_stopped ? Ending::kStopped : Ending::kStoppedEarly;
}

const char* EndingText(Ending ending) {
  switch (ending) {
    case Ending::kFailed:
      return " (failed: see the error above)";
    case Ending::kStoppedEarly:
      return " (stopped early by a signal)";
    case Ending::kAborted:
      return " (aborted by a second signal)";
    default:
      return "";
  }
}

// "1,000 records in 1.23 s (813/s)". With `busy`, the rate is over the time there was work
// in hand (a consumer waiting for records is not slow), and the summary says so.
std::string RateText(uint64_t records, uint64_t done, const DriveResult& drive, bool busy) {
  const double seconds = busy ? drive.busy_seconds : drive.seconds;
  const auto rate = Thousands(static_cast<uint64_t>(seconds > 0 ? done / seconds : 0));
  if (busy) {
    return fmt::format("{} records in {:.2f} s ({}/s over the {:.2f} s it was busy)",
                       Thousands(records), drive.seconds, rate, drive.busy_seconds);
  }
  return fmt::format("{} records in {:.2f} s ({}/s)", Thousands(records), drive.seconds, rate);
}

// Records the pipeline is done with: stored, rejected, or dropped by the filter.
uint64_t Finished(const PipelineStats& s) {
  return s.stored.load() + s.rejected.load() + s.filtered.load();
}

// The summary's lines on what the filter, the rules and the aggregations did (issue 19):
//   filtered: 1,234 rows (where: age >= 30)
//   rule valid_email (reject): 3 rows
//   aggregations: users_per_minute_by_country in sqlite ./spate-data/spate.db
std::string AnalyticsText(const PipelineStats& s, const std::vector<std::unique_ptr<Sink>>& sinks,
                          const Analytics& analytics) {
  std::string text;
  if (analytics.filter) {
    text += fmt::format("  filtered: {} rows (where: {})\n", Thousands(s.filtered.load()),
                        analytics.filter->text());
  }
  for (size_t i = 0; i < analytics.rules.size() && i < s.rule_violations.size(); ++i) {
    const QualityRule& rule = analytics.rules[i];
    text += fmt::format("  rule {} ({}): {} rows\n", rule.name,
                        rule.action == RuleAction::kReject ? "reject" : "count",
                        Thousands(s.rule_violations[i].load()));
  }
  if (std::any_of(analytics.aggregations.begin(), analytics.aggregations.end(),
                  [](const AggregationSpec& a) { return a.lateness_ms >= 0; })) {
    text += fmt::format(
        "  late: {} rows (dead letters: older than an aggregation's watermark allows)\n",
        Thousands(s.late.load()));
  }
  if (!analytics.aggregations.empty()) {
    std::vector<std::string> tables;
    for (const AggregationSpec& a : analytics.aggregations) tables.push_back(a.name);
    std::vector<std::string> stores;
    for (const auto& sink : sinks) {
      if (sink->kind() == "sqlite" || sink->kind() == "postgres") {
        stores.push_back(sink->Describe());
      }
    }
    text += stores.empty()
                ? fmt::format("  aggregations: {} (not kept: no sqlite or postgres sink)\n",
                              fmt::join(tables, ", "))
                : fmt::format("  aggregations: {} in {}\n", fmt::join(tables, ", "),
                              fmt::join(stores, " and "));
  }
  return text;
}

// The summary of run/process. With one sink its counts are the line's; with several, the
// line gives what process made of the records and each sink's line what that store holds
// (a row one sink refuses is stored by the others: PostgreSQL cannot hold a NUL, SQLite can).
void PrintSummary(const char* command, const PipelineStats& s, const DriveResult& drive,
                  const std::vector<std::unique_ptr<Sink>>& sinks, const Config& config,
                  const Analytics& analytics, Ending ending, bool busy_rate) {
  const std::vector<std::string> names = SinkNames(config);
  const uint64_t done = Finished(s);
  const std::string counts =
      names.size() == 1 && !s.sinks.empty()
          ? SinkText(names.front(), s.sinks.front())
          : fmt::format("{} rows, {} rejected by the transform; each sink holds:",
                        Thousands(s.stored.load()), Thousands(s.rejected.load()));
  fmt::print(stderr, "{}: {}: {}{}\n", command, RateText(s.ingested.load(), done, drive, busy_rate),
             counts, EndingText(ending));
  for (size_t i = 0; i < sinks.size(); ++i) {
    if (names.size() > 1 && i < names.size() && i < s.sinks.size()) {
      fmt::print(stderr, "  sink: {}: {}\n", sinks[i]->Describe(), SinkText(names[i], s.sinks[i]));
    } else {
      fmt::print(stderr, "  sink: {}\n", sinks[i]->Describe());
    }
  }
  // Ingest -> stored, from the metrics of the pipeline that stored the rows.
  const bool kafka =
      std::string_view(command) == "spate process" || config.GetString("transport") == "kafka";
  fmt::print(stderr, "{}", EndToEndLatencyText(Metrics(), kafka ? "process" : "run"));
  fmt::print(stderr, "{}", AnalyticsText(s, sinks, analytics));
  if (std::find(names.begin(), names.end(), "sqlite") != names.end()) {
    fmt::print(stderr, "  look: {} query --data-dir {}\n", SelfCommand(),
               config.GetString("data_dir"));
  }
}

// The counts of a summary, for `spate schedule`'s run history (SPATE_RUN_RESULT, launcher.h):
// one sink's own, as its summary line gives them, or what process made of the records; and
// whether the work was done without a signal cutting it short.
RunCounts SummaryCounts(const PipelineStats& s, const DriveResult& drive) {
  const bool one = s.sinks.size() == 1;
  return {static_cast<int64_t>(s.ingested.load()),
          static_cast<int64_t>(one ? s.sinks.front().stored.load() : s.stored.load()),
          static_cast<int64_t>(one ? s.sinks.front().rejected.load() : s.rejected.load()),
          drive.interrupts == 0};
}

// Ends a command: the error first (so that nothing after it reads like success), then the
// summary, then the exit code.
int Conclude(const DriveResult& drive, const Status& status,
             const std::function<void(Ending)>& summary, bool runs_until_stopped = false) {
  const Ending ending = EndingOf(drive, status, runs_until_stopped);
  if (ending == Ending::kFailed) spdlog::error("{}", status.message());
  summary(ending);
  if (drive.interrupts >= 2) {
    // Aborted: what was queued but not stored is not acknowledged; rerunning the same input
    // stores it (upserts make that safe). 130 is the shell's code for "ended by SIGINT".
    spdlog::warn("aborted: records ingested but not stored were dropped; rerun to store them");
    return kExitAborted;
  }
  return status.ok() ? kExitOk : kExitFailure;
}

// How long the run goes on, as the start line says it: the same rule as MakeSource's (a
// file, or --duration without --count, has no count limit).
std::string CountText(const Config& config) {
  const int64_t duration_ms = config.GetMillis("duration");
  const bool counted =
      config.IsSet("count") || (config.GetString("source") != "file" && duration_ms == 0);
  const uint64_t count = counted ? static_cast<uint64_t>(config.GetInt("count")) : 0;
  const std::string rate =
      config.GetInt("rate") > 0 ? fmt::format(" at {}/s", Thousands(config.GetInt("rate"))) : "";
  std::string limit;
  if (count > 0) limit = fmt::format("{} records", Thousands(count));
  if (duration_ms > 0) {
    limit += fmt::format("{}{:g} s", limit.empty() ? "for " : " or ", duration_ms / 1000.0);
  }
  if (limit.empty()) return fmt::format(" (until the input ends or Ctrl-C{})", rate);
  return fmt::format(" ({}{}; Ctrl-C stops early)", limit, rate);
}

// --http: the dashboard and /metrics of one command (nullptr without --http). Started
// before the sinks open, so /healthz answers and /readyz says what is still connecting during
// a slow start-up; stopped by its destructor after the summary. An address that cannot be
// used (port in use, not an address of this machine) is a configuration error: exit 2.
Result<std::unique_ptr<DashboardServer>> StartDashboard(
    const Config& config, const char* command, std::string topic,
    std::chrono::system_clock::time_point started_at) {
  const std::string text = config.GetString("http");
  if (text.empty()) return std::unique_ptr<DashboardServer>();
  auto address = ParseListenAddress(text);  // Checked with the flags already.
  if (!address.ok()) return address.status().WithContext(FlagName("http"));
  const DashboardInfo info{command, std::string(SpateVersion()), std::move(topic), started_at};
  RegisterProcessInfo(Metrics(), info);
  // /api/aggregates reads the store's aggregation tables where this command writes rows.
  auto server = std::make_unique<DashboardServer>(info, DashboardSources::Global(),
                                                  std::string_view(command) == "produce"
                                                      ? AggregatesReader()
                                                      : MakeStoreAggregatesReader(config));
  DashboardServerOptions options;
  options.host = address->host;
  options.port = address->port;
  auto port = server->Start(options);
  if (!port.ok()) return port.status();
  spdlog::info("dashboard: http://{}:{}/ (Prometheus metrics at /metrics)", address->UrlHost(),
               port.value());
  const bool loopback = address->ipv6 ? address->host == "::1" : address->host.starts_with("127.");
  if (!loopback) {
    // Dead letters carry the records' text: personal data, served without authentication.
    spdlog::warn(
        "dashboard: {} is reachable from other machines; it serves the pipeline's data (dead "
        "letters included) to anyone who can connect, without authentication",
        text);
  }
  return server;
}

// After the summary: a Prometheus scraping this process has totals from up to one interval
// ago, and would never see the final ones once the process is gone (what Prometheus'
// Pushgateway exists for with batch jobs). So when a scraper has been seen (two /metrics
// requests, hence an interval) and was still scraping lately, wait for its next scrape, at
// most twice its interval plus two seconds (a minute at most); Ctrl-C ends the wait at once and
// changes nothing else. Without a scraper (a laptop run, the page only) there is no wait, nor
// after an abort (exit code 130: a second Ctrl-C means now).
void AwaitFinalScrape(DashboardServer* dashboard, int exit_code) {
  if (dashboard == nullptr || exit_code == kExitAborted || dashboard->final_scrapes() > 0) return;
  const auto interval = dashboard->scrape_interval();
  const auto since = dashboard->since_last_scrape();
  if (!interval || !since || *since > 3 * *interval) return;
  const auto limit =
      std::min(std::chrono::duration<double>(60), 2 * *interval + std::chrono::seconds(2));
  spdlog::info(
      "dashboard: waiting up to {:.0f} s for the next scrape of /metrics, so that it holds the "
      "final totals (Ctrl-C skips)",
      limit.count());
  // The shutdown guard would take a Ctrl-C now for an abort (exit 130): here it only ends the
  // wait, so take the signals back.
  EndStartup();
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(limit);
  while (dashboard->final_scrapes() == 0 && std::chrono::steady_clock::now() < deadline) {
    if (WaitForSignal(50) != 0) break;
  }
}

// The consuming half of process and run --transport kafka: the consumer, and the sinks
// (--sink ones plus, unless they all discard, the dead-letter producer), opened. exit_code
// says what failed. A run_id makes it the consumer of that run (MakeKafkaConsumer).
struct ProcessSide {
  int exit_code = kExitOk;
  std::unique_ptr<KafkaSource> consumer;
  std::vector<std::unique_ptr<Sink>> sinks;
};

ProcessSide MakeProcessSide(const Config& config, const KafkaSettings& settings,
                            const Analytics& analytics, const std::string& run_id = "") {
  ProcessSide side;
  auto sinks = MakeSinks(config, analytics.aggregations);
  if (!sinks.ok()) {
    spdlog::error("{}", sinks.status().message());
    side.exit_code = kExitUsage;
    return side;
  }
  side.sinks = std::move(sinks).value();
  // Discarding is for measuring: dead letters are discarded too, not written to the topic
  // again on every measurement.
  if (!OnlyDiscardSinks(config)) {
    side.sinks.push_back(MakeKafkaProducer(config, settings, /*records=*/false));
  }
  if (Status s = OpenSinks(side.sinks); !s.ok()) {
    spdlog::error("{}", s.message());
    side.exit_code = kExitFailure;
    return side;
  }
  auto consumer = MakeKafkaConsumer(config, settings, run_id);
  if (!consumer.ok()) {
    spdlog::error("{}", consumer.status().message());
    side.exit_code = kExitFailure;
    return side;
  }
  side.consumer = std::move(consumer).value();
  return side;
}

int RunMemory(const Config& config, const Analytics& analytics, Source& source,
              DashboardServer* dashboard) {
  auto sinks = MakeSinks(config, analytics.aggregations);
  if (!sinks.ok()) {
    spdlog::error("{}", sinks.status().message());
    return kExitUsage;
  }
  if (Status s = OpenSinks(sinks.value()); !s.ok()) {
    spdlog::error("{}", s.message());
    return kExitFailure;
  }
  auto raw = OpenRawSinks(config);
  if (!raw.ok()) {
    spdlog::error("{}", raw.status().message());
    return kExitFailure;
  }
  Pipeline pipeline(source, SinkPointers(sinks.value()),
                    MakePipelineOptions(config, true, &analytics), SinkPointers(raw.value()));
  spdlog::info("spate run: {} -> {}{}", source.Describe(), fmt::join(config.GetList("sink"), ", "),
               CountText(config));
  EndStartup();  // Records are about to flow: from here a signal drains them.
  pipeline.Start();
  const PipelineStats& s = pipeline.stats();
  const std::vector<std::string> names = SinkNames(config);
  const DriveResult drive = Drive(
      {&pipeline}, config,
      {[&] { return fmt::format("{} records  {}", Thousands(s.ingested), ProgressText(names, s)); },
       [&] { return Finished(s); }, nullptr, [&] { return s.ingested.load(); }});
  Status status = pipeline.Wait();
  if (Status c = CloseSinks(sinks.value()); status.ok()) status = c;
  if (Status c = CloseSinks(raw.value()); status.ok()) status = c;
  if (dashboard) dashboard->SetFinished();
  const int code = Conclude(drive, status, [&](Ending ending) {
    PrintSummary("spate run", s, drive, sinks.value(), config, analytics, ending,
                 /*busy_rate=*/false);
  });
  WriteRunResult(SummaryCounts(s, drive), code);
  AwaitFinalScrape(dashboard, code);
  return code;
}

// Produce and process in one process: two pipelines joined by the Kafka topic. The consumer
// reads back exactly what this run produced: it is in no group (a `process` copy of any
// group takes nothing from it, and no group's offsets move), starts at the topic's ends as
// they were before the first record was sent, takes only records tagged with this run's id
// (another producer writing meanwhile adds nothing), and stops at the ends once the producer
// is done.
int RunKafka(const Config& config, const Analytics& analytics, Source& source,
             DashboardServer* dashboard) {
  auto settings = MakeKafkaSettings(config);
  if (!settings.ok()) {
    spdlog::error("{}", settings.status().message());
    return kExitUsage;
  }
  if (config.IsSet("group") || config.IsSet("from")) {
    spdlog::warn(
        "run --transport kafka reads back its own records without a consumer group: --group "
        "and --from do not apply (they are for spate process)");
  }
  const std::string run_id = NewRunId();
  std::vector<std::unique_ptr<Sink>> producer_sinks;
  producer_sinks.push_back(MakeKafkaProducer(config, settings.value(), /*records=*/true, run_id));
  if (Status s = OpenSinks(producer_sinks); !s.ok()) {
    spdlog::error("{}", s.message());
    return kExitFailure;
  }
  auto raw = OpenRawSinks(config);
  if (!raw.ok()) {
    spdlog::error("{}", raw.status().message());
    return kExitFailure;
  }
  // After the producer made sure the topic exists, before it sends anything.
  ProcessSide side = MakeProcessSide(config, settings.value(), analytics, run_id);
  if (side.exit_code != kExitOk) return side.exit_code;
  auto& consumer = side.consumer;
  auto& sinks = side.sinks;

  Pipeline produce(source, SinkPointers(producer_sinks), MakePipelineOptions(config, false),
                   SinkPointers(raw.value()));
  Pipeline process(*consumer, SinkPointers(sinks), MakePipelineOptions(config, true, &analytics));
  spdlog::info("spate run: {} -> kafka {} (run {}) -> {}{}", source.Describe(),
               config.GetString("topic"), run_id, fmt::join(config.GetList("sink"), ", "),
               CountText(config));
  EndStartup();  // Records are about to flow: from here a signal drains them.
  produce.Start();
  process.Start();

  Status produce_status;
  bool chained = false;
  const PipelineStats& ps = produce.stats();
  const PipelineStats& s = process.stats();
  auto tick = [&] {
    // The consuming side failed: producing more would only fill the topic.
    if (process.Done() && !produce.Done()) produce.RequestStop();
    if (chained || !produce.Done()) return;
    chained = true;
    produce_status = produce.Wait();
    if (!produce_status.ok()) {
      process.RequestStop();
      return;
    }
    if (Status s = consumer->StopAtCurrentEnd(); !s.ok()) {
      produce_status = s;
      process.RequestStop();
    }
  };
  const std::vector<std::string> names = SinkNames(config);
  const DriveResult drive =
      Drive({&produce, &process}, config,
            {[&] {
               return fmt::format("{} records  {} produced  {}", Thousands(ps.ingested),
                                  Thousands(ps.sinks.front().stored), ProgressText(names, s));
             },
             [&] { return Finished(s); }, tick, nullptr});
  Status status = produce_status;
  if (Status p = process.Wait(); status.ok()) status = p;
  consumer->Close();
  if (Status c = CloseSinks(producer_sinks); status.ok()) status = c;
  if (Status c = CloseSinks(raw.value()); status.ok()) status = c;
  if (Status c = CloseSinks(sinks); status.ok()) status = c;
  if (dashboard) dashboard->SetFinished();
  const int code = Conclude(drive, status, [&](Ending ending) {
    PrintSummary("spate run", s, drive, sinks, config, analytics, ending, /*busy_rate=*/false);
    const SinkCounts& produced = ps.sinks.front();
    fmt::print(stderr, "  produced: {} records to kafka {}, {} dead letters to {}\n",
               Thousands(produced.stored.load()), config.GetString("topic"),
               Thousands(produced.rejected.load()), DlqTopic(config));
  });
  WriteRunResult(SummaryCounts(s, drive), code);
  AwaitFinalScrape(dashboard, code);
  return code;
}

}  // namespace

int RunCommand(const Config& config) {
  const auto started_at = std::chrono::system_clock::now();
  // Before anything opens: a mistake in a filter, rule or aggregation is a usage error.
  auto analytics = ParseAnalytics(config);
  if (!analytics.ok()) {
    spdlog::error("{}", analytics.status().message());
    return kExitUsage;
  }
  auto source = MakeSource(config);
  if (!source.ok()) {
    spdlog::error("{}", source.status().message());
    return kExitUsage;
  }
  const bool kafka = config.GetString("transport") == "kafka";
  auto dashboard =
      StartDashboard(config, "run", kafka ? config.GetString("topic") : "", started_at);
  if (!dashboard.ok()) {
    spdlog::error("{}", dashboard.status().message());
    return kExitUsage;
  }
  if (kafka) return RunKafka(config, analytics.value(), *source.value(), dashboard.value().get());
  return RunMemory(config, analytics.value(), *source.value(), dashboard.value().get());
}

int ProduceCommand(const Config& config) {
  const auto started_at = std::chrono::system_clock::now();
  auto source = MakeSource(config);
  if (!source.ok()) {
    spdlog::error("{}", source.status().message());
    return kExitUsage;
  }
  auto settings = MakeKafkaSettings(config);
  if (!settings.ok()) {
    spdlog::error("{}", settings.status().message());
    return kExitUsage;
  }
  auto started = StartDashboard(config, "produce", config.GetString("topic"), started_at);
  if (!started.ok()) {
    spdlog::error("{}", started.status().message());
    return kExitUsage;
  }
  DashboardServer* dashboard = started.value().get();
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(MakeKafkaProducer(config, settings.value(), /*records=*/true));
  if (Status s = OpenSinks(sinks); !s.ok()) {
    spdlog::error("{}", s.message());
    return kExitFailure;
  }
  auto raw = OpenRawSinks(config);
  if (!raw.ok()) {
    spdlog::error("{}", raw.status().message());
    return kExitFailure;
  }
  Pipeline pipeline(*source.value(), SinkPointers(sinks), MakePipelineOptions(config, false),
                    SinkPointers(raw.value()));
  spdlog::info("spate produce: {} -> kafka {} at {}{}", source.value()->Describe(),
               config.GetString("topic"), settings.value().brokers, CountText(config));
  EndStartup();  // Records are about to flow: from here a signal drains them.
  pipeline.Start();
  const PipelineStats& s = pipeline.stats();
  // Records Kafka refused as too large are delivered as dead letters: the producer's own
  // counts say so (PipelineStats::sinks).
  const SinkCounts& delivered = s.sinks.front();
  const DriveResult drive = Drive(
      {&pipeline}, config,
      {[&] {
         return fmt::format("{} records  {} delivered  {} dead letters", Thousands(s.ingested),
                            Thousands(delivered.stored), Thousands(delivered.rejected));
       },
       [&] { return s.stored.load() + s.rejected.load(); }, nullptr, nullptr});
  Status status = pipeline.Wait();
  if (Status c = CloseSinks(sinks); status.ok()) status = c;
  if (Status c = CloseSinks(raw.value()); status.ok()) status = c;
  if (dashboard) dashboard->SetFinished();
  const int code = Conclude(drive, status, [&](Ending ending) {
    fmt::print(stderr, "spate produce: {}: {} delivered to {}, {} dead letters to {}{}\n",
               RateText(s.ingested.load(), s.stored.load() + s.rejected.load(), drive, false),
               Thousands(delivered.stored.load()), config.GetString("topic"),
               Thousands(delivered.rejected.load()), DlqTopic(config), EndingText(ending));
  });
  WriteRunResult(
      {static_cast<int64_t>(s.ingested.load()), static_cast<int64_t>(delivered.stored.load()),
       static_cast<int64_t>(delivered.rejected.load()), drive.interrupts == 0},
      code);
  AwaitFinalScrape(dashboard, code);
  return code;
}

int ProcessCommand(const Config& config) {
  const auto started_at = std::chrono::system_clock::now();
  auto analytics = ParseAnalytics(config);
  if (!analytics.ok()) {
    spdlog::error("{}", analytics.status().message());
    return kExitUsage;
  }
  auto settings = MakeKafkaSettings(config);
  if (!settings.ok()) {
    spdlog::error("{}", settings.status().message());
    return kExitUsage;
  }
  auto started = StartDashboard(config, "process", config.GetString("topic"), started_at);
  if (!started.ok()) {
    spdlog::error("{}", started.status().message());
    return kExitUsage;
  }
  DashboardServer* dashboard = started.value().get();
  ProcessSide side = MakeProcessSide(config, settings.value(), analytics.value());
  if (side.exit_code != kExitOk) return side.exit_code;
  auto& source = side.consumer;
  auto& sinks = side.sinks;
  const bool exit_at_end = config.GetBool("exit_at_end");
  if (exit_at_end) {
    if (Status s = source->StopAtCurrentEnd(); !s.ok()) {
      spdlog::error("{}", s.message());
      return kExitFailure;
    }
  }
  Pipeline pipeline(*source, SinkPointers(sinks),
                    MakePipelineOptions(config, true, &analytics.value()));
  spdlog::info("spate process: {} -> {}{}", source->Describe(),
               fmt::join(config.GetList("sink"), ", "),
               exit_at_end ? " (until the end of the topic)" : " (until Ctrl-C)");
  EndStartup();  // Records are about to flow: from here a signal drains them.
  pipeline.Start();
  const PipelineStats& s = pipeline.stats();
  const std::vector<std::string> names = SinkNames(config);
  const DriveResult drive =
      Drive({&pipeline}, config,
            {[&] {
               return fmt::format("{} consumed  {}", Thousands(s.ingested), ProgressText(names, s));
             },
             [&] { return Finished(s); }, nullptr, [&] { return s.ingested.load(); }});
  Status status = pipeline.Wait();
  // Commits the offsets of everything stored, then leaves the group.
  source->Close();
  if (Status c = CloseSinks(sinks); status.ok()) status = c;
  if (dashboard) dashboard->SetFinished();
  // A copy without --exit-at-end waits for records: its rate is over the time it had work,
  // and Ctrl-C is how it is meant to end.
  const int code = Conclude(
      drive, status,
      [&](Ending ending) {
        PrintSummary("spate process", s, drive, sinks, config, analytics.value(), ending,
                     /*busy_rate=*/!exit_at_end);
      },
      /*runs_until_stopped=*/!exit_at_end);
  WriteRunResult(SummaryCounts(s, drive), code);
  AwaitFinalScrape(dashboard, code);
  return code;
}

}  // namespace spate
