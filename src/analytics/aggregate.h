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
