// Windowed aggregations over the stored rows, kept exact by the sinks.
//
// An aggregation groups rows by event-time window (Row::ingested_at_ms: when the record
// entered spate; on Kafka the record's timestamp, so a replay falls in the same windows) and
// by some of the row's columns, and counts them (`users`), with optional min/max/avg/sum of
// a numeric column. Its table, next to created_users:
//
//   window_start, window_end        the window, [start, end), UTC
//   <group_by columns...>           text, or integer for age and age_band
//   users                           count of rows
//   min_<col>, max_<col>            for min(col), max(col)
//   sum_<col>, avg_<col>            for avg(col) (sum kept so avg can be updated) or sum(col)
//   PRIMARY KEY (window_start, <group_by columns...>)
//
// Invariant (issue 19): after every commit each table equals the same GROUP BY over
// created_users. The SQL sinks keep it by changing the aggregates in the same transaction
// as the rows, by what each upsert actually changed: a new row adds its contribution, a
// rewritten row takes its old one out and adds the new one (a replay therefore changes
// nothing), and a group whose count falls to 0 is deleted.
//
// Windows: tumbling when slide == size; hopping (Spark's slideDuration) when slide < size,
// size a multiple of slide, so a row falls in size/slide windows. Window starts are
// multiples of slide since the Unix epoch.
//
// Config items (Config's `aggregate` list): a JSON object made from a YAML mapping,
//   {"name": "users_per_minute_by_country", "window": "1m", "slide": "30s",
//    "lateness": "10m", "group_by": ["country"], "agg": ["avg(age)", "max(age)"]}
// (slide defaults to window, lateness to none, group_by to none, agg to count only), or the
// flag shorthand "NAME:WINDOW[:COLUMN,COLUMN...]".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/record.h"
#include "core/status.h"

namespace spate {

enum class AggFunction { kMin, kMax, kAvg, kSum };

struct AggValue {
  AggFunction function;
  std::string column;  // age, latitude or longitude.
};

struct AggregationSpec {
  std::string name;  // The table's name: [a-z][a-z0-9_]*, at most 48 bytes, not a spate table.
  int64_t size_ms = 0;
  int64_t slide_ms = 0;      // == size_ms: tumbling.
  int64_t lateness_ms = -1;  // -1: no lateness bound.
  // kRowColumns text columns (not id), age, or age_band.
  std::vector<std::string> group_by;
  std::vector<AggValue> values;

  // One line that says everything that changes the table's content, stored with the table:
  // a table made under another definition is rebuilt from created_users, never mixed.
  std::string Definition() const;
};

// Parses one config item (see above). Errors name the aggregation and what to fix.
Result<AggregationSpec> ParseAggregation(std::string_view item);

// Parses every item and checks that names are unique.
Result<std::vector<AggregationSpec>> ParseAggregations(const std::vector<std::string>& items);

// The window starts (epoch ms) that event time `event_ms` falls in, oldest first (appended
// to `out`, which is cleared first).
void WindowStarts(const AggregationSpec& spec, int64_t event_ms, std::vector<int64_t>& out);

// A column of an aggregation's table.
struct AggColumn {
  enum class Type { kTimestamp, kText, kInteger, kReal };
  std::string name;
  Type type;
  bool key;  // Part of the primary key.
};
// Every column of `spec`'s table, in table order (window_start, window_end, group columns,
// users, then the values' columns).
std::vector<AggColumn> AggregateColumns(const AggregationSpec& spec);

}  // namespace spate

// ---------------------------------------------------------------------------------------
// The delta engine (SQL sinks that compute changes in C++, e.g. SQLite).
//
// Per batch, the sink tells it each row contribution that goes in (a new row, the new
// version of a rewritten one) and goes out (the old version of a rewritten one); it sums
// them per (aggregation, window start, group values): the change in users and in each sum,
// the smallest and largest value put in, and the smallest and largest taken out. The sink
// then applies each group's change with one upsert and repairs min/max only where a value
// taken out could have been the stored min or max (see AggGroupDelta).
//
// Cheap per row: group keys are encoded into a buffer and hashed into an open-addressing
// table; the groups, the key bytes and the table are cleared, not freed, per batch, so a
// warm engine allocates nothing per row.

namespace spate {

// The numeric columns aggregations read, as AggGroupDelta::values indexes.
inline constexpr const char* kAggValueColumns[] = {"age", "latitude", "longitude"};
inline constexpr size_t kAggValueColumnCount = 3;

// The change to one value column of one group.
struct AggValueDelta {
  int64_t int_sum = 0;  // For age (exact).
  double real_sum = 0;  // For latitude and longitude.
  // Over the rows put in / taken out; +inf / -inf when none.
  double in_min, in_max, out_min, out_max;
  bool has_in() const { return in_min <= in_max; }
  bool has_out() const { return out_min <= out_max; }
};

// One group's change. After the sink adds it, the stored min M is still right unless a value
// taken out was <= M (that row may have held the min): then the group's min is recomputed
// from created_users. (Every value that leaves the group was counted before or put in by
// this batch, so a stored min below every value taken out is still held by a row.) Max
// likewise.
struct AggGroupDelta {
  uint32_t aggregation = 0;  // Index into the engine's specs.
  int64_t window_start = 0;  // Epoch ms; the window is [start, start + size).
  int64_t users = 0;
  AggValueDelta values[kAggValueColumnCount];
  // Internal: the encoded group values in the engine's key buffer, and their hash.
  uint32_t key_offset = 0;
  uint32_t key_size = 0;
  uint64_t hash = 0;
};

// A group column's value: an integer (age, age_band) or text (pointing into the engine's
// buffer: valid until the next Clear).
struct AggKeyValue {
  bool integer = false;
  int64_t number = 0;
  std::string_view text;
};

// The Row member of a text column ("country" -> &Row::country); nullptr for other names.
std::string_view Row::*RowTextColumn(std::string_view name);

class AggregateDelta {
 public:
  explicit AggregateDelta(std::vector<AggregationSpec> specs);

  const std::vector<AggregationSpec>& specs() const { return specs_; }
  // Whether spec `i` has a min or max (needs repairs after values are taken out).
  bool has_extremes(size_t i) const { return plans_[i].extremes; }
  // The created_users columns the aggregations read: ingested_at, then group and value
  // columns (a rewritten row's old version needs only these).
  const std::vector<std::string>& row_columns() const { return row_columns_; }

  // Starts a batch: forgets every group (keeps the memory).
  void Clear();
  // `row`'s contribution goes in / out of every aggregation.
  void Add(const Row& row) { Change(row, +1); }
  void Remove(const Row& row) { Change(row, -1); }
  // A rewritten row: `old_row` out and `new_row` in, except for aggregations to which both
  // contribute the same (same windows, group and values: a replay changes nothing).
  void Replace(const Row& old_row, const Row& new_row);

  bool empty() const { return groups_.empty(); }
  size_t group_count() const { return groups_.size(); }
  // The groups changed since Clear, sorted by aggregation, window start and group values
  // (the tables' key order, so the upserts walk each B-tree forwards).
  const std::vector<uint32_t>& Sorted();
  const AggGroupDelta& group(uint32_t index) const { return groups_[index]; }
  // `group`'s values in its spec's group_by order (`out` is cleared first).
  void KeyValues(const AggGroupDelta& group, std::vector<AggKeyValue>& out) const;

 private:
  enum class Source : uint8_t { kText, kAge, kAgeBand };
  struct Column {
    Source source;
    std::string_view Row::*text;
  };
  struct Plan {
    std::vector<Column> group;
    bool uses[kAggValueColumnCount] = {};
    bool extremes = false;
  };

  void Change(const Row& row, int sign);
  void ChangeOne(uint32_t aggregation, const Row& row, int sign);
  bool SameContribution(uint32_t aggregation, const Row& a, const Row& b) const;
  void EncodeKey(const Plan& plan, const Row& row);
  AggGroupDelta& Find(uint32_t aggregation, int64_t window_start, uint64_t key_hash);
  void Grow();

  std::vector<AggregationSpec> specs_;
  std::vector<Plan> plans_;
  std::vector<std::string> row_columns_;
  std::vector<AggGroupDelta> groups_;
  std::string keys_;             // Every group's encoded values, back to back.
  std::string scratch_key_;      // The row's encoded values for one aggregation.
  std::vector<uint32_t> slots_;  // Open addressing: group index + 1, 0 = empty.
  std::vector<int64_t> starts_;  // WindowStarts' output, reused.
  std::vector<uint32_t> sorted_;
};

}  // namespace spate
