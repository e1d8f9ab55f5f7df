// spate_kafka_rig: an in-process Kafka cluster for integration tests and benchmarks.
//
// librdkafka's mock cluster speaks the Kafka protocol on real TCP listeners, so any client
// (spate, kcat, kafka-python) can talk to it without a JVM. This program owns one mock cluster,
// prints its bootstrap list, then takes line commands on stdin so a test can inject faults
// (broker down/up, request errors, leader moves) while clients run. See README.md beside this
// file for the protocol.
//
// One thread serves everything: it waits on stdin and a signalfd together, so quit, EOF,
// SIGTERM and SIGINT all leave through the same path and the cluster is destroyed before exit.
// Besides librdkafka's threads, a short-lived Waker thread runs during each mock request.

#include <arpa/inet.h>
#include <dirent.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using ConfHandle = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

constexpr int kDefaultBrokers = 3;
// Kafka's usual replication factor; capped by the broker count.
constexpr int kDefaultReplication = 3;

template <typename T>
std::optional<T> ParseInt(std::string_view text) {
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

std::vector<std::string> Split(std::string_view text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t pos = text.find(sep, start);
    parts.emplace_back(text.substr(start, pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

std::vector<std::string> Words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

// An error code by number (Kafka protocol codes, e.g. 6, or librdkafka's negative internal
// codes) or by name as librdkafka spells it without the RD_KAFKA_RESP_ERR_ prefix
// (NOT_LEADER_FOR_PARTITION, _TRANSPORT), so test scripts can say what they mean.
std::optional<rd_kafka_resp_err_t> ParseError(const std::string& text) {
  if (auto n = ParseInt<int>(text)) return static_cast<rd_kafka_resp_err_t>(*n);
  const rd_kafka_err_desc* descs = nullptr;
  size_t count = 0;
  rd_kafka_get_err_descs(&descs, &count);
  for (size_t i = 0; i < count; ++i) {
    if (descs[i].name != nullptr && text == descs[i].name) return descs[i].code;
  }
  return std::nullopt;
}

// librdkafka 2.0.2's mock thread now and then (about one request in a hundred) misses the
// wake-up for a request from the application (down, up, topic, leader, destroy) and sleeps out
// its 1 s poll timeout before serving it, so a test's broker bounce would randomly take a
// second longer. A new connection on any broker listener also ends that poll, so while a
// request is in flight a Waker knocks on every listener (connect, close) every 10 ms. Knocks
// on a down broker are refused, which is harmless.
class Waker {
 public:
  explicit Waker(const std::vector<uint16_t>& ports)
      : thread_([&ports](std::stop_token stop) {
          std::mutex mu;
          std::condition_variable_any cv;
          std::unique_lock lock(mu);
          while (true) {
            // Sleeps one interval, or less if stop is requested (the predicate never ends it).
            cv.wait_for(lock, stop, kInterval, [] { return false; });
            if (stop.stop_requested()) break;
            for (uint16_t port : ports) Knock(port);
          }
        }) {}
  // ~jthread requests stop and joins; `ports` must outlive the Waker.

 private:
  static constexpr auto kInterval = std::chrono::milliseconds(10);
  static constexpr int kConnectWaitMs = 50;

  static void Knock(uint16_t port) {
    Fd sock(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (sock.get() < 0) return;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0 ||
        errno != EINPROGRESS) {
      return;
    }
    // Let the handshake finish so the listener sees the connection, but never wait long: when
    // a busy mock leaves its accept backlog (5) full, a blocking connect would hang for
    // seconds of SYN retries and hold up the request it is meant to speed up.
    pollfd pfd{sock.get(), POLLOUT, 0};
    poll(&pfd, 1, kConnectWaitMs);
  }

  std::jthread thread_;
};

// Turns Nagle's algorithm off on the mock brokers' listening sockets; connections they accept
// inherit it (Linux). librdkafka 2.0.2's mock leaves it on, unlike a Kafka broker, which sets
// TCP_NODELAY on every connection. With it on, when a client has two requests in flight to one
// broker (one per partition), the second response (51 bytes) waits for the client's delayed
// ACK of the first: a 40 ms stall, seen as "rtt 41.72ms" on a ProduceResponse whose twin took
// 0.8 ms. The listeners are found among this process's descriptors by their port.
void DisableNagle(const std::vector<uint16_t>& ports) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir("/proc/self/fd"), closedir);
  if (!dir) return;
  while (const dirent* entry = readdir(dir.get())) {
    const auto fd = ParseInt<int>(entry->d_name);
    if (!fd) continue;
    int listening = 0;
    socklen_t len = sizeof(listening);
    if (getsockopt(*fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) {
      continue;
    }
    sockaddr_in addr{};
    socklen_t addr_len = sizeof(addr);
    if (getsockname(*fd, reinterpret_cast<sockaddr*>(&addr), &addr_len) != 0 ||
        addr.sin_family != AF_INET ||
        std::find(ports.begin(), ports.end(), ntohs(addr.sin_port)) == ports.end()) {
      continue;
    }
    const int on = 1;
    setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  }
}

class Rig {
 public:
  // `handle` must have been created with test.mock.num.brokers = `brokers`; it owns the cluster.
  Rig(KafkaHandle handle, int brokers)
      : handle_(std::move(handle)),
        cluster_(rd_kafka_handle_mock_cluster(handle_.get())),
        brokers_(brokers),
        ports_(ListenerPorts(Bootstrap())) {
    DisableNagle(ports_);
  }

  ~Rig() {
    Waker waker(ports_);
    handle_.reset();  // destroys the mock cluster with it
  }

  std::string Bootstrap() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }

  // Returns "" on success, otherwise the reason. librdkafka 2.0.2's mock puts every partition
  // on min(3, brokers) replicas whatever `rf` says; it is checked and passed on all the same.
  std::string CreateTopic(const std::string& name, int partitions, std::optional<int> rf) {
    if (name.empty()) return "empty topic name";
    if (partitions < 1) return "partitions must be >= 1";
    const int replication = rf.value_or(std::min(kDefaultReplication, brokers_));
    if (replication < 1 || replication > brokers_) {
      return "replication factor must be 1.." + std::to_string(brokers_);
    }
    Waker waker(ports_);
    return Check(rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, replication));
  }

  // Runs one command line; returns the reply line without the newline.
  std::string Execute(const std::string& line, bool* quit) {
    const std::vector<std::string> w = Words(line);
    if (w.empty()) return "error empty command";
    const std::string& cmd = w[0];
    const size_t args = w.size() - 1;
    std::string err;
    if (cmd == "quit" && args == 0) {
      *quit = true;
    } else if ((cmd == "down" || cmd == "up") && args == 1) {
      auto id = ParseInt<int32_t>(w[1]);
      if (!id) return "error bad broker id";
      Waker waker(ports_);
      err = Check(cmd == "down" ? rd_kafka_mock_broker_set_down(cluster_, *id)
                                : rd_kafka_mock_broker_set_up(cluster_, *id));
      if (cmd == "up") DisableNagle(ports_);  // The mock opens a new listener.
    } else if (cmd == "topic" && (args == 2 || args == 3)) {
      auto partitions = ParseInt<int>(w[2]);
      if (!partitions) return "error bad partition count";
      std::optional<int> rf;
      if (args == 3) {
        rf = ParseInt<int>(w[3]);
        if (!rf) return "error bad replication factor";
      }
      err = CreateTopic(w[1], *partitions, rf);
    } else if (cmd == "errors" && args == 3) {
      auto api_key = ParseInt<int16_t>(w[1]);
      auto code = ParseError(w[2]);
      auto count = ParseInt<size_t>(w[3]);
      if (!api_key || *api_key < 0) return "error bad api key";
      if (!code) return "error unknown error code";
      if (!count) return "error bad count";
      // The mock serves these in order to the next `count` requests of that API, on any broker.
      std::vector<rd_kafka_resp_err_t> errs(*count, *code);
      rd_kafka_mock_push_request_errors_array(cluster_, *api_key, errs.size(), errs.data());
    } else if (cmd == "broker-errors" && args == 4) {
      auto broker = ParseInt<int32_t>(w[1]);
      auto api_key = ParseInt<int16_t>(w[2]);
      auto code = ParseError(w[3]);
      auto count = ParseInt<size_t>(w[4]);
      if (!broker) return "error bad broker id";
      if (!api_key || *api_key < 0) return "error bad api key";
      if (!code) return "error unknown error code";
      if (!count) return "error bad count";
      // One at a time: the mock's call takes (error, rtt) pairs as varargs.
      for (size_t i = 0; i < *count && err.empty(); ++i) {
        err = Check(
            rd_kafka_mock_broker_push_request_error_rtts(cluster_, *broker, *api_key, 1, *code, 0));
      }
    } else if (cmd == "clear" && args == 1) {
      auto api_key = ParseInt<int16_t>(w[1]);
      if (!api_key || *api_key < 0) return "error bad api key";
      rd_kafka_mock_clear_request_errors(cluster_, *api_key);
    } else if (cmd == "leader" && args == 3) {
      auto partition = ParseInt<int32_t>(w[2]);
      auto broker = ParseInt<int32_t>(w[3]);
      if (!partition || !broker) return "error bad partition or broker id";
      Waker waker(ports_);
      err = Check(rd_kafka_mock_partition_set_leader(cluster_, w[1].c_str(), *partition, *broker));
    } else {
      return "error unknown command or wrong arguments: " + line;
    }
    return err.empty() ? "ok" : "error " + err;
  }

 private:
  static std::string Check(rd_kafka_resp_err_t err) {
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return "";
    return std::string(rd_kafka_err2name(err)) + ": " + rd_kafka_err2str(err);
  }

  static std::vector<uint16_t> ListenerPorts(const std::string& bootstrap) {
    std::vector<uint16_t> ports;
    for (const std::string& broker : Split(bootstrap, ',')) {
      const size_t colon = broker.rfind(':');
      if (colon == std::string::npos) continue;
      if (auto port = ParseInt<uint16_t>(std::string_view(broker).substr(colon + 1))) {
        ports.push_back(*port);
      }
    }
    return ports;
  }

  KafkaHandle handle_;
  rd_kafka_mock_cluster_t* const cluster_;  // owned by handle_
  const int brokers_;
  const std::vector<uint16_t> ports_;  // every broker's listener, fixed for the cluster's life
};

struct Options {
  int brokers = kDefaultBrokers;
  struct Topic {
    std::string name;
    int partitions = 0;
    std::optional<int> rf;
  };
  std::vector<Topic> topics;
};

constexpr const char* kUsage =
    "usage: spate_kafka_rig [--brokers N] [--topic NAME:PARTITIONS[:RF]]...\n"
    "Starts a librdkafka mock cluster on 127.0.0.1, prints bootstrap=HOST:PORT,... and reads\n"
    "commands on stdin (see tests/rigs/README.md).\n";

std::optional<Options> ParseArgs(int argc, char** argv) {
  Options opts;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return std::nullopt;
    if (i + 1 >= argc) return std::nullopt;
    const std::string value = argv[++i];
    if (arg == "--brokers") {
      auto n = ParseInt<int>(value);
      if (!n || *n < 1) return std::nullopt;
      opts.brokers = *n;
    } else if (arg == "--topic") {
      const std::vector<std::string> parts = Split(value, ':');
      if (parts.size() < 2 || parts.size() > 3 || parts[0].empty()) return std::nullopt;
      auto partitions = ParseInt<int>(parts[1]);
      if (!partitions) return std::nullopt;
      Options::Topic topic{parts[0], *partitions, std::nullopt};
      if (parts.size() == 3) {
        topic.rf = ParseInt<int>(parts[2]);
        if (!topic.rf) return std::nullopt;
      }
      opts.topics.push_back(std::move(topic));
    } else {
      return std::nullopt;
    }
  }
  return opts;
}

// Writes one reply line and flushes: the driver reads line by line and waits for each.
bool Reply(const std::string& line) {
  std::string out = line + "\n";
  return fwrite(out.data(), 1, out.size(), stdout) == out.size() && fflush(stdout) == 0;
}

// The cluster comes from the handle's test.mock.num.brokers rather than
// rd_kafka_mock_cluster_new(). With a separately created cluster, about one shutdown in four
// took an extra second in librdkafka 2.0.2: rd_kafka_mock_cluster_destroy() joins an internal
// broker thread that noticed the end only on its next 1 s tick, and nothing outside librdkafka
// can wake it. rd_kafka_destroy() on a handle that owns its cluster does, and returns in
// milliseconds. The price: the handle is itself a client of the cluster (one idle producer
// connection, no topics).
std::unique_ptr<Rig> StartRig(int brokers) {
  char errstr[512];
  ConfHandle conf(rd_kafka_conf_new());
  const std::pair<const char*, std::string> settings[] = {
      {"test.mock.num.brokers", std::to_string(brokers)},
      // Only critical messages (the mock's own failures): the idle producer would otherwise
      // report every broker a test takes down, burying the clients' messages in the test log.
      {"log_level", "2"},
  };
  for (const auto& [name, value] : settings) {
    if (rd_kafka_conf_set(conf.get(), name, value.c_str(), errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
      fprintf(stderr, "spate_kafka_rig: %s\n", errstr);
      return nullptr;
    }
  }
  KafkaHandle handle(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof(errstr)));
  if (!handle) {
    fprintf(stderr, "spate_kafka_rig: rd_kafka_new: %s\n", errstr);
    return nullptr;
  }
  conf.release();  // owned by the handle now
  if (rd_kafka_handle_mock_cluster(handle.get()) == nullptr) {
    fprintf(stderr, "spate_kafka_rig: librdkafka did not create the mock cluster\n");
    return nullptr;
  }
  return std::make_unique<Rig>(std::move(handle), brokers);
}

}  // namespace

int main(int argc, char** argv) {
  const std::optional<Options> opts = ParseArgs(argc, argv);
  if (!opts) {
    fputs(kUsage, stderr);
    return 2;
  }

  // Block the stop signals before librdkafka starts its threads (they inherit the mask), so
  // the signals are only ever seen through the signalfd below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  if (pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr) != 0) return 1;
  Fd signal_fd(signalfd(-1, &stop_signals, SFD_CLOEXEC));
  if (signal_fd.get() < 0) {
    perror("spate_kafka_rig: signalfd");
    return 1;
  }
  // A driver that went away must end the loop through a failed write, not kill us mid-way.
  signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<Rig> rig = StartRig(opts->brokers);
  if (!rig) return 1;
  for (const Options::Topic& t : opts->topics) {
    const std::string err = rig->CreateTopic(t.name, t.partitions, t.rf);
    if (!err.empty()) {
      fprintf(stderr, "spate_kafka_rig: topic %s: %s\n", t.name.c_str(), err.c_str());
      return 1;
    }
  }
  if (!Reply("bootstrap=" + rig->Bootstrap())) return 1;

  std::string pending;
  bool quit = false;
  while (!quit) {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {signal_fd.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      perror("spate_kafka_rig: poll");
      break;
    }
    if (fds[1].revents & POLLIN) break;  // SIGTERM or SIGINT
    if (fds[0].revents == 0) continue;
    char buf[4096];
    const ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the driver is done with us
    pending.append(buf, static_cast<size_t>(n));
    size_t nl;
    while (!quit && (nl = pending.find('\n')) != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (Words(line).empty()) continue;  // blank lines are not commands
      if (!Reply(rig->Execute(line, &quit))) quit = true;
    }
  }
  rig.reset();
  return 0;
}
