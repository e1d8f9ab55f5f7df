#include "http/dashboard_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <vector>

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include "http/listen.h"

namespace spate {
namespace {

// GET requests carry no body and a schedule's POST a small one (runs_api.h); anything
// bigger than this is not for us.
constexpr size_t kMaxRequestBody = 8 * 1024;
// The page loads only what the binary serves: no inline script, nothing from elsewhere. Even
// a page bug that wrote a dead letter as markup could then run none of it.
constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'none'";

// cpp-httplib's ThreadPool queues accepted connections without limit. This one holds at
// most `queue` of them: when full, enqueue (on the listener thread) waits for a worker, so
// further connections wait in the kernel's listen backlog instead of in memory. Every job
// ends within the server's timeouts, so the wait does too. shutdown() runs only after the
// listener stopped enqueueing (httplib calls it when its accept loop has ended); workers
// finish the jobs already queued before they exit.
class BoundedPool : public httplib::TaskQueue {
 public:
  BoundedPool(size_t workers, size_t queue) : capacity_(std::max<size_t>(queue, 1)) {
    for (size_t i = 0; i < std::max<size_t>(workers, 1); ++i) {
      threads_.emplace_back([this] { Work(); });
    }
  }
  ~BoundedPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::unique_lock lock(mu_);
    room_.wait(lock, [&] { return jobs_.size() < capacity_ || stopping_; });
    jobs_.push_back(std::move(fn));
    work_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    work_.notify_all();
    room_.notify_all();
    threads_.clear();  // Joins.
  }

 private:
  void Work() {
    while (true) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu_);
        work_.wait(lock, [&] { return !jobs_.empty() || stopping_; });
        if (jobs_.empty()) return;  // Stopping, and nothing left to serve.
        job = std::move(jobs_.front());
        jobs_.pop_front();
        room_.notify_one();
      }
      job();
    }
  }

  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable work_;
  std::condition_variable room_;
  std::deque<std::function<void()>> jobs_;  // Protected by mu_.
  bool stopping_ = false;                   // Protected by mu_.
  std::vector<std::jthread> threads_;       // Last: joined before the rest is destroyed.
};

}  // namespace

DashboardServer::DashboardServer(DashboardInfo info, DashboardSources sources,
                                 AggregatesReader aggregates)
    : info_(info),
      history_(*sources.metrics, info.topic),
      api_(std::move(info), sources, history_, std::move(aggregates)) {}

DashboardServer::~DashboardServer() { Stop(); }

Result<int> DashboardServer::Start(const DashboardServerOptions& options) {
  if (server_) return Status::Fatal(fmt::format("http: already serving on port {}", port()));
  if (options.workers < 1 || options.read_timeout.count() <= 0 ||
      options.write_timeout.count() <= 0) {
    return Status::Fatal("http: workers and timeouts must be positive");
  }
  server_ = std::make_unique<httplib::Server>();
  const size_t workers = options.workers;
  const size_t queue = options.queue;
  server_->new_task_queue = [workers, queue] { return new BoundedPool(workers, queue); };
  auto split = [](std::chrono::milliseconds d) {
    return std::pair<time_t, time_t>(static_cast<time_t>(d.count() / 1000),
                                     static_cast<time_t>(d.count() % 1000 * 1000));
  };
  const auto [read_s, read_us] = split(options.read_timeout);
  const auto [write_s, write_us] = split(options.write_timeout);
  server_->set_read_timeout(read_s, read_us);
  server_->set_write_timeout(write_s, write_us);
  // Whole seconds only in this cpp-httplib; one second also bounds how long Stop() waits
  // for an idle keep-alive connection (a browser's) to be let go.
  server_->set_keep_alive_timeout(1);
  server_->set_payload_max_length(kMaxRequestBody);
  Route();
  auto port = BindAndListen(*server_, options.host, options.port, listener_, "http");
  if (!port.ok()) {
    server_.reset();
    return port.status();
  }
  port_.store(*port, std::memory_order_release);
  history_.Start(options.sample_interval);
  return *port;
}

void DashboardServer::Stop() {
  history_.Stop();
  if (!server_) return;
  server_->stop();
  if (listener_.joinable()) listener_.join();
  server_.reset();
}

void DashboardServer::SetFinished() { api_.SetFinished(); }

std::optional<std::chrono::duration<double>> DashboardServer::scrape_interval() const {
  std::lock_guard lock(scrape_mu_);
  if (!scrape_gap_) return std::nullopt;
  return std::chrono::duration<double>(*scrape_gap_);
}

std::optional<std::chrono::duration<double>> DashboardServer::since_last_scrape() const {
  std::lock_guard lock(scrape_mu_);
  if (!last_scrape_) return std::nullopt;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - *last_scrape_);
}

void DashboardServer::CountScrape(bool final) {
  {
    std::lock_guard lock(scrape_mu_);
    const auto now = std::chrono::steady_clock::now();
    if (last_scrape_) scrape_gap_ = now - *last_scrape_;
    last_scrape_ = now;
  }
  scrapes_.fetch_add(1, std::memory_order_acq_rel);
  if (final) final_scrapes_.fetch_add(1, std::memory_order_acq_rel);
}

void DashboardServer::Route() {
  server_->set_logger([](const httplib::Request& req, const httplib::Response& res) {
    spdlog::debug("http: {} {} -> {}", req.method, req.path, res.status);
  });
  server_->set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        res.status = 500;
        res.set_content(R"({"error":"internal error"})", std::string(kJsonType));
      });
  // httplib's own errors (a body over the limit: 413) get a JSON body like ours.
  httplib::Server::HandlerWithResponse on_error = [](const httplib::Request&,
                                                     httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const std::string message =
        res.status == 413 ? fmt::format("the request body is over {} bytes", kMaxRequestBody)
                          : fmt::format("the request could not be read (HTTP {})", res.status);
    res.set_content(fmt::format(R"({{"error":"{}"}})", message), std::string(kJsonType));
    return httplib::Server::HandlerResponse::Handled;
  };
  server_->set_error_handler(std::move(on_error));
  // Every request, whatever its method, is answered here (DashboardApi and RunsApi decide
  // 404, 405 and 415 themselves, so their tests cover what clients get), except a JSON POST
  // to the schedule's POST routes: its body is read (bounded by set_payload_max_length) by
  // the Post handler below. The pre-routing handler runs before httplib reads any body.
  server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (runs_ && RunsApi::WantsBody(req.method, req.path, req.get_header_value("Content-Type"))) {
      // httplib refuses a POST that declares no body at all (400); `curl -X POST -H
      // 'Content-Type: application/json' .../trigger` sends one, and means "no body".
      if (req.has_header("Content-Length") || req.has_header("Transfer-Encoding")) {
        return httplib::Server::HandlerResponse::Unhandled;
      }
      Answer(
          req,
          runs_->Handle(req.method, req.path, req.params, req.get_header_value("Content-Type"), ""),
          res);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (runs_ && RunsApi::Serves(req.path)) {
      Answer(
          req,
          runs_->Handle(req.method, req.path, req.params, req.get_header_value("Content-Type"), ""),
          res);
      return httplib::Server::HandlerResponse::Handled;
    }
    // Read before answering: a scrape that starts after SetFinished renders final totals.
    const bool final = api_.finished();
    // With a schedule, the page at / is the runs grid (web/schedule.html).
    std::string_view path = req.path;
    if (runs_ && path == "/") path = "/schedule.html";
    // Without a schedule the runs grid's files are not the page of this server: the grid
    // would only say "connection lost".
    if (!runs_ && path.starts_with("/schedule.")) path = "/no-schedule-here";
    Answer(req, api_.Handle(req.method, path, req.params), res);
    if (req.path == "/metrics" && res.status == 200) CountScrape(final);
    return httplib::Server::HandlerResponse::Handled;
  });
  if (runs_) {
    server_->Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      Answer(req,
             runs_->Handle(req.method, req.path, req.params, req.get_header_value("Content-Type"),
                           req.body),
             res);
    });
  }
}

void DashboardServer::Answer(const httplib::Request& req, HttpAnswer answer,
                             httplib::Response& res) const {
  res.status = answer.status;
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cache-Control", "no-store");
  if (answer.content_type.starts_with("text/html")) {
    res.set_header("Content-Security-Policy", kContentSecurityPolicy);
  }
  if (answer.status == 405) {
    res.set_header("Allow", answer.allow.empty() ? "GET, HEAD" : answer.allow);
  }
  if (req.method != "GET" && req.method != "HEAD" && req.body.empty()) {
    // Answered without reading the request's body (if it has one): the connection cannot
    // be reused.
    res.set_header("Connection", "close");
  }
  res.set_content(std::move(answer.body), answer.content_type);
}

void DashboardServer::ServeSchedule(ScheduleService* service) {
  if (server_ || service == nullptr) return;  // Only before Start().
  runs_ = std::make_unique<RunsApi>(*service);
}

}  // namespace spate
