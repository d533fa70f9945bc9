// FlatU64Map: a hash map from uint64_t keys to small trivially copyable
// values, in one flat array (open addressing, linear probing), for hot paths
// that do several lookups per cache block: no node allocation per insert, no
// pointer chase per lookup.
//
// Contract
//   Find(key) returns a pointer to the value or null. Insert(key, value)
//   inserts when the key is absent and returns {value pointer, true}; when it
//   is present it changes nothing and returns {pointer to the old value,
//   false}. Erase(key) removes the key (false if absent). A pointer returned
//   by Find or Insert is valid until the next Insert or Erase. The key
//   kEmptyKey (UINT64_MAX) is reserved and must not be used (block numbers
//   and stamps never reach it).
//   EraseIf(pred) calls pred(key, value&) for every entry and erases those it
//   returns true for; pred may be called more than once for an entry it kept
//   (backward shifts can move a kept entry past the cursor), so it must be
//   free of side effects when it returns false.
//   Only Insert allocates (when it grows the array); if that throws
//   bad_alloc, the map is unchanged.
//
// Memory
//   The array doubles when it would be more than half full and never
//   shrinks: it stays at most four times the largest number of entries held
//   at once (rounded up to a power of two, at least 16 slots) times
//   sizeof(Slot) (16 bytes for a 4- or 8-byte value). An owner that holds at
//   most N keys (a cache of N blocks) is bounded by that. Erase shifts later
//   entries back (no tombstones), so probe chains stay short under churn.
//
// Thread-safety: none; the owner serializes access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

namespace amberfs {

template <typename V>
class FlatU64Map {
  static_assert(std::is_trivially_copyable_v<V>, "values are moved by copying");

 public:
  static constexpr uint64_t kEmptyKey = UINT64_MAX;

  FlatU64Map() { Rehash(kMinSlots); }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t slot_count() const { return slots_.size(); }

  V* Find(uint64_t key) {
    for (size_t i = Home(key);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.key == key) return &s.value;
      if (s.key == kEmptyKey) return nullptr;
    }
  }
  const V* Find(uint64_t key) const { return const_cast<FlatU64Map*>(this)->Find(key); }
  bool Contains(uint64_t key) const { return Find(key) != nullptr; }

  std::pair<V*, bool> Insert(uint64_t key, V value) {
    if (2 * (size_ + 1) > slots_.size()) Rehash(2 * slots_.size());
    for (size_t i = Home(key);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.key == key) return {&s.value, false};
      if (s.key == kEmptyKey) {
        s.key = key;
        s.value = value;
        ++size_;
        return {&s.value, true};
      }
    }
  }

  bool Erase(uint64_t key) {
    for (size_t i = Home(key);; i = (i + 1) & mask_) {
      if (slots_[i].key == key) {
        EraseAt(i);
        return true;
      }
      if (slots_[i].key == kEmptyKey) return false;
    }
  }

  template <typename Pred>
  void EraseIf(Pred&& pred) {
    for (size_t i = 0; i < slots_.size();) {
      Slot& s = slots_[i];
      if (s.key != kEmptyKey && pred(s.key, s.value)) {
        EraseAt(i);  // an entry may have moved into i: look at it again
      } else {
        ++i;
      }
    }
  }

  void Clear() {
    for (Slot& s : slots_) s.key = kEmptyKey;
    size_ = 0;
  }

 private:
  static constexpr size_t kMinSlots = 16;
  struct Slot {
    uint64_t key = kEmptyKey;
    V value{};
  };

  // murmur3's finalizer: every key bit reaches the low bits we index with,
  // even when the owner picked its keys by some bits of a similar hash (the
  // Conductor's shards).
  size_t Home(uint64_t key) const {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    key *= 0xc4ceb9fe1a85ec53ull;
    key ^= key >> 33;
    return static_cast<size_t>(key) & mask_;
  }

  // Backward-shift deletion: move later entries of the probe chain into the
  // hole, so a chain never has a gap.
  void EraseAt(size_t hole) {
    --size_;
    for (size_t j = (hole + 1) & mask_;; j = (j + 1) & mask_) {
      Slot& s = slots_[j];
      if (s.key == kEmptyKey) break;
      const size_t home = Home(s.key);
      // s may fill the hole if its home is not in (hole, j] (cyclically).
      const bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
      if (stays) continue;
      slots_[hole] = s;
      hole = j;
    }
    slots_[hole].key = kEmptyKey;
  }

  // The new array first: when its allocation throws (bad_alloc), the map is
  // as it was. (Moving the entries out first lost them all, dirty cache
  // blocks among them, and left mask_ indexing an empty array.) Re-inserting
  // cannot rehash again: the new array is at most a quarter full.
  void Rehash(size_t slots) {
    std::vector<Slot> old(slots);
    old.swap(slots_);
    mask_ = slots - 1;
    size_ = 0;
    for (const Slot& s : old)
      if (s.key != kEmptyKey) Insert(s.key, s.value);
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace amberfs
