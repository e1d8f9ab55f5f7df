// The run history in SQLite: DATA_DIR/schedule.db (see run_store.h).
//
// Several processes share the file (the scheduler, `spate trigger`, `spate runs`), so it is in
// WAL mode (readers never block the writer) with a busy timeout (a writer waits for another's
// short transaction instead of failing), and every write is one statement, i.e. one short
// transaction. The one-scheduler lock is not in the database: it is flock(2) on
// DATA_DIR/schedule.lock, which the kernel drops when the holder's last descriptor closes, also
// when the holder is SIGKILLed, so a crashed scheduler never blocks its restart.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "schedule/run_store.h"
#include "sinks/sqlite_db.h"

namespace spate {
namespace {

// How long a statement waits for another process's write to finish before it fails as
// retriable. Writes here are single small statements, so 5 s means something is stuck.
constexpr int kBusyTimeoutMs = 5000;

// synchronous=FULL: a run's state change is worth one fsync (a few per run); with NORMAL a
// power cut could lose a committed "running", and the restarted scheduler would then create
// the interval's run again.
constexpr std::string_view kPragmas = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;";

// AUTOINCREMENT: run ids name files (runs/RUN_ID.yaml, logs/JOB/RUN_ID-ATTEMPT.log), so an id
// is never reused, even after the newest rows are deleted by hand.
// The partial unique index is what makes "no interval runs twice" hold across processes and
// restarts: Create inserts with ON CONFLICT DO NOTHING.
constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS spate_runs (
  run_id INTEGER PRIMARY KEY AUTOINCREMENT,
  job TEXT NOT NULL,
  run_type TEXT NOT NULL CHECK (run_type IN ('scheduled', 'manual', 'backfill')),
  interval_start INTEGER NOT NULL,
  interval_end INTEGER NOT NULL,
  state TEXT NOT NULL
    CHECK (state IN ('queued', 'running', 'success', 'failed', 'up_for_retry', 'skipped')),
  attempt INTEGER NOT NULL DEFAULT 0,
  queued_at INTEGER NOT NULL,
  started_at INTEGER,
  ended_at INTEGER,
  next_try_at INTEGER,
  records_in INTEGER,
  records_stored INTEGER,
  records_rejected INTEGER,
  exit_code INTEGER,
  error TEXT NOT NULL DEFAULT '',
  log_path TEXT NOT NULL DEFAULT '',
  pid INTEGER,
  pid_start INTEGER,
  host TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS spate_runs_one_per_interval ON spate_runs (job, interval_start)
  WHERE run_type IN ('scheduled', 'backfill');
CREATE INDEX IF NOT EXISTS spate_runs_job_interval ON spate_runs (job, interval_start, run_id);
CREATE INDEX IF NOT EXISTS spate_runs_interval ON spate_runs (interval_start, run_id);
CREATE INDEX IF NOT EXISTS spate_runs_state ON spate_runs (state);
CREATE TABLE IF NOT EXISTS spate_scheduler (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  holder TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL
);
)sql";

// The columns of a run, in the order RowToRecord reads them.
constexpr std::string_view kColumns =
    "run_id, job, run_type, interval_start, interval_end, state, attempt, queued_at, "
    "started_at, ended_at, next_try_at, records_in, records_stored, records_rejected, "
    "exit_code, error, log_path, pid, pid_start, host";

// Owns a file descriptor; closing it drops the flock.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

void BindText(sqlite3_stmt* stmt, int index, std::string_view text) {
  // SQLITE_TRANSIENT: SQLite copies; the statement never outlives the call anyway.
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

void BindOptional(sqlite3_stmt* stmt, int index, const std::optional<int64_t>& value) {
  if (value) {
    sqlite3_bind_int64(stmt, index, *value);
  } else {
    sqlite3_bind_null(stmt, index);
  }
}

std::optional<int64_t> ColumnOptional(sqlite3_stmt* stmt, int col) {
  if (sqlite3_column_type(stmt, col) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(stmt, col);
}

std::string ColumnText(sqlite3_stmt* stmt, int col) {
  const unsigned char* text = sqlite3_column_text(stmt, col);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt, col)));
}

// Binds every field but run_id to ?1..?19 (the order of kColumns without run_id).
void BindRecord(sqlite3_stmt* stmt, const RunRecord& run) {
  BindText(stmt, 1, run.job);
  BindText(stmt, 2, RunTypeName(run.type));
  sqlite3_bind_int64(stmt, 3, run.interval_start_ms);
  sqlite3_bind_int64(stmt, 4, run.interval_end_ms);
  BindText(stmt, 5, RunStateName(run.state));
  sqlite3_bind_int64(stmt, 6, run.attempt);
  sqlite3_bind_int64(stmt, 7, run.queued_at_ms);
  BindOptional(stmt, 8, run.started_at_ms);
  BindOptional(stmt, 9, run.ended_at_ms);
  BindOptional(stmt, 10, run.next_try_at_ms);
  BindOptional(stmt, 11, run.records_in);
  BindOptional(stmt, 12, run.records_stored);
  BindOptional(stmt, 13, run.records_rejected);
  BindOptional(stmt, 14, run.exit_code ? std::optional<int64_t>(*run.exit_code) : std::nullopt);
  BindText(stmt, 15, run.error);
  BindText(stmt, 16, run.log_path);
  BindOptional(stmt, 17, run.pid);
  BindOptional(stmt, 18, run.pid_start);
  BindText(stmt, 19, run.host);
}

Result<RunRecord> RowToRecord(sqlite3_stmt* stmt) {
  RunRecord run;
  run.run_id = sqlite3_column_int64(stmt, 0);
  run.job = ColumnText(stmt, 1);
  const std::string type = ColumnText(stmt, 2);
  const auto parsed_type = ParseRunType(type);
  if (!parsed_type) {
    return Status::Fatal(fmt::format("run {} has an unknown run_type '{}'", run.run_id, type));
  }
  run.type = *parsed_type;
  run.interval_start_ms = sqlite3_column_int64(stmt, 3);
  run.interval_end_ms = sqlite3_column_int64(stmt, 4);
  const std::string state = ColumnText(stmt, 5);
  const auto parsed_state = ParseRunState(state);
  if (!parsed_state) {
    return Status::Fatal(fmt::format("run {} has an unknown state '{}'", run.run_id, state));
  }
  run.state = *parsed_state;
  run.attempt = sqlite3_column_int(stmt, 6);
  run.queued_at_ms = sqlite3_column_int64(stmt, 7);
  run.started_at_ms = ColumnOptional(stmt, 8);
  run.ended_at_ms = ColumnOptional(stmt, 9);
  run.next_try_at_ms = ColumnOptional(stmt, 10);
  run.records_in = ColumnOptional(stmt, 11);
  run.records_stored = ColumnOptional(stmt, 12);
  run.records_rejected = ColumnOptional(stmt, 13);
  if (const auto code = ColumnOptional(stmt, 14)) run.exit_code = static_cast<int>(*code);
  run.error = ColumnText(stmt, 15);
  run.log_path = ColumnText(stmt, 16);
  run.pid = ColumnOptional(stmt, 17);
  run.pid_start = ColumnOptional(stmt, 18);
  run.host = ColumnText(stmt, 19);
  return run;
}

// Setting up a database another process is setting up at the same moment: journal_mode=WAL
// can fail BUSY without consulting the busy handler, so retry for a bounded while.
Status ExecWhileBusy(SqliteDb& db, std::string_view sql) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kBusyTimeoutMs);
  while (true) {
    Status s = db.Exec(sql);
    if (!s.retriable() || std::chrono::steady_clock::now() > deadline) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

class SqliteRunStore final : public RunStore {
 public:
  SqliteRunStore(std::string data_dir, SqliteDb db)
      : data_dir_(std::move(data_dir)), db_(std::move(db)) {}

  Result<std::optional<int64_t>> Create(const RunRecord& run) override {
    if (run.job.empty()) return Status::Fatal("create run: the job name is empty");
    auto stmt = Prepare(
        "INSERT INTO spate_runs (job, run_type, interval_start, interval_end, state, attempt, "
        "queued_at, started_at, ended_at, next_try_at, records_in, records_stored, "
        "records_rejected, exit_code, error, log_path, pid, pid_start, host) VALUES (?1, ?2, ?3, "
        "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19) "
        "ON CONFLICT DO NOTHING RETURNING run_id",
        "create run");
    if (!stmt.ok()) return stmt.status();
    BindRecord(stmt->get(), run);
    const int rc = sqlite3_step(stmt->get());
    if (rc == SQLITE_DONE) return std::optional<int64_t>();  // The interval's run exists.
    if (rc != SQLITE_ROW) return Failed("create run");
    const int64_t id = sqlite3_column_int64(stmt->get(), 0);
    // RETURNING hands the row out before the statement is done; the insert commits at the end.
    if (sqlite3_step(stmt->get()) != SQLITE_DONE) return Failed("create run");
    return std::optional<int64_t>(id);
  }

  Status Update(const RunRecord& run) override {
    auto stmt = Prepare(
        "UPDATE spate_runs SET job = ?1, run_type = ?2, interval_start = ?3, interval_end = ?4, "
        "state = ?5, attempt = ?6, queued_at = ?7, started_at = ?8, ended_at = ?9, "
        "next_try_at = ?10, records_in = ?11, records_stored = ?12, records_rejected = ?13, "
        "exit_code = ?14, error = ?15, log_path = ?16, pid = ?17, pid_start = ?18, host = ?19 "
        "WHERE run_id = ?20",
        "update run");
    if (!stmt.ok()) return stmt.status();
    BindRecord(stmt->get(), run);
    sqlite3_bind_int64(stmt->get(), 20, run.run_id);
    if (sqlite3_step(stmt->get()) != SQLITE_DONE) return Failed("update run");
    if (sqlite3_changes(db_.get()) == 0) {
      return Status::Fatal(fmt::format("update run: there is no run {}", run.run_id));
    }
    return Status::Ok();
  }

  Result<std::optional<RunRecord>> Get(int64_t run_id) override {
    auto stmt =
        Prepare(fmt::format("SELECT {} FROM spate_runs WHERE run_id = ?1", kColumns), "get run");
    if (!stmt.ok()) return stmt.status();
    sqlite3_bind_int64(stmt->get(), 1, run_id);
    auto runs = ReadAll(stmt->get(), "get run");
    if (!runs.ok()) return runs.status();
    if (runs->empty()) return std::optional<RunRecord>();
    return std::optional<RunRecord>(std::move(runs->front()));
  }

  Result<std::vector<RunRecord>> List(const RunFilter& filter) override {
    // Only placeholders go into the text; every value is bound.
    std::string sql = fmt::format("SELECT {} FROM spate_runs WHERE 1 = 1", kColumns);
    std::vector<std::string> texts;  // Bound in order as ?1, ?2, ...
    std::vector<int64_t> numbers;    // Bound after the texts.
    if (!filter.job.empty()) {
      texts.push_back(filter.job);
      sql += fmt::format(" AND job = ?{}", texts.size());
    }
    if (filter.state) {
      texts.emplace_back(RunStateName(*filter.state));
      sql += fmt::format(" AND state = ?{}", texts.size());
    }
    if (!filter.states.empty()) {
      sql += " AND state IN (";
      for (size_t i = 0; i < filter.states.size(); ++i) {
        texts.emplace_back(RunStateName(filter.states[i]));
        sql += fmt::format("{}?{}", i == 0 ? "" : ", ", texts.size());
      }
      sql += ")";
    }
    std::string numeric;
    if (filter.interval_from_ms) {
      numbers.push_back(*filter.interval_from_ms);
      numeric += fmt::format(" AND interval_start >= ?{}", texts.size() + numbers.size());
    }
    if (filter.interval_to_ms) {
      numbers.push_back(*filter.interval_to_ms);
      numeric += fmt::format(" AND interval_start <= ?{}", texts.size() + numbers.size());
    }
    sql += numeric;
    sql += " ORDER BY interval_start DESC, run_id DESC";
    if (filter.limit > 0) {
      numbers.push_back(static_cast<int64_t>(filter.limit));
      sql += fmt::format(" LIMIT ?{}", texts.size() + numbers.size());
    }
    auto stmt = Prepare(sql, "list runs");
    if (!stmt.ok()) return stmt.status();
    int index = 1;
    for (const std::string& text : texts) BindText(stmt->get(), index++, text);
    for (const int64_t number : numbers) sqlite3_bind_int64(stmt->get(), index++, number);
    return ReadAll(stmt->get(), "list runs");
  }

  Result<std::vector<RunRecord>> Unfinished() override {
    auto stmt = Prepare(fmt::format("SELECT {} FROM spate_runs WHERE state IN ('queued', "
                                    "'running', 'up_for_retry') ORDER BY interval_start, run_id",
                                    kColumns),
                        "list unfinished runs");
    if (!stmt.ok()) return stmt.status();
    return ReadAll(stmt->get(), "list unfinished runs");
  }

  Result<std::optional<int64_t>> LastScheduledStart(std::string_view job) override {
    auto stmt = Prepare(
        "SELECT max(interval_start) FROM spate_runs WHERE job = ?1 AND run_type = 'scheduled'",
        "last scheduled interval");
    if (!stmt.ok()) return stmt.status();
    BindText(stmt->get(), 1, job);
    if (sqlite3_step(stmt->get()) != SQLITE_ROW) return Failed("last scheduled interval");
    return ColumnOptional(stmt->get(), 0);
  }

  Result<std::optional<RunRecord>> RunCovering(std::string_view job, int64_t instant_ms) override {
    // The newest such run, should intervals of a job ever overlap (its schedule changed).
    auto stmt = Prepare(fmt::format("SELECT {} FROM spate_runs WHERE job = ?1 AND run_type IN "
                                    "('scheduled', 'backfill') AND interval_start <= ?2 AND "
                                    "interval_end > ?2 ORDER BY interval_start DESC, run_id DESC "
                                    "LIMIT 1",
                                    kColumns),
                        "find the run covering an instant");
    if (!stmt.ok()) return stmt.status();
    BindText(stmt->get(), 1, job);
    sqlite3_bind_int64(stmt->get(), 2, instant_ms);
    auto runs = ReadAll(stmt->get(), "find the run covering an instant");
    if (!runs.ok()) return runs.status();
    if (runs->empty()) return std::optional<RunRecord>();
    return std::optional<RunRecord>(std::move(runs->front()));
  }

  Status Lock(std::string_view holder, int64_t now_ms) override {
    if (lock_fd_.get() < 0) {
      const std::string path = data_dir_ + "/schedule.lock";
      // O_CLOEXEC: a run's child process must not inherit the lock, or a SIGKILLed scheduler's
      // lock would live on in its children and block the restart.
      Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
      if (fd.get() < 0) {
        return Status::Fatal(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
      }
      int rc = 0;
      do {
        rc = ::flock(fd.get(), LOCK_EX | LOCK_NB);
      } while (rc != 0 && errno == EINTR);
      if (rc != 0) {
        if (errno != EWOULDBLOCK) {
          return Status::Fatal(fmt::format("cannot lock {}: {}", path, std::strerror(errno)));
        }
        return Status::Fatal(HeldMessage());
      }
      lock_fd_ = std::move(fd);
    }
    holder_ = std::string(holder);
    started_at_ms_ = now_ms;
    return WriteHeartbeat(now_ms, "record the scheduler");
  }

  Status Heartbeat(int64_t now_ms) override {
    if (lock_fd_.get() < 0) return Status::Fatal("heartbeat: this store does not hold the lock");
    return WriteHeartbeat(now_ms, "heartbeat");
  }

  Result<std::optional<SchedulerHeartbeat>> LastHeartbeat() override {
    auto stmt = Prepare("SELECT holder, started_at, heartbeat_at FROM spate_scheduler WHERE id = 1",
                        "read the heartbeat");
    if (!stmt.ok()) return stmt.status();
    const int rc = sqlite3_step(stmt->get());
    if (rc == SQLITE_DONE) return std::optional<SchedulerHeartbeat>();
    if (rc != SQLITE_ROW) return Failed("read the heartbeat");
    SchedulerHeartbeat beat;
    beat.holder = ColumnText(stmt->get(), 0);
    beat.started_at_ms = sqlite3_column_int64(stmt->get(), 1);
    beat.heartbeat_at_ms = sqlite3_column_int64(stmt->get(), 2);
    return std::optional<SchedulerHeartbeat>(std::move(beat));
  }

  std::string Describe() const override { return "sqlite " + data_dir_ + "/schedule.db"; }

 private:
  Result<SqliteStmt> Prepare(std::string_view sql, std::string_view what) {
    auto stmt = db_.Prepare(sql);
    if (!stmt.ok()) return stmt.status().WithContext(what);
    return stmt;
  }

  Status Failed(std::string_view what) const { return db_.Error(what); }

  Result<std::vector<RunRecord>> ReadAll(sqlite3_stmt* stmt, std::string_view what) {
    std::vector<RunRecord> runs;
    while (true) {
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) return runs;
      if (rc != SQLITE_ROW) return Failed(what);
      auto run = RowToRecord(stmt);
      if (!run.ok()) return run.status().WithContext(what);
      runs.push_back(std::move(run).value());
    }
  }

  Status WriteHeartbeat(int64_t now_ms, std::string_view what) {
    auto stmt = Prepare(
        "INSERT INTO spate_scheduler (id, holder, started_at, heartbeat_at) VALUES (1, ?1, ?2, "
        "?3) ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, "
        "started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at",
        what);
    if (!stmt.ok()) return stmt.status();
    BindText(stmt->get(), 1, holder_);
    sqlite3_bind_int64(stmt->get(), 2, started_at_ms_);
    sqlite3_bind_int64(stmt->get(), 3, now_ms);
    if (sqlite3_step(stmt->get()) != SQLITE_DONE) return Failed(what);
    return Status::Ok();
  }

  // The holder writes its name right after taking the lock, so the table names it (for an
  // instant after a restart it may still name the previous one, which is then gone).
  std::string HeldMessage() {
    std::string holder = "unknown";
    auto beat = LastHeartbeat();
    if (beat.ok() && beat->has_value() && !(*beat)->holder.empty()) holder = (*beat)->holder;
    return fmt::format("another scheduler ({}) is using this history ({}); stop it first", holder,
                       Describe());
  }

  // Constant after construction.
  const std::string data_dir_;
  SqliteDb db_;
  // Set by Lock(): the lock file (open while the lock is held) and who holds it.
  Fd lock_fd_;
  std::string holder_;
  int64_t started_at_ms_ = 0;
};

}  // namespace

Result<std::unique_ptr<RunStore>> OpenSqliteRunStore(const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return Status::Fatal(fmt::format("cannot create data directory '{}': {} (set --data-dir)",
                                     data_dir, ec.message()));
  }
  const std::string path = data_dir + "/schedule.db";
  auto db = SqliteDb::Open(path, /*create=*/true);
  if (!db.ok()) return db.status().WithContext(path);
  // First: setting up a database another process is setting up waits instead of failing.
  sqlite3_busy_timeout(db->get(), kBusyTimeoutMs);
  if (Status s = ExecWhileBusy(*db, kPragmas); !s.ok()) return s.WithContext(path);
  if (Status s = ExecWhileBusy(*db, kSchema); !s.ok()) {
    return s.WithContext(path + ": create the run history tables");
  }
  return std::unique_ptr<RunStore>(
      std::make_unique<SqliteRunStore>(data_dir, std::move(db).value()));
}

}  // namespace spate
