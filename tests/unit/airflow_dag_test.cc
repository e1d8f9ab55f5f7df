// deploy/airflow/dags/user_automation.py, the DAG for teams on Airflow (issue 20): it
// compiles with the system's Python, and it declares the tutorial's ids and schedule with
// retries, running `spate produce` with the tutorial task's options.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "test_util.h"

namespace spate {
namespace {

const std::string kDagDir = std::string(SPATE_FIXTURES_DIR) + "/../../deploy/airflow/dags";
const std::string kDag = kDagDir + "/user_automation.py";

// The whole number right after the first `prefix` in `text` (no std::regex: GCC 12's trips
// -Wmaybe-uninitialized in the ASan build); nullopt when there is none.
std::optional<int> NumberAfter(const std::string& text, const std::string& prefix) {
  const size_t at = text.find(prefix);
  if (at == std::string::npos) return std::nullopt;
  size_t i = at + prefix.size();
  int value = 0;
  const size_t first = i;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9' && i - first < 9; ++i) {
    value = value * 10 + (text[i] - '0');
  }
  if (i == first) return std::nullopt;
  return value;
}

std::string Quote(const std::string& text) {
  std::string out = "'";
  for (const char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

struct Outcome {
  int exit_code = -1;
  std::string output;  // stdout and stderr.
};

Outcome Shell(const std::string& command) {
  Outcome outcome;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return outcome;
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) outcome.output.append(buffer, n);
  const int status = pclose(pipe);
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return outcome;
}

TEST(AirflowDag, CompilesWithPyCompileAndLeavesNoBytecodeBehind) {
  ASSERT_TRUE(std::filesystem::is_regular_file(kDag)) << kDag;
  testing::TempDir dir;
  const std::string pyc = dir.File("user_automation.pyc");
  // cfile in the temp dir: py_compile would otherwise write __pycache__ into the source tree.
  const Outcome outcome = Shell(
      "/usr/bin/python3 -B -c 'import py_compile, sys; py_compile.compile(sys.argv[1], "
      "cfile=sys.argv[2], doraise=True)' " +
      Quote(kDag) + " " + Quote(pyc));
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  EXPECT_TRUE(std::filesystem::is_regular_file(pyc));
  EXPECT_FALSE(std::filesystem::exists(kDagDir + "/__pycache__"));
}

TEST(AirflowDag, DeclaresTheTutorialsIdsScheduleAndRetries) {
  const std::string text = testing::ReadFile(kDag);
  ASSERT_FALSE(text.empty());
  for (const char* expected :
       {"dag_id=\"user_automation\"", "task_id=\"stream_data_from_api\"", "schedule=\"@daily\"",
        "catchup=False", "\"start_date\": datetime(2023, 9, 3, 10, 00)", "BashOperator(",
        "\"produce\"", "\"--source\", \"randomuser\"", "\"--duration\", \"60s\"",
        "\"--topic\", \"users_created\"", "\"retry_delay\": timedelta("}) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected;
  }
  const std::optional<int> retries = NumberAfter(text, "\"retries\": ");
  ASSERT_TRUE(retries.has_value()) << "no \"retries\": N in the DAG";
  EXPECT_GE(*retries, 1);
  // No credentials in the DAG: spate takes them from its config file or SPATE_* variables.
  for (const char* secret : {"--pg-dsn", "password", "sasl."}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret;
  }
}

// Airflow is not installed here: the DAG file is run against a stand-in `airflow` package
// that records what it declares, so the values are the ones Python computes, not text.
TEST(AirflowDag, RunsAgainstAStandInAirflowWithTheDeclaredValues) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.File("airflow/operators"));
  std::ofstream(dir.File("airflow/__init__.py")) << R"(import json
declared = {}
class DAG:
    def __init__(self, dag_id=None, **kwargs):
        declared["dag_id"] = dag_id
        declared.update({k: v for k, v in kwargs.items() if k != "default_args"})
        declared["default_args"] = dict(kwargs.get("default_args", {}))
    def __enter__(self):
        return self
    def __exit__(self, *args):
        return False
)";
  std::ofstream(dir.File("airflow/operators/__init__.py")) << "";
  std::ofstream(dir.File("airflow/operators/bash.py")) << R"(import airflow
class BashOperator:
    def __init__(self, task_id, bash_command, **kwargs):
        airflow.declared.setdefault("tasks", []).append(
            {"task_id": task_id, "bash_command": bash_command})
)";
  std::ofstream(dir.File("show.py")) << R"(import runpy, sys, airflow
runpy.run_path(sys.argv[1])
d = airflow.declared
a = d["default_args"]
print("dag_id=" + d["dag_id"])
print("schedule=" + d["schedule"])
print("catchup=" + str(d["catchup"]))
print("start_date=" + a["start_date"].isoformat())
print("retries=" + str(a["retries"]))
print("retry_delay=" + str(a["retry_delay"].total_seconds()))
print("backoff=" + str(a["retry_exponential_backoff"]))
for t in d["tasks"]:
    print("task_id=" + t["task_id"])
    print("bash_command=" + t["bash_command"])
)";
  const Outcome outcome =
      Shell("cd " + Quote(dir.path()) +
            " && env -u SPATE_BIN -u SPATE_BROKERS -u SPATE_CONFIG PYTHONPATH=. "
            "/usr/bin/python3 -B show.py " +
            Quote(kDag));
  ASSERT_EQ(outcome.exit_code, 0) << outcome.output;
  const std::string& out = outcome.output;
  for (const char* expected :
       {"dag_id=user_automation\n", "schedule=@daily\n", "catchup=False\n",
        "start_date=2023-09-03T10:00:00\n", "retry_delay=30.0\n", "backoff=True\n",
        "task_id=stream_data_from_api\n",
        "bash_command=if [ -f /etc/spate/produce.yaml ]; then exec spate produce --source "
        "randomuser --duration 60s --topic users_created --brokers broker:29092 --progress never "
        "--config /etc/spate/produce.yaml; else exec spate produce --source randomuser "
        "--duration 60s --topic users_created --brokers broker:29092 --progress never; fi\n"}) {
    EXPECT_NE(out.find(expected), std::string::npos) << expected << "\nin:\n" << out;
  }
  const std::optional<int> retries = NumberAfter(out, "retries=");
  ASSERT_TRUE(retries.has_value()) << out;
  EXPECT_GE(*retries, 1);
  // Exactly one task.
  EXPECT_EQ(out.find("task_id=", out.find("task_id=") + 1), std::string::npos) << out;
}

}  // namespace
}  // namespace spate
