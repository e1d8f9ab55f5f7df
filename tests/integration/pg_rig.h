// A throwaway PostgreSQL server for integration tests and benchmarks: initdb into a fresh
// temporary directory, a postmaster on a free 127.0.0.1 port with password (SCRAM) logins, and
// libpq helpers to set up databases and read back what a test stored.
//
//   PgRig pg;
//   PgStatus s = pg.Start();
//   ASSERT_TRUE(s.ok()) << s.error();
//   ASSERT_TRUE(pg.CreateDatabase("sink").ok());
//   ... point spate at pg.Dsn("sink") ...
//   PgRows rows = pg.Query("sink", "SELECT id, body FROM events ORDER BY id");
//
// It runs Debian's server binaries (/usr/lib/postgresql/<major>/bin, from the postgresql-15
// package that scripts/setup.sh installs) as a child process. postgres refuses to run as root,
// so under root initdb and the server run as the `postgres` user, and the temporary directory is
// handed to that user. The server can be stopped, killed and started again on the same data
// directory and the same port, which is what tests of reconnects and crash recovery need. The
// destructor stops it and deletes the directory, so a failing test leaves nothing behind.
//
// Everything here talks only to 127.0.0.1: the server listens there (plus a Unix socket inside
// the temporary directory, which nothing here uses), and the helpers refuse a connection string
// that points anywhere else. Nothing here calls gtest, so benchmarks can use it too; failures
// come back as a PgStatus (or a null handle plus an error text) that says what went wrong.
//
// Needs libpq at link time. Call Start/Stop/Restart/Kill from one thread; the const helpers
// (Dsn, Connect, Exec, Query, CreateDatabase) each open their own connection, so any thread may
// call them while the server is up.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "sinks/pg.h"
#include "unique_fd.h"

namespace spate::testing {

// The outcome of a rig operation: ok, or what went wrong in words fit for a test failure.
class [[nodiscard]] PgStatus {
 public:
  static PgStatus Ok() { return PgStatus(); }
  static PgStatus Error(std::string message) {
    PgStatus status;
    status.ok_ = false;
    status.error_ = std::move(message);
    return status;
  }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

 private:
  bool ok_ = true;
  std::string error_;
};

// libpq handles, released on every path (the same owning types the sink uses).
using PgConnPtr = spate::PgConn;
using PgResultPtr = spate::PgResult;

// Column values in text form, as bound parameters or as one row of a result; std::nullopt is
// SQL NULL.
using PgValues = std::vector<std::optional<std::string>>;

// What a query returned: its rows (none for a command such as INSERT), or why it failed.
struct PgRows {
  PgStatus status = PgStatus::Ok();
  std::vector<PgValues> rows;
  bool ok() const { return status.ok(); }
};

namespace pg_rig_detail {

using Clock = std::chrono::steady_clock;

// How often to look at a child that is starting or stopping; short, as every test waits on it.
constexpr auto kPoll = std::chrono::milliseconds(10);
// How much of a log goes into an error message: enough for postgres's FATAL line and its hint.
constexpr size_t kLogTailBytes = 2048;

using spate::testing::UniqueFd;

inline std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// libpq messages end in a newline; error texts read better without it.
inline std::string TrimEnd(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// A conninfo value in single quotes, with the backslash escapes libpq expects inside them.
inline std::string QuoteConnValue(std::string_view value) {
  std::string quoted = "'";
  for (const char c : value) {
    if (c == '\'' || c == '\\') quoted += '\\';
    quoted += c;
  }
  quoted += '\'';
  return quoted;
}

inline std::uintmax_t FileSize(const std::string& path) {
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

// The end of `path` from byte `from` on, at most kLogTailBytes, starting at a line boundary:
// what a child wrote during the attempt that failed.
inline std::string FileTail(const std::string& path, std::uintmax_t from = 0) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "(no log at " + path + ")";
  const std::uintmax_t size = FileSize(path);
  std::uintmax_t start = from;
  const bool cut = size > from + kLogTailBytes;
  if (cut) start = size - kLogTailBytes;
  in.seekg(static_cast<std::streamoff>(start));
  std::stringstream text;
  text << in.rdbuf();
  std::string tail = text.str();
  if (cut) {
    const size_t nl = tail.find('\n');
    tail = "..." + (nl == std::string::npos ? tail : tail.substr(nl + 1));
  }
  tail = TrimEnd(std::move(tail));
  return tail.empty() ? "(log is empty)" : tail;
}

// The highest-numbered <root>/<major>/bin that holds both initdb and postgres, as Debian lays
// out server versions side by side. False if there is none.
inline bool FindServerBinDir(const std::string& root, std::string* bin_dir, int* major) {
  std::error_code ec;
  int best = -1;
  for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    int version = -1;
    // "15"; pre-10 releases were "9.6", whose leading number is enough to rank them.
    const auto [end, err] = std::from_chars(name.data(), name.data() + name.size(), version);
    if (err != std::errc() || end == name.data()) continue;
    const std::string bin = entry.path().string() + "/bin";
    if (version > best && access((bin + "/initdb").c_str(), X_OK) == 0 &&
        access((bin + "/postgres").c_str(), X_OK) == 0) {
      best = version;
      *bin_dir = bin;
    }
  }
  if (best < 0) return false;
  *major = best;
  return true;
}

// A TCP port on 127.0.0.1 that was free a moment ago: bind port 0, read back what the kernel
// chose, close. Another process could take it before postgres binds it; the caller retries.
inline PgStatus PickFreePort(int* port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return PgStatus::Error(Errno("socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return PgStatus::Error(Errno("bind 127.0.0.1:0"));
  }
  socklen_t len = sizeof(addr);
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return PgStatus::Error(Errno("getsockname"));
  }
  *port = ntohs(addr.sin_port);
  return PgStatus::Ok();
}

// Who a child runs as: the current user, or (under root) another one.
struct Identity {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Hands `root` and everything under it to `who`, so the postgres user can write there.
inline PgStatus ChownTree(const std::string& root, const Identity& who) {
  if (lchown(root.c_str(), who.uid, who.gid) != 0) return PgStatus::Error(Errno("chown " + root));
  std::error_code ec;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root, ec)) {
    const std::string path = entry.path().string();
    if (lchown(path.c_str(), who.uid, who.gid) != 0) {
      return PgStatus::Error(Errno("chown " + path));
    }
  }
  if (ec) return PgStatus::Error("listing " + root + ": " + ec.message());
  return PgStatus::Ok();
}

// The test's environment minus PG* variables: PGDATA, PGPORT, PGOPTIONS and the like would
// change what initdb and postgres do, and the rig passes everything it means explicitly.
inline std::vector<std::string> ChildEnvironment() {
  std::vector<std::string> env;
  for (char** var = environ; *var != nullptr; ++var) {
    if (std::string_view(*var).starts_with("PG")) continue;
    env.emplace_back(*var);
  }
  return env;
}

// A fixed message to stderr from a forked child, where only async-signal-safe calls are allowed.
inline void ChildSay(const char* text) {
  const ssize_t ignored = write(STDERR_FILENO, text, std::strlen(text));
  static_cast<void>(ignored);
}

// Exit codes of a child that failed before exec; the message is in its log.
constexpr int kExitSetupFailed = 126;
constexpr int kExitExecFailed = 127;

// Starts `args` (argv[0] an absolute path) in `cwd` as `who`, stdin from /dev/null, stdout and
// stderr to `out_fd`. Returns the pid, or -1 with *error set. fork+execve rather than
// posix_spawn because posix_spawn cannot change the user; no shell is involved.
inline pid_t Launch(const std::vector<std::string>& args, const Identity& who, int out_fd,
                    const std::string& cwd, std::string* error) {
  // Everything the child needs is built before fork: the test process may have other threads,
  // so between fork and exec the child may only make async-signal-safe calls (no malloc).
  std::vector<std::string> arg_copy = args;
  std::vector<char*> argv;
  for (std::string& a : arg_copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_copy = ChildEnvironment();
  std::vector<char*> envp;
  for (std::string& e : env_copy) envp.push_back(e.data());
  envp.push_back(nullptr);
  UniqueFd devnull(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (devnull.get() < 0) {
    *error = Errno("open /dev/null");
    return -1;
  }

  const pid_t pid = fork();
  if (pid < 0) {
    *error = Errno("fork");
    return -1;
  }
  if (pid > 0) return pid;

  // Child. No blocked signals, and default actions for those a test runner may have ignored
  // (ignored signals stay ignored across exec), so the server reacts to SIGINT as documented.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (const int sig : {SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2}) {
    signal(sig, SIG_DFL);
  }
  if (dup2(devnull.get(), STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
      dup2(out_fd, STDERR_FILENO) < 0) {
    _exit(kExitSetupFailed);
  }
  // Nothing else of the test process (sockets, another child's pipes) may live on in a server
  // that outlives the code that opened it. Old kernels lack close_range; then only the
  // descriptors opened without O_CLOEXEC leak, which is harmless for a test.
  close_range(3, ~0U, 0);
  if (who.switch_user) {
    // Group first: once the uid is dropped, changing groups is no longer allowed.
    if (setgroups(1, &who.gid) != 0 || setgid(who.gid) != 0 || setuid(who.uid) != 0) {
      ChildSay("pg_rig: cannot switch to the postgres user\n");
      _exit(kExitSetupFailed);
    }
  }
  if (chdir(cwd.c_str()) != 0) {
    ChildSay("pg_rig: cannot chdir to the rig directory\n");
    _exit(kExitSetupFailed);
  }
  execve(argv[0], argv.data(), envp.data());
  ChildSay("pg_rig: cannot exec ");
  ChildSay(argv[0]);
  ChildSay("\n");
  _exit(kExitExecFailed);
}

// Reaps `pid` if it has exited, without waiting. True if it had, with its wait status.
inline bool Exited(pid_t pid, int* status) {
  while (true) {
    const pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno == EINTR) continue;
    // r < 0 otherwise means it is not our child (any more): nothing left to wait for.
    if (r < 0) {
      *status = 0;
      return true;
    }
    return false;
  }
}

// Waits for `pid` to exit until `deadline`. True (and reaped) if it did, false if it is still
// running.
inline bool WaitFor(pid_t pid, Clock::time_point deadline, int* status) {
  while (!Exited(pid, status)) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPoll);
  }
  return true;
}

// SIGKILL and reap; blocks until the process is gone, which SIGKILL makes quick.
inline int KillAndReap(pid_t pid) {
  kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

inline bool ExitedCleanly(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

inline std::string DescribeWait(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// A full connection string rather than a database name: libpq's own rule for its dbname
// parameter (an '=' or a URI prefix).
inline bool LooksLikeConninfo(std::string_view target) {
  return target.find('=') != std::string_view::npos || target.starts_with("postgresql://") ||
         target.starts_with("postgres://");
}

// Accepts only connection strings whose host (and hostaddr, if given) is 127.0.0.1, so a
// typo in a test can never reach a real server. A missing host is refused too: libpq would
// fall back to $PGHOST or the system's Unix socket.
inline PgStatus CheckLoopbackOnly(const std::string& conninfo) {
  char* parse_error = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(
      PQconninfoParse(conninfo.c_str(), &parse_error), &PQconninfoFree);
  if (!options) {
    const std::string why = parse_error ? TrimEnd(parse_error) : "out of memory";
    PQfreemem(parse_error);
    return PgStatus::Error("bad connection string: " + why);
  }
  std::string host;
  std::string hostaddr;
  for (const PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
    const std::string_view keyword = o->keyword;
    if (keyword == "host" && o->val) host = o->val;
    if (keyword == "hostaddr" && o->val) hostaddr = o->val;
  }
  if (host != "127.0.0.1" || (!hostaddr.empty() && hostaddr != "127.0.0.1")) {
    return PgStatus::Error("refusing to connect anywhere but 127.0.0.1 (host '" + host +
                           "', hostaddr '" + hostaddr + "')");
  }
  return PgStatus::Ok();
}

}  // namespace pg_rig_detail

// One throwaway PostgreSQL server. Nothing runs until Start().
class PgRig {
 public:
  struct Options {
    // Where Debian installs server versions side by side, as <root>/<major>/bin.
    std::string install_root = "/usr/lib/postgresql";
    // From spawning postgres to its first accepted connection; crash recovery counts too.
    std::chrono::milliseconds start_timeout{30000};
    // How long a fast shutdown (SIGINT) may take before SIGKILL.
    std::chrono::milliseconds stop_timeout{10000};
    // Extra server settings ("name=value", each passed as -c), after the rig's own so they win.
    std::vector<std::string> settings = {};
  };

  static constexpr std::string_view kHost = "127.0.0.1";
  static constexpr std::string_view kSuperuser = "postgres";
  static constexpr std::string_view kPassword = "rig-secret";

  PgRig() : PgRig(Options{}) {}
  explicit PgRig(Options options) : options_(std::move(options)) {}
  // Stops the server if it runs and deletes the temporary directory with everything in it.
  ~PgRig() {
    static_cast<void>(Stop());
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  PgRig(const PgRig&) = delete;
  PgRig& operator=(const PgRig&) = delete;

  // The first call creates the temporary directory, runs initdb and picks the port; every call
  // starts the server on that data directory and port, and returns once it accepts
  // connections. After Stop() or Kill() this is "start again": postgres replays its WAL, so
  // whatever was committed is there. An error if the server is already running.
  PgStatus Start() {
    if (pid_ > 0) return PgStatus::Error("already running on port " + std::to_string(port_));
    if (!initialized_) {
      PgStatus status = Initialize();
      if (!status.ok()) {
        RemoveDir();
        return status;
      }
    }
    return StartServer();
  }

  // Fast shutdown (SIGINT: running transactions are rolled back, clients are disconnected),
  // SIGKILL if it takes longer than Options::stop_timeout. The data directory and port are
  // kept for Start(). Ok if the server was not running; an error if it had died on its own or
  // did not shut down cleanly.
  PgStatus Stop() {
    namespace d = pg_rig_detail;
    if (pid_ <= 0) return PgStatus::Ok();
    const pid_t pid = std::exchange(pid_, -1);
    int status = 0;
    if (d::Exited(pid, &status)) {
      return PgStatus::Error("postgres had already exited (" + d::DescribeWait(status) +
                             "); log:\n" + d::FileTail(log_path_));
    }
    kill(pid, SIGINT);
    if (!d::WaitFor(pid, d::Clock::now() + options_.stop_timeout, &status)) {
      d::KillAndReap(pid);
      return PgStatus::Error("postgres did not shut down within " +
                             std::to_string(options_.stop_timeout.count()) +
                             " ms of SIGINT and was killed");
    }
    if (!d::ExitedCleanly(status)) {
      return PgStatus::Error("postgres shut down with " + d::DescribeWait(status) + "; log:\n" +
                             d::FileTail(log_path_));
    }
    return PgStatus::Ok();
  }

  PgStatus Restart() {
    PgStatus stopped = Stop();
    if (!stopped.ok()) return stopped;
    return Start();
  }

  // SIGKILLs the postmaster, as a crash would, and reaps it. Its backends notice and exit on
  // their own a moment later; Start() waits for them. An error if the server was not running
  // or had already died.
  PgStatus Kill() {
    namespace d = pg_rig_detail;
    if (pid_ <= 0) return PgStatus::Error("not running");
    const pid_t pid = std::exchange(pid_, -1);
    const int status = d::KillAndReap(pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
      return PgStatus::Error("postgres had already exited (" + d::DescribeWait(status) +
                             "); log:\n" + d::FileTail(log_path_));
    }
    return PgStatus::Ok();
  }

  // True between a successful Start() and Stop()/Kill(); says nothing of a server that died
  // on its own.
  bool running() const { return pid_ > 0; }
  // 0 until the first Start(); the same from then on.
  int port() const { return port_; }
  std::string host() const { return std::string(kHost); }
  std::string password() const { return std::string(kPassword); }
  // The temporary directory (data/, socket/, server.log, initdb.log); empty before Start().
  const std::string& dir() const { return dir_; }
  // Everything the server wrote to stderr, across restarts.
  std::string ServerLog() const {
    std::ifstream in(log_path_, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // A libpq keyword/value connection string for this server, e.g.
  //   host=127.0.0.1 port=41234 dbname='sink' user='postgres' password='rig-secret'
  //   connect_timeout=5
  std::string Dsn(std::string_view database = "postgres", std::string_view user = kSuperuser,
                  std::string_view password = kPassword) const {
    namespace d = pg_rig_detail;
    return "host=" + std::string(kHost) + " port=" + std::to_string(port_) +
           " dbname=" + d::QuoteConnValue(database) + " user=" + d::QuoteConnValue(user) +
           " password=" + d::QuoteConnValue(password) +
           " connect_timeout=" + std::to_string(kConnectTimeoutSeconds);
  }

  // A new connection. `target` is a database on this server (as the superuser), or a full
  // connection string (anything containing '=', or a postgres:// URI), which must point at
  // 127.0.0.1. Null on failure, with *error (if given) set to libpq's message.
  PgConnPtr Connect(const std::string& target, std::string* error = nullptr) const {
    namespace d = pg_rig_detail;
    std::string conninfo = target;
    if (!d::LooksLikeConninfo(target)) {
      conninfo = Dsn(target);
    } else if (PgStatus local = d::CheckLoopbackOnly(target); !local.ok()) {
      if (error) *error = local.error();
      return nullptr;
    }
    PgConnPtr conn(PQconnectdb(conninfo.c_str()));
    if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
      if (error) *error = conn ? d::TrimEnd(PQerrorMessage(conn.get())) : "out of memory";
      return nullptr;
    }
    return conn;
  }

  // Runs `sql` (one or more statements, no parameters) on `target` (see Connect).
  PgStatus Exec(const std::string& target, const std::string& sql) const {
    std::string error;
    PgConnPtr conn = Connect(target, &error);
    if (!conn) return PgStatus::Error("connect: " + error);
    PgResultPtr result(PQexec(conn.get(), sql.c_str()));
    return ResultStatus(conn.get(), result.get());
  }

  // Runs one statement with `params` bound to $1, $2, ... (text form; std::nullopt is NULL)
  // and returns its rows in text form, as psql would print them.
  PgRows Query(const std::string& target, const std::string& sql,
               const PgValues& params = {}) const {
    PgRows out;
    std::string error;
    PgConnPtr conn = Connect(target, &error);
    if (!conn) {
      out.status = PgStatus::Error("connect: " + error);
      return out;
    }
    std::vector<const char*> values;
    for (const std::optional<std::string>& p : params) {
      values.push_back(p ? p->c_str() : nullptr);
    }
    // Text parameters and results: no lengths or formats needed; the server infers types.
    PgResultPtr result(PQexecParams(conn.get(), sql.c_str(), static_cast<int>(values.size()),
                                    nullptr, values.data(), nullptr, nullptr, 0));
    out.status = ResultStatus(conn.get(), result.get());
    if (!out.ok() || PQresultStatus(result.get()) != PGRES_TUPLES_OK) return out;
    const int columns = PQnfields(result.get());
    for (int row = 0; row < PQntuples(result.get()); ++row) {
      PgValues& values_out = out.rows.emplace_back();
      for (int col = 0; col < columns; ++col) {
        if (PQgetisnull(result.get(), row, col)) {
          values_out.emplace_back(std::nullopt);
        } else {
          values_out.emplace_back(
              std::string(PQgetvalue(result.get(), row, col), PQgetlength(result.get(), row, col)));
        }
      }
    }
    return out;
  }

  // CREATE DATABASE `name` (any characters; quoted as an identifier, so case is kept).
  PgStatus CreateDatabase(const std::string& name) const {
    namespace d = pg_rig_detail;
    std::string error;
    PgConnPtr conn = Connect("postgres", &error);
    if (!conn) return PgStatus::Error("connect: " + error);
    std::unique_ptr<char, decltype(&PQfreemem)> quoted(
        PQescapeIdentifier(conn.get(), name.c_str(), name.size()), &PQfreemem);
    if (!quoted) return PgStatus::Error(d::TrimEnd(PQerrorMessage(conn.get())));
    const std::string sql = "CREATE DATABASE " + std::string(quoted.get());
    PgResultPtr result(PQexec(conn.get(), sql.c_str()));
    return ResultStatus(conn.get(), result.get());
  }

 private:
  static constexpr int kConnectTimeoutSeconds = 5;
  // initdb writes a few MB and, with --no-sync, takes 1-2 s; a minute means something is wrong.
  static constexpr auto kInitdbTimeout = std::chrono::seconds(60);
  // Between attempts to start postgres while a killed server's backends are still exiting.
  static constexpr auto kRetryPause = std::chrono::milliseconds(100);
  // "/.s.PGSQL.65535": postgres puts its Unix socket in the socket directory under this name.
  static constexpr size_t kSocketNameMax = 16;

  static PgStatus ResultStatus(PGconn* conn, PGresult* result) {
    namespace d = pg_rig_detail;
    if (!result) return PgStatus::Error(d::TrimEnd(PQerrorMessage(conn)));
    const ExecStatusType status = PQresultStatus(result);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return PgStatus::Ok();
    return PgStatus::Error(d::TrimEnd(PQresultErrorMessage(result)));
  }

  // The temporary directory, initdb, and the port.
  PgStatus Initialize() {
    namespace d = pg_rig_detail;
    if (!d::FindServerBinDir(options_.install_root, &bin_dir_, &major_)) {
      return PgStatus::Error("no PostgreSQL server (initdb and postgres) under " +
                             options_.install_root +
                             "/<version>/bin; run scripts/setup.sh, which installs postgresql-15");
    }
    if (geteuid() == 0) {
      // "root execution of the PostgreSQL server is not permitted": run it as the postgres
      // user that Debian's package creates.
      passwd entry{};
      passwd* found = nullptr;
      std::vector<char> buffer(16384);
      if (getpwnam_r("postgres", &entry, buffer.data(), buffer.size(), &found) != 0 || !found) {
        return PgStatus::Error(
            "running as root, and there is no postgres user to run the server as; run "
            "scripts/setup.sh (the postgresql-15 package creates the user)");
      }
      as_ = {.switch_user = true, .uid = found->pw_uid, .gid = found->pw_gid};
    }

    const char* tmpdir = std::getenv("TMPDIR");
    std::string dir = std::string(tmpdir && *tmpdir ? tmpdir : "/tmp") + "/spate-pg-XXXXXX";
    if (!mkdtemp(dir.data())) return PgStatus::Error(d::Errno("mkdtemp " + dir));
    dir_ = dir;
    data_dir_ = dir_ + "/data";
    socket_dir_ = dir_ + "/socket";
    log_path_ = dir_ + "/server.log";
    const std::string pwfile = dir_ + "/pwfile";
    const std::string initdb_log = dir_ + "/initdb.log";

    // postgres fails with "Unix-domain socket path ... is too long" otherwise; say so up front.
    if (socket_dir_.size() + kSocketNameMax > sizeof(sockaddr_un{}.sun_path)) {
      return PgStatus::Error("temporary directory path too long for a Unix socket: " + dir_ +
                             "; set TMPDIR to a shorter directory");
    }
    if (mkdir(socket_dir_.c_str(), 0700) != 0) {
      return PgStatus::Error(d::Errno("mkdir " + socket_dir_));
    }
    {
      d::UniqueFd fd(open(pwfile.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
      const std::string line = std::string(kPassword) + "\n";
      if (fd.get() < 0 ||
          write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        return PgStatus::Error(d::Errno("writing " + pwfile));
      }
    }
    if (as_.switch_user) {
      PgStatus owned = d::ChownTree(dir_, as_);
      if (!owned.ok()) return owned;
    }

    std::vector<std::string> args = {bin_dir_ + "/initdb", "-D", data_dir_, "-U",
                                     std::string(kSuperuser)};
    // Passwords for TCP and the Unix socket alike, as a production server would demand them.
    args.insert(args.end(), {"--auth=scram-sha-256", "--pwfile=" + pwfile});
    // The same encoding and collation whatever the machine's locale; no fsync of a throwaway.
    args.insert(args.end(), {"-E", "UTF8", "--locale=C", "--no-sync"});
    // Added in 14; without it initdb ends with a pg_ctl hint the log does not need.
    if (major_ >= 14) args.push_back("--no-instructions");
    d::UniqueFd log(open(initdb_log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (log.get() < 0) return PgStatus::Error(d::Errno("open " + initdb_log));
    std::string error;
    const pid_t pid = d::Launch(args, as_, log.get(), dir_, &error);
    if (pid < 0) return PgStatus::Error(error);
    int status = 0;
    if (!d::WaitFor(pid, d::Clock::now() + kInitdbTimeout, &status)) {
      d::KillAndReap(pid);
      return PgStatus::Error("initdb did not finish within " +
                             std::to_string(kInitdbTimeout.count()) + " s; log:\n" +
                             d::FileTail(initdb_log));
    }
    if (!d::ExitedCleanly(status)) {
      std::string message =
          "initdb failed (" + d::DescribeWait(status) + "); log:\n" + d::FileTail(initdb_log);
      if (as_.switch_user) {
        message += "\n(under root it runs as the postgres user, which must be able to reach " +
                   dir_ + "; if it cannot, set TMPDIR to a directory it can reach, e.g. /tmp)";
      }
      return PgStatus::Error(message);
    }
    // The password now lives in the cluster; the file has done its job.
    std::error_code ignored;
    std::filesystem::remove(pwfile, ignored);

    PgStatus port = d::PickFreePort(&port_);
    if (!port.ok()) return port;
    initialized_ = true;
    return PgStatus::Ok();
  }

  std::vector<std::string> ServerArgs() const {
    std::vector<std::string> args = {
        bin_dir_ + "/postgres", "-D", data_dir_, "-p", std::to_string(port_),
        // TCP on loopback only; the Unix socket goes inside the rig's directory rather than
        // the system's /var/run/postgresql, which may not exist and is not ours.
        "-c", "listen_addresses=" + std::string(kHost), "-k", socket_dir_,
        // Speed over durability against an OS crash, which no test simulates. A killed
        // postgres loses nothing with these: what it wrote is in the page cache, and the WAL
        // replay on start restores it. synchronous_commit stays on: with it off, COMMIT returns
        // before the WAL leaves shared memory, and a SIGKILL can then lose committed rows,
        // which would break the crash tests (tried: 24 of 100 rows, each committed on its own,
        // were gone after a kill, every time); with fsync off it costs one write() per commit.
        "-c", "fsync=off", "-c", "full_page_writes=off",
        // Room for several pipelines' connection pools plus the test's own connections.
        "-c", "max_connections=50"};
    for (const std::string& setting : options_.settings) {
      args.push_back("-c");
      args.push_back(setting);
    }
    return args;
  }

  // Starts postgres and waits until it accepts connections. A failed attempt is retried while
  // it looks like the leftovers of a killed server (its backends still hold the shared memory
  // or the lock files), or, before the first successful start, like someone else took the port
  // PickFreePort chose, in which case a new one is picked. Later starts keep the port: clients
  // of the test reconnect to it.
  PgStatus StartServer() {
    namespace d = pg_rig_detail;
    const auto deadline = d::Clock::now() + options_.start_timeout;
    while (true) {
      const std::uintmax_t log_start = d::FileSize(log_path_);
      std::string error;
      pid_t pid = -1;
      {
        d::UniqueFd log(open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
        if (log.get() < 0) return PgStatus::Error(d::Errno("open " + log_path_));
        pid = d::Launch(ServerArgs(), as_, log.get(), dir_, &error);
      }
      if (pid < 0) return PgStatus::Error(error);
      const std::string dsn = Dsn();
      int status = 0;
      while (!d::Exited(pid, &status)) {
        // PQPING_REJECT means it is up but still starting (or replaying WAL): keep waiting.
        if (PQping(dsn.c_str()) == PQPING_OK) {
          pid_ = pid;
          started_once_ = true;
          return PgStatus::Ok();
        }
        if (d::Clock::now() >= deadline) {
          d::KillAndReap(pid);
          return PgStatus::Error(
              "postgres did not accept connections on 127.0.0.1:" + std::to_string(port_) +
              " within " + std::to_string(options_.start_timeout.count()) + " ms; log:\n" +
              d::FileTail(log_path_, log_start));
        }
        std::this_thread::sleep_for(d::kPoll);
      }
      const std::string tail = d::FileTail(log_path_, log_start);
      const bool port_taken = tail.find("Address already in use") != std::string::npos;
      const bool leftovers = tail.find("pre-existing shared memory block") != std::string::npos ||
                             tail.find("lock file") != std::string::npos;
      if ((port_taken || leftovers) && d::Clock::now() + kRetryPause < deadline) {
        if (port_taken && !started_once_) {
          PgStatus port = d::PickFreePort(&port_);
          if (!port.ok()) return port;
        }
        std::this_thread::sleep_for(kRetryPause);
        continue;
      }
      return PgStatus::Error("postgres exited while starting (" + d::DescribeWait(status) +
                             "); log:\n" + tail);
    }
  }

  void RemoveDir() {
    if (dir_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
  }

  // Constant after construction.
  const Options options_;
  // Set by the first successful Start() (Initialize), then constant.
  bool initialized_ = false;
  std::string bin_dir_;
  int major_ = 0;
  pg_rig_detail::Identity as_;
  std::string dir_;
  std::string data_dir_;
  std::string socket_dir_;
  std::string log_path_;
  int port_ = 0;
  // Whether the server has ever accepted connections on port_; from then on port_ is fixed.
  bool started_once_ = false;
  // The postmaster, from a successful start until Stop() or Kill() reaps it.
  pid_t pid_ = -1;
};

}  // namespace spate::testing
