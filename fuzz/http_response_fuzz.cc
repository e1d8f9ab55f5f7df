// Fuzz target: the randomuser source's HTTP response path, without a network.
//
// The input is an HTTP response as libcurl would hand it over (issue 17, fuzzing): a status
// line and headers (Retry-After among them) up to a blank line, then the body, fed to
// HttpResponseReader in chunks, then InterpretPageResponse (status, Retry-After, the body
// through ingest's splitter). Layout:
//   byte 0   the body cap: 64 << (b % 16) bytes (64 B .. 2 MiB), so the cap is hit often
//   byte 1   the body chunk size: 1 + b
//   rest     "<status line>\n<header>\n...\r\n\r\n<body>"; without a blank line the whole
//            rest is a 200 body. Every byte 0x01 in the body becomes a planted login secret
//            "password":"<marker>" (see below).
// Invariants, on every input:
//   - the reader: body_bytes counts what was fed up to the cut, too_large says whether it
//     passed the cap, the body never holds more than the cap (or the error excerpt);
//   - counts add up: on Ok every user element is a record or a dead letter, at positions
//     first .. first + elements - 1 exactly once; on any other status nothing is added;
//   - Retry-After is only kept for a retriable status and never above the 10 minute ceiling;
//   - no secret survives: the planted marker appears in no record, dead letter (raw or
//     reason) and no status message.
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "sources/randomuser_source.h"
#include "transforms/ingest.h"

namespace {

// Never produced by the fuzzer itself: any occurrence in the input is removed first.
constexpr std::string_view kMarker = "Zq7Xk9WvSecret";
constexpr uint64_t kFirstPosition = 1000;
constexpr uint64_t kResults = 7;

// The body with each 0x01 replaced by a planted secret. A 0x01 right after a backslash is
// dropped instead: `\"password"` would make the quote part of a key such as `a\"password`,
// which names no secret, so its value could legitimately stay.
std::string PlantSecrets(std::string_view body) {
  std::string out;
  for (char c : body) {
    if (c != '\x01') {
      out.push_back(c);
    } else if (out.empty() || out.back() != '\\') {
      out.append("\"password\":\"").append(kMarker).append("\"");
    }
  }
  return out;
}

std::string WithoutMarker(std::string_view input) {
  std::string out(input);
  for (size_t at = out.find(kMarker); at != std::string::npos; at = out.find(kMarker)) {
    out.erase(at, kMarker.size());
  }
  return out;
}

bool HasMarker(std::string_view text) { return text.find(kMarker) != std::string_view::npos; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint64_t cap = uint64_t{64} << (data[0] % 16);
  const size_t chunk = 1 + static_cast<size_t>(data[1]);
  const std::string input =
      WithoutMarker(std::string_view(reinterpret_cast<const char*>(data) + 2, size - 2));

  std::string_view head;
  std::string_view raw_body = input;
  const size_t blank = input.find("\r\n\r\n");
  if (blank != std::string::npos) {
    head = std::string_view(input).substr(0, blank);
    raw_body = std::string_view(input).substr(blank + 4);
  }
  const std::string body = PlantSecrets(raw_body);

  spate::HttpResponseReader reader(cap);
  reader.Reset();
  if (head.empty()) {
    reader.OnHeaderLine("HTTP/1.1 200 OK\r\n");
  } else {
    while (!head.empty()) {
      const size_t eol = head.find('\n');
      const std::string_view line =
          head.substr(0, eol == std::string_view::npos ? head.size() : eol + 1);
      reader.OnHeaderLine(line);
      head.remove_prefix(line.size());
    }
  }
  uint64_t fed = 0;
  bool cut = false;
  for (size_t at = 0; at < body.size(); at += chunk) {
    const std::string_view piece = std::string_view(body).substr(at, chunk);
    fed += piece.size();
    if (!reader.OnBody(piece)) {
      cut = true;
      break;
    }
  }
  const spate::HttpResponse& response = reader.response();
  FUZZ_CHECK(response.body_bytes == fed, "body_bytes counts every byte fed");
  FUZZ_CHECK(cut == response.too_large, "the reader stops exactly when the body is too large");
  FUZZ_CHECK(response.too_large == (fed > cap), "too_large means more than the cap");
  FUZZ_CHECK(response.body.size() <= cap, "the body never holds more than the cap");
  const bool success = response.status >= 200 && response.status <= 299;
  if (!success) {
    FUZZ_CHECK(response.body.size() <= spate::HttpResponseReader::kErrorBodyBytes,
               "an error body keeps only an excerpt");
  } else if (!response.too_large) {
    FUZZ_CHECK(response.body == body, "a success body is kept whole");
  }

  spate::Ingestor ingestor;
  spate::Batch out;
  out.origin = "http://127.0.0.1/api/";
  const spate::PageOutcome outcome = spate::InterpretPageResponse(
      response, kFirstPosition, kResults, cap, ingestor, /*userinfo=*/"", out);

  if (outcome.status.ok()) {
    FUZZ_CHECK(out.records.size() + out.dead.size() == outcome.elements,
               "every user element is a record or a dead letter");
    std::set<uint64_t> positions;
    for (const auto& r : out.records) positions.insert(r.position);
    for (const auto& d : out.dead) positions.insert(d.position);
    FUZZ_CHECK(positions.size() == outcome.elements, "no position twice");
    if (!positions.empty()) {
      FUZZ_CHECK(*positions.begin() == kFirstPosition &&
                     *positions.rbegin() == kFirstPosition + outcome.elements - 1,
                 "positions are first .. first + elements - 1");
    }
    FUZZ_CHECK(!outcome.retry_after, "no Retry-After on success");
  } else {
    FUZZ_CHECK(out.records.empty() && out.dead.empty(), "a failed page adds nothing");
    FUZZ_CHECK(outcome.elements == 0, "a failed page counts no users");
    if (outcome.retry_after) {
      FUZZ_CHECK(outcome.status.retriable(), "Retry-After only for a retriable status");
      FUZZ_CHECK(*outcome.retry_after <= std::chrono::minutes(10), "Retry-After is capped");
    }
  }

  FUZZ_CHECK(!HasMarker(outcome.status.message()), "a secret in a status message");
  FUZZ_CHECK(!HasMarker(outcome.hint), "a secret in a hint");
  for (const auto& r : out.records) FUZZ_CHECK(!HasMarker(r.json), "a secret in a record");
  for (const auto& d : out.dead) {
    FUZZ_CHECK(!HasMarker(d.raw), "a secret in a dead letter's bytes");
    FUZZ_CHECK(!HasMarker(d.reason), "a secret in a dead letter's reason");
  }
  return 0;
}
