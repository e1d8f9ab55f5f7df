// BoundedQueue: the only way stages in spate hand work to each other.
//
// A fixed capacity makes backpressure automatic: Push blocks while the queue is full, so a
// slow sink slows the source and memory stays flat however long the stream runs. Close()
// ends the stream: pushes fail from then on, and Pop returns what is left, then nullopt.
//
// Thread-safety: any number of producers and consumers.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>

namespace spate {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}
  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  // Called with the number of items after every push and pop, under the queue's lock, so
  // that successive calls report sizes in the order they happened (a gauge set from two
  // threads outside the lock could end on a stale value). Set before the queue is shared;
  // it must be cheap and must not use the queue.
  void set_on_size(std::function<void(size_t)> on_size) { on_size_ = std::move(on_size); }

  // Blocks while full. Returns false (and drops nothing the caller still owns: item is
  // left untouched) if the queue was closed.
  bool Push(T& item) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
    if (closed_) return false;
    items_.push_back(std::move(item));
    if (on_size_) on_size_(items_.size());
    not_empty_.notify_one();
    return true;
  }
  bool Push(T&& item) { return Push(item); }

  // Blocks while empty and open. nullopt means closed and drained.
  std::optional<T> Pop() {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    if (on_size_) on_size_(items_.size());
    not_full_.notify_one();
    return item;
  }

  // Like Pop, but waits at most `timeout`: nullopt with *closed false means "nothing yet".
  std::optional<T> PopFor(std::chrono::milliseconds timeout, bool* closed) {
    std::unique_lock lock(mu_);
    not_empty_.wait_for(lock, timeout, [&] { return closed_ || !items_.empty(); });
    *closed = closed_ && items_.empty();
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    if (on_size_) on_size_(items_.size());
    not_full_.notify_one();
    return item;
  }

  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  size_t size() const {
    std::lock_guard lock(mu_);
    return items_.size();
  }
  size_t capacity() const { return capacity_; }

 private:
  const size_t capacity_;                // Constant after construction.
  std::function<void(size_t)> on_size_;  // Set before use, then constant.

  mutable std::mutex mu_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::deque<T> items_;  // Protected by mu_.
  bool closed_ = false;  // Protected by mu_.
};

}  // namespace spate
