// The randomuser source's own reports (issue 18): retried requests in
// spate_source_retries_total, and its /readyz check not ready while it retries. Against a
// scripted server on 127.0.0.1.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "observe/feeds.h"
#include "observe/metrics.h"
#include "pipeline/pipeline.h"
#include "sources/randomuser_source.h"
#include "test_util.h"

namespace spate {
namespace {

using std::chrono::milliseconds;

// Answers GET /api/ with `handler(request number from 0)`.
class Server {
 public:
  using Handler = std::function<void(int, httplib::Response&)>;
  explicit Server(Handler handler) : handler_(std::move(handler)) {
    server_.Get("/api/", [this](const httplib::Request&, httplib::Response& res) {
      handler_(requests_++, res);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::jthread([this] { server_.listen_after_bind(); });
    while (port_ > 0 && !server_.is_running()) std::this_thread::sleep_for(milliseconds(1));
  }
  ~Server() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/"; }

 private:
  Handler handler_;
  httplib::Server server_;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::jthread thread_;
};

std::optional<HealthCheck> SourceCheck() {
  for (HealthCheck& check : Health().Checks()) {
    if (check.name == "source randomuser") return check;
  }
  return std::nullopt;
}

class NullSink final : public Sink {
 public:
  Status Open() override { return Status::Ok(); }
  Status Write(const Batch& batch) override {
    rows += batch.rows.size();
    return Status::Ok();
  }
  Status Close() override { return Status::Ok(); }
  std::string Describe() const override { return "null"; }
  uint64_t rows = 0;
};

TEST(PipelineMetricsRandomUser, RetriesAreCountedAndTheSourceIsNotReadyWhileRetrying) {
  const std::string document = spate::testing::Fixture("v1.4-1-user-br.json");
  ASSERT_FALSE(document.empty());
  std::optional<HealthCheck> during_retry;
  Server server([&](int n, httplib::Response& res) {
    if (n < 2) {
      res.status = 503;
      return;
    }
    // The third request: the source is retrying after two failures.
    during_retry = SourceCheck();
    res.set_content(document, "application/json");
  });
  RandomUserOptions options;
  options.base_url = server.url();
  options.count = 1;
  options.page_size = 1;
  options.max_retries = 3;
  options.backoff_initial = milliseconds(5);
  options.backoff_max = milliseconds(10);
  auto source = RandomUserSource::Create(options);
  ASSERT_TRUE(source.ok()) << source.status().message();
  // Not ready before it has fetched anything.
  std::optional<HealthCheck> before = SourceCheck();
  ASSERT_TRUE(before.has_value());
  EXPECT_FALSE(before->ready);

  MetricsRegistry metrics;
  NullSink sink;
  PipelineOptions pipeline_options;
  pipeline_options.metrics = &metrics;
  Pipeline pipeline(*source.value(), {&sink}, pipeline_options);
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());
  EXPECT_EQ(sink.rows, 1u);

  EXPECT_EQ(metrics
                .GetCounter("spate_source_retries_total", "",
                            {{"pipeline", "run"}, {"source", "randomuser"}})
                .value(),
            2u);
  EXPECT_EQ(metrics
                .GetCounter("spate_source_records_total", "",
                            {{"pipeline", "run"}, {"source", "randomuser"}})
                .value(),
            1u);
  ASSERT_TRUE(during_retry.has_value());
  EXPECT_FALSE(during_retry->ready);
  EXPECT_NE(during_retry->detail.find("503"), std::string::npos) << during_retry->detail;
  // A good page: ready again.
  std::optional<HealthCheck> after = SourceCheck();
  ASSERT_TRUE(after.has_value());
  EXPECT_TRUE(after->ready);
}

}  // namespace
}  // namespace spate
