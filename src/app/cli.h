// Glue between the property table (config/) and CLI11: each subcommand declares which
// properties it takes; they become flags with the table's help text, and after parsing they
// are applied over the config file's values.
//
// Thread-safety: main thread only.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "config/config.h"

namespace spate {

// The properties (flags) of each subcommand: "run", "produce", "process", "mock-api",
// "query", "schema", "schedule", "runs", "trigger", "backfill". main.cc makes the flags from
// these lists, and a scheduled job's options are checked against them (CommandTakes), so the
// two cannot disagree. Empty for an unknown command.
std::vector<std::string_view> CommandProperties(std::string_view command);

// Whether `command` takes `property` (its canonical name) as a setting it reads: what a job
// of the jobs file may give in its `options:` (JobSet::Parse). produce lists --where, --rule
// and --aggregate only to refuse them, so it does not take them here.
bool CommandTakes(std::string_view command, std::string_view property);

class CommandOptions {
 public:
  // Adds --config and one flag per property name to `command`.
  CommandOptions(CLI::App& command, const std::vector<std::string_view>& properties);

  // Defaults < --config file < SPATE_* variables < flags. Errors name the offending key or
  // flag. Then: --input or --url alone imply their --source (Config::ImplySource), and a flag
  // that nothing reads under the other settings (--input with --source generator, --brokers
  // without --transport kafka) is an error that says what to add or drop.
  Status Build(Config& config) const;
  // Whether this command takes the property (has its flag).
  bool Takes(std::string_view name) const { return options_.count(std::string(name)) > 0; }
  CLI::App& command() const { return command_; }

 private:
  CLI::App& command_;
  std::string config_path_;
  std::map<std::string, std::string> scalars_;
  std::map<std::string, std::vector<std::string>> lists_;
  std::map<std::string, bool> flags_;
  std::map<std::string, CLI::Option*> options_;
};

}  // namespace spate
