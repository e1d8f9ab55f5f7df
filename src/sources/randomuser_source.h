// RandomUserSource: users fetched page by page from a randomuser.me-compatible API.
//
// Each Next() hands out records from the current page; when the page is used up it GETs
//   base_url?results=R&seed=S&page=P[&nat=au,br]
// and splits the response with Ingestor::SplitResponse (login secrets removed there).
// With a seed the API is deterministic: page P of size R holds users (P-1)*R .. P*R-1, so a
// record's position is that global user index and a run can be resumed or compared with
// `spate mock-api`/the generator. R is constant for the whole run (min(page_size, count));
// the last page is requested whole and truncated locally, so paging never shifts.
//
// Failures: HTTP 429, 5xx, network errors (refused, timeout, DNS) and a 200 whose body is not
// an API document (a truncated transfer) are retried with exponential backoff and jitter, up
// to max_retries, honouring Retry-After (seconds). Any other 4xx, an API {"error": ...} body
// or running out of retries ends the run with a Fatal Status that says what to check. A stop
// requested through the stop_token aborts a transfer or a backoff wait promptly; Next then
// returns a Cancelled Status. Credentials in the URL (user:pass@) never appear in messages.
//
// Thread-safety: Next and Describe are called from one thread (the pipeline's source thread);
// requests_made() may be read from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "core/record.h"
#include "core/status.h"
#include "sources/source.h"
#include "transforms/ingest.h"

namespace spate {

struct RandomUserOptions {
  std::string base_url = "https://randomuser.me/api/";
  std::string seed = "spate";                        // Required: paging is only stable with a seed.
  std::vector<std::string> nationalities;            // API v1.4 codes, any case; empty means all.
  uint64_t count = 0;                                // Total users wanted; 0 = until stopped.
  uint32_t page_size = 5000;                         // The API's `results`: 1..5000.
  uint32_t first_page = 1;                           // 1-based, as the API counts.
  std::chrono::milliseconds timeout{30000};          // Whole request.
  std::chrono::milliseconds connect_timeout{10000};  // TCP (+TLS) connect.
  uint32_t max_retries = 5;                          // Retries after the first attempt.
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{30000};
};

inline constexpr uint32_t kRandomUserMaxPageSize = 5000;

class RandomUserSource final : public Source {
 public:
  // Validates the options (Fatal, naming the option and the valid range) and creates the
  // HTTP handle. Does not touch the network.
  static Result<std::unique_ptr<RandomUserSource>> Create(RandomUserOptions options);

  ~RandomUserSource() override;
  RandomUserSource(const RandomUserSource&) = delete;
  RandomUserSource& operator=(const RandomUserSource&) = delete;

  Result<SourceState> Next(Batch& batch, size_t max_records, std::stop_token stop) override;

  // "randomuser https://randomuser.me/api/" (credentials redacted).
  std::string Describe() const override;

  // HTTP requests sent so far, retries included.
  uint64_t requests_made() const { return requests_made_.load(std::memory_order_relaxed); }

 private:
  class Http;  // libcurl easy handle and its request state (randomuser_source.cc).
  struct Attempt;

  RandomUserSource(RandomUserOptions options, std::unique_ptr<Http> http);

  std::string PageUrl(uint64_t page) const;
  // Fetches page `page_` with retries into pending_. Cancelled/Fatal on failure.
  Status FetchPage(const std::stop_token& stop);
  // One GET of `url`; on success pending_ holds the page's records and dead letters.
  Attempt TryOnce(const std::string& url, uint64_t first_position, const std::stop_token& stop);
  // The wait before retry number `retry` (1-based): exponential, capped, jittered.
  std::chrono::milliseconds Backoff(uint64_t retry);
  // Replaces the URL's credentials wherever they appear in `text`.
  std::string Scrub(std::string text) const;

  // Constant after construction.
  const RandomUserOptions options_;
  const std::string origin_;     // options_.base_url with credentials redacted.
  const std::string userinfo_;   // "user:pass" from the URL, scrubbed from messages.
  const uint64_t page_results_;  // R: the `results` sent with every request.
  const uint64_t end_position_;  // One past the last wanted user; 0 when count == 0.

  // Source-thread state.
  std::unique_ptr<Http> http_;
  Ingestor ingestor_;
  uint64_t page_;              // Next page to fetch.
  Batch pending_;              // Fetched, not yet handed out.
  size_t pending_offset_ = 0;  // Records of pending_ already handed out.
  bool finished_ = false;
  std::mt19937_64 jitter_;

  std::atomic<uint64_t> requests_made_{0};
};

// "https://user:pass@host/api/" -> "https://***@host/api/"; other URLs are returned as is.
std::string RedactUrlCredentials(std::string_view url);

}  // namespace spate
