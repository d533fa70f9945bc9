// LruCache: a map that remembers the order its entries were last used in and
// holds at most `capacity` of them, dropping the least recently used first.
//
// Find() marks an entry used; Contains() does not. Insert() of a key already
// present replaces its value and marks it used. An entry may be inserted as
// the least recently used instead (when filling the cache from an older
// listing, oldest first, the order then comes out right). PopOldest() and
// Oldest() let a caller evict by its own measure (bytes, say) with the
// capacity left unbounded.
//
// Find() returns a pointer into the cache, valid until the next change to it.
//
// Thread-safety: none; the owner locks.
#pragma once

#include <cstddef>
#include <functional>
#include <limits>
#include <list>
#include <optional>
#include <unordered_map>
#include <utility>

namespace amberfs {

template <typename Key, typename Value, typename Hash = std::hash<Key>>
class LruCache {
 public:
  static constexpr size_t kUnbounded = std::numeric_limits<size_t>::max();

  explicit LruCache(size_t capacity = kUnbounded) : capacity_(capacity) {}

  size_t size() const { return index_.size(); }
  bool empty() const { return index_.empty(); }
  size_t capacity() const { return capacity_; }

  bool Contains(const Key& key) const { return index_.count(key) != 0; }

  // The value of `key`, now the most recently used; null if absent.
  Value* Find(const Key& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }

  // Adds or replaces `key`, then drops the least recently used entries beyond
  // the capacity (with a capacity of 0 nothing is kept).
  void Insert(const Key& key, Value value, bool most_recent = true) {
    auto it = index_.find(key);
    if (it != index_.end()) {
      it->second->second = std::move(value);
      order_.splice(most_recent ? order_.begin() : order_.end(), order_, it->second);
    } else {
      auto pos = order_.emplace(most_recent ? order_.begin() : order_.end(), key, std::move(value));
      index_.emplace(key, pos);
    }
    while (index_.size() > capacity_) PopOldest();
  }

  bool Erase(const Key& key) {
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    order_.erase(it->second);
    index_.erase(it);
    return true;
  }

  // The least recently used key, or null when empty.
  const Key* Oldest() const { return order_.empty() ? nullptr : &order_.back().first; }

  std::optional<std::pair<Key, Value>> PopOldest() {
    if (order_.empty()) return std::nullopt;
    std::pair<Key, Value> entry = std::move(order_.back());
    index_.erase(entry.first);
    order_.pop_back();
    return entry;
  }

  void Clear() {
    index_.clear();
    order_.clear();
  }

 private:
  using Order = std::list<std::pair<Key, Value>>;  // front = most recently used
  size_t capacity_;
  Order order_;
  std::unordered_map<Key, typename Order::iterator, Hash> index_;
};

}  // namespace amberfs
