// Kafka helpers for integration tests and benchmarks: a mock cluster in a child process
// (tests/rigs/kafka_rig.cc), kcat to produce and read records as an independent client would,
// and a librdkafka query of a group's committed offsets.
//
// Everything here talks only to 127.0.0.1: the rig binds its brokers there and the helpers use
// the bootstrap list the rig prints. Nothing here calls gtest, so benchmarks can use it too;
// failures come back as return values plus an optional error text.
//
// Needs SPATE_KAFKA_RIG (path of the spate_kafka_rig binary) and librdkafka at link time.
// Not thread-safe: use one KafkaRig from one thread.
#pragma once

#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "transport/kafka.h"
#include "unique_fd.h"

namespace spate::testing {

namespace kafka_rig_detail {

using Clock = std::chrono::steady_clock;

// Poll interval while waiting for a child to exit; short, as every test waits on it.
constexpr auto kReapPoll = std::chrono::milliseconds(5);

using spate::testing::UniqueFd;

// posix_spawn's attribute and file-action objects, destroyed on every path.
class SpawnSetup {
 public:
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions_);
    posix_spawnattr_init(&attr_);
    // The child starts with no blocked signals and default SIGPIPE whatever the test process
    // did to its own, so kcat and the rig behave as they would from a shell.
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr_, &none);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr_, &defaults);
    posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions_);
    posix_spawnattr_destroy(&attr_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
  posix_spawn_file_actions_t* actions() { return &actions_; }
  const posix_spawnattr_t* attr() const { return &attr_; }

 private:
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attr_;
};

// Spawns argv[0] (searched in PATH). Returns the pid, or -1 with *error set.
inline pid_t Spawn(const std::vector<std::string>& args, SpawnSetup& setup, std::string* error) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, argv[0], setup.actions(), setup.attr(), argv.data(), environ);
  if (rc != 0) {
    if (error) *error = "cannot start " + args[0] + ": " + std::strerror(rc);
    return -1;
  }
  return pid;
}

// Waits for `pid` until `deadline`; then kills it. Returns the exit code, 128+signal if it
// died of a signal, or -1 if it had to be killed. The child is always reaped.
inline int Reap(pid_t pid, Clock::time_point deadline, bool* killed = nullptr) {
  int status = 0;
  while (true) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return -1;
    if (Clock::now() >= deadline) {
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      if (killed) *killed = true;
      return -1;
    }
    std::this_thread::sleep_for(kReapPoll);
  }
  if (killed) *killed = false;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Writes all of `data` to a pipe. A reader that has gone away yields false rather than a
// SIGPIPE that would kill the whole test binary: SIGPIPE is blocked in this thread for the
// write and a pending one is consumed before unblocking.
inline bool WriteAllNoSigpipe(int fd, std::string_view data) {
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  bool ok = true;
  bool broken = false;
  while (!data.empty()) {
    const ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      broken = errno == EPIPE;
      ok = false;
      break;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  if (broken && !sigismember(&old, SIGPIPE)) {
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return ok;
}

// Splits on `sep`; a trailing separator does not make an empty last piece.
inline std::vector<std::string> Split(const std::string& text, char sep) {
  std::vector<std::string> pieces;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(sep, start);
    if (end == std::string::npos) end = text.size();
    pieces.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return pieces;
}

// Everything in a regular file from offset 0, whatever the file position.
inline std::string ReadAll(int fd) {
  std::string data;
  char buf[65536];
  off_t offset = 0;
  while (true) {
    const ssize_t n = pread(fd, buf, sizeof(buf), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
    offset += n;
  }
  return data;
}

}  // namespace kafka_rig_detail

// What a finished helper process left behind.
struct ToolResult {
  int exit_code = -1;  // -1: did not finish in time and was killed
  std::string out;
  std::string err;
  bool ok() const { return exit_code == 0; }
  // One line for a failure message.
  std::string Describe() const {
    return (exit_code < 0 ? std::string("timed out") : "exit " + std::to_string(exit_code)) +
           (err.empty() ? "" : ", stderr: " + err);
  }
};

// Runs `args` (argv[0] looked up in PATH) with `stdin_data` on stdin, capturing stdout and
// stderr; kills it after `timeout`. All three are anonymous in-memory files rather than pipes,
// so a child that stops reading or writes a lot can never deadlock us, and nothing is left on
// disk.
inline ToolResult RunTool(const std::vector<std::string>& args, const std::string& stdin_data,
                          std::chrono::milliseconds timeout) {
  namespace d = kafka_rig_detail;
  ToolResult result;
  d::UniqueFd in(memfd_create("spate-tool-stdin", MFD_CLOEXEC));
  d::UniqueFd out(memfd_create("spate-tool-stdout", MFD_CLOEXEC));
  d::UniqueFd err(memfd_create("spate-tool-stderr", MFD_CLOEXEC));
  if (in.get() < 0 || out.get() < 0 || err.get() < 0) {
    result.err = std::string("memfd_create: ") + std::strerror(errno);
    return result;
  }
  if (!d::WriteAllNoSigpipe(in.get(), stdin_data) || lseek(in.get(), 0, SEEK_SET) != 0) {
    result.err = std::string("cannot stage stdin: ") + std::strerror(errno);
    return result;
  }
  d::SpawnSetup setup;
  posix_spawn_file_actions_adddup2(setup.actions(), in.get(), 0);
  posix_spawn_file_actions_adddup2(setup.actions(), out.get(), 1);
  posix_spawn_file_actions_adddup2(setup.actions(), err.get(), 2);
  const pid_t pid = d::Spawn(args, setup, &result.err);
  if (pid < 0) return result;
  result.exit_code = d::Reap(pid, d::Clock::now() + timeout);
  result.out = d::ReadAll(out.get());
  result.err = d::ReadAll(err.get());
  return result;
}

// A librdkafka mock cluster (tests/rigs/spate_kafka_rig) running as a child process.
//
//   KafkaRig rig({.topics = {"orders:6"}});
//   ASSERT_TRUE(rig.ok()) << rig.error();
//   ... point clients at rig.bootstrap() ...
//   EXPECT_TRUE(rig.BrokerDown(2));
//
// Broker ids are 1..brokers. The destructor stops the rig (quit, then SIGKILL after a grace
// period) and reaps it, so a failing test leaves no process behind.
class KafkaRig {
 public:
  struct Options {
    int brokers = 3;
    // "name:partitions" or "name:partitions:rf", created before bootstrap() is known.
    std::vector<std::string> topics;
    std::chrono::milliseconds start_timeout{10000};
    // How long a command may take to be answered.
    std::chrono::milliseconds command_timeout{10000};
  };

  enum class StopBy { kQuit, kSigterm };

  KafkaRig() : KafkaRig(Options{}) {}
  explicit KafkaRig(Options options) : options_(std::move(options)) { Start(); }
  ~KafkaRig() { Stop(); }
  KafkaRig(const KafkaRig&) = delete;
  KafkaRig& operator=(const KafkaRig&) = delete;

  // False if the rig did not start; error() says why.
  bool ok() const { return pid_ > 0 && !bootstrap_.empty(); }
  const std::string& error() const { return error_; }
  // "127.0.0.1:PORT,127.0.0.1:PORT,..." for bootstrap.servers.
  const std::string& bootstrap() const { return bootstrap_; }

  // Sends one command line (see tests/rigs/README.md) and waits for its answer. True if the
  // rig answered "ok"; `reply` gets the answer line ("ok", "error ...", or what went wrong
  // talking to the rig).
  bool Command(const std::string& line, std::string* reply = nullptr) {
    std::string answer;
    if (!ok()) {
      answer = "rig not running";
    } else if (line.find('\n') != std::string::npos) {
      answer = "command contains a newline";
    } else if (!kafka_rig_detail::WriteAllNoSigpipe(to_rig_.get(), line + "\n")) {
      answer = "cannot write to rig";
    } else if (!ReadLine(kafka_rig_detail::Clock::now() + options_.command_timeout, &answer)) {
      answer = "no answer from rig: " + answer;
      // A late answer would be taken for the next command's; a rig that stopped answering is
      // of no further use, so end it now and fail every later command plainly.
      error_ = answer;
      Stop();
    }
    if (reply) *reply = answer;
    return answer == "ok";
  }

  bool BrokerDown(int id) { return Command("down " + std::to_string(id)); }
  bool BrokerUp(int id) { return Command("up " + std::to_string(id)); }
  bool CreateTopic(const std::string& name, int partitions) {
    return Command("topic " + name + " " + std::to_string(partitions));
  }

  // Stops the rig and reaps it. Returns its exit code (0 for a clean shutdown), or -1 if it
  // was not running or had to be killed. Later calls return -1.
  int Stop(StopBy how = StopBy::kQuit) {
    if (pid_ <= 0) return -1;
    if (how == StopBy::kSigterm) {
      kill(pid_, SIGTERM);
    } else {
      // quit gets a reply we do not need; closing stdin afterwards is the rig's other way out.
      kafka_rig_detail::WriteAllNoSigpipe(to_rig_.get(), "quit\n");
    }
    to_rig_.Reset();
    const int code = kafka_rig_detail::Reap(pid_, kafka_rig_detail::Clock::now() + kStopGrace);
    pid_ = -1;
    from_rig_.Reset();
    return code;
  }

 private:
  static constexpr auto kStopGrace = std::chrono::seconds(5);
  static constexpr std::string_view kBootstrapPrefix = "bootstrap=";
  static constexpr std::string_view kLoopbackHost = "127.0.0.1:";

  void Start() {
    namespace d = kafka_rig_detail;
    int in_pipe[2];
    int out_pipe[2];
    // O_CLOEXEC: no other child (kcat, a second rig) may inherit our pipe ends, or the rig
    // would never see EOF on stdin.
    if (pipe2(in_pipe, O_CLOEXEC) != 0) {
      error_ = std::string("pipe2: ") + std::strerror(errno);
      return;
    }
    d::UniqueFd child_in(in_pipe[0]);
    to_rig_ = d::UniqueFd(in_pipe[1]);
    if (pipe2(out_pipe, O_CLOEXEC) != 0) {
      error_ = std::string("pipe2: ") + std::strerror(errno);
      return;
    }
    from_rig_ = d::UniqueFd(out_pipe[0]);
    d::UniqueFd child_out(out_pipe[1]);

    std::vector<std::string> args = {SPATE_KAFKA_RIG, "--brokers",
                                     std::to_string(options_.brokers)};
    for (const std::string& t : options_.topics) {
      args.push_back("--topic");
      args.push_back(t);
    }
    d::SpawnSetup setup;
    // dup2 clears close-on-exec on the target; stderr is inherited so rig errors show in the
    // test log.
    posix_spawn_file_actions_adddup2(setup.actions(), child_in.get(), 0);
    posix_spawn_file_actions_adddup2(setup.actions(), child_out.get(), 1);
    pid_ = d::Spawn(args, setup, &error_);
    if (pid_ < 0) return;
    child_in.Reset();
    child_out.Reset();

    std::string line;
    if (!ReadLine(d::Clock::now() + options_.start_timeout, &line) ||
        line.rfind(kBootstrapPrefix, 0) != 0) {
      error_ = "rig did not print its bootstrap line: " + line;
      Stop();
      return;
    }
    std::string bootstrap = line.substr(kBootstrapPrefix.size());
    // The rig promises loopback only; refuse anything else rather than let a test reach out.
    for (const std::string& broker : d::Split(bootstrap, ',')) {
      if (broker.rfind(kLoopbackHost, 0) != 0) {
        error_ = "rig advertised a non-loopback broker: " + broker;
        Stop();
        return;
      }
    }
    bootstrap_ = std::move(bootstrap);
  }

  // Reads one line from the rig into *line. On failure *line says what happened.
  bool ReadLine(kafka_rig_detail::Clock::time_point deadline, std::string* line) {
    while (true) {
      const size_t nl = pending_.find('\n');
      if (nl != std::string::npos) {
        *line = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        return true;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - kafka_rig_detail::Clock::now());
      if (left.count() <= 0) {
        *line = "timed out";
        return false;
      }
      pollfd pfd{from_rig_.get(), POLLIN, 0};
      const int r = poll(&pfd, 1, static_cast<int>(left.count()));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        *line = std::string("poll: ") + std::strerror(errno);
        return false;
      }
      if (r == 0) continue;  // the deadline check above ends the wait
      char buf[1024];
      const ssize_t n = read(from_rig_.get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        *line = "rig exited";
        return false;
      }
      pending_.append(buf, static_cast<size_t>(n));
    }
  }

  // Constant after construction.
  const Options options_;
  std::string bootstrap_;
  std::string error_;
  // Owned until Stop().
  pid_t pid_ = -1;
  kafka_rig_detail::UniqueFd to_rig_;
  kafka_rig_detail::UniqueFd from_rig_;
  std::string pending_;  // bytes read from the rig past the last full line
};

// Reads `topic` from the beginning to its current end with kcat and returns one string per
// record, formatted by kcat's -f `format` (e.g. "%p %o %k %s", "%h"). A trailing "\n" is added
// when `format` lacks one; records whose formatted text contains a newline span several lines.
// On failure returns what was read and sets *error (if given).
inline std::vector<std::string> KcatConsume(
    const std::string& bootstrap, const std::string& topic, std::string format,
    std::chrono::milliseconds timeout = std::chrono::seconds(30), std::string* error = nullptr) {
  if (!format.ends_with("\\n") && !format.ends_with("\n")) format += "\\n";
  // -e ends at the end of every partition, and an empty partition only reports its end after
  // a fetch has waited fetch.wait.max.ms (500 ms by default, twice per run against the mock);
  // 10 ms makes a read take 0.1-0.6 s instead of ~1 s. (The rest is librdkafka: a partition
  // whose leader is not known yet retries its start offset query after 500 ms.)
  const ToolResult r = RunTool({"kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e",
                                "-q", "-X", "fetch.wait.max.ms=10", "-f", format},
                               "", timeout);
  if (!r.ok() && error) *error = "kcat -C: " + r.Describe();
  return kafka_rig_detail::Split(r.out, '\n');
}

// Produces `key_values` to `topic` with kcat, one record per pair, keys split off at the first
// tab (-K '\t'). Limits that follow: a key must not contain a tab or a newline, a value must
// not contain a newline; an empty key is sent as a zero-length key (not a null one). True once
// kcat has exited 0, which it does after every record is delivered.
inline bool KcatProduce(const std::string& bootstrap, const std::string& topic,
                        const std::vector<std::pair<std::string, std::string>>& key_values,
                        std::chrono::milliseconds timeout = std::chrono::seconds(30),
                        std::string* error = nullptr) {
  std::string input;
  for (const auto& [key, value] : key_values) {
    if (key.find_first_of("\t\n") != std::string::npos || value.find('\n') != std::string::npos) {
      if (error) *error = "key with tab/newline or value with newline: " + key;
      return false;
    }
    input += key + "\t" + value + "\n";
  }
  const ToolResult r =
      RunTool({"kcat", "-b", bootstrap, "-P", "-t", topic, "-K", "\\t"}, input, timeout);
  if (!r.ok() && error) *error = "kcat -P: " + r.Describe();
  return r.ok();
}

// The offsets `group` has committed for partitions 0..partitions-1 of `topic`, asked of the
// group coordinator through librdkafka (a consumer that never joins the group, so it does not
// disturb one). A partition without a commit maps to RD_KAFKA_OFFSET_INVALID (-1001). Returns
// an empty map and sets *error (if given) when the query fails.
inline std::map<int32_t, int64_t> CommittedOffsets(
    const std::string& bootstrap, const std::string& group, const std::string& topic,
    int partitions, std::chrono::milliseconds timeout = std::chrono::seconds(10),
    std::string* error = nullptr) {
  namespace d = kafka_rig_detail;
  auto fail = [&](const std::string& why) {
    if (error) *error = why;
    return std::map<int32_t, int64_t>{};
  };
  char errstr[512];
  KafkaConf conf(rd_kafka_conf_new());
  const std::pair<const char*, std::string> settings[] = {
      {"bootstrap.servers", bootstrap},
      {"group.id", group},
      {"enable.auto.commit", "false"},
      // Only log real failures; connection chatter would bury the test's own output.
      {"log_level", "3"},
  };
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf.get(), name, value.c_str(), errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
      return fail(errstr);
    }
  }
  KafkaHandle consumer(rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), errstr, sizeof(errstr)));
  if (!consumer) return fail(std::string("rd_kafka_new: ") + errstr);
  conf.release();  // owned by the consumer now
  PartitionList list(rd_kafka_topic_partition_list_new(partitions));
  for (int32_t p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p);
  }
  const rd_kafka_resp_err_t err =
      rd_kafka_committed(consumer.get(), list.get(), static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return fail(std::string("rd_kafka_committed: ") + rd_kafka_err2str(err));
  }
  std::map<int32_t, int64_t> offsets;
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& tp = list->elems[i];
    if (tp.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return fail("partition " + std::to_string(tp.partition) + ": " + rd_kafka_err2str(tp.err));
    }
    offsets[tp.partition] = tp.offset;
  }
  return offsets;
}

}  // namespace spate::testing
