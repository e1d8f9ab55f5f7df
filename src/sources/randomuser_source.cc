#include "sources/randomuser_source.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "sources/generator.h"

namespace spate {
namespace {

constexpr std::string_view kUserAgent = "spate/0.1";
constexpr size_t kBodyExcerptBytes = 200;
constexpr long kMaxRedirects = 5;
// A Retry-After longer than this is treated as this; the stop token still cuts it short.
constexpr std::chrono::milliseconds kMaxRetryAfter = std::chrono::minutes(10);
constexpr std::string_view kReachabilityHint = " (is the API reachable? check --url)";

// curl_global_init is not thread-safe; every handle goes through here first.
void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlEasyDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;

struct CurlSlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

// The "user:pass" part of a URL's authority, or "" when there is none.
std::string_view UrlUserInfo(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {};
  const size_t authority_begin = scheme_end + 3;
  const size_t authority_end = url.find_first_of("/?#", authority_begin);
  const std::string_view authority = url.substr(authority_begin, authority_end - authority_begin);
  const size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return {};
  return authority.substr(0, at);
}

std::string_view ReasonPhrase(long status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "";
  }
}

// Network trouble that may heal: the same request can succeed later.
bool IsRetriableCurlError(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:  // Usually a gzip stream cut short.
      return true;
    default:
      return false;
  }
}

// Waits `duration` or until a stop is requested; returns false on stop.
bool SleepUnlessStopped(std::chrono::milliseconds duration, const std::stop_token& stop) {
  std::mutex mutex;
  std::condition_variable_any cv;
  std::unique_lock lock(mutex);
  cv.wait_for(lock, stop, duration, [] { return false; });
  return !stop.stop_requested();
}

}  // namespace

std::string RedactUrlCredentials(std::string_view url) {
  const std::string_view userinfo = UrlUserInfo(url);
  if (userinfo.empty()) return std::string(url);
  const size_t begin = static_cast<size_t>(userinfo.data() - url.data());
  std::string out(url.substr(0, begin));
  out.append("***");
  out.append(url.substr(begin + userinfo.size()));
  return out;
}

// One libcurl easy handle, reused for every request so the connection is kept alive.
// Lives on the source thread.
class RandomUserSource::Http {
 public:
  struct Response {
    CURLcode code = CURLE_OK;
    long status = 0;
    std::string body;
    std::optional<std::chrono::seconds> retry_after;
    std::string error_detail;  // libcurl's error buffer; may be empty.
  };

  static Result<std::unique_ptr<Http>> Create(const RandomUserOptions& options) {
    InitCurlOnce();
    CurlEasy handle(curl_easy_init());
    if (!handle) return Status::Fatal("randomuser: curl_easy_init failed (out of memory?)");
    CurlSlist headers(curl_slist_append(nullptr, "Accept: application/json"));
    if (!headers) return Status::Fatal("randomuser: curl_slist_append failed (out of memory?)");
    auto http = std::unique_ptr<Http>(new Http(std::move(handle), std::move(headers)));
    if (Status s = http->Configure(options); !s.ok()) return s;
    return http;
  }

  // Performs one GET. Never throws; the outcome is in `out`.
  void Get(const std::string& url, const std::stop_token& stop, Response& out) {
    out = Response{};
    response_ = &out;
    stop_ = &stop;
    error_buffer_[0] = '\0';
    CURL* h = handle_.get();
    out.code = curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    if (out.code == CURLE_OK) out.code = curl_easy_perform(h);
    if (out.code == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out.status);
    out.error_detail = error_buffer_;
    response_ = nullptr;
    stop_ = nullptr;
  }

 private:
  Http(CurlEasy handle, CurlSlist headers)
      : handle_(std::move(handle)), headers_(std::move(headers)) {}

  Status Configure(const RandomUserOptions& options) {
    CURL* h = handle_.get();
    CURLcode rc = CURLE_OK;
    auto set = [&](CURLoption option, auto value) {
      if (rc == CURLE_OK) rc = curl_easy_setopt(h, option, value);
    };
    set(CURLOPT_NOSIGNAL, 1L);  // Threads: no SIGALRM for DNS timeouts.
    set(CURLOPT_USERAGENT, kUserAgent.data());
    set(CURLOPT_HTTPHEADER, headers_.get());
    set(CURLOPT_ACCEPT_ENCODING, "");  // Every encoding libcurl can decode (gzip at least).
    set(CURLOPT_FOLLOWLOCATION, 1L);
    set(CURLOPT_MAXREDIRS, kMaxRedirects);
    set(CURLOPT_PROTOCOLS_STR, "http,https");
    set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    set(CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
    set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
    set(CURLOPT_ERRORBUFFER, error_buffer_);
    set(CURLOPT_WRITEFUNCTION, &Http::OnBody);
    set(CURLOPT_WRITEDATA, this);
    set(CURLOPT_HEADERFUNCTION, &Http::OnHeader);
    set(CURLOPT_HEADERDATA, this);
    set(CURLOPT_NOPROGRESS, 0L);
    set(CURLOPT_XFERINFOFUNCTION, &Http::OnProgress);
    set(CURLOPT_XFERINFODATA, this);
    if (rc != CURLE_OK) {
      return Status::Fatal(
          fmt::format("randomuser: configuring libcurl failed: {}", curl_easy_strerror(rc)));
    }
    return Status::Ok();
  }

  static size_t OnBody(char* data, size_t size, size_t count, void* user) {
    auto* self = static_cast<Http*>(user);
    self->response_->body.append(data, size * count);
    return size * count;
  }

  static size_t OnHeader(char* data, size_t size, size_t count, void* user) {
    auto* self = static_cast<Http*>(user);
    const std::string_view line(data, size * count);
    if (line.starts_with("HTTP/")) {
      // A new response (after a redirect): forget the previous one's headers and body.
      self->response_->retry_after.reset();
      self->response_->body.clear();
      return line.size();
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return line.size();
    if (!EqualsIgnoreCase(Trim(line.substr(0, colon)), "Retry-After")) return line.size();
    const std::string_view value = Trim(line.substr(colon + 1));
    // Only the delta-seconds form; an HTTP-date falls back to our own backoff.
    uint64_t seconds = 0;
    if (value.empty() || value.size() > 9) return line.size();
    for (char c : value) {
      if (c < '0' || c > '9') return line.size();
      seconds = seconds * 10 + static_cast<uint64_t>(c - '0');
    }
    self->response_->retry_after = std::chrono::seconds(seconds);
    return line.size();
  }

  // Called by libcurl during the transfer (at least about once a second); a non-zero return
  // aborts it with CURLE_ABORTED_BY_CALLBACK.
  static int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* self = static_cast<Http*>(user);
    return self->stop_ != nullptr && self->stop_->stop_requested() ? 1 : 0;
  }

  CurlEasy handle_;
  CurlSlist headers_;
  char error_buffer_[CURL_ERROR_SIZE] = {};
  // Valid only during Get().
  Response* response_ = nullptr;
  const std::stop_token* stop_ = nullptr;
};

struct RandomUserSource::Attempt {
  Status status;     // Ok, Retriable, Fatal or Cancelled; the message is the reason.
  std::string hint;  // What to check, appended to the final error message.
  std::optional<std::chrono::milliseconds> retry_after;
};

Result<std::unique_ptr<RandomUserSource>> RandomUserSource::Create(RandomUserOptions options) {
  const std::string shown = RedactUrlCredentials(options.base_url);
  if (!options.base_url.starts_with("http://") && !options.base_url.starts_with("https://")) {
    return Status::Fatal(
        fmt::format("randomuser: url '{}' must start with http:// or https:// (e.g. {})", shown,
                    RandomUserOptions{}.base_url));
  }
  if (options.seed.empty()) {
    return Status::Fatal(
        "randomuser: seed must not be empty: without a seed the API's pages are random and "
        "positions mean nothing");
  }
  if (options.page_size < 1 || options.page_size > kRandomUserMaxPageSize) {
    return Status::Fatal(fmt::format("randomuser: page size {} is out of range 1..{}",
                                     options.page_size, kRandomUserMaxPageSize));
  }
  if (options.first_page < 1) {
    return Status::Fatal("randomuser: first page must be 1 or more (pages count from 1)");
  }
  if (options.timeout.count() <= 0 || options.connect_timeout.count() <= 0) {
    return Status::Fatal("randomuser: timeout and connect timeout must be positive");
  }
  if (options.backoff_initial.count() < 0 || options.backoff_max < options.backoff_initial) {
    return Status::Fatal("randomuser: backoff must satisfy 0 <= backoff_initial <= backoff_max");
  }
  for (std::string& nat : options.nationalities) {
    const auto known = std::find_if(kNationalities.begin(), kNationalities.end(),
                                    [&](std::string_view k) { return EqualsIgnoreCase(k, nat); });
    if (known == kNationalities.end()) {
      return Status::Fatal(fmt::format("randomuser: unknown nationality '{}'; valid: {}", nat,
                                       fmt::join(kNationalities, ",")));
    }
    nat = std::string(*known);
  }
  Result<std::unique_ptr<Http>> http = Http::Create(options);
  if (!http.ok()) return http.status();
  return std::unique_ptr<RandomUserSource>(
      new RandomUserSource(std::move(options), std::move(http).value()));
}

RandomUserSource::RandomUserSource(RandomUserOptions options, std::unique_ptr<Http> http)
    : options_(std::move(options)),
      origin_(RedactUrlCredentials(options_.base_url)),
      userinfo_(UrlUserInfo(options_.base_url)),
      page_results_(options_.count == 0 ? options_.page_size
                                        : std::min<uint64_t>(options_.page_size, options_.count)),
      end_position_(
          options_.count == 0 ? 0 : (options_.first_page - 1) * page_results_ + options_.count),
      http_(std::move(http)),
      page_(options_.first_page),
      jitter_(std::random_device{}()) {
  pending_.origin = origin_;
}

RandomUserSource::~RandomUserSource() = default;

std::string RandomUserSource::Describe() const { return "randomuser " + origin_; }

std::string RandomUserSource::PageUrl(uint64_t page) const {
  std::string url = options_.base_url;
  url.push_back(url.find('?') == std::string::npos ? '?' : '&');
  url += fmt::format("results={}&seed={}&page={}", page_results_, UrlEncode(options_.seed), page);
  if (!options_.nationalities.empty()) {
    url += "&nat=";
    for (size_t i = 0; i < options_.nationalities.size(); ++i) {
      if (i > 0) url.push_back(',');
      std::string code = UrlEncode(options_.nationalities[i]);
      std::transform(code.begin(), code.end(), code.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      url += code;
    }
  }
  return url;
}

std::string RandomUserSource::Scrub(std::string text) const {
  if (userinfo_.empty()) return text;
  for (size_t at = text.find(userinfo_); at != std::string::npos;
       at = text.find(userinfo_, at + 3)) {
    text.replace(at, userinfo_.size(), "***");
  }
  return text;
}

std::chrono::milliseconds RandomUserSource::Backoff(uint64_t retry) {
  // initial * 2^(retry-1), capped, then "equal jitter": uniform in [d/2, d].
  std::chrono::milliseconds delay = options_.backoff_initial;
  for (uint64_t i = 1; i < retry && delay < options_.backoff_max; ++i) delay *= 2;
  delay = std::min(delay, options_.backoff_max);
  std::uniform_int_distribution<int64_t> dist(delay.count() / 2, delay.count());
  return std::chrono::milliseconds(dist(jitter_));
}

RandomUserSource::Attempt RandomUserSource::TryOnce(const std::string& url, uint64_t first_position,
                                                    const std::stop_token& stop) {
  Http::Response response;
  requests_made_.fetch_add(1, std::memory_order_relaxed);
  http_->Get(url, stop, response);

  Attempt attempt;
  if (response.code != CURLE_OK) {
    if (response.code == CURLE_ABORTED_BY_CALLBACK) {
      attempt.status = Status::Cancelled("stopped during the request");
      return attempt;
    }
    std::string reason = curl_easy_strerror(response.code);
    if (!response.error_detail.empty() && response.error_detail != reason) {
      reason += ": " + Scrub(response.error_detail);
    }
    attempt.hint = std::string(kReachabilityHint);
    attempt.status = IsRetriableCurlError(response.code) ? Status::Retriable(std::move(reason))
                                                         : Status::Fatal(std::move(reason));
    return attempt;
  }

  if (response.status == 200) {
    pending_.records.clear();
    pending_.dead.clear();
    Result<uint64_t> split = ingestor_.SplitResponse(response.body, first_position, pending_);
    if (split.ok()) return attempt;
    pending_.records.clear();
    pending_.dead.clear();
    if (split.status().kind() == ErrorKind::kInvalidInput) {
      attempt.status = Status::Retriable(
          fmt::format("HTTP 200 but the body ({} bytes) is not an API document, probably a "
                      "transfer cut short: {}",
                      response.body.size(), Scrub(split.status().message())));
    } else {
      attempt.status = Status::Fatal(Scrub(split.status().message()));
    }
    return attempt;
  }

  // Any other status: keep a short, single-line excerpt of the body for the message.
  std::string excerpt = Scrub(response.body.substr(0, kBodyExcerptBytes));
  for (char& c : excerpt) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  if (response.body.size() > kBodyExcerptBytes) excerpt += "...";
  const std::string_view phrase = ReasonPhrase(response.status);
  std::string reason = fmt::format("HTTP {}{}{}: {}", response.status, phrase.empty() ? "" : " ",
                                   phrase, excerpt.empty() ? "(empty body)" : excerpt);
  if (response.status == 429 || (response.status >= 500 && response.status <= 599)) {
    attempt.status = Status::Retriable(std::move(reason));
    if (response.retry_after) {
      attempt.retry_after =
          std::min<std::chrono::milliseconds>(*response.retry_after, kMaxRetryAfter);
    }
  } else {
    if (response.status == 401 || response.status == 403) {
      attempt.hint = " (check the credentials and --url)";
    } else if (response.status == 404) {
      attempt.hint = fmt::format(" (check --url: it should be the API root, e.g. {})",
                                 RandomUserOptions{}.base_url);
    }
    attempt.status = Status::Fatal(std::move(reason));
  }
  return attempt;
}

Status RandomUserSource::FetchPage(const std::stop_token& stop) {
  const std::string url = PageUrl(page_);
  const std::string shown = RedactUrlCredentials(url);
  const uint64_t first_position = (page_ - 1) * page_results_;
  const uint64_t max_attempts = uint64_t{options_.max_retries} + 1;
  for (uint64_t n = 1;; ++n) {
    if (stop.stop_requested()) {
      return Status::Cancelled(fmt::format("randomuser: stopped before GET {}", shown));
    }
    Attempt attempt = TryOnce(url, first_position, stop);
    const Status& status = attempt.status;
    if (status.ok()) break;
    if (status.kind() == ErrorKind::kCancelled) {
      return Status::Cancelled(fmt::format("randomuser: GET {}: {}", shown, status.message()));
    }
    if (!status.retriable()) {
      return Status::Fatal(
          fmt::format("randomuser: GET {}: {}{}", shown, status.message(), attempt.hint));
    }
    if (n >= max_attempts) {
      return Status::Fatal(fmt::format("randomuser: GET {} failed after {} attempts: {}{}", shown,
                                       n, status.message(), attempt.hint));
    }
    const std::chrono::milliseconds wait = attempt.retry_after.value_or(Backoff(n));
    spdlog::warn("randomuser: GET {} attempt {}/{} failed: {}; retrying in {} ms{}", shown, n,
                 max_attempts, status.message(), wait.count(),
                 attempt.retry_after ? " (Retry-After)" : "");
    if (!SleepUnlessStopped(wait, stop)) {
      return Status::Cancelled(fmt::format(
          "randomuser: stopped while waiting to retry GET {} (attempt {}/{} failed: {})", shown, n,
          max_attempts, status.message()));
    }
  }

  const uint64_t seen = pending_.records.size() + pending_.dead.size();
  if (end_position_ != 0) {
    // The last page was requested whole (R is constant); drop the users beyond `count`.
    auto beyond = [&](const auto& item) { return item.position >= end_position_; };
    std::erase_if(pending_.records, beyond);
    std::erase_if(pending_.dead, beyond);
  }
  if (pending_.records.empty() && pending_.dead.empty()) {
    return Status::Fatal(fmt::format(
        "randomuser: GET {} returned no users (expected {}); is --url a randomuser API?", shown,
        page_results_));
  }
  if (seen < page_results_) {
    spdlog::warn("randomuser: GET {} returned {} users, expected {}", shown, seen, page_results_);
  }
  pending_offset_ = 0;
  ++page_;
  return Status::Ok();
}

Result<SourceState> RandomUserSource::Next(Batch& batch, size_t max_records, std::stop_token stop) {
  if (finished_) return SourceState::kFinished;
  if (pending_offset_ >= pending_.records.size() && pending_.dead.empty()) {
    if (Status s = FetchPage(stop); !s.ok()) return s;
  }
  batch.origin = origin_;

  // Dead letters travel with the first slice of their page.
  uint64_t handed = pending_.dead.size();
  std::move(pending_.dead.begin(), pending_.dead.end(), std::back_inserter(batch.dead));
  pending_.dead.clear();

  const size_t available = pending_.records.size() - pending_offset_;
  const size_t take = std::min(available, std::max<size_t>(max_records, 1));
  const auto first = pending_.records.begin() + static_cast<ptrdiff_t>(pending_offset_);
  std::move(first, first + static_cast<ptrdiff_t>(take), std::back_inserter(batch.records));
  pending_offset_ += take;
  handed += take;
  batch.source_records += handed;

  if (pending_offset_ >= pending_.records.size()) {
    pending_.records.clear();
    pending_offset_ = 0;
    if (end_position_ != 0 && (page_ - 1) * page_results_ >= end_position_) finished_ = true;
  }
  return finished_ ? SourceState::kFinished : SourceState::kHaveMore;
}

}  // namespace spate
