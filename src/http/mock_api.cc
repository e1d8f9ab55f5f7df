#include "http/mock_api.h"

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <random>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include "core/json_writer.h"
#include "http/listen.h"
#include "sources/generator.h"

namespace spate {
namespace {

constexpr uint64_t kMaxResults = 5000;
// Pages beyond this are treated like garbage (page 1), so (page-1)*results never overflows.
constexpr uint64_t kMaxPage = uint64_t{1} << 32;
constexpr size_t kRandomSeedBytes = 8;  // The real API's seeds are 16 hex digits.
constexpr size_t kBytesPerUserEstimate = 1400;
// As the real API sends it. cpp-httplib compresses only a bare "application/json", and its
// brotli encoder at default quality needs seconds per 5000-user page; loopback needs none.
constexpr std::string_view kContentType = "application/json; charset=utf-8";

// A positive integer in [1, max], or 1 for anything else (the real API's leniency).
uint64_t ParseOneBased(const std::string& text, uint64_t max) {
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || value < 1 || value > max) return 1;
  return value;
}

std::string RandomSeed() {
  static constexpr char kHex[] = "0123456789abcdef";
  thread_local std::mt19937_64 rng(std::random_device{}());
  uint64_t bits = rng();
  std::string seed;
  for (size_t i = 0; i < kRandomSeedBytes * 2; ++i, bits >>= 4) seed.push_back(kHex[bits & 0xF]);
  return seed;
}

// Valid codes from a "nat" value, upper-cased, de-duplicated, in request order. Empty means
// none was valid, which the generator (like the real API) takes as "all".
std::vector<std::string> ParseNationalities(std::string_view text) {
  std::vector<std::string> nats;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    std::string code(text.substr(0, comma));
    text.remove_prefix(comma == std::string_view::npos ? text.size() : comma + 1);
    code.erase(
        std::remove_if(code.begin(), code.end(), [](unsigned char c) { return std::isspace(c); }),
        code.end());
    std::transform(code.begin(), code.end(), code.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    const bool known =
        std::find(kNationalities.begin(), kNationalities.end(), code) != kNationalities.end();
    if (known && std::find(nats.begin(), nats.end(), code) == nats.end()) nats.push_back(code);
  }
  return nats;
}

void SetError(httplib::Response& res, int status, std::string_view message) {
  std::string body;
  JsonWriter json(body);
  json.BeginObject();
  json.Key("error");
  json.String(message);
  json.EndObject();
  res.status = status;
  res.set_content(body, kContentType.data());
}

}  // namespace

MockApiServer::MockApiServer() = default;

MockApiServer::~MockApiServer() { Stop(); }

Status MockApiServer::Start(const MockApiOptions& options) {
  if (server_) {
    return Status::Fatal(fmt::format("mock-api: already running on {}:{}", options_.host, port()));
  }
  if (options.workers < 1 || options.read_timeout.count() <= 0) {
    return Status::Fatal("mock-api: workers and read timeout must be positive");
  }
  options_ = options;
  server_ = std::make_unique<httplib::Server>();
  // Enough workers, and a read timeout, so clients that hold half-sent requests neither
  // starve the others nor keep their worker for long (issue 17, item 12).
  const size_t workers = options.workers;
  server_->new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  const auto timeout_s = static_cast<time_t>(options.read_timeout.count() / 1000);
  const auto timeout_us = static_cast<time_t>(options.read_timeout.count() % 1000 * 1000);
  server_->set_read_timeout(timeout_s, timeout_us);
  server_->set_keep_alive_timeout(std::max<time_t>(1, timeout_s));
  Route();
  auto port = BindAndListen(*server_, options.host, options.port, listener_, "mock-api");
  if (!port.ok()) {
    server_.reset();
    return port.status();
  }
  port_.store(*port, std::memory_order_release);
  spdlog::debug("mock-api: serving http://{}:{}/api/", options.host, *port);
  return Status::Ok();
}

void MockApiServer::Stop() {
  if (!server_) return;
  server_->stop();
  if (listener_.joinable()) listener_.join();
  server_.reset();
}

void MockApiServer::Route() {
  server_->set_logger([](const httplib::Request& req, const httplib::Response& res) {
    spdlog::debug("mock-api: {} {} -> {}", req.method, req.target, res.status);
  });

  server_->Get(R"(/api(?:/(1\.[34]))?/?)", [this](const httplib::Request& req,
                                                  httplib::Response& res) {
    const uint64_t request_number = requests_served_.fetch_add(1, std::memory_order_relaxed);
    if (request_number < options_.fail_first) {
      SetError(res, options_.fail_status,
               fmt::format("injected failure {}/{}", request_number + 1, options_.fail_first));
      return;
    }
    if (req.has_param("format") && req.get_param_value("format") != "json") {
      SetError(res, 400, "spate mock-api serves format=json only");
      return;
    }

    const uint64_t results =
        req.has_param("results") ? ParseOneBased(req.get_param_value("results"), kMaxResults) : 1;
    const uint64_t page =
        req.has_param("page") ? ParseOneBased(req.get_param_value("page"), kMaxPage) : 1;
    std::string seed = req.has_param("seed") ? req.get_param_value("seed") : std::string();
    if (seed.empty()) seed = RandomSeed();
    std::vector<std::string> nats = req.has_param("nat")
                                        ? ParseNationalities(req.get_param_value("nat"))
                                        : std::vector<std::string>();
    const std::string version = req.matches[1].matched ? req.matches[1].str() : "1.4";

    Result<UserGenerator> generator = UserGenerator::Create(GeneratorOptions{
        .seed = seed, .nationalities = std::move(nats), .include_login_secrets = true});
    if (!generator.ok()) {
      SetError(res, 500, generator.status().message());
      return;
    }

    std::string body;
    body.reserve(results * kBytesPerUserEstimate);
    body.append(R"({"results":[)");
    const uint64_t first = (page - 1) * results;
    for (uint64_t i = 0; i < results; ++i) {
      if (i > 0) body.push_back(',');
      generator->AppendUser(first + i, body);
    }
    body.push_back(']');
    if (!req.has_param("noinfo")) {
      body.append(R"(,"info":)");
      JsonWriter json(body);
      json.BeginObject();
      json.Key("seed");
      json.String(seed);
      json.Key("results");
      json.Int(static_cast<int64_t>(results));
      json.Key("page");
      json.Int(static_cast<int64_t>(page));
      json.Key("version");
      json.String(version);
      json.EndObject();
    }
    body.push_back('}');
    res.body = std::move(body);
    res.set_header("Content-Type", kContentType.data());
  });
}

}  // namespace spate
