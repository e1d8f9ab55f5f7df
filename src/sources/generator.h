// The built-in generator: randomuser.me API v1.4 users, made up locally and deterministically.
//
// User number `index` for a given (seed, nationalities) is always the same bytes, so
// `spate run --seed S` is reproducible and `spate mock-api` can serve pages: page p of size r
// holds users (p-1)*r .. p*r-1, exactly as the real API's seed+page paging behaves.
//
// The output has the API's real shape and quirks: postcode a JSON string for CA, GB, NL, NO
// (NO keeps leading zeros) and a number elsewhere; id.value null with id.name "" for IR, NZ,
// TR, UA; letters in UA and CA phones; names and streets in Persian script for IR; titles
// such as "Monsieur"/"Mademoiselle" for CH/FR; coordinates and timezone offset as strings.
//
// Thread-safety: UserGenerator is immutable after Create; AppendUser may run on any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "sources/source.h"

namespace spate {

// The 21 nationalities of API v1.4, in the API's documented order.
inline constexpr std::array<std::string_view, 21> kNationalities = {
    "AU", "BR", "CA", "CH", "DE", "DK", "ES", "FI", "FR", "GB", "IE",
    "IN", "IR", "MX", "NL", "NO", "NZ", "RS", "TR", "UA", "US"};

struct GeneratorOptions {
  std::string seed = "spate";
  std::vector<std::string> nationalities;  // Upper or lower case; empty means all 21.
  bool include_login_secrets = true;       // The API sends them; ingest strips them.
};

class UserGenerator {
 public:
  // Fails (Fatal, naming the code and the valid ones) on an unknown nationality.
  static Result<UserGenerator> Create(GeneratorOptions options);

  // Appends user number `index` as one compact JSON object (no trailing newline). Ages
  // (dob.age, registered.age) count to 2026-01-01T00:00:00Z, not to today, so the bytes
  // never depend on the clock.
  void AppendUser(uint64_t index, std::string& out) const;
  // Also sets *uuid to the user's login.uuid (when not null).
  void AppendUser(uint64_t index, std::string& out, std::string* uuid) const;

  const GeneratorOptions& options() const { return options_; }

 private:
  UserGenerator(GeneratorOptions options, std::vector<uint8_t> nat_indexes, uint64_t seed_hash)
      : options_(std::move(options)), nat_indexes_(std::move(nat_indexes)), seed_hash_(seed_hash) {}

  GeneratorOptions options_;
  std::vector<uint8_t> nat_indexes_;  // Indexes into kNationalities, the allowed set.
  uint64_t seed_hash_;
};

// Source over a UserGenerator: users start_index .. start_index+count-1 (count 0 = until
// stopped). Records carry position = user index. Next replaces batch.records (reusing the
// strings of a recycled batch); a requested stop ends the stream with kFinished.
class GeneratorSource final : public Source {
 public:
  GeneratorSource(UserGenerator generator, uint64_t count, uint64_t start_index = 0);

  Result<SourceState> Next(Batch& batch, size_t max_records, std::stop_token stop) override;
  std::string Describe() const override;
  std::string_view kind() const override { return "generator"; }

 private:
  UserGenerator generator_;
  const uint64_t count_;
  const uint64_t start_index_;
  uint64_t next_ = 0;  // Records produced so far.
};

}  // namespace spate
