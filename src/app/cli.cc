#include "app/cli.h"

#include <fmt/format.h>

namespace spate {

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
