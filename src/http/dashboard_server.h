// DashboardServer: the HTTP server of --http. Serves the dashboard page (/), Prometheus
// metrics (/metrics), /healthz, /readyz and the JSON under /api/ (DashboardApi), and runs the
// history sampler behind the page's charts (MetricsHistory).
//
// Bounded: `workers` threads answer, one connection each at a time; at most `queue`
// accepted connections wait for one (beyond that the listener stops accepting and the
// kernel's backlog holds the rest). A connection silent for `read_timeout` (half a request,
// an idle keep-alive) is closed, a response the client does not read is dropped after
// `write_timeout`, and request bodies are refused past a few KiB: a slow or stalled client
// holds one worker for seconds, not for ever. (A client trickling bytes faster than the
// timeout keeps its worker; with `workers` such clients the rest wait. It is a local tool,
// bound to loopback unless told otherwise, without authentication.)
//
// Prometheus and the end of a run: /metrics requests are counted, with the time between the
// last two (the scraper's interval), so a command can wait for one scrape of its final totals
// before it exits (cmd_run.cc: AwaitFinalScrape).
//
// Lifecycle: Start() binds, starts the listener (a std::jthread) and the sampler, and returns
// once connections are accepted; Stop() (or the destructor) stops both and joins. Idempotent.
//
// Thread-safety: Start/Stop/SetFinished from one controlling thread; the rest from any.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/status.h"
#include "http/dashboard_api.h"
#include "http/metrics_history.h"
#include "http/runs_api.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace spate {

class ScheduleService;

struct DashboardServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 = pick a free one; read it back from Start() or port().
  // An idle keep-alive connection holds its worker for up to a second, and a browser keeps
  // six per page: enough for a few pages, a scraper and curl at once.
  size_t workers = 32;
  size_t queue = 64;
  std::chrono::milliseconds read_timeout{2000};
  std::chrono::milliseconds write_timeout{2000};
  std::chrono::milliseconds sample_interval{1000};
};

class DashboardServer {
 public:
  // `aggregates` reads the store's aggregation tables for /api/aggregates (none: no tables).
  DashboardServer(DashboardInfo info, DashboardSources sources = DashboardSources::Global(),
                  AggregatesReader aggregates = {});
  ~DashboardServer();  // Calls Stop().
  DashboardServer(const DashboardServer&) = delete;
  DashboardServer& operator=(const DashboardServer&) = delete;

  // `spate schedule --http`: also serves the schedule (runs_api.h: GET /api/jobs, /api/runs,
  // POST /api/jobs/NAME/trigger and .../backfill), and `/` is the runs grid instead of the
  // pipeline dashboard. Call before Start(); `service` must outlive the server. POST is
  // taken on those two routes only.
  void ServeSchedule(ScheduleService* service);

  // Binds host:port and starts serving; returns the bound port. An error names the address
  // and why (in use, not an address of this machine).
  Result<int> Start(const DashboardServerOptions& options);
  // Stops accepting, finishes the requests in flight, joins the listener, the workers and
  // the sampler. Idempotent.
  void Stop();

  int port() const { return port_.load(std::memory_order_acquire); }
  // The pipeline has ended: /api/overview says so, and later scrapes hold the final totals.
  void SetFinished();

  // /metrics requests answered so far, and of them those that began after SetFinished.
  uint64_t scrapes() const { return scrapes_.load(std::memory_order_acquire); }
  uint64_t final_scrapes() const { return final_scrapes_.load(std::memory_order_acquire); }
  // The time between the last two /metrics requests; nullopt before two.
  std::optional<std::chrono::duration<double>> scrape_interval() const;
  // The time since the last /metrics request; nullopt before one.
  std::optional<std::chrono::duration<double>> since_last_scrape() const;

  const DashboardApi& api() const { return api_; }

 private:
  void Route();
  // Writes `answer` into `res` with the headers every answer gets.
  void Answer(const httplib::Request& req, HttpAnswer answer, httplib::Response& res) const;
  void CountScrape(bool final);

  const DashboardInfo info_;
  MetricsHistory history_;
  DashboardApi api_;
  std::unique_ptr<RunsApi> runs_;  // Set by ServeSchedule, before Start; then constant.
  std::unique_ptr<httplib::Server> server_;
  std::jthread listener_;

  std::atomic<int> port_{0};
  std::atomic<uint64_t> scrapes_{0};
  std::atomic<uint64_t> final_scrapes_{0};
  mutable std::mutex scrape_mu_;
  std::optional<std::chrono::steady_clock::time_point> last_scrape_;  // Protected by scrape_mu_.
  std::optional<std::chrono::steady_clock::duration> scrape_gap_;     // Protected by scrape_mu_.
};

}  // namespace spate
