#include "http/runs_api.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <optional>
#include <utility>

#include <fmt/format.h>
#include <simdjson.h>

#include "core/json_writer.h"

namespace spate {
namespace {

constexpr std::string_view kJobsPrefix = "/api/jobs/";

// Strings from outside (a child's error line, a job name from the store) as valid UTF-8.
void Text(JsonWriter& json, std::string_view text) { json.String(ValidUtf8(text)); }

void Time(JsonWriter& json, std::string_view key, const std::optional<int64_t>& ms) {
  json.Key(key);
  if (ms) {
    json.String(Rfc3339Ms(*ms));
  } else {
    json.Null();
  }
}

void Integer(JsonWriter& json, std::string_view key, const std::optional<int64_t>& value) {
  json.Key(key);
  if (value) {
    json.Int(*value);
  } else {
    json.Null();
  }
}

// "/api/jobs/NAME/ACTION" -> {NAME, ACTION}; nullopt for any other shape.
std::optional<std::pair<std::string_view, std::string_view>> JobAction(std::string_view path) {
  if (!path.starts_with(kJobsPrefix)) return std::nullopt;
  const std::string_view rest = path.substr(kJobsPrefix.size());
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  const std::string_view action = rest.substr(slash + 1);
  if (action != "trigger" && action != "backfill") return std::nullopt;
  return std::pair(rest.substr(0, slash), action);
}

// application/json, whatever the case and parameters ("application/json; charset=utf-8").
bool IsJson(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && std::isspace(static_cast<unsigned char>(media.back()))) {
    media.remove_suffix(1);
  }
  while (!media.empty() && std::isspace(static_cast<unsigned char>(media.front()))) {
    media.remove_prefix(1);
  }
  constexpr std::string_view kJson = "application/json";
  return media.size() == kJson.size() &&
         std::equal(media.begin(), media.end(), kJson.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

std::string JobNames(const JobSet& jobs) {
  std::string names;
  for (const JobSpec& job : jobs.jobs()) {
    if (!names.empty()) names += ", ";
    names += job.name;
  }
  return names;
}

HttpAnswer UnknownJob(const JobSet& jobs, std::string_view name) {
  return ErrorAnswer(404, fmt::format("no job named \"{}\" (the jobs are: {})", name.substr(0, 100),
                                      JobNames(jobs)));
}

HttpAnswer StoreError(const Status& status) {
  return ErrorAnswer(500, "the run history: " + status.message());
}

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void WriteRunJson(JsonWriter& json, const RunRecord& run) {
  json.BeginObject();
  json.Key("run_id");
  json.Int(run.run_id);
  json.Key("job");
  Text(json, run.job);
  json.Key("run_type");
  json.String(RunTypeName(run.type));
  Time(json, "interval_start", run.interval_start_ms);
  Time(json, "interval_end", run.interval_end_ms);
  json.Key("state");
  json.String(RunStateName(run.state));
  json.Key("attempt");
  json.Int(run.attempt);
  Time(json, "queued_at", run.queued_at_ms);
  Time(json, "started_at", run.started_at_ms);
  Time(json, "ended_at", run.ended_at_ms);
  Time(json, "next_try_at", run.next_try_at_ms);
  Integer(json, "records_in", run.records_in);
  Integer(json, "records_stored", run.records_stored);
  Integer(json, "records_rejected", run.records_rejected);
  Integer(json, "exit_code", run.exit_code ? std::optional<int64_t>(*run.exit_code) : std::nullopt);
  json.Key("error");
  if (run.error.empty()) {
    json.Null();
  } else {
    Text(json, run.error);
  }
  json.EndObject();
}

RunsApi::RunsApi(ScheduleService& service, Clock now_ms)
    : service_(service), now_ms_(now_ms ? std::move(now_ms) : Clock(SystemNowMs)) {}

bool RunsApi::Serves(std::string_view path) {
  return path == "/api/jobs" || path == "/api/runs" || path.starts_with(kJobsPrefix);
}

bool RunsApi::WantsBody(std::string_view method, std::string_view path,
                        std::string_view content_type) {
  return method == "POST" && JobAction(path) && IsJson(content_type);
}

HttpAnswer RunsApi::Handle(std::string_view method, std::string_view path,
                           const std::multimap<std::string, std::string>& params,
                           std::string_view content_type, std::string_view body) const {
  const bool read = method == "GET" || method == "HEAD";
  if (path == "/api/jobs" || path == "/api/runs") {
    if (!read) {
      HttpAnswer answer = ErrorAnswer(
          405, fmt::format("method {} is not allowed on {}: GET only", method.substr(0, 16), path));
      answer.allow = "GET, HEAD";
      return answer;
    }
    return path == "/api/jobs" ? JsonAnswer(200, JobsJson()) : Runs(params);
  }
  const auto action = JobAction(path);
  if (!action) {
    return ErrorAnswer(404, fmt::format("no such path: {} (the schedule's are /api/jobs, "
                                        "/api/runs, /api/jobs/NAME/trigger and .../backfill)",
                                        path.substr(0, 200)));
  }
  if (method != "POST") {
    HttpAnswer answer = ErrorAnswer(405, fmt::format("method {} is not allowed on {}: POST only",
                                                     method.substr(0, 16), path.substr(0, 200)));
    answer.allow = "POST";
    return answer;
  }
  if (!IsJson(content_type)) {
    return ErrorAnswer(415, "a POST must have Content-Type: application/json");
  }
  if (body.size() > kMaxPostBody) {
    return ErrorAnswer(413, fmt::format("the body is over {} bytes", kMaxPostBody));
  }
  const auto [job, verb] = *action;
  return verb == "trigger" ? Trigger(job) : Backfill(job, body);
}

std::string RunsApi::JobsJson() const {
  std::string body;
  JsonWriter json(body);
  json.BeginObject();
  json.Key("jobs");
  json.BeginArray();
  for (const JobSpec& job : service_.jobs().jobs()) {
    json.BeginObject();
    json.Key("name");
    Text(json, job.name);
    json.Key("schedule");
    Text(json, job.schedule.text());
    json.Key("timezone");
    if (job.zone) {
      Text(json, job.zone->name());
    } else {
      json.Null();
    }
    json.Key("command");
    Text(json, job.command);
    json.Key("retries");
    json.Int(job.retries);
    json.Key("timeout_seconds");
    if (job.timeout_ms > 0) {
      json.Double(static_cast<double>(job.timeout_ms) / 1000.0);
    } else {
      json.Null();  // No timeout.
    }
    json.Key("max_active_runs");
    json.Int(job.max_active_runs);
    json.Key("catchup");
    json.Bool(job.catchup);
    json.Key("depends_on");
    json.BeginArray();
    for (const std::string& upstream : job.depends_on) Text(json, upstream);
    json.EndArray();
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  return body;
}

HttpAnswer RunsApi::Runs(const std::multimap<std::string, std::string>& params) const {
  RunFilter filter;
  const auto limit = WholeNumberParam(params, "limit", static_cast<int64_t>(kRunsLimitDefault), 1,
                                      static_cast<int64_t>(kRunsLimitMax));
  if (!limit) return ErrorAnswer(400, "limit must be a whole number (1 to 1000)");
  filter.limit = static_cast<size_t>(*limit);
  // Any name: the history keeps runs of jobs no longer in the file.
  if (const auto it = params.find("job"); it != params.end()) filter.job = it->second;
  if (const auto it = params.find("state"); it != params.end() && !it->second.empty()) {
    filter.state = ParseRunState(it->second);
    if (!filter.state) {
      return ErrorAnswer(400, fmt::format("state \"{}\" is none of queued, running, success, "
                                          "failed, up_for_retry, skipped",
                                          std::string_view(it->second).substr(0, 50)));
    }
  }
  auto runs = service_.Runs(filter);
  if (!runs.ok()) return StoreError(runs.status());
  std::string body;
  JsonWriter json(body);
  json.BeginObject();
  json.Key("runs");
  json.BeginArray();
  for (const RunRecord& run : runs.value()) WriteRunJson(json, run);
  json.EndArray();
  json.EndObject();
  return JsonAnswer(200, std::move(body));
}

HttpAnswer RunsApi::Trigger(std::string_view job) const {
  if (!service_.jobs().Find(job)) return UnknownJob(service_.jobs(), job);
  auto run = service_.Trigger(job, now_ms_());
  if (!run.ok()) return StoreError(run.status());
  std::string body;
  JsonWriter json(body);
  json.BeginObject();
  json.Key("run");
  WriteRunJson(json, run.value());
  json.EndObject();
  return JsonAnswer(201, std::move(body));
}

HttpAnswer RunsApi::Backfill(std::string_view name, std::string_view body) const {
  const JobSpec* job = service_.jobs().Find(name);
  if (!job) return UnknownJob(service_.jobs(), name);
  constexpr std::string_view kShape =
      R"(the body must be {"from":"2026-12-01","to":"2026-12-02"} (dates or date-times in )"
      R"(the job's zone))";
  simdjson::dom::parser parser;
  const simdjson::padded_string padded(body);
  simdjson::dom::object object;
  if (parser.parse(padded).get(object) != simdjson::SUCCESS) return ErrorAnswer(400, kShape);
  std::optional<std::string_view> from_text, to_text;
  for (auto field : object) {
    std::string_view value;
    if (field.value.get(value) != simdjson::SUCCESS) return ErrorAnswer(400, kShape);
    if (field.key == "from") {
      from_text = value;
    } else if (field.key == "to") {
      to_text = value;
    } else {
      return ErrorAnswer(400, fmt::format("unknown key \"{}\": {}",
                                          std::string_view(field.key).substr(0, 50), kShape));
    }
  }
  if (!from_text || !to_text) return ErrorAnswer(400, kShape);
  if (!job->zone) return ErrorAnswer(500, "the job has no time zone");
  const auto from = ParseDateTime(*from_text, *job->zone);
  if (!from.ok()) return ErrorAnswer(400, "from: " + from.status().message());
  const auto to = ParseDateTime(*to_text, *job->zone);
  if (!to.ok()) return ErrorAnswer(400, "to: " + to.status().message());
  auto result = service_.Backfill(job->name, from.value(), to.value(), now_ms_());
  if (!result.ok()) {
    // The caller's mistakes (from after to, more than kMaxBackfillRuns intervals) are
    // InvalidInput; anything else is the store's.
    if (result.status().kind() == ErrorKind::kInvalidInput) {
      return ErrorAnswer(400, result.status().message());
    }
    return StoreError(result.status());
  }
  std::string out;
  JsonWriter json(out);
  json.BeginObject();
  json.Key("created");
  json.Int(static_cast<int64_t>(result.value().created.size()));
  json.Key("existed");
  json.Int(static_cast<int64_t>(result.value().existed));
  json.EndObject();
  return JsonAnswer(201, std::move(out));
}

}  // namespace spate
