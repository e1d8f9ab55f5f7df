// The YAML config loader (Config::LoadYamlString, what --config files go through) on
// arbitrary bytes. Invariants (issue 17, item 10):
// - nothing escapes: no exception, no crash, whatever the bytes;
// - every outcome is a loaded config or an error with a message;
// - the same bytes give the same outcome;
// - a loaded config holds only valid values: every property it set passes the table's own
//   validation again, durations and integers within their ranges.
#include <cstdint>
#include <string>
#include <string_view>

#include "config/config.h"
#include "fuzz_check.h"

namespace {

spate::Status Load(std::string_view text, spate::Config& config) {
  try {
    return config.LoadYamlString(text, "fuzz");
  } catch (...) {
    FUZZ_CHECK(false, "an exception escaped LoadYamlString");
  }
  return spate::Status::Ok();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  spate::Config config;
  const spate::Status status = Load(text, config);
  FUZZ_CHECK(status.ok() || !status.message().empty(), "an error without a message");

  spate::Config again;
  const spate::Status second = Load(text, again);
  FUZZ_CHECK(second.ok() == status.ok() && second.message() == status.message(),
             "the same bytes loaded differently");
  if (!status.ok()) return 0;

  for (const spate::PropertyDef& def : spate::AllProperties()) {
    if (!config.IsSet(def.name)) continue;
    spate::Config check;
    switch (def.type) {
      case spate::PropType::kList: {
        const auto items = config.GetList(def.name);
        // kafka: maps keep commas inside one item; other lists were split and validated.
        if (def.split_commas) {
          FUZZ_CHECK(check.SetList(def.name, items).ok(), "a loaded list item is invalid");
        }
        for (const std::string& item : items) {
          FUZZ_CHECK(item.find('\0') == std::string::npos, "a NUL inside a loaded list item");
        }
        break;
      }
      case spate::PropType::kDuration: {
        const int64_t ms = config.GetMillis(def.name);
        FUZZ_CHECK(ms >= def.min && ms <= spate::kMaxDurationMillis, "duration out of range");
        FUZZ_CHECK(check.Set(def.name, config.GetString(def.name)).ok(), "invalid duration");
        break;
      }
      case spate::PropType::kInt: {
        const int64_t v = config.GetInt(def.name);
        FUZZ_CHECK(v >= def.min && v <= def.max, "integer out of range");
        FUZZ_CHECK(check.Set(def.name, config.GetString(def.name)).ok(), "invalid integer");
        break;
      }
      case spate::PropType::kBool:
      case spate::PropType::kString:
        FUZZ_CHECK(check.Set(def.name, config.GetString(def.name)).ok(), "invalid value");
        break;
    }
  }
  return 0;
}
