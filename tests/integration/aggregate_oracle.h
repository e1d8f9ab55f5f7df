// The test oracle for aggregate tables (issue 19): what an aggregation's table must hold,
// computed from the stored rows as plainly as possible (a loop over rows and candidate
// windows into a std::map, no deltas, none of the sinks' code), and a comparison that prints
// the rows that differ.
//
// Shared by the SQLite and PostgreSQL tests: each reads created_users back into OracleRow
// and its aggregate table into AggTableRow (window_start/window_end as epoch ms; other
// columns by name, integers as int64_t, reals as double, text as std::string), then
//   EXPECT_EQ(CompareAggregates(spec, OracleAggregate(spec, rows), actual), "");
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "analytics/aggregate.h"

namespace spate::testing {

// One stored row: its event time and the columns an aggregation may read.
struct OracleRow {
  int64_t event_ms = 0;
  std::map<std::string, std::string> text;  // Text columns by name (country, gender, ...).
  int64_t age = 0;
  double latitude = 0;
  double longitude = 0;
};

using AggCell = std::variant<std::monostate, int64_t, double, std::string>;
using AggTableRow = std::map<std::string, AggCell>;  // Column name -> value.

// "2026-12-06T09:15:30.123Z" -> epoch ms; -1 if it is not that shape. (Civil-from-days by
// counting, deliberately naive: tests only.)
inline int64_t OracleParseIsoMillis(const std::string& s) {
  int y, mo, d, h, mi, sec, ms;
  char tail = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &sec, &ms,
                  &tail) != 8 ||
      tail != 'Z') {
    return -1;
  }
  auto leap = [](int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; };
  const int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int64_t days = 0;
  for (int year = 1970; year < y; ++year) days += leap(year) ? 366 : 365;
  for (int m = 1; m < mo; ++m) days += month_days[m - 1] + (m == 2 && leap(y) ? 1 : 0);
  days += d - 1;
  return ((days * 24 + h) * 60 + mi) * 60000 + int64_t{sec} * 1000 + ms;
}

inline AggCell OracleGroupValue(const OracleRow& row, const std::string& column) {
  if (column == "age") return row.age;
  if (column == "age_band") return row.age < 0 ? int64_t{0} : row.age / 10 * 10;
  auto it = row.text.find(column);
  return it == row.text.end() ? AggCell{} : AggCell{it->second};
}

inline double OracleNumber(const OracleRow& row, const std::string& column) {
  if (column == "age") return static_cast<double>(row.age);
  if (column == "latitude") return row.latitude;
  return row.longitude;
}

// The expected table: for every window that contains a row's event time (starts are
// multiples of the slide, at or after the epoch) and the row's group values, one row.
inline std::vector<AggTableRow> OracleAggregate(const AggregationSpec& spec,
                                                const std::vector<OracleRow>& rows) {
  struct Acc {
    AggTableRow key;
    std::vector<const OracleRow*> members;
  };
  std::map<std::string, Acc> groups;  // Printed key -> members.
  for (const OracleRow& row : rows) {
    // Candidate starts: every multiple of slide within one window before the event.
    for (int64_t start =
             (row.event_ms - spec.size_ms) / spec.slide_ms * spec.slide_ms - spec.slide_ms;
         start <= row.event_ms; start += spec.slide_ms) {
      if (start < 0 || start % spec.slide_ms != 0) continue;
      if (!(start <= row.event_ms && row.event_ms < start + spec.size_ms)) continue;
      AggTableRow key;
      key["window_start"] = start;
      std::ostringstream printed;
      printed << start;
      for (const std::string& column : spec.group_by) {
        key[column] = OracleGroupValue(row, column);
        printed << '\x1f';
        std::visit(
            [&](const auto& v) {
              if constexpr (!std::is_same_v<std::decay_t<decltype(v)>, std::monostate>)
                printed << v;
            },
            key[column]);
      }
      Acc& acc = groups[printed.str()];
      acc.key = key;
      acc.members.push_back(&row);
    }
  }
  std::vector<AggTableRow> table;
  for (auto& [printed, acc] : groups) {
    AggTableRow out = acc.key;
    const int64_t start = std::get<int64_t>(out["window_start"]);
    out["window_end"] = start + spec.size_ms;
    out["users"] = static_cast<int64_t>(acc.members.size());
    for (const AggValue& value : spec.values) {
      const bool integer = value.column == "age";
      double lo = INFINITY, hi = -INFINITY, sum = 0;
      int64_t isum = 0;
      for (const OracleRow* row : acc.members) {
        const double v = OracleNumber(*row, value.column);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        sum += v;
        isum += row->age;
      }
      auto number = [&](double v) -> AggCell {
        if (integer) return static_cast<int64_t>(v);
        return v;
      };
      switch (value.function) {
        case AggFunction::kMin:
          out["min_" + value.column] = number(lo);
          break;
        case AggFunction::kMax:
          out["max_" + value.column] = number(hi);
          break;
        case AggFunction::kSum:
          out["sum_" + value.column] = integer ? AggCell{isum} : AggCell{sum};
          break;
        case AggFunction::kAvg:
          out["sum_" + value.column] = integer ? AggCell{isum} : AggCell{sum};
          out["avg_" + value.column] = sum / static_cast<double>(acc.members.size());
          break;
      }
    }
    table.push_back(std::move(out));
  }
  return table;
}

inline std::string OraclePrint(const AggCell& cell) {
  std::ostringstream out;
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          out << "NULL";
        } else if constexpr (std::is_same_v<T, std::string>) {
          out << '\'' << v << '\'';
        } else if constexpr (std::is_same_v<T, double>) {
          out.precision(17);
          out << v << "(real)";
        } else {
          out << v;
        }
      },
      cell);
  return out.str();
}

inline std::string OraclePrint(const AggTableRow& row) {
  std::string out = "{";
  for (const auto& [name, cell] : row) {
    out += (out.size() > 1 ? ", " : "") + name + "=" + OraclePrint(cell);
  }
  return out + "}";
}

// Integers and text must be equal and of the same type; reals equal to 1e-9 relative (sums
// of reals depend on the order of adding), and an integer stands for a real of its value.
inline bool OracleSameCell(const AggCell& expected, const AggCell& actual) {
  if (const double* e = std::get_if<double>(&expected)) {
    double a;
    if (const double* d = std::get_if<double>(&actual)) {
      a = *d;
    } else if (const int64_t* i = std::get_if<int64_t>(&actual)) {
      a = static_cast<double>(*i);
    } else {
      return false;
    }
    return std::fabs(*e - a) <= 1e-9 * std::max(1.0, std::fabs(*e));
  }
  return expected == actual;
}

// "" when `actual` holds exactly the rows of `expected` (keyed by window_start and the group
// columns, in any order) with the same columns and values; else a report, one line per
// differing, missing or extra row.
inline std::string CompareAggregates(const AggregationSpec& spec,
                                     const std::vector<AggTableRow>& expected,
                                     const std::vector<AggTableRow>& actual) {
  auto key_of = [&](const AggTableRow& row) {
    std::string key;
    auto it = row.find("window_start");
    key += it == row.end() ? "?" : OraclePrint(it->second);
    for (const std::string& column : spec.group_by) {
      auto c = row.find(column);
      key += " " + column + "=" + (c == row.end() ? "?" : OraclePrint(c->second));
    }
    return key;
  };
  std::map<std::string, const AggTableRow*> want, have;
  std::string report;
  for (const AggTableRow& row : expected) want[key_of(row)] = &row;
  for (const AggTableRow& row : actual) {
    if (!have.emplace(key_of(row), &row).second) {
      report += "duplicate key in table: " + OraclePrint(row) + "\n";
    }
  }
  for (const auto& [key, row] : want) {
    auto it = have.find(key);
    if (it == have.end()) {
      report += "missing: " + OraclePrint(*row) + "\n";
      continue;
    }
    bool same = row->size() == it->second->size();
    for (const auto& [name, cell] : *row) {
      auto a = it->second->find(name);
      if (a == it->second->end() || !OracleSameCell(cell, a->second)) same = false;
    }
    if (!same) {
      report += "differs: want " + OraclePrint(*row) + "\n         have " +
                OraclePrint(*it->second) + "\n";
    }
  }
  for (const auto& [key, row] : have) {
    if (!want.count(key)) report += "extra: " + OraclePrint(*row) + "\n";
  }
  if (!report.empty()) {
    report = spec.name + ": " + std::to_string(expected.size()) + " rows expected, " +
             std::to_string(actual.size()) + " in the table\n" + report;
  }
  return report;
}

}  // namespace spate::testing
