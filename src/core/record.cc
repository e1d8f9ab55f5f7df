#include "core/record.h"

#include <cstdint>
#include <iterator>
#include <utility>

namespace spate {

static_assert(std::size(kRowTextColumns) + 4 == kRowColumnCount);

void Row::Rebase(const char* old_begin, size_t size) {
  for (std::string_view Row::*column : kRowTextColumns) {
    this->*column = Rebased(this->*column, old_begin, size, storage.data());
  }
}

Row::Row(const Row& other) { *this = other; }

Row::Row(Row&& other) noexcept { *this = std::move(other); }

Row& Row::operator=(const Row& other) {
  if (this == &other) return *this;
  for (std::string_view Row::*column : kRowTextColumns) this->*column = other.*column;
  age = other.age;
  latitude = other.latitude;
  longitude = other.longitude;
  ingested_at_ms = other.ingested_at_ms;
  ingest_us = other.ingest_us;
  position = other.position;
  item = other.item;
  partition = other.partition;
  record_size = other.record_size;
  storage = other.storage;
  Rebase(other.storage.data(), other.storage.size());
  return *this;
}

Row& Row::operator=(Row&& other) noexcept {
  if (this == &other) return *this;
  for (std::string_view Row::*column : kRowTextColumns) {
    this->*column = std::exchange(other.*column, kNoText);
  }
  age = other.age;
  latitude = other.latitude;
  longitude = other.longitude;
  ingested_at_ms = other.ingested_at_ms;
  ingest_us = other.ingest_us;
  position = other.position;
  item = other.item;
  partition = other.partition;
  record_size = other.record_size;
  // A moved string usually keeps its buffer, but not a short one (stored inline), so the
  // views are re-pointed either way.
  const char* old_begin = other.storage.data();
  const size_t size = other.storage.size();
  storage = std::move(other.storage);
  Rebase(old_begin, size);
  return *this;
}

void ReserveRecordBuffer(std::string& buffer, size_t size) {
  if (RecordBufferFits(buffer.capacity(), size)) return;
  // More than the room, so that records a little larger than this one fit too.
  constexpr size_t kSpare = 128;
  std::string fresh;
  fresh.reserve(size + kRecordRoom + kSpare);
  buffer.swap(fresh);
}

}  // namespace spate
