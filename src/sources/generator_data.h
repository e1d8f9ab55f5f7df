// Private to the generator: the per-nationality word lists and formats it draws from.
//
// The lists are small, hand-written samples in each country's own spelling (Persian script
// for IR, Turkish/Serbian/Nordic letters where they belong). The formats reproduce what
// randomuser.me API v1.4 sends, including its quirks (see generator.h).
//
// Pattern characters (anything else is copied as it is):
//   '#'  a random digit           'L'  a random upper-case letter A-Z
//   '@'  date of birth as ddmmyy  '$'  date of birth as yymm
//   '%'  1 for male, 2 for female '^'  first letter of the last name, folded to A-Z
//
// Thread-safety: constant data; read it from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace spate::generator_data {

// One to four alternative patterns; the generator picks one uniformly.
struct Pattern {
  std::array<std::string_view, 4> alternatives;
  uint8_t count = 1;
};

enum class PostcodeKind : uint8_t {
  kNumber,  // A JSON number drawn from [number_min, number_max].
  kString,  // A JSON string built from `pattern` (NO keeps its leading zeros this way).
};

struct Postcode {
  PostcodeKind kind;
  uint32_t number_min = 0;
  uint32_t number_max = 0;
  Pattern pattern = {};
};

using Words = std::span<const std::string_view>;

// Promises the generator relies on to write without escaping or bounds checks; all are
// checked at compile time in generator_data.cc:
//   - every word and timezone text is JSON-safe (no '"', '\\' or control characters);
//   - every word and timezone text is at most kMaxWordBytes long;
//   - every pattern expands to at most kMaxPatternBytes ('@' becomes six bytes).
inline constexpr size_t kMaxWordBytes = 64;
inline constexpr size_t kMaxPatternBytes = 24;

struct NatData {
  std::string_view code;  // "AU"
  std::string_view country;
  Words male_first;
  Words female_first;
  Words last;
  Words male_titles;
  Words female_titles;
  Words streets;
  Words cities;
  Words states;
  Postcode postcode;
  Pattern phone;
  Pattern cell;
  std::string_view id_name;  // Empty: the API sends {"name":"","value":null}.
  Pattern id_value;
};

struct Timezone {
  std::string_view offset;  // "+5:45", "0:00", "-3:30"
  std::string_view description;
};

// Data for kNationalities[index]; index < kNationalities.size().
const NatData& Nat(size_t index);

// The API's 31 timezones, west to east.
std::span<const Timezone> Timezones();

// Usernames are adjective + animal + three digits: "goldenpeacock430".
Words UsernameAdjectives();
Words UsernameAnimals();

// Everyday weak passwords, as the API hands out.
Words Passwords();

}  // namespace spate::generator_data
