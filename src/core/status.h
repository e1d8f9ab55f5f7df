// Status and Result: errors as values.
//
// Every fallible call in spate returns a Status (or a Result<T>) that says whether it
// worked and, when it did not, whether trying again may help. Callers never guess:
// retriable errors (a 429, a dropped connection, a busy database) are retried with
// backoff; fatal ones (bad config, a record that can never become a row) are not.
//
// Thread-safety: plain values; copy freely.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace spate {

enum class ErrorKind {
  kOk,
  kRetriable,     // Transient: the same call may succeed later.
  kFatal,         // Permanent for this run: configuration, I/O that will not heal.
  kInvalidInput,  // The data is bad; route it to the dead-letter sink.
  kCancelled,     // A stop was requested while waiting.
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Retriable(std::string msg) { return Status(ErrorKind::kRetriable, std::move(msg)); }
  static Status Fatal(std::string msg) { return Status(ErrorKind::kFatal, std::move(msg)); }
  static Status InvalidInput(std::string msg) {
    return Status(ErrorKind::kInvalidInput, std::move(msg));
  }
  static Status Cancelled(std::string msg) { return Status(ErrorKind::kCancelled, std::move(msg)); }

  bool ok() const { return kind_ == ErrorKind::kOk; }
  bool retriable() const { return kind_ == ErrorKind::kRetriable; }
  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }

  // Adds context in front of the message, keeping the kind: "sqlite: " + "disk full".
  Status WithContext(std::string_view context) const {
    if (ok()) return *this;
    return Status(kind_, std::string(context) + ": " + message_);
  }

 private:
  Status(ErrorKind kind, std::string msg) : kind_(kind), message_(std::move(msg)) {}

  ErrorKind kind_ = ErrorKind::kOk;
  std::string message_;
};

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  T& operator*() { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace spate
