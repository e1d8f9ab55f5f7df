// PipelineView: the pipeline as the dashboard draws it, read from the registry's series
// (MetricsRegistry::Collect) by the names of the catalogue (src/observe/README.md): the nodes
// (sources, queues, the Kafka topic, process, sinks) with their counters, the edges between
// them, the run's totals and its latency histograms. /api/overview and the history sampler
// both build from it, so the graph, the totals and the charts count the same things.
//
// The pipelines of a command, in flow order: run; or produce, then process (`run --transport
// kafka` has both, joined by the topic). The last pipeline's sinks hold what was stored;
// in a pipeline that transforms (run, process) a sink named kafka is the dead-letter producer
// and is not a store.
//
// Thread-safety: plain values; BuildPipelineView is a pure function.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "observe/metrics.h"

namespace spate {

struct ViewNode {
  std::string id;            // "source:generator", "queue:run/ingested", "topic:users_created",
                             // "process:run", "sink:run/sqlite"
  std::string kind;          // source, queue, topic, process, sink
  std::string name;          // generator, ingested, users_created, process (ingest when it only
                             // forwards), sqlite
  std::string pipeline;      // run, produce, process; empty for a topic
  double records_total = 0;  // Source: records in. Process: records out, every outcome.
  double bytes_total = 0;    // Source.
  double errors_total = 0;   // Source; sink (every kind).
  double retries_total = 0;  // Source; sink.
  double rows_total = 0;     // Process (outcome row or forwarded); sink.
  double dead_letters_total = 0;  // Process.
  double rejected_total = 0;      // Sink.
  double fill = 0;                // Queue: batches waiting.
  double capacity = 0;            // Queue: batches it holds.
  std::optional<double> lag;      // Topic: messages behind, summed over partitions, when a
                                  // consumer reports it.
  // The counter the node's rate is taken over: records for a source and process, rows and
  // rejected for a sink; 0 for queues and topics.
  double flow_total = 0;
};

struct PipelineView {
  std::vector<std::string> pipelines;                      // Flow order.
  std::vector<ViewNode> nodes;                             // Flow order.
  std::vector<std::pair<std::string, std::string>> edges;  // (from id, to id)

  // Records the first pipeline's sources took in.
  uint64_t ingested = 0;
  // Rows every store sink of the last pipeline holds (the least of them), and the most any
  // of them rejected (dead letters and rows it refused).
  uint64_t stored = 0;
  uint64_t rejected = 0;
  // Dead letters of every stage and pipeline.
  uint64_t dead_letters = 0;
  // Records the last pipeline's process stage put out (every outcome); stored + rejected
  // while it has reported nothing.
  uint64_t processed = 0;

  // Merged over the last pipeline's store sinks.
  HistogramSnapshot end_to_end;
  HistogramSnapshot commit;

  // The fullest queue (relative to its capacity): its batches waiting; 0 without queues.
  double queue_fill = 0;
  // Consumer lag per partition, "topic/partition" -> messages, sorted.
  std::vector<std::pair<std::string, double>> lag;

  const ViewNode* Find(std::string_view id) const;
};

// `topic` is the Kafka topic between produce and process ("" when not on Kafka): its node
// and edges are drawn only then.
PipelineView BuildPipelineView(const std::vector<MetricSample>& samples, std::string_view topic);

// Adds `more` (a snapshot of a histogram with the same bounds) into `into`; an empty `into`
// takes `more`'s bounds.
void MergeHistogram(HistogramSnapshot& into, const HistogramSnapshot& more);

}  // namespace spate
