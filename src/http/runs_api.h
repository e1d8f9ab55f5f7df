// RunsApi: the schedule's part of the --http server of `spate schedule` (issue 20), built
// without sockets like DashboardApi::Handle, so the unit tests call it directly:
//
//   GET  /api/jobs                      the jobs of the jobs file
//   GET  /api/runs?job=&state=&limit=   the run history, newest first (limit 1..1000, 100)
//   POST /api/jobs/NAME/trigger         a queued manual run now -> 201 {"run":{...}}
//   POST /api/jobs/NAME/backfill        body {"from":"2026-12-01","to":"2026-12-02"} (dates
//                                       in the job's zone) -> 201 {"created":N,"existed":M}
//
// Shapes: src/http/README.md. Answers never hold a run's log path nor a job's options (they
// may hold credentials). Everything goes through ScheduleService, as `spate runs`, `trigger`
// and `backfill` do, so the CLI and HTTP cannot disagree.
//
// A POST must say `Content-Type: application/json` (else 415): a page on another site can
// send a form or a "simple" request to a loopback port without asking, but not that header
// without a CORS preflight, which this server never allows. So a page the user visits
// cannot trigger runs.
//
// Thread-safety: Handle may be called from any thread at once (ScheduleService locks).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "http/dashboard_api.h"
#include "schedule/run_store.h"
#include "schedule/service.h"

namespace spate {

class JsonWriter;

inline constexpr size_t kRunsLimitDefault = 100;
inline constexpr size_t kRunsLimitMax = 1000;
// Bodies of POST requests: a backfill's is some 40 bytes.
inline constexpr size_t kMaxPostBody = 4 * 1024;

class RunsApi {
 public:
  // Milliseconds since the epoch: the instant a trigger records (tests give their own).
  using Clock = std::function<int64_t()>;

  // `service` must outlive the API. Without a clock, the system's.
  explicit RunsApi(ScheduleService& service, Clock now_ms = {});

  // Whether `path` is the schedule's (/api/jobs, /api/runs, /api/jobs/...): then Handle
  // answers it, whatever the method.
  static bool Serves(std::string_view path);
  // Whether the server must read the request's body before calling Handle: a POST to a
  // POST route with the JSON content type. Every other request is answered without reading
  // it (so an unwanted body costs nothing; the server then closes the connection).
  static bool WantsBody(std::string_view method, std::string_view path,
                        std::string_view content_type);

  // The answer to `method path?params` with `content_type` and `body` (empty when the body
  // was not read). 404 for an unknown job or path, 405 (with `allow`) for another method,
  // 415 for a POST that is not JSON, 413 for a body over kMaxPostBody, 400 for bad
  // parameters or body, 500 when the store fails.
  HttpAnswer Handle(std::string_view method, std::string_view path,
                    const std::multimap<std::string, std::string>& params,
                    std::string_view content_type, std::string_view body) const;

  std::string JobsJson() const;

 private:
  HttpAnswer Runs(const std::multimap<std::string, std::string>& params) const;
  HttpAnswer Trigger(std::string_view job) const;
  HttpAnswer Backfill(std::string_view job, std::string_view body) const;

  ScheduleService& service_;
  const Clock now_ms_;
};

// One run as /api/runs and the trigger's answer give it (no log path, pid or host).
void WriteRunJson(JsonWriter& json, const RunRecord& run);

}  // namespace spate
