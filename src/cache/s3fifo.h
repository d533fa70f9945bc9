// S3Fifo: the S3-FIFO cache replacement policy (Yang et al., "FIFO queues are
// all you need for cache eviction", SOSP 2023), over intrusive nodes.
//
// Three queues: a small probationary FIFO (about 10% of the capacity) where new
// keys enter, a main FIFO, and a ghost FIFO of keys recently evicted from the
// small queue. Each node has a 2-bit access counter. A key evicted from the
// small queue without a second access never reaches main, so a large one-pass
// scan flows through the small queue and leaves the hot set in main alone; a
// key that comes back while its ghost is remembered goes straight to main.
// This is what makes it scan-resistant where LRU is not (bench/policy_bench).
//
// The policy only orders nodes; the owner keeps the map from key to node,
// decides which nodes may leave (a dirty block may not), and frees them.
// A node the owner refuses is parked: taken off the queues, so later calls do
// not walk past it again. In a write-back cache most nodes can be dirty at
// once, and walking past them on every eviction was a fifth of the daemon's
// CPU under 4 KiB random writes. The owner hands a parked node back with
// Unpark when it may leave (a block made clean); it returns to the tail of the
// queue it was refused from, where a refused node used to go. When the
// queues hold no victim, Evict asks once more about the nodes parked before
// the call, so a missed Unpark costs time, never a block; a cache full of
// pinned nodes gives up after that and returns null, so it cannot spin.
//
// Thread-safety: none; the owner serializes access (one policy per shard,
// under the shard mutex). Lru has the same interface, for comparison.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <new>
#include <vector>
#include <unordered_map>

#include "base/flat_u64_map.h"
#include "cache/intrusive_list.h"

namespace amberfs {

struct PolicyNode {
  PolicyNode* prev = nullptr;
  PolicyNode* next = nullptr;
  uint64_t key = 0;
  uint8_t freq = 0;
  uint8_t queue = 0;  // which list the node is on (0: none)
};

// The policy's queues: FIFOs through PolicyNode's own links.
using NodeList = IntrusiveList<PolicyNode, &PolicyNode::prev, &PolicyNode::next>;

class S3Fifo {
 public:
  explicit S3Fifo(size_t capacity) { SetCapacity(capacity); }
  void SetCapacity(size_t capacity) {
    capacity_ = capacity < 1 ? 1 : capacity;
    small_target_ = capacity_ / 10 < 1 ? 1 : capacity_ / 10;
  }

  // A new node for key enters: main if the key is a remembered ghost, else small.
  void Insert(PolicyNode* n) {
    n->freq = 0;
    if (ghost_index_.Erase(n->key)) {  // its slot in ghost_order_ goes stale and is skipped
      Push(main_, n, kMain);
    } else {
      Push(small_, n, kSmall);
    }
  }
  // A hit.
  void Touch(PolicyNode* n) {
    if (n->freq < 3) ++n->freq;
  }
  // The owner drops a node itself (a discard): it leaves no ghost.
  void Remove(PolicyNode* n) {
    if (n->queue == kSmall) small_.Unlink(n);
    else if (n->queue == kMain) main_.Unlink(n);
    else if (n->queue == kParkedSmall || n->queue == kParkedMain) parked_.Unlink(n);
    n->queue = kNone;
  }
  // The owner says a node it refused may now leave: if it is parked, it
  // goes back to the tail of its queue. Any other node is left as it is.
  void Unpark(PolicyNode* n) {
    if (n->queue == kParkedSmall || n->queue == kParkedMain) {
      parked_.Unlink(n);
      Push(n->queue == kParkedSmall ? small_ : main_, n, n->queue == kParkedSmall ? kSmall : kMain);
    }
  }
  // Picks and unlinks a victim the owner accepts (can_evict(node) == true),
  // or returns null. First from the queues, parking every node refused; if
  // they give none, the nodes parked before this call are asked once more,
  // those accepted go back to their queues, and the queues are tried again.
  // Each node is asked at most twice per call.
  template <typename CanEvict>
  PolicyNode* Evict(CanEvict&& can_evict) {
    const size_t parked_before = parked_.size();
    if (PolicyNode* victim = EvictFromQueues(can_evict)) return victim;
    if (UnparkAccepted(parked_before, can_evict) == 0) return nullptr;
    return EvictFromQueues(can_evict);
  }
  size_t size() const { return small_.size() + main_.size() + parked_.size(); }
  size_t parked() const { return parked_.size(); }

 private:
  enum : uint8_t { kNone = 0, kSmall = 1, kMain = 2, kParkedSmall = 3, kParkedMain = 4 };
  void Push(NodeList& list, PolicyNode* n, uint8_t queue) {
    n->queue = queue;
    list.PushTail(n);
  }
  // S3-FIFO's eviction over the two queues. A node leaves small for main if
  // it was hit, and main's nodes spend their hits going round; a node with no
  // hits left is the victim, or parked if the owner refuses it. Ends when
  // both queues are empty, or after a bounded number of steps (hot nodes
  // going round), returning null.
  template <typename CanEvict>
  PolicyNode* EvictFromQueues(CanEvict& can_evict) {
    for (size_t budget = 2 * (small_.size() + main_.size()) + 2; budget > 0; --budget) {
      const bool from_small = !small_.empty() && (small_.size() >= small_target_ || main_.empty());
      if (!from_small && main_.empty()) break;
      NodeList& queue = from_small ? small_ : main_;
      PolicyNode* n = queue.head();
      queue.Unlink(n);
      if (n->freq > 0) {
        if (from_small) n->freq = 0;  // earned its place in main
        else --n->freq;
        Push(main_, n, kMain);
      } else if (!can_evict(n)) {
        Push(parked_, n, from_small ? kParkedSmall : kParkedMain);
      } else {
        n->queue = kNone;
        if (from_small) RememberGhost(n->key);
        return n;
      }
    }
    return nullptr;
  }
  // Asks about the first `count` parked nodes (those parked before the
  // current call) and returns the accepted ones to their queues; how many.
  template <typename CanEvict>
  size_t UnparkAccepted(size_t count, CanEvict& can_evict) {
    size_t returned = 0;
    PolicyNode* n = parked_.head();
    for (size_t i = 0; i < count && n != nullptr; ++i) {
      PolicyNode* next = n->next;
      if (can_evict(n)) {
        Unpark(n);
        ++returned;
      }
      n = next;
    }
    return returned;
  }

  // Ghosts are only a hint: when memory runs out the key is not remembered,
  // and the evicted node still leaves (thrown out of EvictFromQueues, it
  // would stay in no queue, its slot never evicted again). The order entry
  // goes first: one whose key is not in the index is a stale one, dropped.
  void RememberGhost(uint64_t key) {
    try {
      uint64_t stamp = ++ghost_stamp_;
      ghost_order_.push_back({key, stamp});
      auto [at, added] = ghost_index_.Insert(key, stamp);
      if (!added) *at = stamp;
      TrimGhosts();
    } catch (const std::bad_alloc&) {
    }
  }
  void TrimGhosts() {
    // The ghost queue remembers about as many keys as main holds.
    while (ghost_index_.size() > capacity_ - small_target_ + 1 && !ghost_order_.empty()) {
      auto [old_key, old_stamp] = ghost_order_.front();
      ghost_order_.pop_front();
      const uint64_t* at = ghost_index_.Find(old_key);
      if (at != nullptr && *at == old_stamp) ghost_index_.Erase(old_key);
    }
    // Stale slots (keys re-inserted since) are dropped lazily; bound them too.
    while (ghost_order_.size() > 4 * (capacity_ + 1)) ghost_order_.pop_front();
  }

  size_t capacity_ = 1;
  size_t small_target_ = 1;
  NodeList small_, main_;
  NodeList parked_;  // nodes the owner refused, in the order refused
  // key -> stamp of its latest ghost. Flat: every miss of a cache under a
  // scan looks a key up here and every eviction from small adds one.
  FlatU64Map<uint64_t> ghost_index_;
  std::deque<std::pair<uint64_t, uint64_t>> ghost_order_;
  uint64_t ghost_stamp_ = 0;
};

// Plain LRU with the same interface, the baseline the policy is measured against.
class Lru {
 public:
  explicit Lru(size_t) {}
  void Insert(PolicyNode* n) { n->queue = 1; list_.PushTail(n); }
  void Touch(PolicyNode* n) { list_.Unlink(n); list_.PushTail(n); }
  void Remove(PolicyNode* n) { if (n->queue) list_.Unlink(n); n->queue = 0; }
  template <typename CanEvict>
  PolicyNode* Evict(CanEvict&& can_evict) {
    for (size_t budget = list_.size(); budget > 0 && !list_.empty(); --budget) {
      PolicyNode* n = list_.head();
      list_.Unlink(n);
      if (can_evict(n)) { n->queue = 0; return n; }
      list_.PushTail(n);
    }
    return nullptr;
  }
  size_t size() const { return list_.size(); }

 private:
  NodeList list_;
};

// Replays a trace of keys on a cache of `capacity` keys under Policy and
// returns the hit ratio: how the policy is measured against LRU.
template <typename Policy>
double SimulateHitRatio(size_t capacity, const std::vector<uint64_t>& trace) {
  Policy policy(capacity);
  std::unordered_map<uint64_t, std::unique_ptr<PolicyNode>> cache;
  size_t hits = 0;
  for (uint64_t key : trace) {
    auto it = cache.find(key);
    if (it != cache.end()) {
      ++hits;
      policy.Touch(it->second.get());
      continue;
    }
    if (cache.size() >= capacity) {
      PolicyNode* victim = policy.Evict([](PolicyNode*) { return true; });
      if (victim != nullptr) cache.erase(victim->key);
    }
    auto node = std::make_unique<PolicyNode>();
    node->key = key;
    policy.Insert(node.get());
    cache.emplace(key, std::move(node));
  }
  return trace.empty() ? 0.0 : double(hits) / double(trace.size());
}

}  // namespace amberfs
