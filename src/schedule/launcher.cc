// See launcher.h.
#include "schedule/launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <system_error>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/json_writer.h"

extern char** environ;

namespace spate {
namespace {

// How much of a failed run's log is read for its error line: the end is what matters, and a
// run may have logged gigabytes.
constexpr size_t kLogTailBytes = 64 * 1024;
constexpr size_t kErrorMaxBytes = 1000;
// After SIGKILL a process ends as soon as the kernel gets to it; this bounds the wait for
// one stuck in the kernel (uninterruptible I/O) so that a restart is never held for ever.
constexpr int64_t kAfterKillWaitMs = 10'000;
// The exit code of a child that could not exec (the shell's "command not found").
constexpr int kExecFailed = 127;

std::string ErrnoText(int err) { return std::error_code(err, std::system_category()).message(); }

// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Fatal(ErrnoText(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// Writes `path` whole or not at all: a temporary name, then rename, so a reader never sees
// half a file. fchmod: a temporary left by a crash may have had another mode.
Status WriteFileAtomically(const std::string& path, std::string_view data, mode_t mode) {
  const std::string temp = path + ".tmp";
  Fd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd.valid())
    return Status::Fatal(fmt::format("cannot create {}: {}", temp, ErrnoText(errno)));
  if (::fchmod(fd.get(), mode) != 0) {
    return Status::Fatal(fmt::format("cannot set the mode of {}: {}", temp, ErrnoText(errno)));
  }
  if (Status s = WriteAll(fd.get(), data); !s.ok()) {
    return Status::Fatal(fmt::format("cannot write {}: {}", temp, s.message()));
  }
  fd.Reset();
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    return Status::Fatal(fmt::format("cannot rename {} to {}: {}", temp, path, ErrnoText(errno)));
  }
  return Status::Ok();
}

// Descriptors 0-2 become the child's stdin, stdout and stderr: one of the child's own there
// would be overwritten by those dup2s (a scheduler started with closed stdio gets them from
// open()), so they are moved above.
Status AboveStdio(Fd& fd) {
  if (fd.get() > 2) return Status::Ok();
  const int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0) return Status::Fatal("fcntl: " + ErrnoText(errno));
  fd = Fd(moved);
  return Status::Ok();
}

Status MakeDirectories(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Fatal(fmt::format("cannot create directory {}: {}", dir, ec.message()));
  return Status::Ok();
}

// The job name becomes a directory name: only what JobSet allows, never a path.
bool SafeName(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

// Fields of /proc/PID/stat that the launcher needs.
struct ProcStat {
  char state = '?';
  int64_t pgrp = 0;
  int64_t start_time = 0;
};

std::optional<ProcStat> ReadProcStat(int64_t pid) {
  if (pid <= 0) return std::nullopt;
  Fd fd(::open(fmt::format("/proc/{}/stat", pid).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  char buf[1024];
  ssize_t n;
  do {
    n = ::read(fd.get(), buf, sizeof(buf) - 1);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return std::nullopt;
  const std::string_view text(buf, static_cast<size_t>(n));
  // Field 2 is the command name in parentheses, which may itself hold ") ": the fields
  // after it start after the last ')'.
  const size_t close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::vector<std::string_view> fields;  // fields[0] is field 3 (state).
  size_t at = close + 1;
  while (at < text.size() && fields.size() < 20) {
    while (at < text.size() && text[at] == ' ') ++at;
    const size_t end = std::min(text.find(' ', at), text.size());
    if (end > at) fields.push_back(text.substr(at, end - at));
    at = end;
  }
  if (fields.size() < 20) return std::nullopt;
  ProcStat stat;
  stat.state = fields[0].empty() ? '?' : fields[0][0];
  const auto parse = [](std::string_view f, int64_t& v) {
    return std::from_chars(f.data(), f.data() + f.size(), v).ec == std::errc();
  };
  if (!parse(fields[2], stat.pgrp) || !parse(fields[19], stat.start_time)) return std::nullopt;
  return stat;
}

// The integer after "key": in the result file (launcher.h's fixed shape, written by
// WriteRunResult below).
std::optional<int64_t> JsonInt(std::string_view text, std::string_view key) {
  const std::string quoted = fmt::format("\"{}\"", key);
  size_t at = text.find(quoted);
  if (at == std::string_view::npos) return std::nullopt;
  at += quoted.size();
  const auto skip = [&] {
    while (at < text.size() && std::isspace(static_cast<unsigned char>(text[at]))) ++at;
  };
  skip();
  if (at >= text.size() || text[at] != ':') return std::nullopt;
  ++at;
  skip();
  int64_t v = 0;
  if (std::from_chars(text.data() + at, text.data() + text.size(), v).ec != std::errc()) {
    return std::nullopt;
  }
  return v;
}

std::optional<RunCounts> ReadRunResult(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return std::nullopt;  // The child ended before it could write one.
  char buf[4096];
  ssize_t n;
  do {
    n = ::read(fd.get(), buf, sizeof(buf));
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return std::nullopt;
  const std::string_view text(buf, static_cast<size_t>(n));
  const auto in = JsonInt(text, "records_in");
  const auto stored = JsonInt(text, "records_stored");
  const auto rejected = JsonInt(text, "records_rejected");
  if (!in || !stored || !rejected) return std::nullopt;
  // Absent (an older spate) or anything but true: not known to be complete.
  const bool completed = text.find("\"completed\":true") != std::string_view::npos;
  return RunCounts{*in, *stored, *rejected, completed};
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The error a log line states, if it states one: spate's own (spdlog's "[...] [error] text"
// or "[critical]"), or another program's "error: ..." / "fatal: ..." style.
std::optional<std::string_view> ErrorOfLine(std::string_view line) {
  for (const std::string_view tag : {"] [error] ", "] [critical] "}) {
    const size_t at = line.find(tag);
    if (at != std::string_view::npos) return line.substr(at + tag.size());
  }
  const std::string lower = Lower(line);
  for (const std::string_view word : {"error", "fatal", "panic"}) {
    if (lower.starts_with(word)) return line;
  }
  for (const std::string_view word : {"error:", "fatal:"}) {
    if (lower.find(word) != std::string::npos) return line;
  }
  return std::nullopt;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Cut to `limit` bytes at a UTF-8 character boundary (the text reaches JSON and the page).
std::string Bounded(std::string_view s, size_t limit) {
  if (s.size() <= limit) return std::string(s);
  size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return std::string(s.substr(0, end)) + "...";
}

// The last error line in the final kLogTailBytes of the log; "" when there is none.
std::string LastErrorLine(const std::string& log_path) {
  Fd fd(::open(log_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) return "";
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return "";
  const auto size = static_cast<size_t>(st.st_size);
  const size_t from = size > kLogTailBytes ? size - kLogTailBytes : 0;
  std::string tail(size - from, '\0');
  size_t got = 0;
  while (got < tail.size()) {
    const ssize_t n =
        ::pread(fd.get(), tail.data() + got, tail.size() - got, static_cast<off_t>(from + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  tail.resize(got);
  std::string_view text(tail);
  if (from > 0) {  // The first line is cut: skip it.
    const size_t nl = text.find('\n');
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
  while (!text.empty()) {
    const size_t nl = text.rfind('\n', text.size() - 1);
    const std::string_view line = nl == std::string_view::npos ? text : text.substr(nl + 1);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(0, nl);
    const std::string_view trimmed = Trim(line);
    if (trimmed.empty()) continue;
    if (auto error = ErrorOfLine(trimmed)) return Bounded(Trim(*error), kErrorMaxBytes);
  }
  return "";
}

std::string ExitText(int exit_code, int term_signal) {
  if (term_signal != 0) {
    const char* abbrev = sigabbrev_np(term_signal);
    return abbrev ? fmt::format("ended by signal {} (SIG{})", term_signal, abbrev)
                  : fmt::format("ended by signal {}", term_signal);
  }
  return fmt::format("exited with code {}", exit_code);
}

// Waits until the process of `pidfd` has ended (a pidfd is readable then), at most
// `timeout_ms`. Whether it ended.
bool AwaitExit(int pidfd, int64_t timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    pollfd p{pidfd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::clamp<int64_t>(left, 0, 60'000)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
    if (r == 0 && left <= 0) return false;
  }
}

// What the child does between fork and exec. Only async-signal-safe calls: the scheduler
// has other threads (the HTTP server), and one of them may have held a lock (malloc's, the
// logger's) at the moment of fork, which the child would wait on for ever.
struct ExecPlan {
  const char* exe = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  int stdin_fd = -1;
  int log_fd = -1;
  int report_fd = -1;  // Close-on-exec pipe: the errno of a failed step, else EOF at exec.
  pid_t parent = 0;
};

[[noreturn]] void ChildFail(int report_fd, int err) {
  ssize_t ignored = ::write(report_fd, &err, sizeof(err));
  (void)ignored;
  ::_exit(kExecFailed);
}

[[noreturn]] void RunChild(const ExecPlan& plan) {
  // Its own process group: Terminate/Kill reach what it starts, a Ctrl-C at the scheduler's
  // terminal does not (the parent sets it too, so that it holds before fork returns there).
  ::setpgid(0, 0);
  // Every disposition back to the default: an ignored one would outlive exec. Through the
  // kernel, not glibc's sigaction, which refuses the two signals it reserves (32 and 33), so
  // that one inherited as ignored from whatever started the scheduler is reset too. The
  // kernel's struct for SIG_DFL, no flags and an empty mask is all zeros, whatever the
  // architecture's field order.
  alignas(8) const unsigned char dfl[32] = {};
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::syscall(SYS_rt_sigaction, sig, dfl, nullptr, 8);
  }
  // The parent (the forking thread: fork from the thread that outlives the children) dying
  // sends SIGTERM. If it died before this line, no signal will come: check, and end now.
  if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) ChildFail(plan.report_fd, errno);
  if (::getppid() != plan.parent) ::_exit(128 + SIGTERM);
  if (::dup2(plan.stdin_fd, 0) < 0 || ::dup2(plan.log_fd, 1) < 0 || ::dup2(plan.log_fd, 2) < 0) {
    ChildFail(plan.report_fd, errno);
  }
  // Descriptors the scheduler opened without O_CLOEXEC (a library's) are not the child's.
  if (plan.report_fd > 3) ::close_range(3, static_cast<unsigned>(plan.report_fd - 1), 0);
  ::close_range(static_cast<unsigned>(plan.report_fd + 1), ~0U, 0);
  // Last: a SIGTERM pending since the prctl (the parent died meanwhile) ends it here.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(plan.exe, plan.argv, plan.envp);
  ChildFail(plan.report_fd, errno);
}

// NAME=VALUE entries for execve: the scheduler's environment without any SPATE_RUN_* of
// its own (a scheduler started by a scheduler), then the run's.
std::vector<std::string> ChildEnvironment(const LaunchRequest& request,
                                          const std::string& result_path) {
  static constexpr std::string_view kOwn[] = {
      "SPATE_RUN_RESULT=", "SPATE_RUN_ID=",         "SPATE_JOB=",
      "SPATE_ATTEMPT=",    "SPATE_INTERVAL_START=", "SPATE_INTERVAL_END="};
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view entry(*e);
    if (std::none_of(std::begin(kOwn), std::end(kOwn),
                     [&](std::string_view own) { return entry.starts_with(own); })) {
      env.emplace_back(entry);
    }
  }
  const RunRecord& run = request.run;
  env.push_back("SPATE_RUN_RESULT=" + result_path);
  env.push_back(fmt::format("SPATE_RUN_ID={}", run.run_id));
  env.push_back("SPATE_JOB=" + request.job->name);
  env.push_back(fmt::format("SPATE_ATTEMPT={}", run.attempt));
  env.push_back("SPATE_INTERVAL_START=" + FormatIso8601Millis(run.interval_start_ms));
  env.push_back("SPATE_INTERVAL_END=" + FormatIso8601Millis(run.interval_end_ms));
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Signals the run's process group (its pgid is its pid: setpgid in both parent and child).
// The child is not reaped yet, so its pid and group id cannot have been reused.
void SignalGroup(int64_t pid, int sig) {
  if (::kill(static_cast<pid_t>(-pid), sig) != 0 && errno == ESRCH) {
    ::kill(static_cast<pid_t>(pid), sig);
  }
}

}  // namespace

ProcessLauncher::ProcessLauncher(ProcessLauncherOptions options) : options_(std::move(options)) {}

ProcessLauncher::~ProcessLauncher() {
  for (const auto& [run_id, child] : children_) {
    SignalGroup(child.pid, SIGKILL);
    while (::waitpid(static_cast<pid_t>(child.pid), nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

Result<LaunchedChild> ProcessLauncher::Start(const LaunchRequest& request) {
  if (request.job == nullptr) return Status::InvalidInput("launch: no job");
  const JobSpec& job = *request.job;
  const RunRecord& run = request.run;
  if (!SafeName(job.name)) {
    return Status::InvalidInput(fmt::format("launch: job name '{}' cannot name a log", job.name));
  }
  if (children_.count(run.run_id) != 0) {
    return Status::InvalidInput(fmt::format("launch: run {} is already running", run.run_id));
  }
  const std::string job_logs = fmt::format("{}/{}", options_.logs_dir, job.name);
  if (Status s = MakeDirectories(options_.runs_dir); !s.ok()) return s;
  if (Status s = MakeDirectories(job_logs); !s.ok()) return s;

  // Mode 0600: the options may hold credentials.
  const std::string config_path = fmt::format("{}/{}.yaml", options_.runs_dir, run.run_id);
  if (Status s = WriteFileAtomically(config_path, OptionsYaml(job), 0600); !s.ok()) return s;
  Child child;
  child.result_path =
      fmt::format("{}/{}-{}.result.json", options_.runs_dir, run.run_id, run.attempt);
  child.log_path = fmt::format("{}/{}-{}.log", job_logs, run.run_id, run.attempt);
  // A result left from an earlier scheduler's try of this attempt is not this child's.
  ::unlink(child.result_path.c_str());

  Fd log(
      ::open(child.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640));
  if (!log.valid()) {
    return Status::Fatal(fmt::format("cannot open log {}: {}", child.log_path, ErrnoText(errno)));
  }
  Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull.valid()) return Status::Fatal("cannot open /dev/null: " + ErrnoText(errno));
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Status::Fatal("pipe: " + ErrnoText(errno));
  Fd report_read(pipe_fds[0]);
  Fd report_write(pipe_fds[1]);
  for (Fd* fd : {&log, &devnull, &report_write}) {
    if (Status s = AboveStdio(*fd); !s.ok()) return s;
  }

  // Everything the child needs is built here: after fork it may not allocate.
  const std::string exe = options_.executable.empty() ? "/proc/self/exe" : options_.executable;
  std::string argv0 = exe;
  if (options_.executable.empty()) {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) argv0 = self.string();  // What `ps` shows.
  }
  std::vector<std::string> args = {argv0, job.command, "--config", config_path};
  std::vector<std::string> env = ChildEnvironment(request, child.result_path);
  std::vector<char*> argv = Pointers(args);
  std::vector<char*> envp = Pointers(env);
  ExecPlan plan;
  plan.exe = exe.c_str();
  plan.argv = argv.data();
  plan.envp = envp.data();
  plan.stdin_fd = devnull.get();
  plan.log_fd = log.get();
  plan.report_fd = report_write.get();
  plan.parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) return Status::Fatal("fork: " + ErrnoText(errno));
  if (pid == 0) RunChild(plan);

  // Also here, so that a Terminate right after Start reaches the group.
  ::setpgid(pid, pid);
  report_write.Reset();
  int child_errno = 0;
  size_t got = 0;
  while (got < sizeof(child_errno)) {
    const ssize_t n = ::read(report_read.get(), reinterpret_cast<char*>(&child_errno) + got,
                             sizeof(child_errno) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  if (got == sizeof(child_errno)) {  // It never ran: collect it now.
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return Status::Fatal(fmt::format("cannot run {}: {}", exe, ErrnoText(child_errno)));
  }
  // Read before anything reaps it (start time tells this process from a later one that
  // gets the same pid); a zombie's stat still has it.
  const auto stat = ReadProcStat(pid);
  child.pid = pid;
  LaunchedChild launched;
  launched.pid = pid;
  launched.pid_start = stat ? stat->start_time : 0;
  launched.log_path = child.log_path;
  children_[run.run_id] = std::move(child);
  return launched;
}

void ProcessLauncher::Terminate(int64_t run_id) {
  if (auto it = children_.find(run_id); it != children_.end()) SignalGroup(it->second.pid, SIGTERM);
}

void ProcessLauncher::Kill(int64_t run_id) {
  if (auto it = children_.find(run_id); it != children_.end()) SignalGroup(it->second.pid, SIGKILL);
}

std::vector<ChildExit> ProcessLauncher::Reap() {
  std::vector<ChildExit> exits;
  for (auto it = children_.begin(); it != children_.end();) {
    const auto pid = static_cast<pid_t>(it->second.pid);
    // WNOWAIT first: while the child is an unreaped zombie its pid, and so its group id,
    // cannot be reused, so what it left running in its group can still be killed safely.
    siginfo_t info{};
    const int peeked = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
    if (peeked == 0 && info.si_pid == 0) {
      ++it;  // Still running.
      continue;
    }
    // A run is over when its process is: what it started and left behind goes with it.
    if (peeked == 0) ::kill(-pid, SIGKILL);
    ChildExit exit;
    exit.run_id = it->first;
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(pid, &status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
      ++it;
      continue;
    }
    if (r < 0) {
      // Someone else reaped it (a waitpid(-1) elsewhere in the process): its status is lost.
      exit.exit_code = 1;
      exit.error = "its exit status was lost (reaped elsewhere)";
    } else if (WIFSIGNALED(status)) {
      exit.term_signal = WTERMSIG(status);
      exit.exit_code = 128 + exit.term_signal;
    } else {
      exit.exit_code = WEXITSTATUS(status);
    }
    exit.counts = ReadRunResult(it->second.result_path);
    if (exit.exit_code != 0 && exit.error.empty()) {
      exit.error = LastErrorLine(it->second.log_path);
      if (exit.error.empty()) exit.error = ExitText(exit.exit_code, exit.term_signal);
    }
    exits.push_back(std::move(exit));
    it = children_.erase(it);
  }
  return exits;
}

void ProcessLauncher::EndOrphan(int64_t pid, int64_t pid_start, int64_t grace_ms) {
  if (pid <= 1) return;
  // Held open, the pidfd keeps the pid number from being reused, so the start time checked
  // next stays true of the process every signal below reaches.
  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0)));
  if (!pidfd.valid()) return;  // Gone.
  const auto stat = ReadProcStat(pid);
  if (!stat || stat->start_time != pid_start) return;  // Another process has that pid now.
  // Its group: it leads one (setpgid), unless this is not what Start made.
  const auto target = static_cast<pid_t>(stat->pgrp == pid ? -pid : pid);
  if (stat->state == 'Z') {  // Ended; its new parent reaps it. Its group's leftovers go.
    if (target < 0) ::kill(target, SIGKILL);
    return;
  }
  spdlog::info("ending process {} of a run the previous scheduler started (SIGTERM)", pid);
  ::kill(target, SIGTERM);
  if (AwaitExit(pidfd.get(), grace_ms)) return;
  spdlog::warn("process {} outlived {} ms after SIGTERM: SIGKILL", pid, grace_ms);
  ::kill(target, SIGKILL);
  if (!AwaitExit(pidfd.get(), kAfterKillWaitMs)) {
    spdlog::error("process {} did not end {} ms after SIGKILL", pid, kAfterKillWaitMs);
  }
}

std::optional<int64_t> ProcessStartTime(int64_t pid) {
  const auto stat = ReadProcStat(pid);
  if (!stat || stat->state == 'Z' || stat->state == 'X') return std::nullopt;
  return stat->start_time;
}

void WriteRunResult(const RunCounts& counts, int exit_code) {
  const char* path = std::getenv("SPATE_RUN_RESULT");
  if (path == nullptr || *path == '\0') return;
  std::string json;
  JsonWriter w(json);
  w.BeginObject();
  w.Key("records_in");
  w.Int(counts.records_in);
  w.Key("records_stored");
  w.Int(counts.records_stored);
  w.Key("records_rejected");
  w.Int(counts.records_rejected);
  w.Key("completed");
  w.Bool(counts.completed);
  w.Key("exit_code");
  w.Int(exit_code);
  w.EndObject();
  json += '\n';
  if (Status s = WriteFileAtomically(path, json, 0640); !s.ok()) {
    spdlog::warn("cannot write the run's result: {}", s.message());
  }
}

}  // namespace spate
