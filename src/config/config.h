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
#include <functional>
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
  int64_t min = 0;                             // For kInt; for kDuration in milliseconds.
  int64_t max = INT64_MAX;                     // For kInt; for kDuration see kMaxDurationMillis.
  bool secret = false;                         // Never printed (passwords, DSNs).
  // Another YAML key for the same property (kafka: for kafka_opt). A YAML mapping given to a
  // list property becomes "key=value" items (unless mapping_items).
  std::string_view yaml_alias = {};
  // For kList: whether "a,b" given once means two items. Off for values that contain commas.
  bool split_commas = true;
  // An environment variable that sets the property (SPATE_PG_DSN): credentials can then stay
  // out of config files and command lines. Precedence: config file < variable < flag.
  std::string_view env = {};
  // What --help shows as the default when default_value is empty and "none" would mislead
  // (--nat: empty means every nationality).
  std::string_view default_text = {};
  // For kList (rule, aggregate): each YAML mapping in its list becomes one item, a compact
  // JSON object (scalar values as strings, a list of scalars as an array of strings), which
  // the module that reads the property parses; plain items stay flag shorthand.
  bool mapping_items = false;
  // For mapping_items: the one key of an item whose value may itself be a mapping (a job's
  // `options:`); it becomes a JSON object whose values are strings, or arrays of strings for
  // a list. Anything nested deeper is still an error.
  std::string_view nested_key = {};
};

// The longest duration any option takes (about 24 days): the libraries that receive them
// (libcurl, librdkafka) count milliseconds in 32-bit ints, where more would wrap around.
inline constexpr int64_t kMaxDurationMillis = INT32_MAX;

// Every property spate knows, in documentation order.
std::span<const PropertyDef> AllProperties();
const PropertyDef* FindProperty(std::string_view name);
// The property a YAML key sets: its name in either spelling, or its yaml_alias (kafka).
const PropertyDef* FindYamlKey(std::string_view key);

// " (did you mean 'count'?)" for the one of `names` closest to `key` when it is near enough
// to be a typo, else "". PropertySuggestion does it over every property name.
std::string DidYouMean(std::string_view key, std::span<const std::string_view> names);
std::string PropertySuggestion(std::string_view key);

// The most records that may wait in one queue between two stages (batch_size x
// queue_capacity): about a gigabyte of typical users.
inline constexpr int64_t kMaxQueuedRecords = 1 << 20;

// The largest config file spate reads; anything bigger is not a config file.
inline constexpr size_t kMaxConfigFileBytes = 1 << 20;

class Config {
 public:
  // Loads a YAML mapping of property names to values. Unknown keys are errors naming the key
  // (and the closest known name); values are validated against the table. A key given twice
  // (also as data_dir and data-dir) is an error. Never throws, whatever the bytes: every
  // outcome is Ok or an error that says what is wrong.
  //
  // LoadYamlFile reads only regular files, checked before anything can block (a FIFO or a
  // terminal would wait for a writer forever), and at most kMaxConfigFileBytes.
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
  int64_t GetMillis(std::string_view name) const;  // kDuration: "500ms", "10s", "2m", "0".
  bool IsSet(std::string_view name) const { return values_.count(std::string(name)) > 0; }

  // Where a property's value came from, for messages that must name what to fix:
  // "--pg-dsn", "pg_dsn in config file 'x.yaml'", "SPATE_PG_DSN", or "the default".
  std::string Origin(std::string_view name) const;
  void SetOrigin(std::string_view name, std::string origin);

  // --input alone means --source file, --url alone --source randomuser: when `source` was
  // not given anywhere, sets it from them (both given: an error saying to choose).
  Status ImplySource();

  // Limits that span properties: batch_size x queue_capacity records may wait in each queue,
  // at most kMaxQueuedRecords (each limit alone allows ~400 million, far past any memory).
  Status CheckLimits() const;

  // Whether a property given as a flag is read at all under the other settings. `command_has`
  // says whether the command takes a property: a setting the command does not take (run's
  // --transport, for --brokers) is not checked. Returns an error that says what to add or drop
  // (--input with --source generator: "add --source file"), because an option that is given
  // but silently ignored (the generator runs instead of the file) is a mistake passing as
  // success.
  Status CheckApplies(std::string_view name,
                      const std::function<bool(std::string_view)>& command_has) const;

 private:
  Status LoadYamlNode(const YAML::Node& root, std::string_view origin);

  std::map<std::string, std::vector<std::string>> values_;
  std::map<std::string, std::string> origins_;
};

// Parses "500ms", "10s", "2m", "1h", or "0". A number without a unit is an error that says
// what to write ("5" could mean seconds or milliseconds; "5s" cannot).
Result<int64_t> ParseDurationMillis(std::string_view text);

// Where --http listens. Parsed from "HOST:PORT", ":PORT", "PORT" or "[V6]:PORT": the host is
// an IPv4 or bracketed IPv6 literal, or localhost; 127.0.0.1 when left out. Port 0 means
// "pick a free one".
struct ListenAddress {
  std::string host;  // Without brackets.
  int port = 0;
  bool ipv6 = false;
  // The host as a URL writes it: 127.0.0.1, [::1].
  std::string UrlHost() const;
};
Result<ListenAddress> ParseListenAddress(std::string_view text);

// "--data-dir" for "data_dir".
std::string FlagName(std::string_view property);

// The --help text for one property: description, default, choices, range.
std::string HelpText(const PropertyDef& def);

}  // namespace spate
