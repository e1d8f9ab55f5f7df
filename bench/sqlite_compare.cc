// `spate run` into SQLite against the floor SQLite sets: a plain loop that upserts the same
// rows with one prepared statement.
//
//   baseline  rows made beforehand (generator users through UserTransform); a fresh database
//             with SqliteSink's pragmas and schema; one prepared upsert (SqliteUpsertSql,
//             BindRow); one transaction per batch_size rows.
//   spate     the whole pipeline as `spate run` builds it: GeneratorSource (no login secrets)
//             -> Pipeline (default options from the config table) -> SqliteSink, into a fresh
//             database.
// Both clocks start after the database is open and its schema exists, and stop after the
// final checkpoint has folded the WAL into the database file (SqliteSink::Close does that;
// the baseline does the same). The two run alternately for a few rounds; the medians are
// compared. Target (issue): spate >= 80% of the baseline's rate.
//
// Usage: sqlite_compare [rows (200000)] [rounds (3)]. Databases go to $TMPDIR (or /tmp) and
// are deleted afterwards. Exit status 0 whatever the ratio: bench/run.sh reports it.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <sqlite3.h>

#include "config/config.h"
#include "core/clock.h"
#include "core/record.h"
#include "pipeline/pipeline.h"
#include "sinks/sqlite_db.h"
#include "sinks/sqlite_sink.h"
#include "sources/generator.h"
#include "transforms/user_transform.h"

namespace spate {
namespace {

constexpr int kBusyTimeoutMs = 5000;  // SqliteSink::Open's busy timeout.

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what, const Status& status) {
  std::fprintf(stderr, "sqlite_compare: %s: %s\n", what.c_str(), status.message().c_str());
  std::exit(1);
}

UserGenerator MakeGenerator() {
  GeneratorOptions options;
  options.include_login_secrets = false;  // As `spate run` makes it (cmd_run.cc).
  auto generator = UserGenerator::Create(options);
  if (!generator.ok()) Die("generator", generator.status());
  return std::move(generator).value();
}

// The rows `spate run --count n` stores: users 0..n-1 of the default seed.
std::vector<Row> MakeRows(uint64_t n) {
  const UserGenerator generator = MakeGenerator();
  UserTransform transform;
  std::vector<Row> rows(n);
  std::string json;
  const int64_t now = NowUnixMillis();
  for (uint64_t i = 0; i < n; ++i) {
    json.clear();
    generator.AppendUser(i, json);
    if (Status s = transform.Apply(json, now, rows[i]); !s.ok()) Die("transform", s);
  }
  return rows;
}

// A fresh directory per run, removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& name) {
    const char* tmp = std::getenv("TMPDIR");
    path_ = std::filesystem::path(tmp && *tmp ? tmp : "/tmp") /
            ("spate-sqlite-compare-" + std::to_string(getpid()) + "-" + name);
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// Records per second of the plain loop.
double RunBaseline(const std::vector<Row>& rows, size_t batch_size) {
  TempDir dir("baseline");
  auto opened = SqliteDb::Open(dir.str() + "/spate.db", /*create=*/true);
  if (!opened.ok()) Die("open", opened.status());
  SqliteDb db = std::move(opened).value();
  if (Status s = db.Exec(SqlitePragmaSql()); !s.ok()) Die("pragmas", s);
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  if (Status s = db.Exec(SqliteSchemaSql()); !s.ok()) Die("schema", s);
  auto prepared = db.Prepare(SqliteUpsertSql());
  if (!prepared.ok()) Die("prepare", prepared.status());
  SqliteStmt upsert = std::move(prepared).value();

  const auto start = Clock::now();
  std::string ingested_at = FormatIso8601Millis(rows.empty() ? 0 : rows[0].ingested_at_ms);
  for (size_t first = 0; first < rows.size(); first += batch_size) {
    if (Status s = db.Exec("BEGIN IMMEDIATE"); !s.ok()) Die("begin", s);
    const size_t end = std::min(rows.size(), first + batch_size);
    for (size_t i = first; i < end; ++i) {
      (void)BindRow(upsert.get(), rows[i], ingested_at);
      const int rc = sqlite3_step(upsert.get());
      sqlite3_reset(upsert.get());
      if (rc != SQLITE_DONE) Die("upsert", db.Error("step"));
    }
    if (Status s = db.Exec("COMMIT"); !s.ok()) Die("commit", s);
  }
  upsert.reset();
  if (Status s = db.Exec("PRAGMA wal_checkpoint(TRUNCATE);"); !s.ok()) Die("checkpoint", s);
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  return static_cast<double>(rows.size()) / secs;
}

// Records per second of the pipeline, built as cmd_run.cc builds it.
double RunSpate(uint64_t count, const Config& config) {
  TempDir dir("spate");
  GeneratorSource source(MakeGenerator(), count);
  SqliteSink sink(dir.str());
  if (Status s = sink.Open(); !s.ok()) Die("sink open", s);
  PipelineOptions options;
  options.batch_size = static_cast<size_t>(config.GetInt("batch_size"));
  options.queue_capacity = static_cast<size_t>(config.GetInt("queue_capacity"));
  options.max_record_bytes = static_cast<size_t>(config.GetInt("max_record_bytes"));
  const auto start = Clock::now();
  uint64_t stored = 0;
  {
    Pipeline pipeline(source, {&sink}, options);
    pipeline.Start();
    if (Status s = pipeline.Wait(); !s.ok()) Die("pipeline", s);
    stored = pipeline.stats().stored.load();
  }
  if (Status s = sink.Close(); !s.ok()) Die("sink close", s);
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  if (stored != count) {
    std::fprintf(stderr, "sqlite_compare: pipeline stored %llu of %llu rows\n",
                 static_cast<unsigned long long>(stored), static_cast<unsigned long long>(count));
    std::exit(1);
  }
  return static_cast<double>(count) / secs;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int Main(int argc, char** argv) {
  const uint64_t count = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  if (count == 0 || rounds <= 0) {
    std::fprintf(stderr, "usage: sqlite_compare [rows > 0] [rounds > 0]\n");
    return 2;
  }
  Config config;  // The defaults `spate run` uses without flags.
  const size_t batch_size = static_cast<size_t>(config.GetInt("batch_size"));

  std::printf("sqlite_compare: %llu rows, batch (transaction) size %zu, %d rounds\n",
              static_cast<unsigned long long>(count), batch_size, rounds);
  const auto made = Clock::now();
  const std::vector<Row> rows = MakeRows(count);
  std::printf("  rows for the baseline made in %.2f s (not timed below)\n",
              std::chrono::duration<double>(Clock::now() - made).count());

  std::printf("  %-6s %16s %16s %8s\n", "round", "baseline rec/s", "spate rec/s", "ratio");
  std::vector<double> baseline, spate;
  for (int round = 1; round <= rounds; ++round) {
    // Alternate which goes first so a slow phase of the shared machine hits both.
    double b, s;
    if (round % 2) {
      b = RunBaseline(rows, batch_size);
      s = RunSpate(count, config);
    } else {
      s = RunSpate(count, config);
      b = RunBaseline(rows, batch_size);
    }
    baseline.push_back(b);
    spate.push_back(s);
    std::printf("  %-6d %16.0f %16.0f %7.1f%%\n", round, b, s, 100 * s / b);
  }
  const double b = Median(baseline), s = Median(spate);
  std::printf("  %-6s %16.0f %16.0f %7.1f%%\n", "median", b, s, 100 * s / b);
  std::printf("RESULT sqlite_ratio=%.3f baseline=%.0f spate=%.0f target=0.80 %s\n", s / b, b, s,
              s / b >= 0.8 ? "MET" : "MISSED");
  return 0;
}

}  // namespace
}  // namespace spate

int main(int argc, char** argv) { return spate::Main(argc, argv); }
