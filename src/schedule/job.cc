#include "schedule/job.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "config/config.h"

namespace spate {

namespace {

// Every key a job takes, in the order the docs give them.
constexpr std::string_view kKeys[] = {"name",
                                      "schedule",
                                      "timezone",
                                      "run",
                                      "options",
                                      "retries",
                                      "retry_delay",
                                      "retry_exponential_backoff",
                                      "max_retry_delay",
                                      "timeout",
                                      "kill_grace",
                                      "max_active_runs",
                                      "catchup",
                                      "start_date",
                                      "depends_on"};
constexpr std::string_view kCommands[] = {"run", "produce", "process"};

constexpr size_t kMaxNameBytes = 64;
constexpr int kMaxRetries = 100;
constexpr int kMaxActiveRuns = 1000;

std::string Normalize(std::string_view key) {
  std::string out(key);
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

// One value of a job's JSON object: a string, a list of strings, or (options only) an object
// of those. Numbers and booleans (from code rather than Config) are taken as their text.
struct Field {
  enum class Kind { kScalar, kList, kObject } kind = Kind::kScalar;
  std::vector<std::string> strings;  // kScalar: one; kList: the items.
  // kObject: keys[i] names values[i]. Two vectors, not one of pairs: a pair of an incomplete
  // type is undefined (libstdc++ under clang refuses it), a vector of one is allowed.
  std::vector<std::string> keys;
  std::vector<Field> values;
};

Result<std::string> ScalarText(simdjson::dom::element element) {
  using simdjson::dom::element_type;
  switch (element.type()) {
    case element_type::STRING:
      return std::string(std::string_view(element.get_string()));
    case element_type::INT64:
      return fmt::format("{}", int64_t(element.get_int64()));
    case element_type::UINT64:
      return fmt::format("{}", uint64_t(element.get_uint64()));
    case element_type::DOUBLE:
      return fmt::format("{}", double(element.get_double()));
    case element_type::BOOL:
      return std::string(bool(element.get_bool()) ? "true" : "false");
    case element_type::NULL_VALUE:
      return Status::Fatal("has no value");
    default:
      return Status::Fatal("is nested too deep: give a value or a list of plain values ([a, b])");
  }
}

Result<Field> ToField(simdjson::dom::element element, bool allow_object) {
  using simdjson::dom::element_type;
  Field field;
  if (element.type() == element_type::ARRAY) {
    field.kind = Field::Kind::kList;
    for (simdjson::dom::element item : element.get_array()) {
      auto text = ScalarText(item);
      if (!text.ok()) return text.status();
      field.strings.push_back(std::move(text).value());
    }
    return field;
  }
  if (element.type() == element_type::OBJECT) {
    if (!allow_object) {
      return Status::Fatal("is nested too deep: give a value or a list of plain values ([a, b])");
    }
    field.kind = Field::Kind::kObject;
    for (const simdjson::dom::key_value_pair member : element.get_object()) {
      auto value = ToField(member.value, false);
      if (!value.ok()) return value.status().WithContext(std::string(member.key));
      field.keys.emplace_back(member.key);
      field.values.push_back(std::move(value).value());
    }
    return field;
  }
  auto text = ScalarText(element);
  if (!text.ok()) return text.status();
  field.strings.push_back(std::move(text).value());
  return field;
}

Status CheckName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) {
    return Status::Fatal(fmt::format("a job name is 1 to {} bytes", kMaxNameBytes));
  }
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) {
      // The name ends up in file names (logs/JOB/...) and URLs (/api/jobs/JOB/trigger).
      return Status::Fatal(
          fmt::format("'{}' is not a job name: use letters, digits, '_' and '-'", name));
    }
  }
  return Status::Ok();
}

Result<int64_t> ParseInt(std::string_view text, int64_t min, int64_t max) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min ||
      value > max) {
    return Status::Fatal(fmt::format("'{}' is not a whole number from {} to {}", text, min, max));
  }
  return value;
}

Result<bool> ParseBool(std::string_view text) {
  if (text == "true") return true;
  if (text == "false") return false;
  return Status::Fatal(fmt::format("'{}' is not true or false", text));
}

Result<int64_t> ParseDuration(std::string_view text) {
  auto ms = ParseDurationMillis(text);
  if (!ms.ok()) return ms.status();
  if (*ms > kMaxDurationMillis) {
    return Status::Fatal(fmt::format("'{}' is longer than the {} days a duration may be", text,
                                     kMaxDurationMillis / 86'400'000));
  }
  return *ms;
}

const TimeZone& Utc() {
  static const TimeZone utc = std::move(TimeZone::Open("UTC")).value();
  return utc;
}

// A spec built in code may leave the zone out: UTC, as in the jobs file.
const TimeZone& ZoneOf(const JobSpec& job) { return job.zone ? *job.zone : Utc(); }

// The checks that span jobs: names, depends_on (known, not itself, no cycle).
Status CheckSet(const std::vector<JobSpec>& jobs) {
  if (jobs.empty()) {
    return Status::Fatal("no jobs: add a `jobs:` list (- name: ..., schedule: ..., run: ...)");
  }
  std::map<std::string_view, const JobSpec*> by_name;
  for (const JobSpec& job : jobs) {
    if (Status s = CheckName(job.name); !s.ok()) return s.WithContext("job");
    if (!by_name.emplace(job.name, &job).second) {
      return Status::Fatal(
          fmt::format("job '{}' is declared twice: job names are unique", job.name));
    }
    if (job.schedule.text().empty()) {
      return Status::Fatal(fmt::format("job '{}': schedule: missing", job.name));
    }
    if (std::find(std::begin(kCommands), std::end(kCommands), job.command) == std::end(kCommands)) {
      return Status::Fatal(fmt::format("job '{}': run: '{}' is not a command: write {}", job.name,
                                       job.command, fmt::join(kCommands, ", ")));
    }
  }
  for (const JobSpec& job : jobs) {
    for (const std::string& upstream : job.depends_on) {
      if (upstream == job.name) {
        return Status::Fatal(
            fmt::format("job '{}': depends_on: a job cannot depend on itself", job.name));
      }
      if (!by_name.count(upstream)) {
        std::vector<std::string_view> names;
        for (const auto& [name, unused] : by_name) names.push_back(name);
        return Status::Fatal(fmt::format("job '{}': depends_on: no job is named '{}'{}", job.name,
                                         upstream, DidYouMean(upstream, names)));
      }
    }
  }
  // A cycle would leave every run in it waiting for another forever: depth first, and the
  // path on the stack names the cycle.
  enum class Mark { kNew, kOnPath, kDone };
  std::map<std::string_view, Mark> marks;
  std::vector<std::string_view> path;
  auto visit = [&](const JobSpec& job, auto& self) -> Status {
    marks[job.name] = Mark::kOnPath;
    path.push_back(job.name);
    for (const std::string& upstream : job.depends_on) {
      const Mark mark = marks.count(upstream) ? marks[upstream] : Mark::kNew;
      if (mark == Mark::kOnPath) {
        const auto from = std::find(path.begin(), path.end(), upstream);
        std::vector<std::string_view> cycle(from, path.end());
        cycle.push_back(upstream);
        return Status::Fatal(fmt::format("job '{}': depends_on forms a cycle: {}", upstream,
                                         fmt::join(cycle, " -> ")));
      }
      if (mark == Mark::kNew) {
        if (Status s = self(*by_name[upstream], self); !s.ok()) return s;
      }
    }
    path.pop_back();
    marks[job.name] = Mark::kDone;
    return Status::Ok();
  };
  for (const JobSpec& job : jobs) {
    if (marks.count(job.name)) continue;
    if (Status s = visit(job, visit); !s.ok()) return s;
  }
  return Status::Ok();
}

// A double-quoted YAML scalar: every byte means itself, whatever the value holds (a leading
// '-', a ':', "true", "0x10" all stay text of the same characters).
std::string Quoted(std::string_view value) {
  std::string out = "\"";
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      out += fmt::format("\\x{:02x}", byte);
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

class ItemParser {
 public:
  ItemParser(size_t index, std::string_view default_zone, const TakesProperty& takes,
             std::map<std::string, std::shared_ptr<const TimeZone>>& zones)
      : label_(fmt::format("job #{}", index + 1)),
        default_zone_(default_zone),
        takes_(takes),
        zones_(zones) {}

  Result<JobSpec> Parse(std::string_view item) {
    // A plain list item (jobs: [tick]) is not a job: say what one looks like.
    if (const size_t first = item.find_first_not_of(" \t\r\n");
        first == std::string_view::npos || item[first] != '{') {
      return Fail(fmt::format(
          "'{}' is not a job: give a mapping with name, schedule and run (- name: ...)", item));
    }
    simdjson::dom::parser parser;
    const simdjson::padded_string padded(item);
    simdjson::dom::element root;
    if (const auto err = parser.parse(padded).get(root)) {
      return Fail(fmt::format("not a JSON object: {}", simdjson::error_message(err)));
    }
    if (root.type() != simdjson::dom::element_type::OBJECT) {
      return Fail("expected a mapping with name, schedule and run");
    }
    // Collected first, so that errors can name the job whatever the order of its keys.
    for (const simdjson::dom::key_value_pair member : root.get_object()) {
      const std::string key = Normalize(member.key);
      auto field = ToField(member.value, key == "options");
      if (!field.ok()) return Fail(field.status().WithContext(member.key).message());
      if (!fields_.emplace(key, std::make_pair(std::string(member.key), std::move(field).value()))
               .second) {
        const std::string& first = fields_[key].first;
        return Fail(first == member.key ? fmt::format("'{}' is given twice: keep one", first)
                                        : fmt::format("'{}' and '{}' are the same key: keep one",
                                                      first, std::string_view(member.key)));
      }
    }
    if (auto name = Scalar("name"); !name.ok()) {
      return name.status();
    } else if (!name->has_value()) {
      return Fail("no name: give each job a name (- name: my_job)");
    } else {
      if (Status s = CheckName(**name); !s.ok()) return Fail("name", s.message());
      job_.name = **name;
      label_ = fmt::format("job '{}'", job_.name);
    }
    for (const auto& [key, entry] : fields_) {
      if (std::find(std::begin(kKeys), std::end(kKeys), key) == std::end(kKeys)) {
        return Fail(fmt::format("unknown key '{}'{}", entry.first, DidYouMean(key, kKeys)));
      }
    }
    if (Status s = ParseFields(); !s.ok()) return s;
    return std::move(job_);
  }

 private:
  Status Fail(std::string_view why) const {
    return Status::Fatal(fmt::format("{}: {}", label_, why));
  }
  Status Fail(std::string_view key, std::string_view why) const {
    return Status::Fatal(fmt::format("{}: {}: {}", label_, key, why));
  }

  // The key's one value; nullopt when the key is absent.
  Result<std::optional<std::string>> Scalar(const std::string& key) const {
    const auto it = fields_.find(key);
    if (it == fields_.end()) return std::optional<std::string>();
    if (it->second.second.kind != Field::Kind::kScalar) {
      return Fail(key, "takes one value, not a list or mapping");
    }
    return std::optional<std::string>(it->second.second.strings.front());
  }

  // Reads an optional key with `parse` into `out`.
  template <typename T, typename Parse>
  Status Read(const std::string& key, T& out, Parse parse) const {
    auto text = Scalar(key);
    if (!text.ok()) return text.status();
    if (!text->has_value()) return Status::Ok();
    auto value = parse(**text);
    if (!value.ok()) return Fail(key, value.status().message());
    out = static_cast<T>(*value);
    return Status::Ok();
  }

  Result<std::shared_ptr<const TimeZone>> Zone(std::string_view name) {
    auto it = zones_.find(std::string(name));
    if (it != zones_.end()) return it->second;
    auto zone = TimeZone::Open(name);
    if (!zone.ok()) return zone.status();
    auto shared = std::make_shared<const TimeZone>(std::move(zone).value());
    zones_.emplace(std::string(name), shared);
    return shared;
  }

  Status ParseFields() {
    // schedule and run are required; the zone comes before start_date, which is read in it.
    auto schedule = Scalar("schedule");
    if (!schedule.ok()) return schedule.status();
    if (!schedule->has_value()) {
      return Fail("no schedule: give one (schedule: '@daily', '0 6 * * *' or 'every 5m')");
    }
    auto cron = CronSchedule::Parse(**schedule);
    if (!cron.ok()) return Fail(cron.status().message());
    job_.schedule = std::move(cron).value();

    auto zone_name = Scalar("timezone");
    if (!zone_name.ok()) return zone_name.status();
    auto zone = Zone(zone_name->value_or(std::string(default_zone_)));
    if (!zone.ok()) return Fail("timezone", zone.status().message());
    job_.zone = std::move(zone).value();

    auto command = Scalar("run");
    if (!command.ok()) return command.status();
    if (!command->has_value()) {
      return Fail("no command: give one (run: run, run: produce or run: process)");
    }
    if (std::find(std::begin(kCommands), std::end(kCommands), **command) == std::end(kCommands)) {
      return Fail("run", fmt::format("'{}' is not a command: write {}", **command,
                                     fmt::join(kCommands, ", ")));
    }
    job_.command = **command;
    if (Status s = ParseOptions(); !s.ok()) return s;

    auto whole = [](int64_t min, int64_t max) {
      return [=](std::string_view text) { return ParseInt(text, min, max); };
    };
    auto duration = [](bool zero_ok) {
      return [=](std::string_view text) -> Result<int64_t> {
        auto ms = ParseDuration(text);
        if (ms.ok() && *ms == 0 && !zero_ok) {
          return Status::Fatal("must be longer than 0 (leave the key out for the default)");
        }
        return ms;
      };
    };
    auto date = [this](std::string_view text) { return ParseDateTime(text, *job_.zone); };
    for (Status s : {Read("retries", job_.retries, whole(0, kMaxRetries)),
                     Read("retry_delay", job_.retry_delay_ms, duration(true)),
                     Read("retry_exponential_backoff", job_.retry_exponential_backoff, ParseBool),
                     Read("max_retry_delay", job_.max_retry_delay_ms, duration(false)),
                     Read("timeout", job_.timeout_ms, duration(true)),
                     Read("kill_grace", job_.kill_grace_ms, duration(true)),
                     Read("max_active_runs", job_.max_active_runs, whole(1, kMaxActiveRuns)),
                     Read("catchup", job_.catchup, ParseBool)}) {
      if (!s.ok()) return s;
    }
    int64_t start = 0;
    if (fields_.count("start_date")) {
      if (Status s = Read("start_date", start, date); !s.ok()) return s;
      job_.start_date_ms = start;
    }
    if (const auto it = fields_.find("depends_on"); it != fields_.end()) {
      const Field& field = it->second.second;
      if (field.kind == Field::Kind::kObject) return Fail("depends_on", "expected job names");
      for (const std::string& upstream : field.strings) {
        if (upstream.empty()) return Fail("depends_on", "an empty job name");
        if (std::find(job_.depends_on.begin(), job_.depends_on.end(), upstream) ==
            job_.depends_on.end()) {
          job_.depends_on.push_back(upstream);
        }
      }
    }
    return Status::Ok();
  }

  // The options are validated as the child will read them: with a Config, so a value the
  // property table refuses fails here, when the jobs file is read, not at 3 a.m. in a run.
  Status ParseOptions() {
    const auto it = fields_.find("options");
    if (it == fields_.end()) return Status::Ok();
    const Field& options = it->second.second;
    if (options.kind != Field::Kind::kObject) {
      return Fail("options", "expected a mapping of option: value ({count: 100, seed: tick})");
    }
    Config config;
    std::map<std::string, std::string> seen;  // Property -> the key that set it.
    std::vector<const PropertyDef*> given;
    for (size_t i = 0; i < options.keys.size(); ++i) {
      const std::string& key = options.keys[i];
      const Field& value = options.values[i];
      const PropertyDef* def = FindYamlKey(key);
      if (def == nullptr) {
        return Fail("options", fmt::format("unknown key '{}'{}", key, PropertySuggestion(key)));
      }
      if (takes_ && !takes_(job_.command, def->name)) {
        return Fail("options", fmt::format("'{}': spate {} does not take {}", key, job_.command,
                                           FlagName(def->name)));
      }
      if (auto [seen_it, fresh] = seen.emplace(def->name, key); !fresh) {
        return Fail("options", seen_it->second == key
                                   ? fmt::format("'{}' is given twice: keep one", key)
                                   : fmt::format("'{}' and '{}' both set {}: keep one",
                                                 seen_it->second, key, def->name));
      }
      Status s = value.kind == Field::Kind::kList ? config.SetList(def->name, value.strings)
                                                  : config.Set(def->name, value.strings.front());
      if (!s.ok()) return Fail("options", s.message());
      config.SetOrigin(def->name, fmt::format("options.{}", key));
      given.push_back(def);
    }
    const auto command_has = [this](std::string_view property) {
      return !takes_ || takes_(job_.command, property);
    };
    // As the child will: --input alone implies --source file, and a setting nothing reads
    // under the others (input with source generator) is a mistake, not a no-op.
    if (command_has("source")) {
      if (Status s = config.ImplySource(); !s.ok()) return Fail("options", s.message());
    }
    for (const PropertyDef* def : given) {
      if (Status s = config.CheckApplies(def->name, command_has); !s.ok()) {
        return Fail("options", s.message());
      }
    }
    if (Status s = config.CheckLimits(); !s.ok()) return Fail("options", s.message());
    for (const PropertyDef* def : given) {
      job_.options[std::string(def->name)] = def->type == PropType::kList
                                                 ? config.GetList(def->name)
                                                 : std::vector{config.GetString(def->name)};
    }
    return Status::Ok();
  }

  std::string label_;
  std::string_view default_zone_;
  const TakesProperty& takes_;
  std::map<std::string, std::shared_ptr<const TimeZone>>& zones_;
  // Normalized key -> (the key as written, its value).
  std::map<std::string, std::pair<std::string, Field>> fields_;
  JobSpec job_;
};

}  // namespace

int64_t JobSpec::RetryDelayMs(int next_attempt) const {
  if (next_attempt < 2) return 0;
  if (!retry_exponential_backoff) return retry_delay_ms;
  int64_t delay = retry_delay_ms;
  // Doubled one step at a time and stopped at the cap: 2^(n-2) overflows long before n does.
  for (int n = 2; n < next_attempt && delay < max_retry_delay_ms; ++n) delay *= 2;
  return std::min(delay, max_retry_delay_ms);
}

Result<JobSet> JobSet::Parse(const std::vector<std::string>& items, std::string_view default_zone,
                             const TakesProperty& takes) {
  // The file's zone is checked even when every job names its own: a typo there is still one.
  if (auto zone = TimeZone::Open(default_zone); !zone.ok()) {
    return zone.status().WithContext("timezone");
  }
  if (items.empty()) return CheckSet({});
  std::map<std::string, std::shared_ptr<const TimeZone>> zones;
  std::vector<JobSpec> jobs;
  for (size_t i = 0; i < items.size(); ++i) {
    try {  // simdjson's error-code API does not throw; padded_string may (out of memory).
      auto job = ItemParser(i, default_zone, takes, zones).Parse(items[i]);
      if (!job.ok()) return job.status();
      jobs.push_back(std::move(job).value());
    } catch (const std::exception& e) {
      return Status::Fatal(fmt::format("job #{}: {}", i + 1, e.what()));
    }
  }
  return FromSpecs(std::move(jobs));
}

Result<JobSet> JobSet::FromSpecs(std::vector<JobSpec> jobs) {
  if (Status s = CheckSet(jobs); !s.ok()) return s;
  JobSet set;
  set.jobs_ = std::move(jobs);
  return set;
}

const JobSpec* JobSet::Find(std::string_view name) const {
  for (const JobSpec& job : jobs_) {
    if (job.name == name) return &job;
  }
  return nullptr;
}

std::optional<Interval> LatestDueInterval(const JobSpec& job, int64_t now_ms) {
  const TimeZone& zone = ZoneOf(job);
  const std::optional<int64_t> end = PrevFire(job.schedule, zone, now_ms + 1);
  if (!end) return std::nullopt;
  const std::optional<int64_t> start = PrevFire(job.schedule, zone, *end);
  if (!start) return std::nullopt;
  if (job.start_date_ms && *start < *job.start_date_ms) return std::nullopt;
  return Interval{*start, *end};
}

std::optional<Interval> NextInterval(const JobSpec& job, const Interval& previous) {
  const TimeZone& zone = ZoneOf(job);
  int64_t from = previous.end_ms;
  if (job.start_date_ms && from < *job.start_date_ms) from = *job.start_date_ms;
  // `previous` ends on a fire unless the schedule changed since it ran; then the next
  // interval starts at the new schedule's next fire rather than at an odd instant.
  const std::optional<int64_t> start = NextFire(job.schedule, zone, from - 1);
  if (!start) return std::nullopt;
  const std::optional<int64_t> end = NextFire(job.schedule, zone, *start);
  if (!end) return std::nullopt;
  return Interval{*start, *end};
}

std::vector<Interval> IntervalsStartingBetween(const JobSpec& job, int64_t from_ms, int64_t to_ms,
                                               size_t limit) {
  std::vector<Interval> out;
  if (limit == 0 || from_ms > to_ms) return out;
  const TimeZone& zone = ZoneOf(job);
  std::optional<int64_t> start = NextFire(job.schedule, zone, from_ms - 1);
  while (start && *start <= to_ms && out.size() < limit) {
    const std::optional<int64_t> end = NextFire(job.schedule, zone, *start);
    if (!end) break;
    out.push_back(Interval{*start, *end});
    start = end;
  }
  return out;
}

Result<int64_t> ParseDateTime(std::string_view text, const TimeZone& zone) {
  auto fail = [&] {
    return Status::Fatal(fmt::format(
        "'{}' is not a date: write 2026-12-01, 2026-12-01T10:00 or 2026-12-01T10:00:00 (in the "
        "job's time zone), or end it in Z or +01:00 for another offset",
        text));
  };
  size_t pos = 0;
  // `digits` digits exactly, as a number.
  auto number = [&](size_t digits, int& out) {
    if (pos + digits > text.size()) return false;
    out = 0;
    for (size_t i = 0; i < digits; ++i) {
      const char c = text[pos + i];
      if (c < '0' || c > '9') return false;
      out = out * 10 + (c - '0');
    }
    pos += digits;
    return true;
  };
  auto literal = [&](char c) {
    if (pos >= text.size() || text[pos] != c) return false;
    ++pos;
    return true;
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!number(4, year) || !literal('-') || !number(2, month) || !literal('-') || !number(2, day)) {
    return fail();
  }
  std::optional<int> offset_minutes;
  if (pos < text.size()) {
    if (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ') return fail();
    ++pos;
    if (!number(2, hour) || !literal(':') || !number(2, minute)) return fail();
    if (pos < text.size() && text[pos] == ':' && (++pos, !number(2, second))) return fail();
    if (pos < text.size()) {
      if (text[pos] == 'Z' || text[pos] == 'z') {
        ++pos;
        offset_minutes = 0;
      } else if (text[pos] == '+' || text[pos] == '-') {
        const int sign = text[pos] == '-' ? -1 : 1;
        ++pos;
        int oh = 0, om = 0;
        if (!number(2, oh) || !literal(':') || !number(2, om) || oh > 23 || om > 59) {
          return fail();
        }
        offset_minutes = sign * (oh * 60 + om);
      }
    }
    if (pos != text.size()) return fail();
  }
  const std::chrono::year_month_day ymd{std::chrono::year{year},
                                        std::chrono::month{static_cast<unsigned>(month)},
                                        std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 59) return fail();
  const int64_t days = std::chrono::sys_days{ymd}.time_since_epoch().count();
  const int minute_of_day = hour * 60 + minute;
  if (offset_minutes) {
    return (days * 1440 + minute_of_day - *offset_minutes) * 60'000 + second * 1000;
  }
  return zone.ToInstant(CivilMinute{days, minute_of_day}) + second * 1000;
}

std::string OptionsYaml(const JobSpec& job) {
  std::string out = fmt::format(
      "# The options of one run of job '{}', written by spate schedule for `spate {} --config`.\n",
      job.name, job.command);
  for (const auto& [name, values] : job.options) {
    const PropertyDef* def = FindProperty(name);
    if (def != nullptr && def->type == PropType::kList) {
      // A sequence, one item per value: Config takes each item whole (a rule's commas stay).
      if (values.empty()) {
        out += fmt::format("{}: []\n", name);
        continue;
      }
      out += fmt::format("{}:\n", name);
      for (const std::string& value : values) out += fmt::format("  - {}\n", Quoted(value));
    } else {
      out += fmt::format("{}: {}\n", name, Quoted(values.empty() ? std::string() : values.front()));
    }
  }
  return out;
}

}  // namespace spate
