// spate: a real-time user-data pipeline in one binary. See README.md.
#include <malloc.h>

#include <algorithm>
#include <string>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "app/cli.h"
#include "app/commands.h"
#include "app/signals.h"
#include "sinks/pg.h"

namespace {

void SetupLogging(const spate::Config& config) {
  // Logs go to stderr so stdout stays clean for data (mock-api's URL, query output).
  if (spdlog::get("spate")) return;
  auto logger = spdlog::stderr_color_mt("spate");
  logger->set_pattern("%^[%Y-%m-%d %H:%M:%S.%e] [%l]%$ %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(config.GetString("log_level")));
}

bool Contains(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// Checks, before anything connects, the settings whose errors would otherwise surface late
// or through a library's words: a PostgreSQL connection string is checked here so that its
// errors are usage errors built from its parsed parts (libpq's own messages quote the
// string, password included), and name where the string came from.
spate::Status CheckBeforeStart(const spate::CommandOptions& options, const spate::Config& config) {
  auto has = [&](std::string_view name) { return options.Takes(name); };
  const bool postgres = (has("sink") && Contains(config.GetList("sink"), "postgres")) ||
                        (has("raw_sink") && Contains(config.GetList("raw_sink"), "postgres")) ||
                        (has("history_store") && config.GetString("history_store") == "postgres");
  if (postgres && has("pg_dsn")) {
    if (spate::Status s = spate::CheckDsn(config.GetString("pg_dsn")); !s.ok()) {
      return s.WithContext(config.Origin("pg_dsn"));
    }
  }
  return spate::Status::Ok();
}

// produce forwards raw records and makes no rows: a filter, rule or aggregation given to it
// as a flag would be silently ignored, so it is an error that says where it belongs. (From
// a config file they are ignored: one file may serve produce and process.)
spate::Status RefuseOnProduce(const spate::Config& config) {
  for (std::string_view name : {"where", "rule", "aggregate"}) {
    const std::string flag = spate::FlagName(name);
    if (config.Origin(name) != flag) continue;
    return spate::Status::Fatal(fmt::format(
        "{}: filters and aggregations apply where rows are made: run or process (produce only "
        "forwards raw records to the topic); give {} to spate process, or drop it",
        flag, flag));
  }
  return spate::Status::Ok();
}

// CLI11's message for words it did not expect quotes them, and an unquoted connection string
// (--pg-dsn host=db password=my secret) leaves a piece of the password among them. Secrets reach
// the command line only through --pg-dsn and --kafka-opt (the Cassandra password has no flag),
// so with either present only the unexpected words that are flag names (--x, no '=') are
// shown; the others are counted.
int UnexpectedArguments(const CLI::App& app, const CLI::ExtrasError& e, int argc, char** argv) {
  bool secret_flags = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    secret_flags |= arg.starts_with("--pg-dsn") || arg.starts_with("--kafka-opt");
  }
  if (!secret_flags) return app.exit(e) == 0 ? 0 : spate::kExitUsage;
  std::vector<std::string> shown;
  size_t hidden = 0;
  const std::vector<std::string> extras = app.remaining(/*recurse=*/true);
  for (const std::string& word : extras) {
    if (word.starts_with("-") && word.find('=') == std::string::npos) {
      shown.push_back(word);
    } else {
      ++hidden;
    }
  }
  std::string what = shown.empty() ? std::string() : fmt::format("{}", fmt::join(shown, " "));
  if (hidden > 0 || extras.empty()) {
    what += fmt::format(
        "{}{} not shown (with --pg-dsn or --kafka-opt on the command line it may "
        "be part of a password)",
        what.empty() ? "" : " and ",
        hidden == 1 ? std::string("1 word") : fmt::format("{} words", hidden));
  }
  fmt::print(stderr,
             "spate: unexpected arguments: {}. A value with spaces needs quotes, e.g. --pg-dsn "
             "'host=db user=spate password=...'; better, put credentials in SPATE_PG_DSN or the "
             "config file\n",
             what);
  return spate::kExitUsage;
}

int Main(int argc, char** argv);

}  // namespace

int main(int argc, char** argv) {
  // The edge: whatever a library throws (CLI11, yaml-cpp, std::bad_alloc), the process says
  // what went wrong and exits 1 rather than aborting with a core dump (exit 134).
  try {
    const int code = Main(argc, argv);
    spate::EndStartup();
    return code;
  } catch (const std::exception& e) {
    spate::EndStartup();
    if (auto logger = spdlog::get("spate")) {
      logger->error("unexpected error: {}", e.what());
    } else {
      fmt::print(stderr, "spate: unexpected error: {}\n", e.what());
    }
    return spate::kExitFailure;
  } catch (...) {
    spate::EndStartup();
    fmt::print(stderr, "spate: unexpected error\n");
    return spate::kExitFailure;
  }
}

namespace {

int Main(int argc, char** argv) {
  // Batches of about a megabyte are allocated and freed all the time, on different threads.
  // glibc's defaults give freed heap tops back to the kernel and serve big blocks with fresh
  // mmaps, so every batch paid its page faults again (15-20% of produce's CPU in perf). Keep
  // freed memory for reuse instead; the bounded queues still bound how much is live.
  mallopt(M_MMAP_THRESHOLD, 16 << 20);
  mallopt(M_TRIM_THRESHOLD, 32 << 20);

  // Before any thread exists, so every thread inherits the mask; commands wait for signals.
  spate::BlockStopSignals();
  // Ctrl-C works from here on, also while start-up waits for a server (signals.h).
  spate::StartStartupGuard();

  CLI::App app{
      "spate: a real-time user-data pipeline.\n"
      "Ingests randomuser.me-style users (built-in generator, the HTTP API, or a file),\n"
      "validates and transforms them, and stores them (SQLite by default) with a dead-letter\n"
      "table for anything that cannot be stored. Run `spate <command> --help` for options."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "spate 0.1.0");

  CLI::App* run = app.add_subcommand(
      "run",
      "Run the whole pipeline in one process: source -> bounded in-memory queue -> transform "
      "-> sinks. Defaults: built-in generator, 100000 records, SQLite at ./spate-data/spate.db.");
  spate::CommandOptions run_options(*run, spate::CommandProperties("run"));

  CLI::App* produce = app.add_subcommand(
      "produce",
      "Ingest from a source (same flags as run) into a Kafka topic: the raw user object with "
      "login secrets removed, keyed by login.uuid. A record counts only once Kafka confirmed "
      "it. Bad input goes to the dead-letter topic (<topic>.dlq) with the reason in a header.");
  spate::CommandOptions produce_options(*produce, spate::CommandProperties("produce"));
  // Taken only to say where they belong (RefuseOnProduce), so not shown in produce --help.
  for (std::string_view name : {"where", "rule", "aggregate"}) {
    produce->get_option(spate::FlagName(name))->group("");
  }

  CLI::App* process = app.add_subcommand(
      "process",
      "Consume the topic as a member of a consumer group (--group), transform, store in the "
      "sinks; run several copies to share the partitions. Offsets are committed only for "
      "records the sinks have stored. Dead letters go to the table and the dead-letter topic.");
  spate::CommandOptions process_options_(*process, spate::CommandProperties("process"));

  CLI::App* mock = app.add_subcommand(
      "mock-api",
      "Serve a local randomuser-compatible API (GET /api/?results=&seed=&page=&nat=) with "
      "generator data, so the randomuser source can be used without internet. Prints its URL.");
  spate::CommandOptions mock_options(*mock, spate::CommandProperties("mock-api"));

  CLI::App* query =
      app.add_subcommand("query",
                         "Show what landed: row counts, rejected records by reason, top countries, "
                         "sample rows.");
  query->alias("stats");
  spate::CommandOptions query_options(*query, spate::CommandProperties("query"));

  CLI::App* schema = app.add_subcommand(
      "schema",
      "Print the statements that create the tables of the --sink store (sqlite, postgres, "
      "cassandra), for an admin to run so spate can run as a role that only reads and writes "
      "them; --upgrade-from N prints the upgrade of an older schema instead.");
  spate::CommandOptions schema_options(*schema, spate::CommandProperties("schema"));
  spate::SchemaFlags schema_flags;
  spate::AddSchemaFlags(*schema, schema_flags);

  // Orchestration (issue 20): the scheduler, and what a user asks of its history.
  CLI::App* schedule = app.add_subcommand(
      "schedule",
      "Run the jobs of a jobs file (--config jobs.yaml) on their schedules until SIGTERM or "
      "Ctrl-C: each run a child spate process with its own log, with retries, timeouts, "
      "catch-up and dependencies, and its history in DATA_DIR/schedule.db (or PostgreSQL).");
  spate::CommandOptions schedule_options(*schedule, spate::CommandProperties("schedule"));
  // A list of mappings belongs in the jobs file, not on a command line.
  schedule->get_option(spate::FlagName("jobs"))->group("");

  spate::ScheduleFlags schedule_flags;
  CLI::App* runs =
      app.add_subcommand("runs", "List the run history of spate schedule, newest first.");
  spate::CommandOptions runs_options(*runs, spate::CommandProperties("runs"));
  spate::AddRunsFlags(*runs, schedule_flags);

  CLI::App* trigger = app.add_subcommand(
      "trigger",
      "Queue a run of a job now (a manual run); the running scheduler starts it within a "
      "second or so. Needs the jobs file (--config).");
  spate::CommandOptions trigger_options(*trigger, spate::CommandProperties("trigger"));
  spate::AddTriggerFlags(*trigger, schedule_flags);

  CLI::App* backfill = app.add_subcommand(
      "backfill",
      "Queue runs of a job for the past intervals that start between --from and --to (dates "
      "in the job's time zone); intervals already run are left as they are. Needs the jobs "
      "file (--config).");
  spate::CommandOptions backfill_options(*backfill, spate::CommandProperties("backfill"));
  spate::AddBackfillFlags(*backfill, schedule_flags);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ExtrasError& e) {
    return UnexpectedArguments(app, e, argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : spate::kExitUsage;
  }

  for (auto* options :
       {&run_options, &produce_options, &process_options_, &mock_options, &query_options,
        &schema_options, &schedule_options, &runs_options, &trigger_options, &backfill_options}) {
    if (!options->command().parsed()) continue;
    spate::Config config;
    spate::Status status = options->Build(config);
    if (status.ok()) status = CheckBeforeStart(*options, config);
    if (status.ok() && options == &produce_options) status = RefuseOnProduce(config);
    SetupLogging(config);
    if (!status.ok()) {
      spdlog::error("{}", status.message());
      return spate::kExitUsage;
    }
    if (options == &run_options) return spate::RunCommand(config);
    if (options == &produce_options) return spate::ProduceCommand(config);
    if (options == &process_options_) {
      // A consumer's big blocks (fetch responses, decompressed message sets) are allocated on
      // librdkafka's three broker threads, each with its own heap, so with the 32 MB above each
      // kept its own 32 MB and the peak RSS over a million records passed 150 MB now and then.
      // With 8 MB (and 4 MB fetches, kafka_source.cc) 18 runs peaked at 90-121 MiB against
      // 96-129 MiB, at the same rate for 3% more CPU (docs/benchmarks.md, section 5).
      mallopt(M_TRIM_THRESHOLD, 8 << 20);
      return spate::ProcessCommand(config);
    }
    if (options == &mock_options) return spate::MockApiCommand(config);
    if (options == &schema_options) return spate::SchemaCommand(config, schema_flags);
    if (options == &schedule_options) return spate::ScheduleCommand(config);
    if (options == &runs_options) return spate::RunsCommand(config, schedule_flags);
    if (options == &trigger_options) return spate::TriggerCommand(config, schedule_flags);
    if (options == &backfill_options) return spate::BackfillCommand(config, schedule_flags);
    return spate::QueryCommand(config);
  }
  return spate::kExitUsage;
}

}  // namespace
