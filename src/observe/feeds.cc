#include "observe/feeds.h"

#include <algorithm>

#include "core/clock.h"

namespace spate {

namespace {

// `text` cut to at most `limit` bytes without splitting a UTF-8 sequence: the page shows it
// as text, and half a character would be a replacement glyph or invalid JSON downstream.
std::string CutUtf8(std::string_view text, size_t limit) {
  if (text.size() <= limit) return std::string(text);
  size_t cut = limit;
  // Back off while the byte at the cut continues a sequence (10xxxxxx): the cut then falls
  // before the sequence's first byte.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut));
}

constexpr std::string_view kOther = "other";
constexpr std::string_view kUnknown = "unknown";
constexpr size_t kAgeBands = 10;  // 0-9 ... 80-89, 90+.

// Adds `rows` under `key` in `counts`, where at most kLandedKeys distinct keys have their own
// entry and later ones count under "other".
void AddKey(std::vector<LandedSnapshot::Count>& counts, std::string_view key, uint64_t rows) {
  if (key.empty()) key = kUnknown;
  for (auto& c : counts) {
    if (c.key == key) {
      c.rows += rows;
      return;
    }
  }
  size_t distinct = counts.size();
  for (const auto& c : counts) {
    if (c.key == kOther) --distinct;
  }
  if (distinct < kLandedKeys) {
    counts.push_back({std::string(key), rows});
    return;
  }
  for (auto& c : counts) {
    if (c.key == kOther) {
      c.rows += rows;
      return;
    }
  }
  counts.push_back({std::string(kOther), rows});
}

// A batch's counts per key, gathered without the lock. A batch holds few distinct values
// (countries, genders), so a short list searched from the front beats hashing every row.
struct KeyCounts {
  std::vector<std::pair<std::string_view, uint64_t>> counts;
  void Add(std::string_view key) {
    for (auto& [k, n] : counts) {
      if (k.size() == key.size() && k == key) {
        ++n;
        return;
      }
    }
    counts.emplace_back(key, 1);
  }
};

std::vector<LandedSnapshot::Count> MostFirst(std::vector<LandedSnapshot::Count> counts) {
  std::sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) {
    return a.rows != b.rows ? a.rows > b.rows : a.key < b.key;
  });
  return counts;
}

}  // namespace

// ---- DeadLetterFeed ----

DeadLetterFeed::DeadLetterFeed(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

void DeadLetterFeed::Add(std::span<const DeadLetter> dead, std::string_view stage) {
  if (dead.empty()) return;
  const int64_t now = NowUnixMillis();
  // Only the newest `capacity_` can survive; copy nothing of the others.
  const auto kept = dead.subspan(dead.size() - std::min(dead.size(), capacity_));
  std::vector<FeedEntry> entries;
  entries.reserve(kept.size());
  for (const DeadLetter& d : kept) {
    FeedEntry& e = entries.emplace_back();
    e.time_unix_ms = now;
    e.stage = std::string(stage);
    // Reasons and origins are short in practice; cut them too so that no input can make the
    // feed's memory grow.
    e.reason = CutUtf8(d.reason, kFeedRawBytes);
    e.origin = CutUtf8(d.origin, kFeedRawBytes);
    e.position = d.position;
    e.item = d.item;
    e.raw = CutUtf8(d.raw, kFeedRawBytes);
  }
  std::lock_guard lock(mu_);
  total_ += dead.size();
  for (FeedEntry& e : entries) {
    if (ring_.size() < capacity_) {
      ring_.push_back(std::move(e));
      next_ = ring_.size() % capacity_;
    } else {
      ring_[next_] = std::move(e);
      next_ = (next_ + 1) % capacity_;
    }
  }
}

std::vector<FeedEntry> DeadLetterFeed::Latest(size_t n) const {
  std::lock_guard lock(mu_);
  n = std::min(n, ring_.size());
  std::vector<FeedEntry> out;
  out.reserve(n);
  // The newest entry is just before next_ (ring_.size() - 1 until the ring is full).
  for (size_t i = 0; i < n; ++i) {
    out.push_back(ring_[(next_ + 2 * ring_.size() - 1 - i) % ring_.size()]);
  }
  return out;
}

uint64_t DeadLetterFeed::total() const {
  std::lock_guard lock(mu_);
  return total_;
}

DeadLetterFeed& DeadLetters() {
  static DeadLetterFeed feed;
  return feed;
}

// ---- LandedTally ----

void LandedTally::Add(std::span<const Row> rows) {
  if (rows.empty()) return;
  KeyCounts country;
  KeyCounts gender;
  uint64_t age[kAgeBands] = {};
  for (const Row& row : rows) {
    country.Add(row.country);
    gender.Add(row.gender);
    // A negative age (bad data that still made a row) counts as 0-9 rather than vanishing.
    const int64_t band = std::clamp<int64_t>(row.age, 0, 90) / 10;
    ++age[band];
  }
  std::lock_guard lock(mu_);
  rows_ += rows.size();
  for (const auto& [key, n] : country.counts) AddKey(country_, key, n);
  for (const auto& [key, n] : gender.counts) AddKey(gender_, key, n);
  age_.resize(kAgeBands);
  for (size_t i = 0; i < kAgeBands; ++i) age_[i] += age[i];
}

LandedSnapshot LandedTally::Snapshot() const {
  LandedSnapshot s;
  {
    std::lock_guard lock(mu_);
    s.rows = rows_;
    s.by_country = country_;
    s.by_gender = gender_;
    for (size_t i = 0; i < kAgeBands; ++i) {
      s.by_age.push_back({i + 1 < kAgeBands
                              ? std::to_string(i * 10) + "-" + std::to_string(i * 10 + 9)
                              : std::to_string(i * 10) + "+",
                          i < age_.size() ? age_[i] : 0});
    }
  }
  s.by_country = MostFirst(std::move(s.by_country));
  s.by_gender = MostFirst(std::move(s.by_gender));
  return s;
}

LandedTally& Landed() {
  static LandedTally tally;
  return tally;
}

// ---- HealthBoard ----

void HealthBoard::Set(std::string_view name, bool ready, std::string_view detail) {
  std::lock_guard lock(mu_);
  for (HealthCheck& c : checks_) {
    if (c.name == name) {
      c.ready = ready;
      c.detail = std::string(detail);
      return;
    }
  }
  checks_.push_back({std::string(name), ready, std::string(detail)});
}

std::vector<HealthCheck> HealthBoard::Checks() const {
  std::lock_guard lock(mu_);
  return checks_;
}

bool HealthBoard::Ready() const {
  std::lock_guard lock(mu_);
  return !checks_.empty() &&
         std::all_of(checks_.begin(), checks_.end(), [](const HealthCheck& c) { return c.ready; });
}

HealthBoard& Health() {
  static HealthBoard board;
  return board;
}

}  // namespace spate
