// spate mock-api: a local randomuser-compatible HTTP API serving generator data.
#include <csignal>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/commands.h"
#include "http/mock_api.h"

namespace spate {

int MockApiCommand(const Config& config) {
  MockApiOptions options;
  options.host = config.GetString("host");
  options.port = static_cast<int>(config.GetInt("port"));
  MockApiServer server;
  if (Status s = server.Start(options); !s.ok()) {
    spdlog::error("{}", s.message());
    return kExitFailure;
  }
  // The URL on stdout (and flushed) so scripts can read the chosen port.
  fmt::print("http://{}:{}/api/\n", options.host, server.port());
  std::fflush(stdout);
  spdlog::info("mock randomuser API on http://{}:{}/api/ (Ctrl-C stops)", options.host,
               server.port());
  while (WaitForSignal(1000) == 0) {
  }
  server.Stop();
  spdlog::info("mock API stopped after {} requests", server.requests_served());
  return kExitOk;
}

}  // namespace spate
