#include "app/cli.h"

#include <algorithm>

#include <fmt/format.h>

namespace spate {
namespace {

using Names = std::vector<std::string_view>;

Names Concat(Names a, const Names& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

const Names kSourceOptions = {"source",
                              "count",
                              "seed",
                              "nat",
                              "url",
                              "page_size",
                              "timeout",
                              "connect_timeout",
                              "retries",
                              "retry_backoff",
                              "retry_backoff_max",
                              "input",
                              "rate",
                              "duration"};
const Names kKafkaOptions = {
    "brokers",         "topic",         "dlq_topic",          "kafka_opt",
    "partitions",      "kafka_timeout", "replication_factor", "compression",
    "delivery_timeout"};
// cassandra_password has no flag: credentials come from the config file or
// SPATE_CASSANDRA_PASSWORD, never a command line that `ps` shows.
const Names kCassandraOptions = {"cassandra_hosts",
                                 "keyspace",
                                 "cassandra_user",
                                 "cassandra_consistency",
                                 "cassandra_replication_factor",
                                 "cassandra_datacenters",
                                 "cassandra_in_flight",
                                 "cassandra_compression",
                                 "cassandra_timeout"};
// What run and process apply to the rows they make (issue 19).
const Names kAnalyticsOptions = {"where", "rule", "aggregate"};
// The long-running commands; --http serves their dashboard and metrics.
const Names kCommonOptions = {"batch_size", "queue_capacity", "linger",
                              "progress",   "log_level",      "http"};
// Where the run history is (issue 20): what every schedule command needs.
const Names kHistoryOptions = {"history_store", "data_dir", "pg_dsn", "pg_timeout", "log_level"};

}  // namespace

std::vector<std::string_view> CommandProperties(std::string_view command) {
  if (command == "run") {
    return Concat(
        Concat(Concat(Concat(kSourceOptions, {"sink", "data_dir", "max_record_bytes", "transport",
                                              "group", "from", "raw_sink", "pg_dsn", "pg_timeout"}),
                      kCassandraOptions),
               kKafkaOptions),
        Concat(kAnalyticsOptions, kCommonOptions));
  }
  if (command == "produce") {
    return Concat(Concat(Concat(kSourceOptions, kKafkaOptions),
                         {"raw_sink", "pg_dsn", "pg_timeout", "max_record_bytes"}),
                  Concat(kAnalyticsOptions, kCommonOptions));
  }
  if (command == "process") {
    return Concat(Concat(Concat(kKafkaOptions, Concat({"group", "from", "sink", "data_dir",
                                                       "max_record_bytes", "pg_dsn", "pg_timeout"},
                                                      kCassandraOptions)),
                         {"exit_at_end"}),
                  Concat(kAnalyticsOptions, kCommonOptions));
  }
  if (command == "mock-api") return {"host", "port", "log_level"};
  if (command == "query") {
    return Concat({"sink", "data_dir", "samples", "pg_dsn", "pg_timeout", "log_level"},
                  kCassandraOptions);
  }
  if (command == "schema") return Concat({"sink", "log_level", "aggregate"}, kCassandraOptions);
  // `jobs` is a flag of schedule only so that CommandOptions handles it like every property;
  // main.cc hides it (a list of mappings belongs in the jobs file).
  if (command == "schedule") return Concat({"jobs", "timezone", "http"}, kHistoryOptions);
  if (command == "runs") return kHistoryOptions;
  if (command == "trigger" || command == "backfill") return Concat({"timezone"}, kHistoryOptions);
  return {};
}

bool CommandTakes(std::string_view command, std::string_view property) {
  // produce takes the analytics flags only to say where they belong (main.cc), and from a
  // config file it ignores them: a job giving them to produce would be silently ignored.
  if (command == "produce" && std::find(kAnalyticsOptions.begin(), kAnalyticsOptions.end(),
                                        property) != kAnalyticsOptions.end()) {
    return false;
  }
  const Names names = CommandProperties(command);
  return std::find(names.begin(), names.end(), property) != names.end();
}

CommandOptions::CommandOptions(CLI::App& command, const std::vector<std::string_view>& properties)
    : command_(command) {
  command.add_option("--config", config_path_,
                     "YAML file of option: value pairs (same names as the flags, with _ or -); "
                     "flags override it");
  for (std::string_view name : properties) {
    const PropertyDef* def = FindProperty(name);
    if (def == nullptr) throw std::logic_error(fmt::format("no property '{}'", name));
    const std::string key(def->name);
    CLI::Option* option = nullptr;
    if (def->type == PropType::kList) {
      option = command.add_option(FlagName(key), lists_[key], HelpText(*def))
                   ->expected(1)
                   ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    } else if (def->type == PropType::kBool) {
      // A switch: present means true (the config file can still say false or true).
      option = command.add_flag(FlagName(key), flags_[key], HelpText(*def));
    } else {
      option = command.add_option(FlagName(key), scalars_[key], HelpText(*def));
    }
    if (def->type != PropType::kBool) {
      option->type_name(def->type == PropType::kInt        ? "N"
                        : def->type == PropType::kDuration ? "DURATION"
                                                           : "TEXT");
    }
    options_[key] = option;
  }
}

Status CommandOptions::Build(Config& config) const {
  if (!config_path_.empty()) {
    if (Status s = config.LoadYamlFile(config_path_); !s.ok()) return s;
  }
  if (Status s = config.LoadEnvironment(); !s.ok()) return s;
  for (const auto& [key, option] : options_) {
    if (option->count() == 0) continue;
    Status s = lists_.count(key)   ? config.SetList(key, lists_.at(key))
               : flags_.count(key) ? config.Set(key, flags_.at(key) ? "true" : "false")
                                   : config.Set(key, scalars_.at(key));
    if (!s.ok()) {
      // "--timeout: '5' has no unit...", not "--timeout: timeout: '5' has no unit...".
      std::string message = s.message();
      if (message.starts_with(key + ": ")) message.erase(0, key.size() + 2);
      return Status::Fatal(fmt::format("{}: {}", FlagName(key), message));
    }
    config.SetOrigin(key, FlagName(key));
  }
  auto has = [this](std::string_view name) { return options_.count(std::string(name)) > 0; };
  if (has("source")) {
    if (Status s = config.ImplySource(); !s.ok()) return s;
  }
  if (has("batch_size")) {
    if (Status s = config.CheckLimits(); !s.ok()) return s;
  }
  // Only flags: a config file may be shared by commands and settings it does not all apply to.
  for (const auto& [key, option] : options_) {
    if (option->count() == 0) continue;
    if (Status s = config.CheckApplies(key, has); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace spate
