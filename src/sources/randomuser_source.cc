#include "sources/randomuser_source.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <new>
#include <optional>
#include <random>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "observe/feeds.h"
#include "observe/metrics.h"
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

bool IsWordByte(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (static_cast<unsigned char>(c) & 0x80) != 0;
}

// Replaces `secret` in `text` where it stands as a whole token (no letter, digit or
// non-ASCII byte either side), so that a short secret does not garble the words around it
// ("o" turned "connect" into "c***nnect", which also showed what it was).
void RedactToken(std::string& text, std::string_view secret) {
  if (secret.empty()) return;
  for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
    const size_t end = at + secret.size();
    const bool alone =
        (at == 0 || !IsWordByte(text[at - 1])) && (end == text.size() || !IsWordByte(text[end]));
    if (alone) {
      text.replace(at, secret.size(), "***");
      at += 3;
    } else {
      ++at;
    }
  }
}

// Removes credentials from a message by structure (issue 17, item 3): every URL's userinfo
// ("scheme://user:pass@host" -> "scheme://***@host"), then the URL's own "user:pass" and
// password wherever they stand alone (a server's error page may echo them).
std::string ScrubUserInfo(std::string text, std::string_view userinfo) {
  for (size_t at = text.find("://"); at != std::string::npos; at = text.find("://", at)) {
    const size_t begin = at + 3;
    size_t end = begin;
    while (end < text.size() &&
           std::string_view("/?#@ \t\r\n\"'<>").find(text[end]) == std::string_view::npos) {
      ++end;
    }
    if (end < text.size() && text[end] == '@' && end > begin) {
      text.replace(begin, end - begin, "***");
      at = begin + 3;
    } else {
      at = begin;
    }
  }
  RedactToken(text, userinfo);
  if (const size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
    RedactToken(text, userinfo.substr(colon + 1));
  }
  return text;
}

// The three-digit code of a status line ("HTTP/1.1 200 OK", "HTTP/2 404"), or 0.
long ParseStatusCode(std::string_view line) {
  const size_t space = line.find(' ');
  if (space == std::string_view::npos) return 0;
  const std::string_view code = line.substr(space + 1, 3);
  if (code.size() != 3) return 0;
  long status = 0;
  for (char c : code) {
    if (c < '0' || c > '9') return 0;
    status = status * 10 + (c - '0');
  }
  return status;
}

// R of the first request: a count below the page size is asked for in one page.
uint64_t FirstPageResults(const RandomUserOptions& options) {
  return options.count == 0 ? options.page_size
                            : std::min<uint64_t>(options.page_size, options.count);
}

bool IsSuccess(long status) { return status >= 200 && status <= 299; }

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

}  // namespace

uint64_t RandomUserMaxBodyBytes(uint64_t results, uint64_t max_record_bytes) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  if (max_record_bytes != 0 && results > (kMax - kRandomUserEnvelopeBytes) / max_record_bytes) {
    return kMax;
  }
  return results * max_record_bytes + kRandomUserEnvelopeBytes;
}

void HttpResponseReader::OnHeaderLine(std::string_view line) {
  if (line.starts_with("HTTP/")) {
    // A new response (after a redirect or a 100 Continue): forget the previous one.
    response_ = HttpResponse{};
    response_.status = ParseStatusCode(line);
    return;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return;
  if (!EqualsIgnoreCase(Trim(line.substr(0, colon)), "Retry-After")) return;
  const std::string_view value = Trim(line.substr(colon + 1));
  // Only the delta-seconds form; an HTTP-date falls back to our own backoff.
  uint64_t seconds = 0;
  if (value.empty() || value.size() > 9) return;
  for (char c : value) {
    if (c < '0' || c > '9') return;
    seconds = seconds * 10 + static_cast<uint64_t>(c - '0');
  }
  response_.retry_after = std::chrono::seconds(seconds);
}

bool HttpResponseReader::OnBody(std::string_view data) {
  if (response_.too_large) return false;
  response_.body_bytes += data.size();
  if (response_.body_bytes > max_body_bytes_) {
    // Free what was collected now: the caller aborts the transfer and only needs the flag.
    response_.too_large = true;
    std::string().swap(response_.body);
    return false;
  }
  // Only a success body is worth keeping whole; an error body is shown as an excerpt.
  const size_t keep =
      IsSuccess(response_.status)
          ? data.size()
          : std::min(data.size(),
                     kErrorBodyBytes - std::min(kErrorBodyBytes, response_.body.size()));
  try {
    response_.body.append(data.substr(0, keep));
  } catch (const std::bad_alloc&) {
    // Below the cap but the machine has no room: the same error, rather than an abort.
    response_.too_large = true;
    std::string().swap(response_.body);
    return false;
  }
  return true;
}

PageOutcome InterpretPageResponse(const HttpResponse& response, uint64_t first_position,
                                  uint64_t results, uint64_t max_body_bytes, Ingestor& ingestor,
                                  std::string_view userinfo, Batch& out) {
  PageOutcome outcome;
  if (response.too_large) {
    outcome.status = Status::Fatal(fmt::format(
        "the response body passed {} bytes, more than a page of {} users can hold ({} x "
        "--max-record-bytes + {} bytes), so the transfer was stopped",
        max_body_bytes, results, results, kRandomUserEnvelopeBytes));
    outcome.hint =
        " (is --url a randomuser API? a smaller --page-size or a larger "
        "--max-record-bytes changes the limit)";
    return outcome;
  }

  if (response.status == 200) {
    std::string_view body = response.body;
    // Some servers (and files saved on Windows) start with a byte order mark; the file
    // source accepts it too.
    if (body.starts_with(kUtf8Bom)) body.remove_prefix(kUtf8Bom.size());
    const size_t records_before = out.records.size();
    const size_t dead_before = out.dead.size();
    Result<uint64_t> split = ingestor.SplitResponse(body, first_position, out);
    if (split.ok()) {
      outcome.elements = *split;
      return outcome;
    }
    out.records.resize(records_before);
    out.dead.resize(dead_before);
    if (split.status().kind() == ErrorKind::kInvalidInput) {
      outcome.status = Status::Retriable(
          fmt::format("HTTP 200 but the body ({} bytes) is not an API document, probably a "
                      "transfer cut short: {}",
                      response.body_bytes, ScrubUserInfo(split.status().message(), userinfo)));
    } else {
      outcome.status = Status::Fatal(ScrubUserInfo(split.status().message(), userinfo));
    }
    return outcome;
  }

  // Any other status: keep a short, single-line excerpt of the body for the message.
  // Secret-safe: an error page may echo a user's login (issue 17, item 1).
  std::string excerpt = ScrubUserInfo(
      SecretSafeText(std::string_view(response.body).substr(0, kBodyExcerptBytes)), userinfo);
  for (char& c : excerpt) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  if (response.body_bytes > kBodyExcerptBytes) excerpt += "...";
  const std::string_view phrase = ReasonPhrase(response.status);
  std::string reason = fmt::format("HTTP {}{}{}: {}", response.status, phrase.empty() ? "" : " ",
                                   phrase, excerpt.empty() ? "(empty body)" : excerpt);
  if (response.status == 429 || (response.status >= 500 && response.status <= 599)) {
    outcome.status = Status::Retriable(std::move(reason));
    if (response.retry_after) {
      outcome.retry_after =
          std::min<std::chrono::milliseconds>(*response.retry_after, kMaxRetryAfter);
    }
  } else {
    if (response.status == 401 || response.status == 403) {
      outcome.hint = " (check the credentials and --url)";
    } else if (response.status == 404) {
      outcome.hint = fmt::format(" (check --url: it should be the API root, e.g. {})",
                                 RandomUserOptions{}.base_url);
    }
    outcome.status = Status::Fatal(std::move(reason));
  }
  return outcome;
}

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
  struct Result {
    CURLcode code = CURLE_OK;
    std::string error_detail;  // libcurl's error buffer; may be empty.
  };

  static spate::Result<std::unique_ptr<Http>> Create(const RandomUserOptions& options,
                                                     uint64_t max_body_bytes) {
    InitCurlOnce();
    CurlEasy handle(curl_easy_init());
    if (!handle) return Status::Fatal("randomuser: curl_easy_init failed (out of memory?)");
    CurlSlist headers(curl_slist_append(nullptr, "Accept: application/json"));
    if (!headers) return Status::Fatal("randomuser: curl_slist_append failed (out of memory?)");
    auto http =
        std::unique_ptr<Http>(new Http(std::move(handle), std::move(headers), max_body_bytes));
    if (Status s = http->Configure(options); !s.ok()) return s;
    return http;
  }

  // Performs one GET. Never throws; the response is in reader().
  Result Get(const std::string& url, const std::stop_token& stop) {
    Result out;
    reader_.Reset();
    stop_ = &stop;
    error_buffer_[0] = '\0';
    CURL* h = handle_.get();
    out.code = curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    if (out.code == CURLE_OK) out.code = curl_easy_perform(h);
    out.error_detail = error_buffer_;
    stop_ = nullptr;
    return out;
  }

  const HttpResponse& response() const { return reader_.response(); }

 private:
  Http(CurlEasy handle, CurlSlist headers, uint64_t max_body_bytes)
      : handle_(std::move(handle)), headers_(std::move(headers)), reader_(max_body_bytes) {}

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

  // libcurl hands decoded bytes (after Content-Encoding), so the cap holds for a gzip bomb
  // too. Returning less than it gave aborts the transfer (CURLE_WRITE_ERROR).
  static size_t OnBody(char* data, size_t size, size_t count, void* user) {
    auto* self = static_cast<Http*>(user);
    return self->reader_.OnBody(std::string_view(data, size * count)) ? size * count : 0;
  }

  static size_t OnHeader(char* data, size_t size, size_t count, void* user) {
    static_cast<Http*>(user)->reader_.OnHeaderLine(std::string_view(data, size * count));
    return size * count;
  }

  // Called by libcurl during the transfer (at least about once a second, also while it waits
  // for a server that accepted the connection but does not answer); a non-zero return aborts
  // it with CURLE_ABORTED_BY_CALLBACK.
  static int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto* self = static_cast<Http*>(user);
    return self->stop_ != nullptr && self->stop_->stop_requested() ? 1 : 0;
  }

  CurlEasy handle_;
  CurlSlist headers_;
  char error_buffer_[CURL_ERROR_SIZE] = {};
  HttpResponseReader reader_;
  // Valid only during Get().
  const std::stop_token* stop_ = nullptr;
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
  if (options.max_record_bytes < 1) {
    return Status::Fatal("randomuser: max record bytes must be 1 or more");
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
  Result<std::unique_ptr<Http>> http = Http::Create(
      options, RandomUserMaxBodyBytes(FirstPageResults(options), options.max_record_bytes));
  if (!http.ok()) return http.status();
  return std::unique_ptr<RandomUserSource>(
      new RandomUserSource(std::move(options), std::move(http).value()));
}

RandomUserSource::RandomUserSource(RandomUserOptions options, std::unique_ptr<Http> http)
    : options_(std::move(options)),
      origin_(RedactUrlCredentials(options_.base_url)),
      userinfo_(UrlUserInfo(options_.base_url)),
      max_body_bytes_(
          RandomUserMaxBodyBytes(FirstPageResults(options_), options_.max_record_bytes)),
      end_position_(options_.count == 0
                        ? 0
                        : (options_.first_page - 1) * FirstPageResults(options_) + options_.count),
      http_(std::move(http)),
      ingestor_(static_cast<size_t>(options_.max_record_bytes)),
      results_(FirstPageResults(options_)),
      next_position_((options_.first_page - 1) * results_),
      jitter_(std::random_device{}()) {
  pending_.origin = origin_;
  // /readyz: connected once a page came back.
  Health().Set(kHealthName, false, "no page fetched yet");
}

RandomUserSource::~RandomUserSource() = default;

std::string RandomUserSource::Describe() const { return "randomuser " + origin_; }

std::string RandomUserSource::PageUrl(uint64_t page) const {
  std::string url = options_.base_url;
  url.push_back(url.find('?') == std::string::npos ? '?' : '&');
  url += fmt::format("results={}&seed={}&page={}", results_, UrlEncode(options_.seed), page);
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

std::chrono::milliseconds RandomUserSource::Backoff(uint64_t retry) {
  // initial * 2^(retry-1), capped, then "equal jitter": uniform in [d/2, d].
  std::chrono::milliseconds delay = options_.backoff_initial;
  for (uint64_t i = 1; i < retry && delay < options_.backoff_max; ++i) delay *= 2;
  delay = std::min(delay, options_.backoff_max);
  std::uniform_int_distribution<int64_t> dist(delay.count() / 2, delay.count());
  return std::chrono::milliseconds(dist(jitter_));
}

PageOutcome RandomUserSource::TryOnce(const std::string& url, uint64_t first_position,
                                      const std::stop_token& stop) {
  requests_made_.fetch_add(1, std::memory_order_relaxed);
  const Http::Result result = http_->Get(url, stop);
  const HttpResponse& response = http_->response();

  PageOutcome outcome;
  // A transfer our own cap cut short reports a write error: InterpretPageResponse says why.
  if (result.code != CURLE_OK && !response.too_large) {
    if (result.code == CURLE_ABORTED_BY_CALLBACK) {
      outcome.status = Status::Cancelled("stopped during the request");
      return outcome;
    }
    std::string reason = curl_easy_strerror(result.code);
    if (!result.error_detail.empty() && result.error_detail != reason) {
      reason += ": " + ScrubUserInfo(result.error_detail, userinfo_);
    }
    outcome.hint = std::string(kReachabilityHint);
    outcome.status = IsRetriableCurlError(result.code) ? Status::Retriable(std::move(reason))
                                                       : Status::Fatal(std::move(reason));
    return outcome;
  }
  pending_.records.clear();
  pending_.dead.clear();
  return InterpretPageResponse(response, first_position, results_, max_body_bytes_, ingestor_,
                               userinfo_, pending_);
}

Status RandomUserSource::FetchPage(const std::stop_token& stop) {
  const uint64_t max_attempts = uint64_t{options_.max_retries} + 1;
  // Each round either receives new users (and returns), ends the data, or asks again with a
  // strictly smaller R (a short page that lay wholly before next_position_), so it ends.
  for (;;) {
    const uint64_t page = next_position_ / results_ + 1;
    const uint64_t page_start = (page - 1) * results_;
    const uint64_t asked = results_;
    const std::string url = PageUrl(page);
    const std::string shown = RedactUrlCredentials(url);
    PageOutcome attempt;
    for (uint64_t n = 1;; ++n) {
      if (stop.stop_requested()) {
        return Status::Cancelled(fmt::format("randomuser: stopped before GET {}", shown));
      }
      attempt = TryOnce(url, page_start, stop);
      const Status& status = attempt.status;
      if (status.ok()) {
        // /readyz: the API answers again (or still).
        Health().Set(kHealthName, true);
        break;
      }
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
      if (retries_ != nullptr) retries_->Add();
      // The same words as the log line below (credentials already scrubbed from them).
      Health().Set(kHealthName, false,
                   fmt::format("GET attempt {}/{} failed: {}", n, max_attempts, status.message()));
      spdlog::warn("randomuser: GET {} attempt {}/{} failed: {}; retrying in {} ms{}", shown, n,
                   max_attempts, status.message(), wait.count(),
                   attempt.retry_after ? " (Retry-After)" : "");
      if (!SleepUnlessStopped(wait, stop)) {
        return Status::Cancelled(fmt::format(
            "randomuser: stopped while waiting to retry GET {} (attempt {}/{} failed: {})", shown,
            n, max_attempts, status.message()));
      }
    }

    const uint64_t elements = attempt.elements;
    if (elements == 0) {
      pending_.records.clear();
      pending_.dead.clear();
      if (users_received_ == 0) {
        return Status::Fatal(fmt::format(
            "randomuser: GET {} returned no users (expected {}); is --url a randomuser API?", shown,
            asked));
      }
      // The server has nothing from here on: the end of its data.
      if (end_position_ != 0) {
        spdlog::warn(
            "randomuser: GET {} returned no users: the API has no more after {} users, fewer "
            "than --count {}",
            shown, users_received_, options_.count);
      } else {
        spdlog::info("randomuser: GET {} returned no users: the API has no more after {} users",
                     shown, users_received_);
      }
      finished_ = true;
      return Status::Ok();
    }
    if (elements > asked && !warned_long_page_) {
      warned_long_page_ = true;
      spdlog::warn("randomuser: GET {} returned {} users, asked for {}: keeping the first {}",
                   shown, elements, asked, asked);
    }
    // Keep only users this request asked for and not received yet: no user twice, none past
    // --count.
    uint64_t keep_end = page_start + asked;
    if (end_position_ != 0) keep_end = std::min(keep_end, end_position_);
    auto unwanted = [&](const auto& item) {
      return item.position < next_position_ || item.position >= keep_end;
    };
    std::erase_if(pending_.records, unwanted);
    std::erase_if(pending_.dead, unwanted);

    const uint64_t received_end = std::min(page_start + std::min(elements, asked), keep_end);
    if (elements < asked) {
      // A short page: the server gives at most `elements` per request (a cap, or the end of
      // its data). Asking for that many from here on keeps each request starting at or
      // before the first missing user, so none is skipped.
      spdlog::warn(
          "randomuser: GET {} returned {} users, asked for {}; asking for {} per page from now "
          "on",
          shown, elements, asked, elements);
      results_ = elements;
    }
    if (received_end > next_position_) {
      users_received_ += received_end - next_position_;
      next_position_ = received_end;
      pending_offset_ = 0;
      return Status::Ok();
    }
    // Nothing new (the short page lay before next_position_): ask again with the smaller R.
    pending_.records.clear();
    pending_.dead.clear();
  }
}

void RandomUserSource::ReportTo(MetricsRegistry& metrics, std::string_view pipeline) {
  retries_ = &metrics.GetCounter("spate_source_retries_total",
                                 "Source requests retried (HTTP 429/5xx, network errors)",
                                 {{"pipeline", std::string(pipeline)}, {"source", "randomuser"}});
}

Result<SourceState> RandomUserSource::Next(Batch& batch, size_t max_records, std::stop_token stop) {
  if (finished_) return SourceState::kFinished;
  if (pending_offset_ >= pending_.records.size() && pending_.dead.empty()) {
    if (Status s = FetchPage(stop); !s.ok()) return s;
    if (finished_) return SourceState::kFinished;
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
    if (end_position_ != 0 && next_position_ >= end_position_) finished_ = true;
  }
  return finished_ ? SourceState::kFinished : SourceState::kHaveMore;
}

}  // namespace spate
