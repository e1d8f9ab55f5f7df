#include "sources/generator.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <cstring>
#include <tuple>
#include <utility>

#include "core/hash.h"
#include "sources/generator_data.h"

namespace spate {
namespace {

namespace gd = generator_data;

// The SplitMix64 increment; stepping a Mix64 counter by it gives the SplitMix64 stream.
constexpr uint64_t kGamma = 0x9e3779b97f4a7c15ULL;
// Login secrets come from their own stream, so a user is the same with or without them.
constexpr uint64_t kSecretsStream = 0x5ec2e75a17c0ffeeULL;

// Counter-based random stream for one user: deterministic, no state shared between users.
class Rng {
 public:
  explicit Rng(uint64_t state) : state_(state) {}

  uint64_t Next() {
    const uint64_t r = Mix64(state_);
    state_ += kGamma;
    return r;
  }

  // Uniform in [0, n) for n < 2^32 (multiply-shift on the high 32 bits; no modulo bias
  // worth mentioning at these sizes, and identical on every platform).
  uint32_t Below(uint32_t n) { return static_cast<uint32_t>(((Next() >> 32) * n) >> 32); }

  // Uniform in [lo, hi].
  uint32_t Between(uint32_t lo, uint32_t hi) { return lo + Below(hi - lo + 1); }

  std::string_view Pick(gd::Words words) {
    return words[Below(static_cast<uint32_t>(words.size()))];
  }

 private:
  uint64_t state_;
};

// --- Calendar ----------------------------------------------------------------------------
// Proleptic Gregorian, UTC. Days are counted from 1970-01-01.

struct CivilTime {
  int year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
  unsigned millis_of_day;
};

constexpr int64_t kMillisPerDay = 86'400'000;

constexpr int64_t DaysFromCivil(int year, unsigned month, unsigned day) {
  // Shift the year to start in March so the leap day is the last day of the year.
  const int y = year - (month <= 2 ? 1 : 0);
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned year_of_era = static_cast<unsigned>(y - era * 400);
  const unsigned month_from_march = month > 2 ? month - 3 : month + 9;
  const unsigned day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return int64_t{era} * 146097 + day_of_era - 719468;
}

constexpr CivilTime CivilFromMillis(int64_t unix_ms) {
  int64_t days = unix_ms / kMillisPerDay;
  int64_t ms = unix_ms % kMillisPerDay;
  if (ms < 0) {
    ms += kMillisPerDay;
    --days;
  }
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned day_of_era = static_cast<unsigned>(z - era * 146097);
  const unsigned year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const unsigned day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const unsigned month_from_march = (5 * day_of_year + 2) / 153;
  const unsigned day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
  const unsigned month = month_from_march < 10 ? month_from_march + 3 : month_from_march - 9;
  const int year = static_cast<int>(year_of_era + era * 400) + (month <= 2 ? 1 : 0);
  return {year, month, day, static_cast<unsigned>(ms)};
}

static_assert(DaysFromCivil(1970, 1, 1) == 0);
static_assert(DaysFromCivil(2000, 3, 1) == 11017);
static_assert(CivilFromMillis(951782400000).month == 2);  // 2000-02-29
static_assert(CivilFromMillis(951782400000).day == 29);

constexpr int64_t MillisAt(int year, unsigned month, unsigned day) {
  return DaysFromCivil(year, month, day) * kMillisPerDay;
}

// Ages are counted to this instant, not to "now", so output never changes with the clock.
constexpr CivilTime kAgeReference = CivilFromMillis(MillisAt(2026, 1, 1));

// Dates of birth give ages 21..80 and registrations 1..24 years at the reference date.
constexpr int64_t kDobFirst = MillisAt(1945, 1, 2);
constexpr int64_t kDobLast = MillisAt(2004, 12, 31);
constexpr int64_t kRegisteredFirst = MillisAt(2002, 1, 2);
constexpr int64_t kRegisteredLast = MillisAt(2024, 12, 31);

// Whole years from `t` to kAgeReference.
constexpr int AgeAtReference(const CivilTime& t) {
  const auto birthday = std::tie(t.month, t.day, t.millis_of_day);
  const auto reference =
      std::tie(kAgeReference.month, kAgeReference.day, kAgeReference.millis_of_day);
  return kAgeReference.year - t.year - (birthday > reference ? 1 : 0);
}

// --- Output ------------------------------------------------------------------------------
// The user is written through a raw cursor into a stack buffer of the bound below, then
// appended in one go: a few hundred std::string appends per user would cost more than
// generating the data, and resizing the output string by the bound first zero-filled 2.6 KB
// per user (more than twice a user's size) and left every recycled string that large. Table text is
// JSON-safe by construction (checked at compile time, see generator_data.h), so it is
// copied between quotes without an escaping pass.

// Upper bound on one user: about 700 bytes of keys and fixed text, 13 table words, two
// folded names (never longer than the names), five patterns, and under 300 bytes of
// numbers, dates, hashes and the uuid. AppendUser checks it in debug builds.
constexpr size_t kMaxUserBytes = 1024 + 15 * gd::kMaxWordBytes + 5 * gd::kMaxPatternBytes + 512;

template <size_t N>
char* PutLit(char* p, const char (&literal)[N]) {
  std::memcpy(p, literal, N - 1);
  return p + N - 1;
}

char* PutText(char* p, std::string_view text) {
  std::memcpy(p, text.data(), text.size());
  return p + text.size();
}

char* PutQuoted(char* p, std::string_view text) {
  *p++ = '"';
  p = PutText(p, text);
  *p++ = '"';
  return p;
}

char* PutUint(char* p, uint64_t v) {
  const auto [end, ec] = std::to_chars(p, p + 20, v);
  (void)ec;  // 20 digits always fit a uint64.
  return end;
}

// Writes `v` as exactly `width` digits, zero-padded (v must fit).
char* PutPadded(char* p, unsigned v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  return p + width;
}

// "1958-06-23T03:40:17.665Z", quoted.
char* PutIsoDate(char* p, const CivilTime& t) {
  *p++ = '"';
  p = PutPadded(p, static_cast<unsigned>(t.year), 4);
  *p++ = '-';
  p = PutPadded(p, t.month, 2);
  *p++ = '-';
  p = PutPadded(p, t.day, 2);
  *p++ = 'T';
  unsigned ms = t.millis_of_day;
  p = PutPadded(p, ms / 3'600'000, 2);
  ms %= 3'600'000;
  *p++ = ':';
  p = PutPadded(p, ms / 60'000, 2);
  ms %= 60'000;
  *p++ = ':';
  p = PutPadded(p, ms / 1000, 2);
  *p++ = '.';
  p = PutPadded(p, ms % 1000, 3);
  *p++ = 'Z';
  *p++ = '"';
  return p;
}

// A coordinate given in units of 1e-4 degrees, as a quoted decimal: "-86.3514".
char* PutCoordinate(char* p, int32_t ten_thousandths) {
  *p++ = '"';
  uint32_t v = static_cast<uint32_t>(ten_thousandths);
  if (ten_thousandths < 0) {
    *p++ = '-';
    v = static_cast<uint32_t>(-ten_thousandths);
  }
  p = PutUint(p, v / 10000);
  *p++ = '.';
  p = PutPadded(p, v % 10000, 4);
  *p++ = '"';
  return p;
}

// "000102...ff": the two hex digits of every byte value.
constexpr std::array<char, 512> kHexPairs = [] {
  constexpr char kDigits[] = "0123456789abcdef";
  std::array<char, 512> pairs{};
  for (size_t b = 0; b < 256; ++b) {
    pairs[2 * b] = kDigits[b >> 4];
    pairs[2 * b + 1] = kDigits[b & 0xF];
  }
  return pairs;
}();

// `count` (even) pseudo-random lower-case hex digits, 16 per draw.
char* PutHex(char* p, Rng& rng, int count) {
  while (count > 0) {
    uint64_t r = rng.Next();
    for (int i = 0; i < 8 && count > 0; ++i, count -= 2) {
      std::memcpy(p, &kHexPairs[2 * (r & 0xFF)], 2);
      p += 2;
      r >>= 8;
    }
  }
  return p;
}

char* PutQuotedHex(char* p, Rng& rng, int count) {
  *p++ = '"';
  p = PutHex(p, rng, count);
  *p++ = '"';
  return p;
}

// A UUID version 4 (random) in canonical lower-case form, quoted.
char* PutUuid(char* p, Rng& rng) {
  char hex[32];
  PutHex(hex, rng, 32);
  hex[12] = '4';                   // Version.
  hex[16] = "89ab"[rng.Below(4)];  // RFC 4122 variant.
  static constexpr int kGroups[] = {8, 4, 4, 4, 12};
  const char* h = hex;
  *p++ = '"';
  for (int g = 0; g < 5; ++g) {
    if (g > 0) *p++ = '-';
    std::memcpy(p, h, kGroups[g]);
    p += kGroups[g];
    h += kGroups[g];
  }
  *p++ = '"';
  return p;
}

char* PutSalt(char* p, Rng& rng) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  uint64_t r = rng.Next();
  *p++ = '"';
  for (int i = 0; i < 8; ++i) {
    *p++ = kAlphabet[(r & 0xFF) % 62];
    r >>= 8;
  }
  *p++ = '"';
  return p;
}

// --- Email local parts ---------------------------------------------------------------------
// Names are folded to lower-case ASCII: accents dropped, Persian transliterated, spaces and
// apostrophes removed ("Van Andel" -> "vanandel", "O'Brien" -> "obrien"), hyphens kept.
// The result is never longer than the name.

// U+00C0..U+00FF; '_' marks the few handled separately or dropped.
constexpr std::string_view kLatin1Fold =
    "aaaaaa_ceeeeiiiidnooooo_ouuuuyt_aaaaaa_ceeeeiiiidnooooo_ouuuuyty";
// U+0100..U+017F (Latin Extended-A).
constexpr std::string_view kLatinExtAFold =
    "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiijjjjkkkllllllllllnnnnnnnnnoooooooorrrrrr"
    "ssssssssttttttuuuuuuuuuuuuwwyyyzzzzzzs";
static_assert(kLatin1Fold.size() == 0x40);
static_assert(kLatinExtAFold.size() == 0x80);

// Persian letters, by code point (each is two UTF-8 bytes, each result at most two).
std::string_view FoldPersian(char32_t c) {
  switch (c) {
    case 0x0622:
      return "a";  // alef with madda
    case 0x0623:
      return "a";  // alef with hamza
    case 0x0627:
      return "";  // alef: a long vowel, left out as the API does
    case 0x0628:
      return "b";
    case 0x067E:
      return "p";
    case 0x062A:
      return "t";
    case 0x062B:
      return "s";
    case 0x062C:
      return "j";
    case 0x0686:
      return "ch";
    case 0x062D:
      return "h";
    case 0x062E:
      return "kh";
    case 0x062F:
      return "d";
    case 0x0630:
      return "z";
    case 0x0631:
      return "r";
    case 0x0632:
      return "z";
    case 0x0698:
      return "zh";
    case 0x0633:
      return "s";
    case 0x0634:
      return "sh";
    case 0x0635:
      return "s";
    case 0x0636:
      return "z";
    case 0x0637:
      return "t";
    case 0x0638:
      return "z";
    case 0x063A:
      return "gh";
    case 0x0641:
      return "f";
    case 0x0642:
      return "gh";
    case 0x0643:
      return "k";  // Arabic kaf
    case 0x06A9:
      return "k";  // Persian keheh
    case 0x06AF:
      return "g";
    case 0x0644:
      return "l";
    case 0x0645:
      return "m";
    case 0x0646:
      return "n";
    case 0x0648:
      return "v";
    case 0x0647:
      return "h";
    case 0x0629:
      return "h";
    case 0x064A:
      return "y";  // Arabic yeh
    case 0x06CC:
      return "y";  // Persian yeh
    case 0x0626:
      return "y";
    default:
      return "";  // ain, hamza, marks: nothing.
  }
}

char* PutFoldedCodePoint(char* p, char32_t c) {
  if (c >= 0xC0 && c <= 0xFF) {
    switch (c) {
      case 0xC6:
      case 0xE6:
        return PutLit(p, "ae");
      case 0xDF:
        return PutLit(p, "ss");
      case 0xD7:
      case 0xF7:
        return p;
      default:
        *p++ = kLatin1Fold[c - 0xC0];
        return p;
    }
  }
  if (c >= 0x100 && c <= 0x17F) {
    *p++ = kLatinExtAFold[c - 0x100];
    return p;
  }
  if (c >= 0x600 && c <= 0x6FF) return PutText(p, FoldPersian(c));
  return p;  // Anything else has no ASCII form here and is left out.
}

char* PutEmailPart(char* p, std::string_view name) {
  const auto* s = reinterpret_cast<const unsigned char*>(name.data());
  const size_t n = name.size();
  for (size_t i = 0; i < n;) {
    const unsigned char b = s[i];
    if (b < 0x80) {
      ++i;
      if (b >= 'A' && b <= 'Z') {
        *p++ = static_cast<char>(b - 'A' + 'a');
      } else if ((b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b == '-') {
        *p++ = static_cast<char>(b);
      }  // Spaces, apostrophes, dots: dropped.
      continue;
    }
    // Multi-byte UTF-8 (the tables are valid UTF-8; stray bytes are skipped).
    char32_t c = 0;
    size_t len = 1;
    if ((b & 0xE0) == 0xC0 && i + 1 < n) {
      c = ((b & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu);
      len = 2;
    } else if ((b & 0xF0) == 0xE0 && i + 2 < n) {
      c = ((b & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
      len = 3;
    } else if ((b & 0xF8) == 0xF0 && i + 3 < n) {
      len = 4;  // Nothing in the tables lives outside the BMP.
    }
    i += len;
    p = PutFoldedCodePoint(p, c);
  }
  return p;
}

// First letter of `name` folded to A-Z ('X' if there is none), for id formats.
char Initial(std::string_view name) {
  char folded[gd::kMaxWordBytes];
  const char* end = PutEmailPart(folded, name);
  for (const char* c = folded; c != end; ++c) {
    if (*c >= 'a' && *c <= 'z') return static_cast<char>(*c - 'a' + 'A');
  }
  return 'X';
}

// --- Patterns ------------------------------------------------------------------------------

struct PatternContext {
  CivilTime dob;
  bool male;
  std::string_view last_name;
};

// Digits and letters peeled off one 64-bit draw at a time (12 per draw: 26^12 < 2^64),
// rather than one draw each.
class SymbolPool {
 public:
  explicit SymbolPool(Rng& rng) : rng_(rng) {}

  template <char kFirst, uint32_t kRadix>
  char Take() {
    if (left_ == 0) {
      bits_ = rng_.Next();
      left_ = 12;
    }
    --left_;
    const auto v = static_cast<char>(bits_ % kRadix);
    bits_ /= kRadix;
    return static_cast<char>(kFirst + v);
  }

 private:
  Rng& rng_;
  uint64_t bits_ = 0;
  int left_ = 0;
};

// Expands a pattern (see generator_data.h), unquoted.
char* PutPattern(char* p, const gd::Pattern& pattern, Rng& rng, const PatternContext& ctx) {
  const std::string_view format =
      pattern.count > 1 ? pattern.alternatives[rng.Below(pattern.count)] : pattern.alternatives[0];
  SymbolPool pool(rng);
  for (const char f : format) {
    switch (f) {
      case '#':
        *p++ = pool.Take<'0', 10>();
        break;
      case 'L':
        *p++ = pool.Take<'A', 26>();
        break;
      case '@':
        p = PutPadded(p, ctx.dob.day, 2);
        p = PutPadded(p, ctx.dob.month, 2);
        p = PutPadded(p, static_cast<unsigned>(ctx.dob.year % 100), 2);
        break;
      case '$':
        p = PutPadded(p, static_cast<unsigned>(ctx.dob.year % 100), 2);
        p = PutPadded(p, ctx.dob.month, 2);
        break;
      case '%':
        *p++ = ctx.male ? '1' : '2';
        break;
      case '^':
        *p++ = Initial(ctx.last_name);
        break;
      default:
        *p++ = f;
    }
  }
  return p;
}

char* PutQuotedPattern(char* p, const gd::Pattern& pattern, Rng& rng, const PatternContext& ctx) {
  *p++ = '"';
  p = PutPattern(p, pattern, rng, ctx);
  *p++ = '"';
  return p;
}

char* PutPostcode(char* p, const gd::Postcode& postcode, Rng& rng, const PatternContext& ctx) {
  if (postcode.kind == gd::PostcodeKind::kNumber) {
    return PutUint(p, rng.Between(postcode.number_min, postcode.number_max));
  }
  return PutQuotedPattern(p, postcode.pattern, rng, ctx);
}

CivilTime RandomDate(Rng& rng, int64_t first_ms, int64_t last_ms) {
  const uint64_t span = static_cast<uint64_t>(last_ms - first_ms) + 1;
  return CivilFromMillis(first_ms + static_cast<int64_t>(rng.Next() % span));
}

std::string ValidNationalities() {
  std::string list;
  for (const std::string_view code : kNationalities) {
    if (!list.empty()) list += ", ";
    list += code;
  }
  return list;
}

}  // namespace

Result<UserGenerator> UserGenerator::Create(GeneratorOptions options) {
  std::array<bool, kNationalities.size()> allowed{};
  for (const std::string& code : options.nationalities) {
    std::string upper = code;
    for (char& c : upper) {
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    const auto it = std::find(kNationalities.begin(), kNationalities.end(), upper);
    if (it == kNationalities.end()) {
      return Status::Fatal("generator: unknown nationality \"" + code +
                           "\"; valid nationalities are " + ValidNationalities());
    }
    allowed[static_cast<size_t>(it - kNationalities.begin())] = true;
  }

  // Canonical form: upper case, API order, no duplicates ("us,GB,us" == "GB,US").
  const bool all = options.nationalities.empty();
  std::vector<uint8_t> nat_indexes;
  options.nationalities.clear();
  for (size_t i = 0; i < kNationalities.size(); ++i) {
    if (!all && !allowed[i]) continue;
    nat_indexes.push_back(static_cast<uint8_t>(i));
    if (!all) options.nationalities.emplace_back(kNationalities[i]);
  }
  const uint64_t seed_hash = Fnv1a64(options.seed);
  return UserGenerator(std::move(options), std::move(nat_indexes), seed_hash);
}

void UserGenerator::AppendUser(uint64_t index, std::string& out) const {
  AppendUser(index, out, nullptr);
}

void UserGenerator::AppendUser(uint64_t index, std::string& out, std::string* uuid) const {
  const uint64_t base = Mix64(seed_hash_ ^ Mix64(index));
  Rng rng(base);

  char buffer[kMaxUserBytes];  // Not initialised: only what is written is read.
  char* const begin = buffer;
  char* p = begin;

  const gd::NatData& nat =
      gd::Nat(nat_indexes_[rng.Below(static_cast<uint32_t>(nat_indexes_.size()))]);
  const bool male = rng.Below(2) == 0;
  p = male ? PutLit(p, R"({"gender":"male")") : PutLit(p, R"({"gender":"female")");

  const std::string_view first = rng.Pick(male ? nat.male_first : nat.female_first);
  const std::string_view last = rng.Pick(nat.last);
  p = PutLit(p, R"(,"name":{"title":)");
  p = PutQuoted(p, rng.Pick(male ? nat.male_titles : nat.female_titles));
  p = PutLit(p, R"(,"first":)");
  p = PutQuoted(p, first);
  p = PutLit(p, R"(,"last":)");
  p = PutQuoted(p, last);

  p = PutLit(p, R"(},"location":{"street":{"number":)");
  p = PutUint(p, rng.Between(1, 9999));
  p = PutLit(p, R"(,"name":)");
  p = PutQuoted(p, rng.Pick(nat.streets));
  p = PutLit(p, R"(},"city":)");
  p = PutQuoted(p, rng.Pick(nat.cities));
  p = PutLit(p, R"(,"state":)");
  p = PutQuoted(p, rng.Pick(nat.states));
  p = PutLit(p, R"(,"country":)");
  p = PutQuoted(p, nat.country);

  // Drawn early because ids (DK, NO, DE, FR) embed it.
  const CivilTime dob = RandomDate(rng, kDobFirst, kDobLast);
  const PatternContext ctx{dob, male, last};

  p = PutLit(p, R"(,"postcode":)");
  p = PutPostcode(p, nat.postcode, rng, ctx);
  p = PutLit(p, R"(,"coordinates":{"latitude":)");
  p = PutCoordinate(p, static_cast<int32_t>(rng.Below(1'800'001)) - 900'000);
  p = PutLit(p, R"(,"longitude":)");
  p = PutCoordinate(p, static_cast<int32_t>(rng.Below(3'600'001)) - 1'800'000);
  const std::span<const gd::Timezone> timezones = gd::Timezones();
  const gd::Timezone& tz = timezones[rng.Below(static_cast<uint32_t>(timezones.size()))];
  p = PutLit(p, R"(},"timezone":{"offset":)");
  p = PutQuoted(p, tz.offset);
  p = PutLit(p, R"(,"description":)");
  p = PutQuoted(p, tz.description);

  p = PutLit(p, R"(}},"email":")");
  p = PutEmailPart(p, first);
  *p++ = '.';
  p = PutEmailPart(p, last);
  p = PutLit(p, R"(@example.com")");

  p = PutLit(p, R"(,"login":{"uuid":)");
  // Past the opening quote; the 36 characters are copied out once the text is complete.
  const size_t uuid_at = static_cast<size_t>(p - begin) + 1;
  p = PutUuid(p, rng);
  p = PutLit(p, R"(,"username":")");
  p = PutText(p, rng.Pick(gd::UsernameAdjectives()));
  p = PutText(p, rng.Pick(gd::UsernameAnimals()));
  p = PutUint(p, rng.Between(100, 999));
  *p++ = '"';
  if (options_.include_login_secrets) {
    Rng secrets(Mix64(base ^ kSecretsStream));
    p = PutLit(p, R"(,"password":)");
    p = PutQuoted(p, secrets.Pick(gd::Passwords()));
    p = PutLit(p, R"(,"salt":)");
    p = PutSalt(p, secrets);
    p = PutLit(p, R"(,"md5":)");
    p = PutQuotedHex(p, secrets, 32);
    p = PutLit(p, R"(,"sha1":)");
    p = PutQuotedHex(p, secrets, 40);
    p = PutLit(p, R"(,"sha256":)");
    p = PutQuotedHex(p, secrets, 64);
  }

  p = PutLit(p, R"(},"dob":{"date":)");
  p = PutIsoDate(p, dob);
  p = PutLit(p, R"(,"age":)");
  p = PutUint(p, static_cast<uint64_t>(AgeAtReference(dob)));
  const CivilTime registered = RandomDate(rng, kRegisteredFirst, kRegisteredLast);
  p = PutLit(p, R"(},"registered":{"date":)");
  p = PutIsoDate(p, registered);
  p = PutLit(p, R"(,"age":)");
  p = PutUint(p, static_cast<uint64_t>(AgeAtReference(registered)));

  p = PutLit(p, R"(},"phone":)");
  p = PutQuotedPattern(p, nat.phone, rng, ctx);
  p = PutLit(p, R"(,"cell":)");
  p = PutQuotedPattern(p, nat.cell, rng, ctx);

  if (nat.id_name.empty()) {
    p = PutLit(p, R"(,"id":{"name":"","value":null})");
  } else {
    p = PutLit(p, R"(,"id":{"name":)");
    p = PutQuoted(p, nat.id_name);
    p = PutLit(p, R"(,"value":)");
    p = PutQuotedPattern(p, nat.id_value, rng, ctx);
    *p++ = '}';
  }

  const uint32_t picture = rng.Below(100);
  const std::string_view folder = male ? "men/" : "women/";
  p = PutLit(p, R"(,"picture":{"large":"https://randomuser.me/api/portraits/)");
  p = PutText(p, folder);
  p = PutUint(p, picture);
  p = PutLit(p, R"(.jpg","medium":"https://randomuser.me/api/portraits/med/)");
  p = PutText(p, folder);
  p = PutUint(p, picture);
  p = PutLit(p, R"(.jpg","thumbnail":"https://randomuser.me/api/portraits/thumb/)");
  p = PutText(p, folder);
  p = PutUint(p, picture);
  p = PutLit(p, R"(.jpg"},"nat":)");
  p = PutQuoted(p, nat.code);
  *p++ = '}';

  const auto written = static_cast<size_t>(p - begin);
  assert(written <= kMaxUserBytes);
  out.append(begin, written);
  if (uuid != nullptr) uuid->assign(begin + uuid_at, 36);
}

GeneratorSource::GeneratorSource(UserGenerator generator, uint64_t count, uint64_t start_index)
    : generator_(std::move(generator)), count_(count), start_index_(start_index) {}

Result<SourceState> GeneratorSource::Next(Batch& batch, size_t max_records, std::stop_token stop) {
  batch.origin = "generator";
  uint64_t n = std::max<size_t>(max_records, 1);
  if (count_ != 0) n = std::min(n, count_ - next_);
  if (stop.stop_requested()) n = 0;  // Stopping ends the stream cleanly: nothing is lost.

  for (uint64_t i = 0; i < n; ++i) {
    // A spare record from the pipeline comes with its strings' buffers: no allocation.
    RawRecord& record = batch.AddRecord();
    record.position = start_index_ + next_ + i;
    // The Kafka key comes free here; produce would otherwise parse every record to find it.
    generator_.AppendUser(record.position, record.json, &record.key);
  }
  next_ += n;
  batch.source_records = n;

  const bool finished = stop.stop_requested() || (count_ != 0 && next_ >= count_);
  return finished ? SourceState::kFinished : SourceState::kHaveMore;
}

std::string GeneratorSource::Describe() const {
  const GeneratorOptions& options = generator_.options();
  std::string description = "generator (seed \"" + options.seed + "\", nat ";
  if (options.nationalities.empty()) {
    description += "all";
  } else {
    for (size_t i = 0; i < options.nationalities.size(); ++i) {
      if (i > 0) description += ',';
      description += options.nationalities[i];
    }
  }
  description += ", ";
  description += count_ == 0 ? std::string("unbounded") : std::to_string(count_) + " users";
  description += ')';
  return description;
}

}  // namespace spate
