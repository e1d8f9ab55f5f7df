#include "analytics/aggregate.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstring>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <simdjson.h>

#include "analytics/expr.h"
#include "config/config.h"
#include "core/hash.h"

namespace spate {
namespace {

constexpr int64_t kMinWindowMs = 1000;
// A year: a longer window is a total, not a window.
constexpr int64_t kMaxWindowMs = int64_t{366} * 24 * 3600 * 1000;
// Each row changes one group per window it falls in: this bounds the work per row.
constexpr int64_t kMaxWindowsPerRow = 60;
constexpr size_t kMaxNameBytes = 48;
constexpr size_t kMaxGroupColumns = 8;

constexpr std::string_view kValueColumns[] = {"age", "latitude", "longitude"};

// Tables spate keeps itself, and words PostgreSQL reserves (a table named `select` would need
// quoting everywhere that reads it: `spate query`, the dashboard, the user's own SQL).
constexpr std::string_view kReservedNames[] = {"created_users",
                                               "rejected_users",
                                               "raw_users",
                                               "all",
                                               "analyse",
                                               "analyze",
                                               "and",
                                               "any",
                                               "array",
                                               "as",
                                               "asc",
                                               "asymmetric",
                                               "both",
                                               "case",
                                               "cast",
                                               "check",
                                               "collate",
                                               "column",
                                               "constraint",
                                               "create",
                                               "current_catalog",
                                               "current_date",
                                               "current_role",
                                               "current_time",
                                               "current_timestamp",
                                               "current_user",
                                               "default",
                                               "deferrable",
                                               "desc",
                                               "distinct",
                                               "do",
                                               "else",
                                               "end",
                                               "except",
                                               "false",
                                               "fetch",
                                               "for",
                                               "foreign",
                                               "from",
                                               "grant",
                                               "group",
                                               "having",
                                               "in",
                                               "index",
                                               "initially",
                                               "intersect",
                                               "into",
                                               "lateral",
                                               "leading",
                                               "limit",
                                               "localtime",
                                               "localtimestamp",
                                               "not",
                                               "null",
                                               "offset",
                                               "on",
                                               "only",
                                               "or",
                                               "order",
                                               "placing",
                                               "primary",
                                               "references",
                                               "returning",
                                               "select",
                                               "session_user",
                                               "some",
                                               "symmetric",
                                               "system_user",
                                               "table",
                                               "then",
                                               "to",
                                               "trailing",
                                               "true",
                                               "union",
                                               "unique",
                                               "user",
                                               "using",
                                               "variadic",
                                               "when",
                                               "where",
                                               "window",
                                               "with"};

constexpr std::string_view kExample =
    R"({"name": "users_per_minute_by_country", "window": "1m", "group_by": ["country"]} or )"
    "users_per_minute_by_country:1m:country";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool IsGroupColumn(std::string_view column) {
  if (column == "age" || column == "age_band") return true;
  if (column == "id" || column == "ingested_at") return false;
  for (const char* c : kRowColumns) {
    if (column == c) return column != "latitude" && column != "longitude";
  }
  return false;
}

std::string GroupColumnList() {
  std::string list;
  for (const char* c : kRowColumns) {
    const std::string_view column = c;
    if (IsGroupColumn(column)) list += fmt::format("{}{}", list.empty() ? "" : ", ", column);
  }
  return list + ", age_band";
}

bool IsValueColumn(std::string_view column) {
  return std::find(std::begin(kValueColumns), std::end(kValueColumns), column) !=
         std::end(kValueColumns);
}

const char* FunctionName(AggFunction f) {
  switch (f) {
    case AggFunction::kMin:
      return "min";
    case AggFunction::kMax:
      return "max";
    case AggFunction::kAvg:
      return "avg";
    case AggFunction::kSum:
      return "sum";
  }
  return "?";
}

// The shortest exact text ParseDurationMillis reads back: 60000 -> "1m".
std::string DurationText(int64_t ms) {
  if (ms != 0 && ms % (3600 * 1000) == 0) return fmt::format("{}h", ms / (3600 * 1000));
  if (ms != 0 && ms % (60 * 1000) == 0) return fmt::format("{}m", ms / (60 * 1000));
  if (ms != 0 && ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

// Parsing one item: errors say which aggregation (its name once known) and what to write.
class ItemParser {
 public:
  explicit ItemParser(std::string_view item) : item_(item) {}

  Result<AggregationSpec> Parse() {
    const std::string_view text = Trim(item_);
    if (text.empty()) return Error(fmt::format("is empty: write {}", kExample));
    Status s = text.front() == '{' ? ParseJson(text) : ParseShorthand(text);
    if (!s.ok()) return s;
    if (Status checked = Check(); !checked.ok()) return checked;
    return std::move(spec_);
  }

 private:
  // "aggregation NAME: what" (or the item itself while the name is not known).
  Status Error(std::string_view what) const {
    if (!spec_.name.empty())
      return Status::Fatal(fmt::format("aggregation {}: {}", spec_.name, what));
    std::string shown(Trim(item_).substr(0, 60));
    return Status::Fatal(fmt::format("aggregation '{}': {}", shown, what));
  }

  Status SetName(std::string_view name) {
    if (name.empty()) return Error(fmt::format("the name is empty: write {}", kExample));
    const bool good = name.size() <= kMaxNameBytes && name.front() >= 'a' && name.front() <= 'z' &&
                      std::all_of(name.begin(), name.end(), [](char c) {
                        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                      });
    if (!good) {
      return Error(fmt::format(
          "name '{}' is not a table name: use a lower-case letter, then lower-case letters, "
          "digits and _, at most {} bytes, e.g. users_per_minute",
          name.substr(0, 80), kMaxNameBytes));
    }
    if (name.starts_with("spate_") || name.starts_with("sqlite_") || name.starts_with("pg_") ||
        std::find(std::begin(kReservedNames), std::end(kReservedNames), name) !=
            std::end(kReservedNames)) {
      return Error(fmt::format(
          "name '{}' is taken (spate's own tables, the spate_, sqlite_ and pg_ prefixes and SQL "
          "keywords are): choose another, e.g. {}_stats",
          name, name));
    }
    spec_.name = std::string(name);
    return Status::Ok();
  }

  Status SetDuration(std::string_view key, std::string_view text, int64_t& out) {
    auto ms = ParseDurationMillis(Trim(text));
    if (!ms.ok()) return Error(fmt::format("{}: {}", key, ms.status().message()));
    out = *ms;
    return Status::Ok();
  }

  Status AddGroupColumn(std::string_view column) {
    column = Trim(column);
    if (!IsGroupColumn(column)) {
      return Error(fmt::format("cannot group by '{}': group by one or more of {}", column,
                               GroupColumnList()));
    }
    if (std::find(spec_.group_by.begin(), spec_.group_by.end(), column) != spec_.group_by.end()) {
      return Error(fmt::format("group_by names '{}' twice: name each column once", column));
    }
    spec_.group_by.emplace_back(column);
    return Status::Ok();
  }

  // "avg(age)"; "count" and "count(*)" are accepted and add nothing (users always counts).
  Status AddValue(std::string_view text) {
    const std::string_view trimmed = Trim(text);
    std::string lower(trimmed);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::erase_if(lower, [](unsigned char c) { return std::isspace(c); });
    if (lower == "count" || lower == "count(*)" || lower == "count()") return Status::Ok();
    const std::string help = fmt::format(
        "agg item '{}' is not FUNCTION(COLUMN): write min, max, avg or sum of {}, "
        "e.g. \"avg(age)\" (users always counts the rows)",
        trimmed, "age, latitude or longitude");
    const size_t open = lower.find('(');
    if (open == std::string::npos || lower.back() != ')') return Error(help);
    const std::string_view function = std::string_view(lower).substr(0, open);
    const std::string_view column =
        std::string_view(lower).substr(open + 1, lower.size() - open - 2);
    AggValue value;
    if (function == "min") {
      value.function = AggFunction::kMin;
    } else if (function == "max") {
      value.function = AggFunction::kMax;
    } else if (function == "avg") {
      value.function = AggFunction::kAvg;
    } else if (function == "sum") {
      value.function = AggFunction::kSum;
    } else {
      return Error(help);
    }
    if (!IsValueColumn(column)) {
      return Error(
          fmt::format("agg item '{}': {}({}) is not supported: {} takes age, latitude "
                      "or longitude",
                      trimmed, function, column, function));
    }
    value.column = std::string(column);
    for (const AggValue& v : spec_.values) {
      if (v.function == value.function && v.column == value.column) {
        return Error(fmt::format("agg names {}({}) twice: name each once", function, column));
      }
    }
    spec_.values.push_back(std::move(value));
    return Status::Ok();
  }

  Status ParseShorthand(std::string_view text) {
    const size_t first = text.find(':');
    if (first == std::string_view::npos) {
      spec_.name.clear();
      return Error(fmt::format("has no window: write NAME:WINDOW[:COLUMN,...], e.g. {}",
                               "users_per_minute_by_country:1m:country"));
    }
    if (Status s = SetName(Trim(text.substr(0, first))); !s.ok()) return s;
    std::string_view rest = text.substr(first + 1);
    const size_t second = rest.find(':');
    const std::string_view window = rest.substr(0, second);
    if (Status s = SetDuration("window", window, spec_.size_ms); !s.ok()) return s;
    spec_.slide_ms = spec_.size_ms;
    if (second == std::string_view::npos) return Status::Ok();
    std::string_view columns = rest.substr(second + 1);
    if (Trim(columns).empty()) {
      return Error(
          "nothing after the second ':': write the columns to group by, e.g. :country,gender");
    }
    while (true) {
      const size_t comma = columns.find(',');
      if (Status s = AddGroupColumn(columns.substr(0, comma)); !s.ok()) return s;
      if (comma == std::string_view::npos) break;
      columns = columns.substr(comma + 1);
    }
    return Status::Ok();
  }

  // A string, or a list of strings, calling `add` on each.
  template <typename Add>
  Status ForEachString(std::string_view key, simdjson::dom::element value, Add add) {
    std::string_view text;
    if (value.get_string().get(text) == simdjson::SUCCESS) return add(text);
    simdjson::dom::array array;
    if (value.get_array().get(array) != simdjson::SUCCESS) {
      return Error(fmt::format("{} must be a list of strings, e.g. [\"country\"]", key));
    }
    for (simdjson::dom::element element : array) {
      if (element.get_string().get(text) != simdjson::SUCCESS) {
        return Error(fmt::format("{} must be a list of strings, e.g. [\"country\"]", key));
      }
      if (Status s = add(text); !s.ok()) return s;
    }
    return Status::Ok();
  }

  // A duration as a string ("1m"); a bare number is read as its text (so 0 works, and 60
  // gets the "no unit" help).
  Status DurationValue(std::string_view key, simdjson::dom::element value, int64_t& out) {
    std::string_view text;
    if (value.get_string().get(text) == simdjson::SUCCESS) return SetDuration(key, text, out);
    int64_t number = 0;
    if (value.get_int64().get(number) == simdjson::SUCCESS) {
      return SetDuration(key, std::to_string(number), out);
    }
    return Error(fmt::format("{} must be a duration such as \"1m\", \"30s\" or \"500ms\"", key));
  }

  Status ParseJson(std::string_view text) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (auto err = parser.parse(simdjson::padded_string(text)).get(doc); err) {
      return Error(
          fmt::format("is not valid JSON ({}): write {}", simdjson::error_message(err), kExample));
    }
    simdjson::dom::object object;
    if (doc.get_object().get(object) != simdjson::SUCCESS) {
      return Error(fmt::format("is not a JSON object: write {}", kExample));
    }
    // The name first, so that every later error can name the aggregation.
    std::string_view name;
    simdjson::dom::element name_value;
    if (object["name"].get(name_value) != simdjson::SUCCESS) {
      return Error(fmt::format("has no name: write {}", kExample));
    }
    if (name_value.get_string().get(name) != simdjson::SUCCESS) {
      return Error("name must be a string, e.g. \"users_per_minute\"");
    }
    if (Status s = SetName(name); !s.ok()) return s;
    bool has_window = false, has_slide = false;
    std::set<std::string_view> seen;
    for (auto [key, value] : object) {
      if (!seen.insert(key).second) return Error(fmt::format("key '{}' appears twice", key));
      Status s;
      if (key == "name") {
        continue;
      } else if (key == "window") {
        has_window = true;
        s = DurationValue(key, value, spec_.size_ms);
      } else if (key == "slide") {
        has_slide = true;
        s = DurationValue(key, value, spec_.slide_ms);
      } else if (key == "lateness") {
        if (value.is_null()) continue;
        s = DurationValue(key, value, spec_.lateness_ms);
      } else if (key == "group_by") {
        s = ForEachString(key, value, [&](std::string_view c) { return AddGroupColumn(c); });
      } else if (key == "agg") {
        s = ForEachString(key, value, [&](std::string_view v) { return AddValue(v); });
      } else {
        s =
            Error(fmt::format("unknown key '{}': the keys are name, window, slide, lateness, "
                              "group_by and agg",
                              key));
      }
      if (!s.ok()) return s;
    }
    if (!has_window) return Error("has no window: add e.g. \"window\": \"1m\"");
    if (!has_slide) spec_.slide_ms = spec_.size_ms;
    return Status::Ok();
  }

  Status Check() {
    if (spec_.size_ms < kMinWindowMs || spec_.size_ms > kMaxWindowMs) {
      return Error(fmt::format("window {} is out of range: write 1s to {}h",
                               DurationText(spec_.size_ms), kMaxWindowMs / 3600000));
    }
    if (spec_.slide_ms <= 0 || spec_.slide_ms > spec_.size_ms ||
        spec_.size_ms % spec_.slide_ms != 0) {
      return Error(fmt::format(
          "slide {} must divide the window {}: write a slide such as {} (hopping) or leave it "
          "out (tumbling)",
          DurationText(spec_.slide_ms), DurationText(spec_.size_ms),
          DurationText(spec_.size_ms / 2 >= 1 && spec_.size_ms % 2 == 0 ? spec_.size_ms / 2
                                                                        : spec_.size_ms)));
    }
    if (spec_.size_ms / spec_.slide_ms > kMaxWindowsPerRow) {
      return Error(fmt::format(
          "slide {} puts each row in {} windows of {}: at most {}; write a slide of at least {}",
          DurationText(spec_.slide_ms), spec_.size_ms / spec_.slide_ms, DurationText(spec_.size_ms),
          kMaxWindowsPerRow,
          DurationText((spec_.size_ms + kMaxWindowsPerRow - 1) / kMaxWindowsPerRow)));
    }
    if (spec_.lateness_ms > kMaxDurationMillis) {
      return Error(fmt::format("lateness {} is too long: at most {}",
                               DurationText(spec_.lateness_ms), DurationText(kMaxDurationMillis)));
    }
    if (spec_.group_by.size() > kMaxGroupColumns) {
      return Error(
          fmt::format("groups by {} columns: at most {}", spec_.group_by.size(), kMaxGroupColumns));
    }
    return Status::Ok();
  }

  std::string_view item_;
  AggregationSpec spec_;
};

}  // namespace

std::string AggregationSpec::Definition() const {
  // Names and columns are [a-z0-9_]: nothing to escape.
  std::string out = fmt::format(R"({{"name":"{}","window":"{}","slide":"{}")", name,
                                DurationText(size_ms), DurationText(slide_ms));
  if (lateness_ms >= 0) out += fmt::format(R"(,"lateness":"{}")", DurationText(lateness_ms));
  out += R"(,"group_by":[)";
  for (size_t i = 0; i < group_by.size(); ++i) {
    out += fmt::format(R"({}"{}")", i ? "," : "", group_by[i]);
  }
  out += R"(],"agg":[)";
  for (size_t i = 0; i < values.size(); ++i) {
    out += fmt::format(R"x({}"{}({})")x", i ? "," : "", FunctionName(values[i].function),
                       values[i].column);
  }
  return out + "]}";
}

Result<AggregationSpec> ParseAggregation(std::string_view item) { return ItemParser(item).Parse(); }

Result<std::vector<AggregationSpec>> ParseAggregations(const std::vector<std::string>& items) {
  std::vector<AggregationSpec> specs;
  for (const std::string& item : items) {
    auto spec = ParseAggregation(item);
    if (!spec.ok()) return spec.status();
    for (const AggregationSpec& other : specs) {
      if (other.name == spec->name) {
        return Status::Fatal(fmt::format(
            "aggregation {}: two aggregations have this name: give each its own (it names "
            "the table)",
            other.name));
      }
    }
    specs.push_back(std::move(spec).value());
  }
  return specs;
}

void WindowStarts(const AggregationSpec& spec, int64_t event_ms, std::vector<int64_t>& out) {
  out.clear();
  const int64_t slide = spec.slide_ms;
  if (slide <= 0 || spec.size_ms <= 0) return;
  // Floor, not truncation, so that an event before the epoch still lands right; windows that
  // would start before the epoch are left out (event time is never before it: 0 means now).
  int64_t last = event_ms / slide * slide;
  if (last > event_ms) last -= slide;
  const int64_t count = spec.size_ms / slide;
  for (int64_t k = count - 1; k >= 0; --k) {
    const int64_t start = last - k * slide;
    if (start >= 0) out.push_back(start);
  }
}

std::vector<AggColumn> AggregateColumns(const AggregationSpec& spec) {
  using Type = AggColumn::Type;
  std::vector<AggColumn> columns = {{"window_start", Type::kTimestamp, true},
                                    {"window_end", Type::kTimestamp, false}};
  for (const std::string& column : spec.group_by) {
    const bool integer = column == "age" || column == "age_band";
    columns.push_back({column, integer ? Type::kInteger : Type::kText, true});
  }
  columns.push_back({"users", Type::kInteger, false});
  auto add = [&](std::string name, Type type) {
    for (const AggColumn& c : columns) {
      if (c.name == name) return;  // sum_<col> serves both sum() and avg().
    }
    columns.push_back({std::move(name), type, false});
  };
  for (const AggValue& value : spec.values) {
    const Type type = value.column == "age" ? Type::kInteger : Type::kReal;
    switch (value.function) {
      case AggFunction::kMin:
        add("min_" + value.column, type);
        break;
      case AggFunction::kMax:
        add("max_" + value.column, type);
        break;
      case AggFunction::kSum:
        add("sum_" + value.column, type);
        break;
      case AggFunction::kAvg:
        add("sum_" + value.column, type);
        add("avg_" + value.column, Type::kReal);
        break;
    }
  }
  return columns;
}

namespace {

constexpr std::string_view kTextColumnNames[] = {
    "id",    "first_name", "last_name",       "gender",  "address",  "post_code",
    "email", "username",   "registered_date", "phone",   "picture",  "dob",
    "nat",   "city",       "state",           "country", "timezone", "cell"};
static_assert(std::size(kTextColumnNames) == std::size(kRowTextColumns));

size_t ValueSlot(std::string_view column) {
  for (size_t i = 0; i < kAggValueColumnCount; ++i) {
    if (column == kAggValueColumns[i]) return i;
  }
  return 0;
}

double ValueOf(const Row& row, size_t slot) {
  switch (slot) {
    case 0:
      return static_cast<double>(row.age);
    case 1:
      return row.latitude;
    default:
      return row.longitude;
  }
}

void ResetValue(AggValueDelta& v) {
  v.int_sum = 0;
  v.real_sum = 0;
  v.in_min = v.out_min = INFINITY;
  v.in_max = v.out_max = -INFINITY;
}

template <typename T>
void AppendRaw(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

template <typename T>
T ReadRaw(const char* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

}  // namespace

std::string_view Row::*RowTextColumn(std::string_view name) {
  for (size_t i = 0; i < std::size(kTextColumnNames); ++i) {
    if (name == kTextColumnNames[i]) return kRowTextColumns[i];
  }
  return nullptr;
}

AggregateDelta::AggregateDelta(std::vector<AggregationSpec> specs) : specs_(std::move(specs)) {
  row_columns_.push_back("ingested_at");
  auto need = [&](const std::string& column) {
    if (std::find(row_columns_.begin(), row_columns_.end(), column) == row_columns_.end()) {
      row_columns_.push_back(column);
    }
  };
  for (const AggregationSpec& spec : specs_) {
    Plan plan;
    for (const std::string& column : spec.group_by) {
      if (column == "age") {
        plan.group.push_back({Source::kAge, nullptr});
        need("age");
      } else if (column == "age_band") {
        plan.group.push_back({Source::kAgeBand, nullptr});
        need("age");
      } else {
        plan.group.push_back({Source::kText, RowTextColumn(column)});
        need(column);
      }
    }
    for (const AggValue& value : spec.values) {
      plan.uses[ValueSlot(value.column)] = true;
      if (value.function == AggFunction::kMin || value.function == AggFunction::kMax) {
        plan.extremes = true;
      }
      need(value.column);
    }
    plans_.push_back(std::move(plan));
  }
  slots_.assign(64, 0);
}

void AggregateDelta::Clear() {
  groups_.clear();
  keys_.clear();
  std::fill(slots_.begin(), slots_.end(), 0);
}

// Integers as 8 bytes, text as a 4-byte length and the bytes: unambiguous, so equal bytes
// mean equal values.
void AggregateDelta::EncodeKey(const Plan& plan, const Row& row) {
  scratch_key_.clear();
  for (const Column& column : plan.group) {
    switch (column.source) {
      case Source::kAge:
        AppendRaw(scratch_key_, row.age);
        break;
      case Source::kAgeBand:
        AppendRaw(scratch_key_, AgeBand(row.age));
        break;
      case Source::kText: {
        const std::string_view text = row.*column.text;
        AppendRaw(scratch_key_, static_cast<uint32_t>(text.size()));
        scratch_key_.append(text);
        break;
      }
    }
  }
}

void AggregateDelta::Grow() {
  std::vector<uint32_t> slots(slots_.size() * 2, 0);
  const size_t mask = slots.size() - 1;
  for (uint32_t i = 0; i < groups_.size(); ++i) {
    size_t at = groups_[i].hash & mask;
    while (slots[at] != 0) at = (at + 1) & mask;
    slots[at] = i + 1;
  }
  slots_.swap(slots);
}

AggGroupDelta& AggregateDelta::Find(uint32_t aggregation, int64_t window_start, uint64_t key_hash) {
  const uint64_t hash =
      Mix64(key_hash ^ (static_cast<uint64_t>(window_start) * 0x9e3779b97f4a7c15ULL) ^ aggregation);
  const size_t mask = slots_.size() - 1;
  size_t at = hash & mask;
  while (const uint32_t slot = slots_[at]) {
    AggGroupDelta& g = groups_[slot - 1];
    if (g.hash == hash && g.aggregation == aggregation && g.window_start == window_start &&
        g.key_size == scratch_key_.size() &&
        std::memcmp(keys_.data() + g.key_offset, scratch_key_.data(), g.key_size) == 0) {
      return g;
    }
    at = (at + 1) & mask;
  }
  AggGroupDelta& g = groups_.emplace_back();
  g.aggregation = aggregation;
  g.window_start = window_start;
  g.users = 0;
  for (AggValueDelta& v : g.values) ResetValue(v);
  g.key_offset = static_cast<uint32_t>(keys_.size());
  g.key_size = static_cast<uint32_t>(scratch_key_.size());
  g.hash = hash;
  keys_.append(scratch_key_);
  slots_[at] = static_cast<uint32_t>(groups_.size());
  // At most half full, so probes stay short.
  if (groups_.size() * 2 > slots_.size()) {
    Grow();
    // Grow moved nothing in groups_: `g` is still valid.
  }
  return g;
}

void AggregateDelta::ChangeOne(uint32_t aggregation, const Row& row, int sign) {
  const AggregationSpec& spec = specs_[aggregation];
  const Plan& plan = plans_[aggregation];
  WindowStarts(spec, row.ingested_at_ms, starts_);
  if (starts_.empty()) return;
  EncodeKey(plan, row);
  const uint64_t key_hash = Fnv1a64(scratch_key_);
  for (const int64_t start : starts_) {
    AggGroupDelta& g = Find(aggregation, start, key_hash);
    g.users += sign;
    for (size_t slot = 0; slot < kAggValueColumnCount; ++slot) {
      if (!plan.uses[slot]) continue;
      AggValueDelta& v = g.values[slot];
      const double value = ValueOf(row, slot);
      if (slot == 0) {
        v.int_sum += sign * row.age;
      } else {
        v.real_sum += sign * value;
      }
      if (sign > 0) {
        v.in_min = std::min(v.in_min, value);
        v.in_max = std::max(v.in_max, value);
      } else {
        v.out_min = std::min(v.out_min, value);
        v.out_max = std::max(v.out_max, value);
      }
    }
  }
}

void AggregateDelta::Change(const Row& row, int sign) {
  for (uint32_t i = 0; i < specs_.size(); ++i) ChangeOne(i, row, sign);
}

bool AggregateDelta::SameContribution(uint32_t aggregation, const Row& a, const Row& b) const {
  const AggregationSpec& spec = specs_[aggregation];
  const Plan& plan = plans_[aggregation];
  // The same last window start means the same windows.
  auto last = [&](int64_t t) {
    int64_t start = t / spec.slide_ms * spec.slide_ms;
    return start > t ? start - spec.slide_ms : start;
  };
  if (last(a.ingested_at_ms) != last(b.ingested_at_ms)) return false;
  for (const Column& column : plan.group) {
    switch (column.source) {
      case Source::kAge:
        if (a.age != b.age) return false;
        break;
      case Source::kAgeBand:
        if (AgeBand(a.age) != AgeBand(b.age)) return false;
        break;
      case Source::kText:
        if (a.*column.text != b.*column.text) return false;
        break;
    }
  }
  for (size_t slot = 0; slot < kAggValueColumnCount; ++slot) {
    if (plan.uses[slot] && !(ValueOf(a, slot) == ValueOf(b, slot))) return false;
  }
  return true;
}

void AggregateDelta::Replace(const Row& old_row, const Row& new_row) {
  for (uint32_t i = 0; i < specs_.size(); ++i) {
    if (SameContribution(i, old_row, new_row)) continue;
    ChangeOne(i, old_row, -1);
    ChangeOne(i, new_row, +1);
  }
}

void AggregateDelta::KeyValues(const AggGroupDelta& group, std::vector<AggKeyValue>& out) const {
  out.clear();
  const char* p = keys_.data() + group.key_offset;
  for (const Column& column : plans_[group.aggregation].group) {
    AggKeyValue value;
    if (column.source == Source::kText) {
      const uint32_t size = ReadRaw<uint32_t>(p);
      value.text = std::string_view(p + sizeof(uint32_t), size);
      p += sizeof(uint32_t) + size;
    } else {
      value.integer = true;
      value.number = ReadRaw<int64_t>(p);
      p += sizeof(int64_t);
    }
    out.push_back(value);
  }
}

const std::vector<uint32_t>& AggregateDelta::Sorted() {
  sorted_.resize(groups_.size());
  for (uint32_t i = 0; i < groups_.size(); ++i) sorted_[i] = i;
  // Compares the encoded values column by column as SQLite orders the key: integers by
  // value, text by bytes (BINARY collation).
  auto less = [&](uint32_t x, uint32_t y) {
    const AggGroupDelta& a = groups_[x];
    const AggGroupDelta& b = groups_[y];
    if (a.aggregation != b.aggregation) return a.aggregation < b.aggregation;
    if (a.window_start != b.window_start) return a.window_start < b.window_start;
    const char* p = keys_.data() + a.key_offset;
    const char* q = keys_.data() + b.key_offset;
    for (const Column& column : plans_[a.aggregation].group) {
      if (column.source == Source::kText) {
        const uint32_t n = ReadRaw<uint32_t>(p), m = ReadRaw<uint32_t>(q);
        const std::string_view s(p + sizeof(uint32_t), n), t(q + sizeof(uint32_t), m);
        if (const int c = s.compare(t); c != 0) return c < 0;
        p += sizeof(uint32_t) + n;
        q += sizeof(uint32_t) + m;
      } else {
        const int64_t n = ReadRaw<int64_t>(p), m = ReadRaw<int64_t>(q);
        if (n != m) return n < m;
        p += sizeof(int64_t);
        q += sizeof(int64_t);
      }
    }
    return false;
  };
  std::sort(sorted_.begin(), sorted_.end(), less);
  return sorted_;
}

}  // namespace spate
