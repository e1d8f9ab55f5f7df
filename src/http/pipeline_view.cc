#include "http/pipeline_view.h"

#include <algorithm>
#include <map>

namespace spate {
namespace {

// Pipelines in the order records flow through them; names not listed come after, sorted.
int FlowRank(std::string_view pipeline) {
  if (pipeline == "run") return 0;
  if (pipeline == "produce") return 1;
  if (pipeline == "process") return 2;
  return 3;
}

// In a pipeline that transforms, the kafka sink carries dead letters only (`process`'s
// dead-letter producer): it holds none of the rows.
bool IsStoreSink(std::string_view pipeline, std::string_view sink) {
  return pipeline == "produce" || sink != "kafka";
}

std::string QueueId(std::string_view pipeline, std::string_view queue) {
  return "queue:" + std::string(pipeline) + "/" + std::string(queue);
}

std::string SinkId(std::string_view pipeline, std::string_view sink) {
  return "sink:" + std::string(pipeline) + "/" + std::string(sink);
}

// Nodes by id, keeping the order of first sight within each kind.
class NodeTable {
 public:
  ViewNode& Get(const std::string& id, std::string_view kind, std::string_view name,
                std::string_view pipeline) {
    auto it = index_.find(id);
    if (it != index_.end()) return nodes_[it->second];
    index_.emplace(id, nodes_.size());
    ViewNode node;
    node.id = id;
    node.kind = std::string(kind);
    node.name = std::string(name);
    node.pipeline = std::string(pipeline);
    nodes_.push_back(std::move(node));
    return nodes_.back();
  }
  ViewNode* Find(const std::string& id) {
    auto it = index_.find(id);
    return it == index_.end() ? nullptr : &nodes_[it->second];
  }
  std::vector<ViewNode>& nodes() { return nodes_; }

 private:
  std::vector<ViewNode> nodes_;
  std::map<std::string, size_t> index_;
};

}  // namespace

const ViewNode* PipelineView::Find(std::string_view id) const {
  for (const ViewNode& node : nodes) {
    if (node.id == id) return &node;
  }
  return nullptr;
}

void MergeHistogram(HistogramSnapshot& into, const HistogramSnapshot& more) {
  if (into.counts.empty()) {
    into = more;
    return;
  }
  if (more.counts.size() != into.counts.size()) return;  // Not the same histogram family.
  for (size_t i = 0; i < into.counts.size(); ++i) into.counts[i] += more.counts[i];
  into.count += more.count;
  into.sum += more.sum;
  into.max = std::max(into.max, more.max);
}

PipelineView BuildPipelineView(const std::vector<MetricSample>& samples, std::string_view topic) {
  PipelineView view;
  NodeTable table;
  std::vector<std::string> pipelines;
  auto saw_pipeline = [&](std::string_view p) {
    if (p.empty()) return;
    if (std::find(pipelines.begin(), pipelines.end(), p) == pipelines.end()) {
      pipelines.emplace_back(p);
    }
  };
  std::map<std::string, double> lag_by_topic;
  std::map<std::string, HistogramSnapshot> end_to_end;  // By sink id.
  std::map<std::string, HistogramSnapshot> commit;
  std::map<std::string, double> process_total;  // By pipeline.

  for (const MetricSample& s : samples) {
    const std::string_view pipeline = s.Label("pipeline");
    const std::string& n = s.name;
    if (n == "spate_source_records_total" || n == "spate_source_bytes_total" ||
        n == "spate_source_errors_total" || n == "spate_source_retries_total") {
      saw_pipeline(pipeline);
      const std::string_view source = s.Label("source");
      ViewNode& node = table.Get("source:" + std::string(source), "source", source, pipeline);
      if (n == "spate_source_records_total") {
        node.records_total += s.value;
        node.flow_total += s.value;
      } else if (n == "spate_source_bytes_total") {
        node.bytes_total += s.value;
      } else if (n == "spate_source_errors_total") {
        node.errors_total += s.value;
      } else {
        node.retries_total += s.value;
      }
    } else if (n == "spate_queue_batches" || n == "spate_queue_capacity_batches") {
      saw_pipeline(pipeline);
      const std::string_view queue = s.Label("queue");
      ViewNode& node = table.Get(QueueId(pipeline, queue), "queue", queue, pipeline);
      (n == "spate_queue_batches" ? node.fill : node.capacity) = s.value;
    } else if (n == "spate_process_records_total") {
      saw_pipeline(pipeline);
      ViewNode& node = table.Get("process:" + std::string(pipeline), "process",
                                 pipeline == "produce" ? "ingest" : "process", pipeline);
      const std::string_view outcome = s.Label("outcome");
      node.records_total += s.value;
      node.flow_total += s.value;
      if (outcome == "dead_letter") {
        node.dead_letters_total += s.value;
      } else {
        node.rows_total += s.value;
      }
      process_total[std::string(pipeline)] += s.value;
    } else if (n == "spate_sink_rows_total" || n == "spate_sink_rejected_total" ||
               n == "spate_sink_errors_total" || n == "spate_sink_retries_total") {
      saw_pipeline(pipeline);
      const std::string_view sink = s.Label("sink");
      ViewNode& node = table.Get(SinkId(pipeline, sink), "sink", sink, pipeline);
      if (n == "spate_sink_rows_total") {
        node.rows_total += s.value;
        node.flow_total += s.value;
      } else if (n == "spate_sink_rejected_total") {
        node.rejected_total += s.value;
        node.flow_total += s.value;
      } else if (n == "spate_sink_errors_total") {
        node.errors_total += s.value;
      } else {
        node.retries_total += s.value;
      }
    } else if (n == "spate_end_to_end_latency_seconds" || n == "spate_sink_commit_seconds") {
      saw_pipeline(pipeline);
      auto& by_sink = n == "spate_sink_commit_seconds" ? commit : end_to_end;
      MergeHistogram(by_sink[SinkId(pipeline, s.Label("sink"))], s.histogram);
    } else if (n == "spate_dead_letters_total") {
      view.dead_letters += static_cast<uint64_t>(s.value);
    } else if (n == "spate_kafka_consumer_lag_messages") {
      const std::string key =
          std::string(s.Label("topic")) + "/" + std::string(s.Label("partition"));
      view.lag.emplace_back(key, s.value);
      lag_by_topic[std::string(s.Label("topic"))] += s.value;
    }
  }

  std::stable_sort(pipelines.begin(), pipelines.end(), [](const auto& a, const auto& b) {
    const int ra = FlowRank(a), rb = FlowRank(b);
    return ra != rb ? ra < rb : (ra == 3 && a < b);
  });
  view.pipelines = pipelines;
  std::sort(view.lag.begin(), view.lag.end());

  // Flow order: per pipeline its sources, queue ingested, process, queue processed, any
  // other queue, its sinks; the topic between the pipeline that produces it and the one
  // that consumes it.
  const std::string topic_id = "topic:" + std::string(topic);
  bool topic_placed = topic.empty();
  auto place_topic = [&] {
    if (topic_placed) return;
    topic_placed = true;
    ViewNode node;
    node.id = topic_id;
    node.kind = "topic";
    node.name = std::string(topic);
    if (auto it = lag_by_topic.find(std::string(topic)); it != lag_by_topic.end()) {
      node.lag = it->second;
    }
    view.nodes.push_back(std::move(node));
  };
  auto connect = [&](const std::vector<std::string>& from, const std::vector<std::string>& to) {
    for (const std::string& f : from) {
      for (const std::string& t : to) view.edges.emplace_back(f, t);
    }
  };
  for (const std::string& p : pipelines) {
    std::vector<std::string> sources, ingested, process, processed, other_queues, sinks;
    for (const ViewNode& node : table.nodes()) {
      if (node.pipeline != p) continue;
      if (node.kind == "source") {
        sources.push_back(node.id);
      } else if (node.kind == "queue") {
        (node.name == "ingested"    ? ingested
         : node.name == "processed" ? processed
                                    : other_queues)
            .push_back(node.id);
      } else if (node.kind == "process") {
        process.push_back(node.id);
      } else if (node.kind == "sink") {
        sinks.push_back(node.id);
      }
    }
    // A consumer's topic comes before its pipeline.
    const bool consumes_topic = !topic.empty() && std::find(sources.begin(), sources.end(),
                                                            "source:kafka") != sources.end();
    if (consumes_topic) {
      place_topic();
      view.edges.emplace_back(topic_id, "source:kafka");
    }
    std::vector<std::vector<std::string>> stages;
    for (auto* stage : {&sources, &ingested, &process, &processed}) {
      if (!stage->empty()) stages.push_back(*stage);
    }
    if (!sinks.empty()) stages.push_back(sinks);
    for (const auto& stage : {sources, ingested, process, processed, other_queues, sinks}) {
      for (const std::string& id : stage) view.nodes.push_back(*table.Find(id));
    }
    for (size_t i = 0; i + 1 < stages.size(); ++i) connect(stages[i], stages[i + 1]);
    // A producer's topic comes after its pipeline.
    const std::string producer = SinkId(p, "kafka");
    if (!topic.empty() && p == "produce" && table.Find(producer) != nullptr) {
      place_topic();
      view.edges.emplace_back(producer, topic_id);
    }
  }

  // Totals.
  if (!pipelines.empty()) {
    const std::string& first = pipelines.front();
    const std::string& last = pipelines.back();
    bool any_store = false;
    for (const ViewNode& node : view.nodes) {
      if (node.kind == "source" && node.pipeline == first) {
        view.ingested += static_cast<uint64_t>(node.records_total);
      }
      if (node.kind != "sink" || node.pipeline != last || !IsStoreSink(last, node.name)) continue;
      const auto rows = static_cast<uint64_t>(node.rows_total);
      const auto rejected = static_cast<uint64_t>(node.rejected_total);
      view.stored = any_store ? std::min(view.stored, rows) : rows;
      view.rejected = std::max(view.rejected, rejected);
      any_store = true;
      if (auto it = end_to_end.find(node.id); it != end_to_end.end()) {
        MergeHistogram(view.end_to_end, it->second);
      }
      if (auto it = commit.find(node.id); it != commit.end()) {
        MergeHistogram(view.commit, it->second);
      }
    }
    auto it = process_total.find(last);
    view.processed =
        it != process_total.end() ? static_cast<uint64_t>(it->second) : view.stored + view.rejected;
  }
  double fullest = -1;
  for (const ViewNode& node : view.nodes) {
    if (node.kind != "queue") continue;
    const double ratio = node.capacity > 0 ? node.fill / node.capacity : node.fill;
    if (ratio > fullest) {
      fullest = ratio;
      view.queue_fill = node.fill;
    }
  }
  return view;
}

}  // namespace spate
