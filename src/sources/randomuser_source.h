// RandomUserSource: users fetched page by page from a randomuser.me-compatible API.
//
// Each Next() hands out records from the current page; when the page is used up it GETs
//   base_url?results=R&seed=S&page=P[&nat=au,br]
// and splits the response user by user with the Ingestor (login secrets removed there, records
// over max_record_bytes dead-lettered): one bad user (too deep, `1e99999`, an invalid UTF-8
// byte, not an object) is one dead letter at its position and its neighbours are records; a
// body that is not one whole API document (a transfer cut short) is retried as a whole.
// With a seed the API is deterministic: page P of size R holds users (P-1)*R .. P*R-1, so a
// record's position is that global user index and a run can be resumed or compared with
// `spate mock-api`/the generator.
//
// --count is exact. The source keeps `next_position_`, the global index of the next user it
// wants, and asks for the page of size R that holds it; of the answer it keeps only users
// next_position_ .. min(page end, end of count) - 1, so a server that sends more users than
// asked (or a page that overlaps what was already received) never adds a user twice. A short
// page (k < R users) is taken, and R becomes k from then on (a server that caps its pages
// keeps getting asked for what it gives); the next request then starts no later than the
// first missing user, so none is skipped. A page with no user at all ends the data: before
// any user it is an error, later the run ends with a warning saying how many were fetched.
// The last page is requested whole and truncated locally.
//
// Failures: HTTP 429, 5xx, network errors (refused, timeout, DNS) and a 200 whose body is not
// an API document (a truncated transfer) are retried with exponential backoff and jitter, up
// to max_retries, honouring Retry-After (seconds). Any other 4xx, an API {"error": ...} body,
// a body larger than a page can be (below) or running out of retries ends the run with a
// Fatal Status that says what to check. A stop requested through the stop_token aborts a
// transfer or a backoff wait promptly; Next then returns a Cancelled Status. Credentials in
// the URL (user:pass@) never appear in messages.
//
// Bounded memory: a page of R users cannot legitimately be larger than
// R * max_record_bytes + kRandomUserEnvelopeBytes (records longer than max_record_bytes are
// dead-lettered anyway). The transfer is aborted once the body passes that many bytes, counted
// after libcurl decodes Content-Encoding, so an endless chunked body and a gzip bomb both end
// with a clear error instead of exhausting memory. Error (non-2xx) bodies keep only an excerpt.
//
// The response handling (status line, headers, body, splitting) is network-free:
// HttpResponseReader and InterpretPageResponse below, so tests and the fuzz target
// (fuzz/http_response_fuzz.cc) drive it with bytes.
//
// Thread-safety: Next and Describe are called from one thread (the pipeline's source thread);
// requests_made() may be read from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
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

class Counter;

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
  // As --max-record-bytes: bounds the body of a page (see above).
  uint64_t max_record_bytes = uint64_t{1} << 20;
};

inline constexpr uint32_t kRandomUserMaxPageSize = 5000;
// What a page holds besides its users: {"results":[...], "info":{...}}, separators and
// pretty-printing whitespace.
inline constexpr uint64_t kRandomUserEnvelopeBytes = uint64_t{1} << 20;

// The most body bytes a page of `results` users may have: results * max_record_bytes +
// kRandomUserEnvelopeBytes, saturating instead of overflowing.
uint64_t RandomUserMaxBodyBytes(uint64_t results, uint64_t max_record_bytes);

// One HTTP response as received (the last one, after redirects).
struct HttpResponse {
  long status = 0;          // From the status line; 0 if none was seen.
  std::string body;         // Decoded body; for a non-2xx status only its first bytes.
  uint64_t body_bytes = 0;  // Decoded body bytes received, kept or not.
  bool too_large = false;   // body_bytes passed the cap: the transfer was aborted.
  std::optional<std::chrono::seconds> retry_after;  // Retry-After in delta-seconds form.
};

// Collects an HttpResponse from what libcurl hands its header and write callbacks. Network
// free, so tests and the fuzz target can feed it bytes.
class HttpResponseReader {
 public:
  // Bytes kept of a non-2xx body (for the error message); the rest is counted, not kept.
  static constexpr size_t kErrorBodyBytes = 512;

  explicit HttpResponseReader(uint64_t max_body_bytes) : max_body_bytes_(max_body_bytes) {}

  // Starts a new exchange.
  void Reset() { response_ = HttpResponse{}; }
  // One header line (the status line included), with or without its CRLF.
  void OnHeaderLine(std::string_view line);
  // Decoded body bytes. Returns false once the body passes the cap (or memory runs out): the
  // transfer must then be aborted.
  bool OnBody(std::string_view data);

  const HttpResponse& response() const { return response_; }
  uint64_t max_body_bytes() const { return max_body_bytes_; }

 private:
  const uint64_t max_body_bytes_;
  HttpResponse response_;
};

// What one response means for the page it answers.
struct PageOutcome {
  Status status;     // Ok, Retriable or Fatal; the message is the reason.
  std::string hint;  // What to check, appended to the final error message.
  std::optional<std::chrono::milliseconds> retry_after;
  uint64_t elements = 0;  // Users in the page: out.records + out.dead grew by this much.
};

// Interprets a response to a request for `results` users starting at global index
// `first_position`. On Ok, appends the page's users to out.records (positions
// first_position + i) and unusable ones to out.dead; on any other status `out` is unchanged.
// `userinfo` (the URL's "user:pass") is scrubbed from every message. A UTF-8 byte order mark
// before the document is skipped.
PageOutcome InterpretPageResponse(const HttpResponse& response, uint64_t first_position,
                                  uint64_t results, uint64_t max_body_bytes, Ingestor& ingestor,
                                  std::string_view userinfo, Batch& out);

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
  std::string_view kind() const override { return "randomuser"; }
  // Counts retried requests into spate_source_retries_total.
  void ReportTo(MetricsRegistry& metrics, std::string_view pipeline) override;

  // HTTP requests sent so far, retries included.
  uint64_t requests_made() const { return requests_made_.load(std::memory_order_relaxed); }

 private:
  class Http;  // libcurl easy handle and its request state (randomuser_source.cc).

  RandomUserSource(RandomUserOptions options, std::unique_ptr<Http> http);

  std::string PageUrl(uint64_t page) const;
  // Fetches pages into pending_ until one brings users not received yet (next_position_
  // moves on) or the data ends (finished_). Cancelled/Fatal on failure.
  Status FetchPage(const std::stop_token& stop);
  // One GET of `url`; on success pending_ holds the page's records and dead letters.
  PageOutcome TryOnce(const std::string& url, uint64_t first_position, const std::stop_token& stop);
  // The wait before retry number `retry` (1-based): exponential, capped, jittered.
  std::chrono::milliseconds Backoff(uint64_t retry);

  // Constant after construction.
  const RandomUserOptions options_;
  const std::string origin_;       // options_.base_url with credentials redacted.
  const std::string userinfo_;     // "user:pass" from the URL, scrubbed from messages.
  const uint64_t max_body_bytes_;  // The body cap, for the largest page asked for.
  const uint64_t end_position_;    // One past the last wanted user; 0 when count == 0.

  // Source-thread state.
  std::unique_ptr<Http> http_;
  Ingestor ingestor_;
  uint64_t results_;        // R: the `results` asked for; shrinks when pages come short.
  uint64_t next_position_;  // Global index of the next user not received yet.
  uint64_t users_received_ = 0;
  bool warned_long_page_ = false;
  Batch pending_;              // Fetched, not yet handed out.
  size_t pending_offset_ = 0;  // Records of pending_ already handed out.
  bool finished_ = false;
  std::mt19937_64 jitter_;

  std::atomic<uint64_t> requests_made_{0};
  // spate_source_retries_total of the pipeline that runs the source (ReportTo); set before
  // the source thread starts.
  Counter* retries_ = nullptr;
  // The source's check behind /readyz: not ready while a request is being retried.
  static constexpr std::string_view kHealthName = "source randomuser";
};

// "https://user:pass@host/api/" -> "https://***@host/api/"; other URLs are returned as is.
std::string RedactUrlCredentials(std::string_view url);

}  // namespace spate
