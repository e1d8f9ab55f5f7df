// What the dashboard shows besides the metrics: the latest dead letters, what landed (rows by
// country, gender and age band) and the health checks behind /readyz.
//
// Each is process-wide (one per process, like Metrics()), written by the pipeline's threads
// once per batch and read by the HTTP server; all are bounded in memory however long the run.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/record.h"

namespace spate {

// One dead letter as the feed keeps it. `raw` is the dead letter's bytes (already passed
// through ingest's secret-safe rule) cut to kFeedRawBytes; the page must show it as text.
struct FeedEntry {
  int64_t time_unix_ms = 0;
  std::string stage;  // "ingest", "process", "sink"
  std::string reason;
  std::string origin;
  uint64_t position = 0;
  uint32_t item = 0;
  std::string raw;
};
inline constexpr size_t kFeedRawBytes = 1024;

// The latest `capacity` dead letters, newest first.
class DeadLetterFeed {
 public:
  explicit DeadLetterFeed(size_t capacity = 100);
  // Adds a batch's dead letters (only the newest `capacity` of them are kept).
  void Add(std::span<const DeadLetter> dead, std::string_view stage);
  std::vector<FeedEntry> Latest(size_t n) const;  // Newest first.
  uint64_t total() const;                         // Every dead letter ever added.

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::vector<FeedEntry> ring_;  // Protected by mu_.
  size_t next_ = 0;              // Protected by mu_: where the next entry goes.
  uint64_t total_ = 0;           // Protected by mu_.
};
DeadLetterFeed& DeadLetters();

// Rows stored (committed by every sink), counted by country, gender and age band.
struct LandedSnapshot {
  struct Count {
    std::string key;  // A country, a gender, or an age band ("20-29", ..., "90+").
    uint64_t rows = 0;
  };
  uint64_t rows = 0;
  std::vector<Count> by_country;  // Most rows first; at most kLandedKeys, the rest in "other".
  std::vector<Count> by_gender;   // Most rows first.
  std::vector<Count> by_age;      // In band order, every band present (zero counts too).
};
inline constexpr size_t kLandedKeys = 64;

class LandedTally {
 public:
  void Add(std::span<const Row> rows);
  LandedSnapshot Snapshot() const;

 private:
  mutable std::mutex mu_;
  // Protected by mu_. Keys past kLandedKeys distinct values count under "other".
  uint64_t rows_ = 0;
  std::vector<LandedSnapshot::Count> country_;
  std::vector<LandedSnapshot::Count> gender_;
  std::vector<uint64_t> age_;  // Bands of ten years, the last one open-ended.
};
LandedTally& Landed();

// The checks behind /readyz: every sink's health check (Sink::Open) and the source's
// connection. A component sets its check when it knows; ready means at least one check and
// every check ready.
struct HealthCheck {
  std::string name;  // "sink sqlite", "source kafka users_created"
  bool ready = false;
  std::string detail;  // Why not ready (never a credential).
};

class HealthBoard {
 public:
  void Set(std::string_view name, bool ready, std::string_view detail = "");
  std::vector<HealthCheck> Checks() const;
  bool Ready() const;

 private:
  mutable std::mutex mu_;
  std::vector<HealthCheck> checks_;  // Protected by mu_.
};
HealthBoard& Health();

}  // namespace spate
