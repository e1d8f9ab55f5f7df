#include "transforms/user_transform.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <charconv>
#include <cstring>
#include <iterator>

#include <fmt/format.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/clock.h"
#include "core/json_writer.h"

namespace spate {
namespace {

namespace od = simdjson::ondemand;

const char* TypeName(od::json_type type) {
  switch (type) {
    case od::json_type::array:
      return "array";
    case od::json_type::object:
      return "object";
    case od::json_type::number:
      return "number";
    case od::json_type::string:
      return "string";
    case od::json_type::boolean:
      return "boolean";
    case od::json_type::null:
      return "null";
  }
  return "unknown";
}

// Collects the first problem found; later ones are ignored so the reason stays readable.
class Problems {
 public:
  bool any() const { return !reason_.empty(); }
  const std::string& reason() const { return reason_; }
  void Set(std::string reason) {
    if (reason_.empty()) reason_ = std::move(reason);
  }
  void WrongType(std::string_view path, std::string_view want, od::value& value) {
    od::json_type type;
    const char* got = value.type().get(type) ? "invalid JSON" : TypeName(type);
    Set(fmt::format("{}: expected {}, got {}", path, want, got));
  }
  void Json(std::string_view path, simdjson::error_code err) {
    Set(fmt::format("malformed JSON at {}: {}", path, simdjson::error_message(err)));
  }

 private:
  std::string reason_;
};

// A raw object key, compared without unescaping. Only for ASCII names without escapes.
struct Key {
  simdjson::ondemand::raw_json_string raw;
  bool operator==(std::string_view name) const { return raw.unsafe_is_equal(name); }
  char first() const { return *raw.raw(); }
};

// True if `s` holds a backslash. Reads whole 8-byte words, so up to 7 bytes past the end of
// `s`: only for text inside simdjson's padded input (a closing quote and padding follow).
bool HasBackslash(std::string_view s) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  const char* p = s.data();
  size_t n = s.size();
  while (true) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    if (n < 8) {
      if (n == 0) return false;
      // Keep the first n bytes in memory order; the rest become 0 (not a backslash).
      const uint64_t keep = (uint64_t{1} << (8 * n)) - 1;
      w &= std::endian::native == std::endian::little ? keep : ~(~uint64_t{0} >> (8 * n));
    }
    const uint64_t x = w ^ (kOnes * '\\');
    if (((x - kOnes) & ~x & kHigh) != 0) return true;
    if (n <= 8) return false;
    p += 8;
    n -= 8;
  }
}

// The text of a string value that has no escapes, straight from the (UTF-8 validated) input:
// what get_string would return, without unescaping into simdjson's string buffer first. False
// for escaped strings and other types; the caller then asks simdjson (and reports its errors).
// Does not consume the value: the object iteration skips it like any unread value.
bool PlainString(od::value& value, std::string_view& out) {
  std::string_view token = value.raw_json_token();
  // A token runs up to the next one, so whitespace may follow the closing quote.
  token = TrimJsonSpace(token);
  if (token.size() < 2 || token.front() != '"' || token.back() != '"') return false;
  token = token.substr(1, token.size() - 2);
  // Without a backslash the content is the string itself (it cannot hold a quote either).
  if (HasBackslash(token)) return false;
  out = token;
  return true;
}

// Reads all of `s` as a number, as std::from_chars does, and in a fraction of its time for
// the plain decimals the API sends ("-69.8246"): up to 15 digits make an integer a double
// holds exactly, powers of ten up to 1e15 are exact too, and one IEEE division of the two
// is correctly rounded, so the result is the same double. Anything else (an exponent, more
// digits, "nan", "5.") goes to std::from_chars.
bool ParseDouble(std::string_view s, double& out) {
  static constexpr double kPow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                      1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
  size_t i = 0;
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) ++i;
  uint64_t mantissa = 0;
  int digits = 0;
  int fraction = -1;  // Digits after the point; -1 before it.
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c >= '0' && c <= '9') {
      mantissa = mantissa * 10 + static_cast<uint64_t>(c - '0');
      ++digits;
      if (fraction >= 0) ++fraction;
    } else if (c == '.' && fraction < 0) {
      fraction = 0;
    } else {
      break;
    }
  }
  if (i == s.size() && digits > 0 && digits <= 15 && fraction != 0) {
    const double value = static_cast<double>(mantissa) / kPow10[std::max(fraction, 0)];
    out = negative ? -value : value;
    return true;
  }
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

// Which required fields were seen; one bit each.
enum Field : uint32_t {
  kGender = 1u << 0,
  kFirst = 1u << 1,
  kLast = 1u << 2,
  kStreetNumber = 1u << 3,
  kStreetName = 1u << 4,
  kCity = 1u << 5,
  kState = 1u << 6,
  kCountry = 1u << 7,
  kPostcode = 1u << 8,
  kLatitude = 1u << 9,
  kLongitude = 1u << 10,
  kTimezone = 1u << 11,
  kEmail = 1u << 12,
  kUuid = 1u << 13,
  kUsername = 1u << 14,
  kDob = 1u << 15,
  kAge = 1u << 16,
  kRegistered = 1u << 17,
  kPhone = 1u << 18,
  kCell = 1u << 19,
  kPicture = 1u << 20,
  kNat = 1u << 21,
};

struct FieldName {
  Field bit;
  const char* path;
};
constexpr FieldName kRequired[] = {
    {kUuid, "login.uuid"},
    {kFirst, "name.first"},
    {kLast, "name.last"},
    {kGender, "gender"},
    {kStreetNumber, "location.street.number"},
    {kStreetName, "location.street.name"},
    {kCity, "location.city"},
    {kState, "location.state"},
    {kCountry, "location.country"},
    {kPostcode, "location.postcode"},
    {kLatitude, "location.coordinates.latitude"},
    {kLongitude, "location.coordinates.longitude"},
    {kTimezone, "location.timezone.offset"},
    {kEmail, "email"},
    {kUsername, "login.username"},
    {kDob, "dob.date"},
    {kAge, "dob.age"},
    {kRegistered, "registered.date"},
    {kPhone, "phone"},
    {kCell, "cell"},
    {kPicture, "picture.medium"},
    {kNat, "nat"},
};

// Everything one record's mapping needs while it walks the document.
class Mapper {
 public:
  explicit Mapper(Row& row) : row_(row) {}

  void Top(od::object& object);
  uint32_t seen() const { return seen_; }
  bool legacy() const { return legacy_; }
  Problems& problems() { return problems_; }
  // The address's first two parts, kept until city, state and country are known.
  std::string_view street_number() const { return street_number_; }
  std::string_view street_name() const { return street_name_; }

 private:
  // `dest` points at the string's bytes in the input (row.storage) or, for an escaped
  // string, in the parser's string buffer until Apply copies it.
  void String(od::value& value, const char* path, Field bit, std::string_view& dest) {
    if (!PlainString(value, dest) && value.get_string().get(dest)) {
      return problems_.WrongType(path, "string", value);
    }
    seen_ |= bit;
  }
  // Numbers or strings holding digits: the API is not consistent (postcode, street number).
  void Text(od::value& value, const char* path, Field bit, std::string_view& dest);
  void Coordinate(od::value& value, const char* path, Field bit, double& dest);
  void OutOfRange(const char* path, double value, double limit);
  void Integer(od::value& value, const char* path, Field bit, int64_t& dest) {
    if (value.get_int64().get(dest)) return problems_.WrongType(path, "integer", value);
    seen_ |= bit;
  }
  template <typename Fn>
  void Object(od::value& value, const char* path, Fn&& on_field);

  void Name(od::value& value);
  void Location(od::value& value);
  void Login(od::value& value);

  Row& row_;
  std::string_view street_number_;
  std::string_view street_name_;
  Problems problems_;
  uint32_t seen_ = 0;
  bool legacy_ = false;
};

template <typename Fn>
void Mapper::Object(od::value& value, const char* path, Fn&& on_field) {
  od::object object;
  if (value.get_object().get(object)) return problems_.WrongType(path, "object", value);
  for (auto result : object) {
    if (auto err = result.error()) return problems_.Json(path, err);
    // The field in place: its value goes on by reference (see Top).
    od::field& field = result.value_unsafe();
    on_field(Key{field.key()}, field.value());
    if (problems_.any()) return;
  }
}

void Mapper::Text(od::value& value, const char* path, Field bit, std::string_view& dest) {
  od::json_type type;
  if (auto err = value.type().get(type)) return problems_.Json(path, err);
  if (type == od::json_type::string) return String(value, path, bit, dest);
  if (type != od::json_type::number) return problems_.WrongType(path, "string or number", value);
  od::number number;
  if (auto err = value.get_number().get(number)) return problems_.Json(path, err);
  // Keep the number's own digits (no float round trip): 0010 cannot appear as a JSON number,
  // so the token is exactly what the API meant.
  dest = TrimJsonSpace(value.raw_json_token());
  seen_ |= bit;
}

// Cold: kept out of line so the error formatting does not weigh on the hot path.
[[gnu::noinline, gnu::cold]] void Mapper::OutOfRange(const char* path, double value, double limit) {
  problems_.Set(fmt::format("{}: {} is out of range [-{}, {}]", path, value, limit, limit));
}

void Mapper::Coordinate(od::value& value, const char* path, Field bit, double& dest) {
  od::json_type type;
  if (auto err = value.type().get(type)) return problems_.Json(path, err);
  if (type == od::json_type::number) {
    if (value.get_double().get(dest)) return problems_.WrongType(path, "number", value);
  } else if (type == od::json_type::string) {
    std::string_view s;
    if (!PlainString(value, s)) {
      if (auto err = value.get_string().get(s)) return problems_.Json(path, err);
    }
    if (!ParseDouble(s, dest)) {
      return problems_.Set(fmt::format("{}: \"{}\" is not a number", path, s.substr(0, 40)));
    }
  } else {
    return problems_.WrongType(path, "number or numeric string", value);
  }
  // from_chars takes "nan" and "inf"; neither is a place. Latitudes end at 90, longitudes
  // at 180 (bit says which this is).
  const double limit = bit == kLatitude ? 90.0 : 180.0;
  if (!(dest >= -limit && dest <= limit)) [[unlikely]] {
    return OutOfRange(path, dest, limit);
  }
  seen_ |= bit;
}

void Mapper::Name(od::value& value) {
  Object(value, "name", [&](Key key, od::value& v) {
    if (key == "first") {
      String(v, "name.first", kFirst, row_.first_name);
    } else if (key == "last") {
      String(v, "name.last", kLast, row_.last_name);
    }
  });
}

void Mapper::Location(od::value& value) {
  Object(value, "location", [&](Key key, od::value& v) {
    if (key == "street") {
      Object(v, "location.street", [&](Key k, od::value& s) {
        if (k == "number") {
          Text(s, "location.street.number", kStreetNumber, street_number_);
        } else if (k == "name") {
          String(s, "location.street.name", kStreetName, street_name_);
        }
      });
    } else if (key == "city") {
      String(v, "location.city", kCity, row_.city);
    } else if (key == "state") {
      String(v, "location.state", kState, row_.state);
    } else if (key == "country") {
      String(v, "location.country", kCountry, row_.country);
    } else if (key == "postcode") {
      Text(v, "location.postcode", kPostcode, row_.post_code);
    } else if (key == "coordinates") {
      Object(v, "location.coordinates", [&](Key k, od::value& c) {
        if (k == "latitude") {
          Coordinate(c, "location.coordinates.latitude", kLatitude, row_.latitude);
        } else if (k == "longitude") {
          Coordinate(c, "location.coordinates.longitude", kLongitude, row_.longitude);
        }
      });
    } else if (key == "timezone") {
      Object(v, "location.timezone", [&](Key k, od::value& t) {
        if (k == "offset") String(t, "location.timezone.offset", kTimezone, row_.timezone);
      });
    }
  });
}

void Mapper::Login(od::value& value) {
  Object(value, "login", [&](Key key, od::value& v) {
    if (key == "uuid") {
      String(v, "login.uuid", kUuid, row_.id);
      if (problems_.any()) return;
      if (!IsValidUuid(row_.id)) {
        return problems_.Set(
            fmt::format("login.uuid: \"{}\" is not a valid UUID", row_.id.substr(0, 64)));
      }
      // Lower-cased by Apply, once the id's bytes are in row.storage.
    } else if (key == "username") {
      String(v, "login.username", kUsername, row_.username);
    }
  });
}

void Mapper::Top(od::object& object) {
  for (auto result : object) {
    if (auto err = result.error()) return problems_.Json("record", err);
    // The field is used in place and its value passed by reference, never copied: copying
    // simdjson's iterator right after it was built stalled on store forwarding, once or twice
    // per field, which was a third of the whole per-record cost (perf on the AMD EPYC VM).
    od::field& field = result.value_unsafe();
    const Key key{field.key()};
    od::value& v = field.value();
    switch (key.first()) {
      case 'g':
        if (key == "gender") String(v, "gender", kGender, row_.gender);
        break;
      case 'n':
        if (key == "name") {
          Name(v);
        } else if (key == "nat") {
          String(v, "nat", kNat, row_.nat);
        }
        break;
      case 'l':
        if (key == "location") {
          Location(v);
        } else if (key == "login") {
          Login(v);
        }
        break;
      case 'e':
        if (key == "email") String(v, "email", kEmail, row_.email);
        break;
      case 'd':
        if (key == "dob") {
          Object(v, "dob", [&](Key k, od::value& d) {
            if (k == "date") {
              String(d, "dob.date", kDob, row_.dob);
            } else if (k == "age") {
              Integer(d, "dob.age", kAge, row_.age);
            }
          });
        }
        break;
      case 'r':
        if (key == "registered") {
          Object(v, "registered", [&](Key k, od::value& d) {
            if (k == "date") String(d, "registered.date", kRegistered, row_.registered_date);
          });
        }
        break;
      case 'p':
        if (key == "phone") {
          String(v, "phone", kPhone, row_.phone);
        } else if (key == "picture") {
          Object(v, "picture", [&](Key k, od::value& p) {
            if (k == "medium") String(p, "picture.medium", kPicture, row_.picture);
          });
        }
        break;
      case 'c':
        if (key == "cell") String(v, "cell", kCell, row_.cell);
        break;
      case 'u':
        if (key == "user") legacy_ = true;
        break;
      default:
        break;
    }
    if (problems_.any()) return;
  }
}

// The first byte at or after `p` that ends a string's content when it has no escapes: a quote,
// a backslash or a control character (JSON allows none of them raw). Reads 16 bytes at a
// time, so up to 15 past the byte it returns: only for input followed by simdjson's zeroed
// padding, whose first byte (a control character) stops the scan.
const char* FindStringStop(const char* p) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i last_control = _mm_set1_epi8(0x1F);
  while (true) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // min(v, 0x1F) == v: v is a control character (an unsigned compare).
    const __m128i stop =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                     _mm_cmpeq_epi8(_mm_min_epu8(v, last_control), v));
    if (const auto mask = static_cast<unsigned>(_mm_movemask_epi8(stop)); mask != 0) {
      return p + std::countr_zero(mask);
    }
    p += 16;
  }
#else
  while (*p != '"' && *p != '\\' && static_cast<unsigned char>(*p) >= 0x20) ++p;
  return p;
#endif
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads a record laid out exactly as randomuser.me sends one and spate passes it on: compact,
// the API's keys in the API's order, login secrets removed, no escaped strings, plain
// integers, coordinates as strings. That is nearly every record, and for them this one
// linear pass replaces simdjson's structural pass and the on-demand walk, which were most of
// `spate process`'s CPU (docs/benchmarks.md, section 1). It is strict, never lenient: on
// any difference, whether the record is bad or only unusual, Read returns false and Apply
// hands the record to the simdjson Mapper, which accepts or rejects it and names the reason.
// A record Read accepts gives the same row the Mapper would (user_transform_test compares
// the two on every fixture and on thousands of mutated records).
//
// The input must be followed by simdjson's padding (zero bytes): the literal compares and
// string scans read into it and stop there, so no step needs a bounds check.
class CanonicalReader {
 public:
  CanonicalReader(std::string_view json, Row& row)
      : begin_(json.data()), p_(begin_), end_(begin_ + json.size()), row_(row) {}

  // True if the record has the canonical layout and valid values; the row's columns (but
  // the address) and the street's parts are then set. On false, the row holds nothing.
  bool Read(std::string_view& street_number, std::string_view& street_name) {
    std::string_view ignored, age;
    const bool ok =
        Lit(R"({"gender":)") && Str(row_.gender) &&  //
        Lit(R"(,"name":{"title":)") && Str(ignored) && Lit(R"(,"first":)") &&
        Str(row_.first_name) && Lit(R"(,"last":)") && Str(row_.last_name) &&
        Lit(R"(},"location":{"street":{"number":)") && Text(street_number) && Lit(R"(,"name":)") &&
        Str(street_name) && Lit(R"(},"city":)") && Str(row_.city) && Lit(R"(,"state":)") &&
        Str(row_.state) && Lit(R"(,"country":)") && Str(row_.country) && Lit(R"(,"postcode":)") &&
        Text(row_.post_code) && Lit(R"(,"coordinates":{"latitude":)") &&
        Coordinate(row_.latitude, 90.0) && Lit(R"(,"longitude":)") &&
        Coordinate(row_.longitude, 180.0) && Lit(R"(},"timezone":{"offset":)") &&
        Str(row_.timezone) && Lit(R"(,"description":)") && Str(ignored) && Lit(R"(}},"email":)") &&
        Str(row_.email) && Lit(R"(,"login":{"uuid":)") && Str(row_.id) && IsValidUuid(row_.id) &&
        Lit(R"(,"username":)") && Str(row_.username) && Lit(R"(},"dob":{"date":)") &&
        Str(row_.dob) && Lit(R"(,"age":)") && Int(age) && Lit(R"(},"registered":{"date":)") &&
        Str(row_.registered_date) && Lit(R"(,"age":)") && Int(ignored) && Lit(R"(},"phone":)") &&
        Str(row_.phone) && Lit(R"(,"cell":)") && Str(row_.cell) && Lit(R"(,"id":{"name":)") &&
        Str(ignored) && Lit(R"(,"value":)") && (Lit("null") || Str(ignored)) &&
        Lit(R"(},"picture":{"large":)") && Str(ignored) && Lit(R"(,"medium":)") &&
        Str(row_.picture) && Lit(R"(,"thumbnail":)") && Str(ignored) && Lit(R"(},"nat":)") &&
        Str(row_.nat) && Lit("}") && AtEnd();
    if (!ok) return false;
    // Up to 18 digits: always an int64, and what simdjson's get_int64 reads too.
    std::from_chars(age.data(), age.data() + age.size(), row_.age);
    // Checked last, once the shape is known to be right: the only pass over every byte.
    return simdjson::validate_utf8(begin_, static_cast<size_t>(end_ - begin_));
  }

 private:
  template <size_t N>
  bool Lit(const char (&text)[N]) {
    static_assert(N - 1 <= simdjson::SIMDJSON_PADDING, "a literal reads at most the padding");
    // The padding holds no literal's bytes, so a compare that reaches it fails.
    if (std::memcmp(p_, text, N - 1) != 0) return false;
    p_ += N - 1;
    return true;
  }
  bool Str(std::string_view& out) {
    if (*p_ != '"') return false;
    const char* start = p_ + 1;
    const char* stop = FindStringStop(start);
    if (*stop != '"') return false;  // An escape, a control character, or the end.
    out = std::string_view(start, static_cast<size_t>(stop - start));
    p_ = stop + 1;
    return true;
  }
  // A JSON integer without sign, fraction or exponent, up to 18 digits (no leading zero).
  bool Int(std::string_view& out) {
    const char* start = p_;
    if (*p_ == '0') {
      ++p_;
    } else {
      while (IsDigit(*p_)) ++p_;
    }
    out = std::string_view(start, static_cast<size_t>(p_ - start));
    return !out.empty() && out.size() <= 18;
  }
  // A string or an integer, as the Mapper's Text keeps it.
  bool Text(std::string_view& out) { return *p_ == '"' ? Str(out) : Int(out); }
  bool Coordinate(double& out, double limit) {
    std::string_view text;
    return Str(text) && ParseDouble(text, out) && out >= -limit && out <= limit;
  }
  // Only whitespace after the object.
  bool AtEnd() {
    while (p_ < end_ && IsJsonSpace(*p_)) ++p_;
    return p_ == end_;
  }

  const char* const begin_;
  const char* p_;
  const char* const end_;
  Row& row_;
};

}  // namespace

std::string_view KeyReader::LoginUuid(std::string_view user_json) {
  od::document doc;
  if (parser_.iterate(buffer_.Set(user_json)).get(doc)) return {};
  std::string_view uuid;
  // find_field_unordered: the key may be anywhere in a record from an arbitrary producer.
  if (doc.find_field_unordered("login").find_field_unordered("uuid").get_string().get(uuid)) {
    return {};
  }
  return uuid;
}

namespace {

// Appends `text` to `buffer`, which has room for it (so nothing else moves).
std::string_view AppendOwned(std::string& buffer, std::string_view text) {
  const size_t at = buffer.size();
  buffer.append(text);
  return std::string_view(buffer.data() + at, text.size());
}

}  // namespace

Status UserTransform::MapGeneral(size_t size, Row& row, std::string_view& street_number,
                                 std::string_view& street_name) {
  std::string& storage = row.storage;
  od::document doc;
  if (auto err = parser_.iterate(simdjson::padded_string_view(storage.data(), size, storage.size()))
                     .get(doc)) {
    return Status::InvalidInput(fmt::format("malformed JSON: {}", simdjson::error_message(err)));
  }
  od::object object;
  if (auto err = doc.get_object().get(object)) {
    return Status::InvalidInput(
        err == simdjson::INCORRECT_TYPE
            ? "not a JSON object (a user record must be an object)"
            : fmt::format("malformed JSON: {}", simdjson::error_message(err)));
  }
  Mapper mapper(row);
  mapper.Top(object);
  if (mapper.legacy() && !(mapper.seen() & kUuid)) {
    return Status::InvalidInput(
        "legacy 0.x record (results[].user{...}) is not supported: fetch API version 1.x");
  }
  if (mapper.problems().any()) return Status::InvalidInput(mapper.problems().reason());
  if (!AtEnd(doc)) return Status::InvalidInput("malformed JSON: trailing content after object");
  for (const FieldName& f : kRequired) {
    if (!(mapper.seen() & f.bit)) {
      return Status::InvalidInput(fmt::format("missing required field {}", f.path));
    }
  }

  street_number = mapper.street_number();
  street_name = mapper.street_name();
  return Status::Ok();
}

namespace {

// The room Map needs after a record: the padding, and the address (rarely 100 bytes).
static_assert(simdjson::SIMDJSON_PADDING + 128 <= kRecordRoom);

Status RecordTooLarge(size_t size, size_t limit) {
  return Status::InvalidInput(fmt::format("record too large: {} bytes (limit {})", size, limit));
}

}  // namespace

Status UserTransform::Apply(std::string_view user_json, int64_t ingested_at_ms, Row& row) {
  if (user_json.size() > max_record_bytes_) {
    return RecordTooLarge(user_json.size(), max_record_bytes_);
  }
  // The record is copied once, into the row, and parsed there; the columns then point into
  // it. Rows are reused and keep their buffer.
  ReserveRecordBuffer(row.storage, user_json.size());
  row.storage.assign(user_json);
  return Map(user_json.size(), ingested_at_ms, row);
}

Status UserTransform::ApplyOwned(std::string& user_json, int64_t ingested_at_ms, Row& row) {
  const size_t size = user_json.size();
  if (size > max_record_bytes_) return RecordTooLarge(size, max_record_bytes_);
  if (!RecordBufferFits(user_json.capacity(), size)) return Apply(user_json, ingested_at_ms, row);
  // No copy: the bytes the source wrote are parsed where they are. The row's old buffer
  // goes back to the source in the record's place.
  row.storage.swap(user_json);
  Status status = Map(size, ingested_at_ms, row);
  if (!status.ok()) {
    row.storage.resize(size);  // The record, for the dead-letter sink.
    row.storage.swap(user_json);
  }
  return status;
}

Status UserTransform::Map(size_t size, int64_t ingested_at_ms, Row& row) {
  std::string& storage = row.storage;
  // simdjson reads past the end, and so does the canonical reader: zeroes stop both.
  storage.append(simdjson::SIMDJSON_PADDING, '\0');
  std::string_view number;
  std::string_view name;
  if (readers_ == Readers::kCanonicalFirst &&
      CanonicalReader(std::string_view(storage.data(), size), row).Read(number, name)) {
    ++canonical_reads_;
  } else if (Status status = MapGeneral(size, row, number, name); !status.ok()) {
    return status;
  }

  // Escaped strings were unescaped into the parser's buffer, which the next record reuses:
  // copy them into the row, after making room for them and the address in one step.
  constexpr std::string_view kComma = ", ";
  size_t extra = number.size() + 1 + name.size() + row.city.size() + row.state.size() +
                 row.country.size() + 3 * kComma.size();
  row.address = kNoText;  // Built below; the old view may point at freed bytes.
  uint32_t escaped = 0;   // Bit i: kRowTextColumns[i] is not in storage.
  for (size_t i = 0; i < std::size(kRowTextColumns); ++i) {
    const std::string_view text = row.*kRowTextColumns[i];
    // Empty: nothing to copy (only the address is, and an escaped string never is).
    if (!text.empty() && !PointsInto(text, storage.data(), storage.size())) {
      escaped |= 1u << i;
      extra += text.size();
    }
  }
  if (storage.size() + extra > storage.capacity()) {
    const char* old_begin = storage.data();
    const size_t old_size = storage.size();
    storage.reserve(storage.size() + extra);
    row.Rebase(old_begin, old_size);
    number = Rebased(number, old_begin, old_size, storage.data());
    name = Rebased(name, old_begin, old_size, storage.data());
  }
  [[maybe_unused]] const char* const final_begin = storage.data();
  for (; escaped != 0; escaped &= escaped - 1) {
    std::string_view& text = row.*kRowTextColumns[std::countr_zero(escaped)];
    text = AppendOwned(storage, text);
  }
  // The id is canonical in lower case, and its bytes are the row's own now. It is a valid
  // UUID, so setting bit 0x20 maps A-F to a-f and keeps digits and dashes as they are.
  char* id = storage.data() + (row.id.data() - storage.data());
  for (size_t i = 0; i < row.id.size(); ++i) id[i] = static_cast<char>(id[i] | 0x20);
  // The tutorial's address formula, exactly: "{number} {name}, {city}, {state}, {country}".
  const size_t address_at = storage.size();
  storage.append(number).append(std::string_view(" ")).append(name);
  storage.append(kComma).append(row.city).append(kComma).append(row.state);
  storage.append(kComma).append(row.country);
  row.address = std::string_view(storage.data() + address_at, storage.size() - address_at);
  assert(storage.data() == final_begin && "storage moved: columns point at freed bytes");
  row.ingested_at_ms = ingested_at_ms;
  return Status::Ok();
}

namespace {

// AppendRowJson's general path: any row, escaping where needed.
void AppendRowJsonEscaped(const Row& row, std::string& out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("id"), w.String(row.id);
  w.Key("first_name"), w.String(row.first_name);
  w.Key("last_name"), w.String(row.last_name);
  w.Key("gender"), w.String(row.gender);
  w.Key("address"), w.String(row.address);
  w.Key("post_code"), w.String(row.post_code);
  w.Key("email"), w.String(row.email);
  w.Key("username"), w.String(row.username);
  w.Key("registered_date"), w.String(row.registered_date);
  w.Key("phone"), w.String(row.phone);
  w.Key("picture"), w.String(row.picture);
  w.Key("dob"), w.String(row.dob);
  w.Key("age"), w.Int(row.age);
  w.Key("nat"), w.String(row.nat);
  w.Key("city"), w.String(row.city);
  w.Key("state"), w.String(row.state);
  w.Key("country"), w.String(row.country);
  w.Key("latitude"), w.Double(row.latitude);
  w.Key("longitude"), w.Double(row.longitude);
  w.Key("timezone"), w.String(row.timezone);
  w.Key("cell"), w.String(row.cell);
  w.Key("ingested_at"), w.Int(row.ingested_at_ms);
  w.EndObject();
}

// The keys and punctuation of a row object, in kRowColumns order: kRowLiterals[i] comes
// before column i's value, the last one closes the object.
constexpr std::string_view kRowLiterals[] = {
    R"({"id":")",
    R"(","first_name":")",
    R"(","last_name":")",
    R"(","gender":")",
    R"(","address":")",
    R"(","post_code":")",
    R"(","email":")",
    R"(","username":")",
    R"(","registered_date":")",
    R"(","phone":")",
    R"(","picture":")",
    R"(","dob":")",
    R"(","age":)",
    R"(,"nat":")",
    R"(","city":")",
    R"(","state":")",
    R"(","country":")",
    R"(","latitude":)",
    R"(,"longitude":)",
    R"(,"timezone":")",
    R"(","cell":")",
    R"(","ingested_at":)",
    R"(})",
};
static_assert(std::size(kRowLiterals) == kRowColumnCount + 1);

constexpr size_t kRowLiteralBytes = [] {
  size_t n = 0;
  for (std::string_view s : kRowLiterals) n += s.size();
  return n;
}();

char* Put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

}  // namespace

void AppendRowJson(const Row& row, std::string& out) {
  // The common case: no string needs escaping. Then the output is the literals and the values
  // copied as they are, so the buffer grows once to the exact size and each value is checked
  // as it is copied; if a value needed escaping, the general path writes the row instead.
  // The literals must produce exactly what AppendRowJsonEscaped does (user_transform_test).
  char age[kJsonIntMaxBytes], lat[kJsonDoubleMaxBytes], lon[kJsonDoubleMaxBytes],
      ingested[kJsonIntMaxBytes];
  const std::string_view age_text(age, WriteJsonInt(age, row.age) - age);
  const std::string_view lat_text(lat, WriteJsonDouble(lat, row.latitude) - lat);
  const std::string_view lon_text(lon, WriteJsonDouble(lon, row.longitude) - lon);
  const std::string_view ingested_text(ingested,
                                       WriteJsonInt(ingested, row.ingested_at_ms) - ingested);
  const size_t size = kRowLiteralBytes + row.id.size() + row.first_name.size() +
                      row.last_name.size() + row.gender.size() + row.address.size() +
                      row.post_code.size() + row.email.size() + row.username.size() +
                      row.registered_date.size() + row.phone.size() + row.picture.size() +
                      row.dob.size() + age_text.size() + row.nat.size() + row.city.size() +
                      row.state.size() + row.country.size() + lat_text.size() + lon_text.size() +
                      row.timezone.size() + row.cell.size() + ingested_text.size();
  const size_t at = out.size();
  out.resize(at + size);
  char* p = out.data() + at;
  uint64_t escapes = 0;
  auto str = [&escapes](char* dst, std::string_view s) { return CopyJsonChars(dst, s, escapes); };
  p = str(Put(p, kRowLiterals[0]), row.id);
  p = str(Put(p, kRowLiterals[1]), row.first_name);
  p = str(Put(p, kRowLiterals[2]), row.last_name);
  p = str(Put(p, kRowLiterals[3]), row.gender);
  p = str(Put(p, kRowLiterals[4]), row.address);
  p = str(Put(p, kRowLiterals[5]), row.post_code);
  p = str(Put(p, kRowLiterals[6]), row.email);
  p = str(Put(p, kRowLiterals[7]), row.username);
  p = str(Put(p, kRowLiterals[8]), row.registered_date);
  p = str(Put(p, kRowLiterals[9]), row.phone);
  p = str(Put(p, kRowLiterals[10]), row.picture);
  p = str(Put(p, kRowLiterals[11]), row.dob);
  p = Put(Put(p, kRowLiterals[12]), age_text);
  p = str(Put(p, kRowLiterals[13]), row.nat);
  p = str(Put(p, kRowLiterals[14]), row.city);
  p = str(Put(p, kRowLiterals[15]), row.state);
  p = str(Put(p, kRowLiterals[16]), row.country);
  p = Put(Put(p, kRowLiterals[17]), lat_text);
  p = Put(Put(p, kRowLiterals[18]), lon_text);
  p = str(Put(p, kRowLiterals[19]), row.timezone);
  p = str(Put(p, kRowLiterals[20]), row.cell);
  p = Put(Put(p, kRowLiterals[21]), ingested_text);
  p = Put(p, kRowLiterals[22]);
  assert(p == out.data() + out.size());  // `size` counts every byte written.
  if (escapes != 0) {
    out.resize(at);
    AppendRowJsonEscaped(row, out);
  }
}

}  // namespace spate
