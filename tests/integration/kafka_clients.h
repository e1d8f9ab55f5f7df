// The spate Kafka clients the transport tests drive directly, opened against a test cluster.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

#include "observe/metrics.h"
#include "transport/kafka_sink.h"

namespace spate::testing {

// A producer of `topic` reporting to `metrics`, opened (a failure is a test failure; then
// nullptr).
inline std::unique_ptr<KafkaProducerSink> OpenTestProducer(KafkaSettings settings,
                                                           const std::string& topic,
                                                           MetricsRegistry& metrics) {
  KafkaProducerOptions options;
  options.settings = std::move(settings);
  options.topic = topic;
  options.metrics = &metrics;
  auto sink = std::make_unique<KafkaProducerSink>(std::move(options));
  const Status s = sink->Open();
  EXPECT_TRUE(s.ok()) << s.message();
  return s.ok() ? std::move(sink) : nullptr;
}

}  // namespace spate::testing
