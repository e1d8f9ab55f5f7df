// spate run: the whole pipeline in one process. With --transport memory (the default):
// source -> bounded in-memory queue -> transform -> sinks. With --transport kafka: produce to
// the topic and, at the same time, consume it back as `spate process` would.
#include <algorithm>
#include <chrono>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/commands.h"
#include "app/components.h"
#include "transport/kafka_source.h"

namespace spate {
namespace {

void PrintSummary(const char* command, const PipelineStats& s, const DriveResult& drive,
                  const std::vector<std::unique_ptr<Sink>>& sinks, const Config& config) {
  const uint64_t done = s.stored.load() + s.rejected.load();
  fmt::print(stderr, "{}: {} records in {:.2f} s ({}/s): {} rows stored, {} rejected{}\n", command,
             Thousands(s.ingested.load()), drive.seconds,
             Thousands(static_cast<uint64_t>(drive.seconds > 0 ? done / drive.seconds : 0)),
             Thousands(s.stored.load()), Thousands(s.rejected.load()),
             drive.interrupts ? " (stopped early by a signal)" : "");
  for (auto& sink : sinks) fmt::print(stderr, "  sink: {}\n", sink->Describe());
  const std::vector<std::string> names = config.GetList("sink");
  if (std::find(names.begin(), names.end(), "sqlite") != names.end()) {
    fmt::print(stderr, "  look: spate query --data-dir {}\n", config.GetString("data_dir"));
  }
}

int Finish(const DriveResult& drive, const Status& status) {
  if (drive.interrupts >= 2) {
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

std::string CountText(const Config& config) {
  const uint64_t count = static_cast<uint64_t>(config.GetInt("count"));
  return count && !(config.GetString("source") == "file" && !config.IsSet("count"))
             ? fmt::format(" ({} records; Ctrl-C stops early)", Thousands(count))
             : std::string(" (until the input ends or Ctrl-C)");
}

// The consuming half of process and run --transport kafka: the group consumer, and the
// sinks (--sink ones plus the dead-letter producer), opened. exit_code says what failed.
struct ProcessSide {
  int exit_code = kExitOk;
  std::unique_ptr<KafkaSource> consumer;
  std::vector<std::unique_ptr<Sink>> sinks;
};

ProcessSide MakeProcessSide(const Config& config, const KafkaSettings& settings) {
  ProcessSide side;
  auto sinks = MakeSinks(config);
  if (!sinks.ok()) {
    spdlog::error("{}", sinks.status().message());
    side.exit_code = kExitUsage;
    return side;
  }
  side.sinks = std::move(sinks).value();
  side.sinks.push_back(MakeKafkaProducer(config, settings, /*records=*/false));
  if (Status s = OpenSinks(side.sinks); !s.ok()) {
    spdlog::error("{}", s.message());
    side.exit_code = kExitFailure;
    return side;
  }
  auto consumer = MakeKafkaConsumer(config, settings);
  if (!consumer.ok()) {
    spdlog::error("{}", consumer.status().message());
    side.exit_code = kExitFailure;
    return side;
  }
  side.consumer = std::move(consumer).value();
  return side;
}

int RunMemory(const Config& config, Source& source) {
  auto sinks = MakeSinks(config);
  if (!sinks.ok()) {
    spdlog::error("{}", sinks.status().message());
    return kExitUsage;
  }
  if (Status s = OpenSinks(sinks.value()); !s.ok()) {
    spdlog::error("{}", s.message());
    return kExitFailure;
  }
  auto raw = OpenRawSinks(config);
  if (!raw.ok()) {
    spdlog::error("{}", raw.status().message());
    return kExitFailure;
  }
  Pipeline pipeline(source, SinkPointers(sinks.value()), MakePipelineOptions(config, true),
                    SinkPointers(raw.value()));
  spdlog::info("spate run: {} -> {}{}", source.Describe(), fmt::join(config.GetList("sink"), ", "),
               CountText(config));
  pipeline.Start();
  const PipelineStats& s = pipeline.stats();
  const DriveResult drive =
      Drive({&pipeline}, config,
            {[&] {
               return fmt::format("{} records  {} stored  {} rejected", Thousands(s.ingested),
                                  Thousands(s.stored), Thousands(s.rejected));
             },
             [&] { return s.stored.load() + s.rejected.load(); }, nullptr});
  Status status = pipeline.Wait();
  if (Status c = CloseSinks(sinks.value()); status.ok()) status = c;
  if (Status c = CloseSinks(raw.value()); status.ok()) status = c;
  PrintSummary("spate run", s, drive, sinks.value(), config);
  return Finish(drive, status);
}

// Produce and process in one process: two pipelines joined by the Kafka topic. When the
// producing side ends, the consuming side is told the topic's end offsets and stops there.
int RunKafka(const Config& config, Source& source) {
  auto settings = MakeKafkaSettings(config);
  if (!settings.ok()) {
    spdlog::error("{}", settings.status().message());
    return kExitUsage;
  }
  std::vector<std::unique_ptr<Sink>> producer_sinks;
  producer_sinks.push_back(MakeKafkaProducer(config, settings.value(), /*records=*/true));
  if (Status s = OpenSinks(producer_sinks); !s.ok()) {
    spdlog::error("{}", s.message());
    return kExitFailure;
  }
  auto raw = OpenRawSinks(config);
  if (!raw.ok()) {
    spdlog::error("{}", raw.status().message());
    return kExitFailure;
  }
  ProcessSide side = MakeProcessSide(config, settings.value());
  if (side.exit_code != kExitOk) return side.exit_code;
  auto& consumer = side.consumer;
  auto& sinks = side.sinks;

  Pipeline produce(source, SinkPointers(producer_sinks), MakePipelineOptions(config, false),
                   SinkPointers(raw.value()));
  Pipeline process(*consumer, SinkPointers(sinks), MakePipelineOptions(config, true));
  spdlog::info("spate run: {} -> kafka {} -> {}{}", source.Describe(), config.GetString("topic"),
               fmt::join(config.GetList("sink"), ", "), CountText(config));
  produce.Start();
  process.Start();

  Status produce_status;
  bool chained = false;
  const PipelineStats& ps = produce.stats();
  const PipelineStats& s = process.stats();
  auto tick = [&] {
    // The consuming side failed: producing more would only fill the topic.
    if (process.Done() && !produce.Done()) produce.RequestStop();
    if (chained || !produce.Done()) return;
    chained = true;
    produce_status = produce.Wait();
    if (!produce_status.ok()) {
      process.RequestStop();
      return;
    }
    if (Status s = consumer->StopAtCurrentEnd(); !s.ok()) {
      produce_status = s;
      process.RequestStop();
    }
  };
  const DriveResult drive =
      Drive({&produce, &process}, config,
            {[&] {
               return fmt::format("{} records  {} produced  {} stored  {} rejected",
                                  Thousands(ps.ingested), Thousands(ps.stored), Thousands(s.stored),
                                  Thousands(s.rejected));
             },
             [&] { return s.stored.load() + s.rejected.load(); }, tick});
  Status status = produce_status;
  if (Status p = process.Wait(); status.ok()) status = p;
  consumer->Close();
  if (Status c = CloseSinks(producer_sinks); status.ok()) status = c;
  if (Status c = CloseSinks(raw.value()); status.ok()) status = c;
  if (Status c = CloseSinks(sinks); status.ok()) status = c;
  PrintSummary("spate run", s, drive, sinks, config);
  fmt::print(stderr, "  produced: {} records to kafka {}\n", Thousands(ps.stored),
             config.GetString("topic"));
  return Finish(drive, status);
}

}  // namespace

int RunCommand(const Config& config) {
  auto source = MakeSource(config);
  if (!source.ok()) {
    spdlog::error("{}", source.status().message());
    return kExitUsage;
  }
  if (config.GetString("transport") == "kafka") return RunKafka(config, *source.value());
  return RunMemory(config, *source.value());
}

int ProduceCommand(const Config& config) {
  auto source = MakeSource(config);
  if (!source.ok()) {
    spdlog::error("{}", source.status().message());
    return kExitUsage;
  }
  auto settings = MakeKafkaSettings(config);
  if (!settings.ok()) {
    spdlog::error("{}", settings.status().message());
    return kExitUsage;
  }
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(MakeKafkaProducer(config, settings.value(), /*records=*/true));
  if (Status s = OpenSinks(sinks); !s.ok()) {
    spdlog::error("{}", s.message());
    return kExitFailure;
  }
  auto raw = OpenRawSinks(config);
  if (!raw.ok()) {
    spdlog::error("{}", raw.status().message());
    return kExitFailure;
  }
  Pipeline pipeline(*source.value(), SinkPointers(sinks), MakePipelineOptions(config, false),
                    SinkPointers(raw.value()));
  spdlog::info("spate produce: {} -> kafka {} at {}{}", source.value()->Describe(),
               config.GetString("topic"), settings.value().brokers, CountText(config));
  pipeline.Start();
  const PipelineStats& s = pipeline.stats();
  const DriveResult drive = Drive({&pipeline}, config,
                                  {[&] {
                                     return fmt::format("{} records  {} delivered  {} dead letters",
                                                        Thousands(s.ingested), Thousands(s.stored),
                                                        Thousands(s.rejected));
                                   },
                                   [&] { return s.stored.load() + s.rejected.load(); }, nullptr});
  Status status = pipeline.Wait();
  if (Status c = CloseSinks(sinks); status.ok()) status = c;
  if (Status c = CloseSinks(raw.value()); status.ok()) status = c;
  const uint64_t done = s.stored.load() + s.rejected.load();
  fmt::print(stderr,
             "spate produce: {} records in {:.2f} s ({}/s): {} delivered to {}, {} dead letters "
             "to {}{}\n",
             Thousands(s.ingested.load()), drive.seconds,
             Thousands(static_cast<uint64_t>(drive.seconds > 0 ? done / drive.seconds : 0)),
             Thousands(s.stored.load()), config.GetString("topic"), Thousands(s.rejected.load()),
             DlqTopic(config), drive.interrupts ? " (stopped early by a signal)" : "");
  return Finish(drive, status);
}

int ProcessCommand(const Config& config) {
  auto settings = MakeKafkaSettings(config);
  if (!settings.ok()) {
    spdlog::error("{}", settings.status().message());
    return kExitUsage;
  }
  ProcessSide side = MakeProcessSide(config, settings.value());
  if (side.exit_code != kExitOk) return side.exit_code;
  auto& source = side.consumer;
  auto& sinks = side.sinks;
  if (config.GetBool("exit_at_end")) {
    if (Status s = source->StopAtCurrentEnd(); !s.ok()) {
      spdlog::error("{}", s.message());
      return kExitFailure;
    }
  }
  Pipeline pipeline(*source, SinkPointers(sinks), MakePipelineOptions(config, true));
  spdlog::info("spate process: {} -> {}{}", source->Describe(),
               fmt::join(config.GetList("sink"), ", "),
               config.GetBool("exit_at_end") ? " (until the end of the topic)" : " (until Ctrl-C)");
  pipeline.Start();
  const PipelineStats& s = pipeline.stats();
  const DriveResult drive =
      Drive({&pipeline}, config,
            {[&] {
               return fmt::format("{} consumed  {} stored  {} rejected", Thousands(s.ingested),
                                  Thousands(s.stored), Thousands(s.rejected));
             },
             [&] { return s.stored.load() + s.rejected.load(); }, nullptr});
  Status status = pipeline.Wait();
  // Commits the offsets of everything stored, then leaves the group.
  source->Close();
  if (Status c = CloseSinks(sinks); status.ok()) status = c;
  PrintSummary("spate process", s, drive, sinks, config);
  return Finish(drive, status);
}

}  // namespace spate
