// A bad --kafka-opt is a configuration error (issue 17, item 23): exit 2, before anything
// connects, with a message naming the property; values of secret properties, and of unknown
// ones (a mistyped secret key), are never shown.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "spate_process.h"

namespace spate {
namespace {

using spate::testing::Outcome;
using spate::testing::RunSpate;
using spate::testing::TempDir;

TEST(KafkaOptions, ABadPropertyIsExitTwoNamingItForEveryKafkaCommand) {
  TempDir dir;
  struct Case {
    std::string option;
    std::string named;
    std::string hidden;  // Must not appear; empty: nothing to hide.
  };
  const std::vector<Case> cases = {
      {"bogus.prop=1", "bogus.prop", ""},
      {"linger.ms=soon", "linger.ms", ""},
      {"sasl.pasword=hunter2-typo", "sasl.pasword", "hunter2-typo"},  // Unknown: not echoed.
      {"hunter2-bare", "not key=value", "hunter2-bare"},
  };
  const std::vector<std::vector<std::string>> commands = {
      {"produce", "--count", "1"},
      {"process", "--data-dir", dir.File("d")},
      {"run", "--transport", "kafka", "--count", "1", "--data-dir", dir.File("d")}};
  for (const auto& command : commands) {
    for (const Case& c : cases) {
      SCOPED_TRACE(command[0] + " --kafka-opt " + c.option);
      std::vector<std::string> args = command;
      // Port 1: nothing listens; a bad option must be reported before any connection.
      args.insert(args.end(), {"--brokers", "127.0.0.1:1", "--kafka-timeout", "30s", "--kafka-opt",
                               c.option, "--progress", "never"});
      const auto started = std::chrono::steady_clock::now();
      Outcome out = RunSpate(dir, args);
      EXPECT_EQ(out.exit_code, 2) << out.err;
      EXPECT_NE(out.err.find(c.named), std::string::npos) << out.err;
      if (!c.hidden.empty()) {
        EXPECT_EQ(out.err.find(c.hidden), std::string::npos) << out.err;
      }
      EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
    }
  }
}

}  // namespace
}  // namespace spate
