// Configuration as a table of properties.
//
// Every option spate understands is one PropertyDef: name, type, default, allowed range or
// choices, and a description. The table validates input (from a YAML file or from flags),
// rejects unknown keys by name, and generates the --help text, so options, docs and checks
// cannot drift apart. Precedence: built-in default < config file < command-line flag.
//
// Names use underscores (data_dir); the matching flag is --data-dir, and the YAML key is
// either spelling.
//
// Thread-safety: build and fill on one thread, then read-only.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace YAML {
class Node;
}

namespace spate {

enum class PropType { kString, kInt, kBool, kList, kDuration };

struct PropertyDef {
  std::string_view name;
  PropType type;
  std::string_view default_value;  // As text; lists are comma-separated.
  std::string_view help;
  std::vector<std::string_view> choices = {};  // For kString/kList: allowed values.
  int64_t min = 0;                             // For kInt.
  int64_t max = INT64_MAX;                     // For kInt.
  bool secret = false;                         // Never printed (passwords, DSNs).
  // Another YAML key for the same property (kafka: for kafka_opt). A YAML mapping given to a
  // list property becomes "key=value" items.
  std::string_view yaml_alias = {};
  // For kList: whether "a,b" given once means two items. Off for values that contain commas.
  bool split_commas = true;
  // An environment variable that sets the property (SPATE_PG_DSN): credentials can then stay
  // out of config files and command lines. Precedence: config file < variable < flag.
  std::string_view env = {};
};

// Every property spate knows, in documentation order.
std::span<const PropertyDef> AllProperties();
const PropertyDef* FindProperty(std::string_view name);

class Config {
 public:
  // Loads a YAML mapping of property names to values. Unknown keys are errors naming the key
  // (and the closest known name); values are validated against the table.
  Status LoadYamlFile(const std::string& path);
  Status LoadYamlString(std::string_view yaml, std::string_view origin);

  // Sets every property that has an `env` variable from that variable, when it is set.
  Status LoadEnvironment();

  // Sets one property from text (a flag), validating it. Lists replace the old value.
  Status Set(std::string_view name, std::string_view value);
  Status SetList(std::string_view name, const std::vector<std::string>& values);

  // Typed getters: the set value or the table default. Asking for an unknown name or the
  // wrong type is a programmer error (asserts).
  std::string GetString(std::string_view name) const;
  int64_t GetInt(std::string_view name) const;
  bool GetBool(std::string_view name) const;
  std::vector<std::string> GetList(std::string_view name) const;
  int64_t GetMillis(std::string_view name) const;  // kDuration: "500ms", "10s", "2m", "250".
  bool IsSet(std::string_view name) const { return values_.count(std::string(name)) > 0; }

 private:
  Status LoadYamlNode(const YAML::Node& root, std::string_view origin);

  std::map<std::string, std::vector<std::string>> values_;
};

// Parses "500ms", "10s", "2m", "1h" or a bare number of milliseconds.
Result<int64_t> ParseDurationMillis(std::string_view text);

// "--data-dir" for "data_dir".
std::string FlagName(std::string_view property);

// The --help text for one property: description, default, choices, range.
std::string HelpText(const PropertyDef& def);

}  // namespace spate
