#include "sinks/pg_aggregate.h"

#include <algorithm>
#include <string_view>

#include <fmt/format.h>

#include "core/record.h"

namespace spate {
namespace {

// An identifier, quoted. Names reaching here were checked to be [a-z0-9_], so quoting only
// guards against words PostgreSQL reserves (a group column called "user" would need it).
std::string Q(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

bool IsTextRowColumn(std::string_view column) {
  if (column == "id" || column == "age" || column == "latitude" || column == "longitude" ||
      column == "ingested_at") {
    return false;
  }
  return std::find(std::begin(kRowColumns), std::end(kRowColumns), column) != std::end(kRowColumns);
}

bool IsValueColumn(std::string_view column) {
  return column == "age" || column == "latitude" || column == "longitude";
}

const char* PgType(AggColumn::Type type) {
  switch (type) {
    case AggColumn::Type::kTimestamp:
      return "timestamp with time zone";
    case AggColumn::Type::kText:
      return "text";
    case AggColumn::Type::kInteger:
      return "bigint";
    case AggColumn::Type::kReal:
      return "double precision";
  }
  return "text";
}

// A value column of the table: min_/max_/sum_/avg_ of a source column.
struct ValueColumn {
  std::string name;
  char kind;           // 'n' min, 'x' max, 's' sum, 'a' avg.
  std::string source;  // age, latitude, longitude.
  std::string type;
};

class Generator {
 public:
  explicit Generator(const AggregationSpec& spec) : spec_(spec) {}

  Status Prepare(PgAggregateSql& out) {
    for (const AggColumn& c : AggregateColumns(spec_)) {
      out.columns.emplace_back(c.name, PgType(c.type));
      if (c.key) out.key.push_back(c.name);
      if (c.name == "window_start" || c.name == "window_end" || c.name == "users") continue;
      if (c.key) continue;  // A group column.
      const std::string_view prefix = std::string_view(c.name).substr(0, 4);
      const std::string source = c.name.size() > 4 ? c.name.substr(4) : "";
      const char kind = prefix == "min_"   ? 'n'
                        : prefix == "max_" ? 'x'
                        : prefix == "sum_" ? 's'
                        : prefix == "avg_" ? 'a'
                                           : '?';
      if (kind == '?' || !IsValueColumn(source)) {
        return Status::Fatal(
            fmt::format("aggregation {}: column {} is not one spate can keep", spec_.name, c.name));
      }
      values_.push_back({c.name, kind, source, PgType(c.type)});
      if (std::find(sources_.begin(), sources_.end(), source) == sources_.end()) {
        sources_.push_back(source);
      }
      if (kind == 'n' || kind == 'x') out.uses_min_max = true;
    }
    if (out.key.size() != spec_.group_by.size() + 1 || out.key.front() != "window_start") {
      return Status::Fatal(fmt::format(
          "aggregation {}: its key is not window_start and its group columns", spec_.name));
    }
    for (const ValueColumn& v : values_) {
      if (v.kind == 'a' && !HasValue('s', v.source)) {
        return Status::Fatal(fmt::format("aggregation {}: avg_{} needs sum_{} in the table",
                                         spec_.name, v.source, v.source));
      }
    }
    return Status::Ok();
  }

  // The rows of `spec_` contributed by relation `from` (alias r) where `where` holds: sign,
  // event time (ts), group values (g0...), value sources (v_<col>). A row without an
  // event time (none spate writes) is in no window.
  std::string Part(std::string_view sign, std::string_view from,
                   std::string_view where = "") const {
    std::string select = fmt::format("SELECT {} AS sign, r.ingested_at AS ts", sign);
    for (size_t i = 0; i < spec_.group_by.size(); ++i) {
      select += fmt::format(", {} AS g{}", GroupExpr(spec_.group_by[i], "r"), i);
    }
    for (const std::string& s : sources_) select += fmt::format(", r.{} AS v_{}", Q(s), s);
    return fmt::format("{} FROM {} r WHERE r.ingested_at IS NOT NULL{}{}", select, from,
                       where.empty() ? "" : " AND ", where);
  }

  // The contributions of `parts` (UNION ALL of Part()s), summed per (slide bucket, group)
  // first and only then spread over the size/slide windows each bucket is in (fewer rows to
  // spread than rows in the statement): ws (window start), g0..., n (signed count),
  // retracts (some row went out), and per source what the functions need: an_/ax_ (min/max
  // of what came in), rn_/rx_ (of what went out), s_ (signed sum).
  std::string Contributions(const std::string& parts) const {
    const int64_t size = spec_.size_ms;
    const int64_t slide = spec_.slide_ms;
    // The latest window start at or before ts: a multiple of the slide since the epoch.
    // date_bin is integer arithmetic on microseconds (no float epoch rounding), and puts a
    // time before the origin in the bin below it, as it should.
    std::string select = fmt::format(
        "SELECT date_bin(interval '{} milliseconds', s.ts, timestamptz 'epoch') AS b", slide);
    std::string group = "1";
    for (size_t i = 0; i < spec_.group_by.size(); ++i) {
      select += fmt::format(", s.g{}", i);
      group += fmt::format(", s.g{}", i);
    }
    select += ", sum(s.sign)::bigint AS n, bool_or(s.sign < 0) AS retracts";
    for (const std::string& v : sources_) {
      if (HasValue('n', v)) {
        select += fmt::format(", min(s.v_{0}) FILTER (WHERE s.sign > 0) AS an_{0}", v);
        select += fmt::format(", min(s.v_{0}) FILTER (WHERE s.sign < 0) AS rn_{0}", v);
      }
      if (HasValue('x', v)) {
        select += fmt::format(", max(s.v_{0}) FILTER (WHERE s.sign > 0) AS ax_{0}", v);
        select += fmt::format(", max(s.v_{0}) FILTER (WHERE s.sign < 0) AS rx_{0}", v);
      }
      if (HasValue('s', v)) select += fmt::format(", sum(s.sign * s.v_{0}) AS s_{0}", v);
    }
    const std::string buckets = fmt::format("{} FROM ({}) s GROUP BY {}", select, parts, group);
    if (size == slide) return fmt::format("SELECT p.*, p.b AS ws FROM ({}) p", buckets);
    return fmt::format(
        "SELECT p.*, w.ws FROM ({}) p CROSS JOIN LATERAL generate_series(p.b - interval '{} "
        "milliseconds', p.b, interval '{} milliseconds') AS w(ws)",
        buckets, size - slide, slide);
  }

  // One row per (window, group) of `contributions`: ws, g0..., users, and per source the
  // min/max to propose (mn_/mx_) and the signed sum (s_).
  std::string Grouped(const std::string& contributions) const {
    std::string select = "SELECT c.ws";
    std::string group = "c.ws";
    for (size_t i = 0; i < spec_.group_by.size(); ++i) {
      select += fmt::format(", c.g{}", i);
      group += fmt::format(", c.g{}", i);
    }
    select += ", sum(c.n)::bigint AS users";
    // A group with only retractions proposes the extreme it retracts, never NULL (NOT NULL is
    // checked on the proposed row before the conflict is): least(table's, retracted) is the
    // table's, which the recompute then corrects if the retracted value was it.
    for (const std::string& v : sources_) {
      if (HasValue('n', v)) {
        select += fmt::format(", coalesce(min(c.an_{0}), min(c.rn_{0})) AS mn_{0}", v);
      }
      if (HasValue('x', v)) {
        select += fmt::format(", coalesce(max(c.ax_{0}), max(c.rx_{0})) AS mx_{0}", v);
      }
      if (HasValue('s', v)) {
        select += fmt::format(", sum(c.s_{0})::{1} AS s_{0}", v, SourceType(v));
      }
    }
    return fmt::format("{} FROM ({}) c GROUP BY {}", select, contributions, group);
  }

  // INSERT of Grouped rows into the table, in key order; `upsert`: adding to rows that are
  // there.
  std::string Insert(const std::string& contributions, bool upsert) const {
    std::string columns;
    std::string values = fmt::format("a.ws, a.ws + interval '{} milliseconds'", spec_.size_ms);
    std::string order = "a.ws";
    columns = "window_start, window_end";
    for (size_t i = 0; i < spec_.group_by.size(); ++i) {
      columns += ", " + Q(spec_.group_by[i]);
      values += fmt::format(", a.g{}", i);
      order += fmt::format(", a.g{}", i);
    }
    columns += ", users";
    values += ", a.users";
    std::string updates = "users = t.users + excluded.users";
    for (const ValueColumn& v : values_) {
      const std::string col = Q(v.name);
      columns += ", " + col;
      switch (v.kind) {
        case 'n':
          values += fmt::format(", a.mn_{}", v.source);
          updates += fmt::format(", {0} = least(t.{0}, excluded.{0})", col);
          break;
        case 'x':
          values += fmt::format(", a.mx_{}", v.source);
          updates += fmt::format(", {0} = greatest(t.{0}, excluded.{0})", col);
          break;
        case 's':
          values += fmt::format(", a.s_{}", v.source);
          updates += fmt::format(", {0} = t.{0} + excluded.{0}", col);
          break;
        case 'a': {
          const std::string sum = Q("sum_" + v.source);
          // 0 for a group with no rows, which is deleted right after.
          values +=
              fmt::format(", coalesce(a.s_{}::double precision / nullif(a.users, 0), 0)", v.source);
          updates += fmt::format(
              ", {} = coalesce((t.{} + excluded.{})::double precision / nullif(t.users + "
              "excluded.users, 0), 0)",
              col, sum, sum);
          break;
        }
      }
    }
    std::string sql = fmt::format("INSERT INTO {} AS t ({}) SELECT {} FROM ({}) a ORDER BY {}",
                                  Q(spec_.name), columns, values, Grouped(contributions), order);
    if (upsert) {
      std::string key = "window_start";
      for (const std::string& g : spec_.group_by) key += ", " + Q(g);
      sql += fmt::format(" ON CONFLICT ({}) DO UPDATE SET {}", key, updates);
    }
    return sql;
  }

  // The match of the table's row `t` with the retraction row `r` (ws, g0...).
  std::string KeyMatch() const {
    std::string match = "t.window_start = r.ws";
    for (size_t i = 0; i < spec_.group_by.size(); ++i) {
      match += fmt::format(" AND t.{} = r.g{}", Q(spec_.group_by[i]), i);
    }
    return match;
  }

  // Deletes the groups that retractions emptied.
  std::string DeleteEmpty(const std::string& contributions) const {
    std::string keys = "c.ws";
    for (size_t i = 0; i < spec_.group_by.size(); ++i) keys += fmt::format(", c.g{}", i);
    return fmt::format(
        "DELETE FROM {} t USING (SELECT DISTINCT {} FROM ({}) c WHERE c.retracts) r WHERE {} "
        "AND t.users = 0",
        Q(spec_.name), keys, contributions, KeyMatch());
  }

  // Recomputes min/max from created_users for groups where a retracted value was at or
  // beyond the extreme the table holds (so it may have been it). Empty without min/max.
  std::string RecomputeExtremes(const std::string& contributions) const {
    std::string sets;
    std::string select = "SELECT c.ws";
    std::string group = "c.ws";
    for (size_t i = 0; i < spec_.group_by.size(); ++i) {
      select += fmt::format(", c.g{}", i);
      group += fmt::format(", c.g{}", i);
    }
    // The group's rows as they are now (this statement's snapshot comes after the upsert's
    // lock on the group's row, so committed writers of the group are all in it).
    std::string rows = "u.ingested_at >= t.window_start AND u.ingested_at < t.window_end";
    for (const std::string& g : spec_.group_by) {
      rows += fmt::format(" AND {} = t.{}", GroupExpr(g, "u"), Q(g));
    }
    for (const ValueColumn& v : values_) {
      if (v.kind != 'n' && v.kind != 'x') continue;
      const bool is_min = v.kind == 'n';
      const std::string retracted = fmt::format("{}_{}", is_min ? "rn" : "rx", v.source);
      select += fmt::format(", {0}(c.{1}) AS {1}", is_min ? "min" : "max", retracted);
      sets += fmt::format(
          "{0}{1} = CASE WHEN r.{2} {3} t.{1} THEN (SELECT {4}(u.{5}) FROM created_users u "
          "WHERE {6}) ELSE t.{1} END",
          sets.empty() ? "" : ", ", Q(v.name), retracted,
          is_min ? "<=" : ">=", is_min ? "min" : "max", Q(v.source), rows);
    }
    if (sets.empty()) return "";
    return fmt::format(
        "UPDATE {} t SET {} FROM ({} FROM ({}) c WHERE c.retracts GROUP BY {}) r WHERE {}",
        Q(spec_.name), sets, select, contributions, group, KeyMatch());
  }

  // The columns whose change changes a row's contribution.
  std::string Relevant(std::string_view alias) const {
    std::vector<std::string> columns = {"ingested_at"};
    for (const std::string& g : spec_.group_by) {
      columns.push_back(g == "age_band" ? "age" : g);
    }
    for (const std::string& s : sources_) columns.push_back(s);
    std::string out;
    std::vector<std::string> seen;
    for (const std::string& c : columns) {
      if (std::find(seen.begin(), seen.end(), c) != seen.end()) continue;
      seen.push_back(c);
      out += fmt::format("{}{}.{}", out.empty() ? "" : ", ", alias, Q(c));
    }
    return out;
  }

  std::string FunctionBody() const {
    const std::string inserted = Contributions(Part("1", "spate_new"));
    const std::string deleted = Contributions(Part("-1", "spate_old"));
    // An UPDATE's rows whose contribution did not change (a replay rewrites every column
    // with the same values) cancel out: leave them out on both sides.
    auto unchanged = [&](std::string_view other) {
      return fmt::format(
          "NOT EXISTS (SELECT FROM {} x WHERE x.id = r.id AND ROW({}) IS NOT DISTINCT FROM "
          "ROW({}))",
          other, Relevant("x"), Relevant("r"));
    };
    const std::string updated =
        Contributions(Part("1", "spate_new", unchanged("spate_old")) + " UNION ALL " +
                      Part("-1", "spate_old", unchanged("spate_new")));
    auto retracting = [&](const std::string& contributions) {
      std::string out = fmt::format(
          "    {};\n"
          "    GET DIAGNOSTICS n = ROW_COUNT;\n"
          "    IF n = 0 THEN\n"
          "      RETURN NULL;\n"
          "    END IF;\n"
          "    {};\n",
          Insert(contributions, true), DeleteEmpty(contributions));
      if (const std::string recompute = RecomputeExtremes(contributions); !recompute.empty()) {
        out += fmt::format("    {};\n", recompute);
      }
      return out;
    };
    return fmt::format(
        "\n"
        "-- spate: keeps {0} equal to its GROUP BY over created_users (issue 19).\n"
        "DECLARE\n"
        "  n bigint;\n"
        "BEGIN\n"
        "  IF TG_OP = 'INSERT' THEN\n"
        "    {1};\n"
        "  ELSIF TG_OP = 'UPDATE' THEN\n"
        "{2}"
        "  ELSIF TG_OP = 'DELETE' THEN\n"
        "{3}"
        "  ELSIF TG_OP = 'TRUNCATE' THEN\n"
        "    DELETE FROM {4};\n"
        "  END IF;\n"
        "  RETURN NULL;\n"
        "END\n",
        spec_.name, Insert(inserted, true), retracting(updated), retracting(deleted),
        Q(spec_.name));
  }

  std::string Build() const { return Insert(Contributions(Part("1", "created_users")), false); }

 private:
  bool HasValue(char kind, std::string_view source) const {
    return std::any_of(values_.begin(), values_.end(), [&](const ValueColumn& v) {
      return v.source == source && (v.kind == kind || (kind == 's' && v.kind == 'a'));
    });
  }

  static const char* SourceType(std::string_view source) {
    return source == "age" ? "bigint" : "double precision";
  }

  // A group column's value for created_users row `alias`: text never NULL (a key column),
  // age_band the decade of age (negative ages: 0), as expr.h defines it.
  static std::string GroupExpr(std::string_view column, std::string_view alias) {
    if (column == "age_band") {
      return fmt::format("(greatest(coalesce({}.age, 0), 0) / 10 * 10)", alias);
    }
    if (column == "age") return fmt::format("coalesce({}.age, 0)", alias);
    return fmt::format("coalesce({}.{}, '')", alias, Q(column));
  }

  const AggregationSpec& spec_;
  std::vector<std::string> sources_;
  std::vector<ValueColumn> values_;
};

}  // namespace

Status CheckPgAggregation(const AggregationSpec& spec) {
  const std::string& name = spec.name;
  const bool name_ok = !name.empty() && name.size() <= 48 && name[0] >= 'a' && name[0] <= 'z' &&
                       std::all_of(name.begin(), name.end(), [](char c) {
                         return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                       });
  if (!name_ok) {
    return Status::Fatal(
        fmt::format("aggregation name '{}' is not [a-z][a-z0-9_]* of at most 48 bytes", name));
  }
  if (spec.size_ms <= 0 || spec.slide_ms <= 0 || spec.slide_ms > spec.size_ms ||
      spec.size_ms % spec.slide_ms != 0) {
    return Status::Fatal(fmt::format(
        "aggregation {}: window {} ms and slide {} ms (the slide must divide the window)", name,
        spec.size_ms, spec.slide_ms));
  }
  for (const std::string& g : spec.group_by) {
    if (g != "age" && g != "age_band" && !IsTextRowColumn(g)) {
      return Status::Fatal(fmt::format("aggregation {}: cannot group by '{}'", name, g));
    }
    if (std::count(spec.group_by.begin(), spec.group_by.end(), g) > 1) {
      return Status::Fatal(fmt::format("aggregation {}: groups by {} twice", name, g));
    }
  }
  for (const AggValue& v : spec.values) {
    if (!IsValueColumn(v.column)) {
      return Status::Fatal(fmt::format("aggregation {}: cannot aggregate '{}'", name, v.column));
    }
  }
  return Status::Ok();
}

std::vector<std::string> PgAggregateTriggerNames(const std::string& name) {
  return {"spate_agg_" + name + "_ins", "spate_agg_" + name + "_upd", "spate_agg_" + name + "_del",
          "spate_agg_" + name + "_trn"};
}

Result<PgAggregateSql> MakePgAggregateSql(const AggregationSpec& spec) {
  if (Status s = CheckPgAggregation(spec); !s.ok()) return s;
  PgAggregateSql out;
  Generator gen(spec);
  if (Status s = gen.Prepare(out); !s.ok()) return s;
  out.table = spec.name;
  std::string columns;
  for (const auto& [name, type] : out.columns) {
    columns += fmt::format("  {} {} NOT NULL,\n", Q(name), type);
  }
  std::string key;
  for (const std::string& k : out.key) key += (key.empty() ? "" : ", ") + Q(k);
  out.create_table =
      fmt::format("CREATE TABLE {} (\n{}  PRIMARY KEY ({})\n);\n", Q(spec.name), columns, key);
  out.build = gen.Build() + ";\n";
  out.function_name = "spate_agg_" + spec.name;
  out.function_body = gen.FunctionBody();
  out.create_function = fmt::format(
      "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $spate${}$spate$;\n",
      Q(out.function_name), out.function_body);
  out.trigger_names = PgAggregateTriggerNames(spec.name);
  // TRUNCATE empties the table too (it fires no DELETE trigger, and has no transition table).
  const char* events[] = {"INSERT", "UPDATE", "DELETE", "TRUNCATE"};
  const char* transitions[] = {"REFERENCING NEW TABLE AS spate_new ",
                               "REFERENCING OLD TABLE AS spate_old NEW TABLE AS spate_new ",
                               "REFERENCING OLD TABLE AS spate_old ", ""};
  for (size_t i = 0; i < 4; ++i) {
    out.create_triggers += fmt::format(
        "CREATE TRIGGER {} AFTER {} ON created_users {}FOR EACH STATEMENT EXECUTE FUNCTION "
        "{}();\n",
        Q(out.trigger_names[i]), events[i], transitions[i], Q(out.function_name));
    out.drop_triggers +=
        fmt::format("DROP TRIGGER IF EXISTS {} ON created_users;\n", Q(out.trigger_names[i]));
  }
  return out;
}

std::string PgLiteral(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

Result<std::string> PgAggregationsScript(const std::vector<AggregationSpec>& aggregations) {
  if (aggregations.empty()) return std::string();
  std::string sql =
      "-- Aggregations (issue 19): each table is rebuilt from created_users, under a lock that\n"
      "-- keeps writers out meanwhile, and kept by triggers on created_users. spate's role\n"
      "-- also needs SELECT on spate_aggregations and SELECT, INSERT, UPDATE, DELETE on each\n"
      "-- aggregation's table (the triggers run as the writer).\n";
  sql += kPgAggregationsTableSql;
  bool index = false;
  std::string each;
  for (const AggregationSpec& spec : aggregations) {
    auto made = MakePgAggregateSql(spec);
    if (!made.ok()) return made.status();
    const PgAggregateSql& a = made.value();
    index = index || a.uses_min_max;
    each += fmt::format(
        "LOCK TABLE created_users IN SHARE ROW EXCLUSIVE MODE;\n"
        "DROP TABLE IF EXISTS {0};\n"
        "{1}{2}"
        "INSERT INTO spate_aggregations (name, definition) VALUES ({3}, {4}) ON CONFLICT (name) "
        "DO UPDATE SET definition = excluded.definition;\n"
        "{5}{6}{7}",
        Q(a.table), a.create_table, a.build, PgLiteral(spec.name), PgLiteral(spec.Definition()),
        a.create_function, a.drop_triggers, a.create_triggers);
  }
  if (index) sql += kPgIngestedAtIndexSql;
  return sql + each;
}

}  // namespace spate
