#include "core/record.h"

#include <cstdint>
#include <iterator>
#include <utility>

namespace spate {
namespace {

// Every text column of Row, for Rebase. The other four columns (age, latitude, longitude,
// ingested_at) are numbers.
constexpr std::string_view Row::*kRowText[] = {
    &Row::id,      &Row::first_name, &Row::last_name,
    &Row::gender,  &Row::address,    &Row::post_code,
    &Row::email,   &Row::username,   &Row::registered_date,
    &Row::phone,   &Row::picture,    &Row::dob,
    &Row::nat,     &Row::city,       &Row::state,
    &Row::country, &Row::timezone,   &Row::cell};
static_assert(std::size(kRowText) + 4 == kRowColumnCount);

}  // namespace

void Row::Rebase(const char* old_begin, size_t size) {
  for (std::string_view Row::*column : kRowText) {
    this->*column = Rebased(this->*column, old_begin, size, storage.data());
  }
}

Row::Row(const Row& other) { *this = other; }

Row::Row(Row&& other) noexcept { *this = std::move(other); }

Row& Row::operator=(const Row& other) {
  if (this == &other) return *this;
  for (std::string_view Row::*column : kRowText) this->*column = other.*column;
  age = other.age;
  latitude = other.latitude;
  longitude = other.longitude;
  ingested_at_ms = other.ingested_at_ms;
  storage = other.storage;
  Rebase(other.storage.data(), other.storage.size());
  return *this;
}

Row& Row::operator=(Row&& other) noexcept {
  if (this == &other) return *this;
  for (std::string_view Row::*column : kRowText) {
    this->*column = std::exchange(other.*column, kNoText);
  }
  age = other.age;
  latitude = other.latitude;
  longitude = other.longitude;
  ingested_at_ms = other.ingested_at_ms;
  // A moved string usually keeps its buffer, but not a short one (stored inline), so the
  // views are re-pointed either way.
  const char* old_begin = other.storage.data();
  const size_t size = other.storage.size();
  storage = std::move(other.storage);
  Rebase(old_begin, size);
  return *this;
}

}  // namespace spate
