// spate run: the whole pipeline in one process (source -> memory queue -> transform -> sinks).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <memory>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/commands.h"
#include "pipeline/pipeline.h"
#include "sinks/sqlite_sink.h"
#include "sources/file_source.h"
#include "sources/generator.h"
#include "sources/randomuser_source.h"

namespace spate {
namespace {

Result<std::unique_ptr<Source>> MakeSource(const Config& config) {
  const std::string kind = config.GetString("source");
  uint64_t count = static_cast<uint64_t>(config.GetInt("count"));
  // The default count bounds the endless sources; a file is read to its end unless the user
  // asked for a number.
  if (kind == "file" && !config.IsSet("count")) count = 0;
  if (kind == "generator") {
    GeneratorOptions options;
    options.seed = config.GetString("seed");
    options.nationalities = config.GetList("nat");
    // The generator plays the API and ingest in one step: it never makes the secrets that
    // ingest would strip (the mock API does make them, and the HTTP source strips them).
    options.include_login_secrets = false;
    auto generator = UserGenerator::Create(options);
    if (!generator.ok()) return generator.status();
    return std::unique_ptr<Source>(
        std::make_unique<GeneratorSource>(std::move(generator).value(), count));
  }
  if (kind == "randomuser") {
    RandomUserOptions options;
    options.base_url = config.GetString("url");
    options.seed = config.GetString("seed");
    options.nationalities = config.GetList("nat");
    options.count = count;
    options.page_size = static_cast<uint32_t>(config.GetInt("page_size"));
    options.timeout = std::chrono::milliseconds(config.GetMillis("timeout"));
    options.connect_timeout = std::chrono::milliseconds(config.GetMillis("connect_timeout"));
    options.max_retries = static_cast<uint32_t>(config.GetInt("retries"));
    options.backoff_initial = std::chrono::milliseconds(config.GetMillis("retry_backoff"));
    options.backoff_max = std::chrono::milliseconds(config.GetMillis("retry_backoff_max"));
    auto source = RandomUserSource::Create(std::move(options));
    if (!source.ok()) return source.status();
    return std::unique_ptr<Source>(std::move(source).value());
  }
  auto source = std::make_unique<FileSource>(config.GetString("input"), count);
  if (Status s = source->Open(); !s.ok()) return s;
  return std::unique_ptr<Source>(std::move(source));
}

Result<std::vector<std::unique_ptr<Sink>>> MakeSinks(const Config& config) {
  std::vector<std::unique_ptr<Sink>> sinks;
  std::set<std::string> seen;
  for (const std::string& name : config.GetList("sink")) {
    if (!seen.insert(name).second) continue;  // --sink sqlite --sink sqlite: one is enough.
    if (name == "sqlite") {
      sinks.push_back(std::make_unique<SqliteSink>(config.GetString("data_dir")));
    } else {
      sinks.push_back(std::make_unique<DiscardSink>());
    }
  }
  if (sinks.empty()) return Status::Fatal("no sink: give at least one --sink");
  return sinks;
}

bool ShowProgress(const Config& config) {
  const std::string mode = config.GetString("progress");
  if (mode == "always") return true;
  if (mode == "never") return false;
  return isatty(STDERR_FILENO) == 1;
}

std::string Thousands(uint64_t n) {
  const std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

}  // namespace

int RunCommand(const Config& config) {
  auto source = MakeSource(config);
  if (!source.ok()) {
    spdlog::error("{}", source.status().message());
    return kExitUsage;
  }
  auto sinks = MakeSinks(config);
  if (!sinks.ok()) {
    spdlog::error("{}", sinks.status().message());
    return kExitUsage;
  }
  std::vector<Sink*> sink_ptrs;
  for (auto& sink : sinks.value()) {
    if (Status s = sink->Open(); !s.ok()) {
      spdlog::error("{}: {}", sink->Describe(), s.message());
      return kExitFailure;
    }
    sink_ptrs.push_back(sink.get());
  }

  PipelineOptions options;
  options.batch_size = static_cast<size_t>(config.GetInt("batch_size"));
  options.queue_capacity = static_cast<size_t>(config.GetInt("queue_capacity"));
  options.max_record_bytes = static_cast<size_t>(config.GetInt("max_record_bytes"));
  Pipeline pipeline(*source.value(), sink_ptrs, options);

  const bool progress = ShowProgress(config);
  const uint64_t count = static_cast<uint64_t>(config.GetInt("count"));
  spdlog::info("spate run: {} -> {}{}", source.value()->Describe(),
               fmt::join(config.GetList("sink"), ", "),
               count ? fmt::format(" ({} records; Ctrl-C stops early)", Thousands(count))
                     : std::string(" (until the input ends or Ctrl-C)"));
  const auto started = std::chrono::steady_clock::now();
  pipeline.Start();

  int interrupts = 0;
  auto last_report = started;
  uint64_t last_done = 0;
  while (!pipeline.Done()) {
    if (const int sig = WaitForSignal(200); sig != 0) {
      if (++interrupts == 1) {
        spdlog::info(
            "{}: stopping the source, draining and storing what was ingested "
            "(again to abort)",
            sig == SIGINT ? "interrupt" : "terminate");
        pipeline.RequestStop();
      } else {
        spdlog::warn("aborting: batches not yet stored are not acknowledged");
        pipeline.Abort();
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (progress && now - last_report >= std::chrono::milliseconds(500)) {
      const PipelineStats& s = pipeline.stats();
      const double secs = std::chrono::duration<double>(now - last_report).count();
      // The rate counts records finished (stored or rejected): what the sinks keep up with.
      const uint64_t done = s.stored.load() + s.rejected.load();
      fmt::print(stderr, "\r\033[K  {} records  {} stored  {} rejected  {}/s",
                 Thousands(s.ingested.load()), Thousands(s.stored.load()),
                 Thousands(s.rejected.load()),
                 Thousands(static_cast<uint64_t>((done - last_done) / secs)));
      last_report = now;
      last_done = done;
    }
  }
  Status status = pipeline.Wait();
  if (progress) fmt::print(stderr, "\r\033[K");
  Status close_status;
  for (auto& sink : sinks.value()) {
    if (Status s = sink->Close(); !s.ok() && close_status.ok()) close_status = s;
  }
  if (status.ok()) status = close_status;

  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const PipelineStats& s = pipeline.stats();
  const uint64_t done = s.stored.load() + s.rejected.load();
  fmt::print(stderr, "spate run: {} records in {:.2f} s ({}/s): {} rows stored, {} rejected{}\n",
             Thousands(s.ingested.load()), secs,
             Thousands(static_cast<uint64_t>(secs > 0 ? done / secs : 0)),
             Thousands(s.stored.load()), Thousands(s.rejected.load()),
             interrupts ? " (stopped early by a signal)" : "");
  for (auto& sink : sinks.value()) fmt::print(stderr, "  sink: {}\n", sink->Describe());
  const std::vector<std::string> sink_names = config.GetList("sink");
  if (std::find(sink_names.begin(), sink_names.end(), "sqlite") != sink_names.end()) {
    fmt::print(stderr, "  look: spate query --data-dir {}\n", config.GetString("data_dir"));
  }
  if (interrupts >= 2) {
    // Aborted: what was queued but not stored is not acknowledged; rerunning the same input
    // stores it (upserts make that safe). 130 is the shell's code for "ended by SIGINT".
    spdlog::warn("aborted: records ingested but not stored were dropped; rerun to store them");
    return kExitAborted;
  }
  if (!status.ok()) {
    spdlog::error("{}", status.message());
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace spate
