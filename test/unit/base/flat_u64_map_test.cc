#include "base/flat_u64_map.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <new>
#include <type_traits>
#include <random>
#include <unordered_map>

using namespace amberfs;

TEST_CASE("FlatU64Map: insert, find, insert of a present key keeps the old value, erase") {
  FlatU64Map<uint32_t> m;
  CHECK(m.Find(7) == nullptr);
  auto [v, added] = m.Insert(7, 70);
  CHECK(added);
  CHECK(*v == 70);
  auto [v2, added2] = m.Insert(7, 71);
  CHECK_FALSE(added2);
  CHECK(*v2 == 70);
  CHECK(m.size() == 1);
  CHECK(m.Erase(7));
  CHECK_FALSE(m.Erase(7));
  CHECK(m.Find(7) == nullptr);
  CHECK(m.empty());
}

TEST_CASE("FlatU64Map: agrees with std::unordered_map under random churn, growth and wrap-around") {
  FlatU64Map<uint64_t> m;
  std::unordered_map<uint64_t, uint64_t> ref;
  std::mt19937_64 rng(42);
  for (int round = 0; round < 200000; ++round) {
    // A small key range makes collisions, long chains and erasures in them common.
    uint64_t key = rng() % 3000;
    switch (rng() % 3) {
      case 0: {
        auto [v, added] = m.Insert(key, round);
        bool ref_added = ref.emplace(key, round).second;
        REQUIRE(added == ref_added);
        REQUIRE(*v == ref.at(key));
        break;
      }
      case 1:
        REQUIRE(m.Erase(key) == (ref.erase(key) == 1));
        break;
      default: {
        const uint64_t* v = m.Find(key);
        auto it = ref.find(key);
        REQUIRE((v != nullptr) == (it != ref.end()));
        if (v) REQUIRE(*v == it->second);
      }
    }
    REQUIRE(m.size() == ref.size());
  }
  for (auto [k, v] : ref) REQUIRE((m.Find(k) && *m.Find(k) == v));
  CHECK(m.slot_count() <= 4 * 3000);
}

TEST_CASE("FlatU64Map: EraseIf erases exactly the matching entries") {
  FlatU64Map<uint32_t> m;
  for (uint64_t k = 0; k < 5000; ++k) m.Insert(k * 7919, static_cast<uint32_t>(k));
  m.EraseIf([](uint64_t, uint32_t& v) { return v % 3 == 0; });
  CHECK(m.size() == 5000 - 1667);
  for (uint64_t k = 0; k < 5000; ++k) REQUIRE((m.Find(k * 7919) != nullptr) == (k % 3 != 0));
}

TEST_CASE("FlatU64Map: memory follows the peak number of entries, not the keys' range") {
  FlatU64Map<uint32_t> m;
  for (uint64_t k = 0; k < 100000; ++k) {
    m.Insert(k << 30, 1);  // far-apart keys, as block numbers of a large volume
    if (k >= 100) REQUIRE(m.Erase((k - 100) << 30));
  }
  CHECK(m.size() == 100);
  CHECK(m.slot_count() <= 4 * 101);
}

TEST_CASE("FlatU64Map: EraseIf on small tables (chains that wrap round the end) asks about every entry, erases each once") {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 20000; ++trial) {
    FlatU64Map<uint64_t> m;
    std::unordered_map<uint64_t, uint64_t> ref;
    const size_t n = 1 + rng() % 8;  // at most half of the 16 slots: no growth
    while (ref.size() < n) {
      uint64_t key = rng() % 64;
      if (ref.emplace(key, key * 3).second) REQUIRE(m.Insert(key, key * 3).second);
    }
    // Erase a few, so some chains were backshifted before the sweep.
    for (int k = 0; k < 2; ++k) {
      uint64_t key = rng() % 64;
      REQUIRE(m.Erase(key) == (ref.erase(key) == 1));
    }
    const uint64_t salt = rng();
    auto doomed = [&](uint64_t key) { return ((key * 0x9E3779B97F4A7C15ull) ^ salt) % 3 == 0; };
    std::unordered_map<uint64_t, int> asked, erased;
    m.EraseIf([&](uint64_t key, uint64_t& v) {
      REQUIRE(v == key * 3);
      ++asked[key];
      if (!doomed(key)) return false;
      ++erased[key];
      return true;
    });
    for (auto [key, v] : ref) {
      REQUIRE(asked.count(key) == 1);
      if (doomed(key)) {
        REQUIRE(erased[key] == 1);
        REQUIRE(asked[key] == 1);
        REQUIRE(m.Find(key) == nullptr);
      } else {
        REQUIRE(m.Find(key) != nullptr);
        REQUIRE(*m.Find(key) == v);
      }
    }
    REQUIRE(asked.size() == ref.size());
    size_t kept = 0;
    for (auto [key, v] : ref) kept += doomed(key) ? 0 : 1;
    REQUIRE(m.size() == kept);
  }
}

namespace {
// A value whose default construction (the empty slots of a grown array)
// throws bad_alloc while armed: the allocation of a larger array failing.
bool g_fail_growth = false;
struct GrowthProbe {
  uint64_t v;
  GrowthProbe() : v(0) {
    if (g_fail_growth) throw std::bad_alloc();
  }
  explicit GrowthProbe(uint64_t x) : v(x) {}
};
static_assert(std::is_trivially_copyable_v<GrowthProbe>);
}  // namespace

TEST_CASE("FlatU64Map: an Insert whose growth throws bad_alloc leaves the map as it was") {
  FlatU64Map<GrowthProbe> m;
  uint64_t n = 0;
  // Fill to the last insert before the array doubles.
  while (2 * (m.size() + 1) <= m.slot_count()) m.Insert(n * 977, GrowthProbe(n)), ++n;
  const size_t slots = m.slot_count();
  g_fail_growth = true;
  CHECK_THROWS_AS(m.Insert(n * 977, GrowthProbe(n)), std::bad_alloc);
  g_fail_growth = false;
  CHECK(m.slot_count() == slots);
  CHECK(m.size() == n);
  for (uint64_t i = 0; i < n; ++i) {
    const GrowthProbe* v = m.Find(i * 977);
    REQUIRE_MESSAGE(v != nullptr, "key " << i * 977 << " lost");
    CHECK(v->v == i);
  }
  CHECK(m.Find(n * 977) == nullptr);
  // And it goes on growing once memory is there.
  for (uint64_t i = n; i < 4 * n; ++i) CHECK(m.Insert(i * 977, GrowthProbe(i)).second);
  CHECK(m.slot_count() > slots);
  for (uint64_t i = 0; i < 4 * n; ++i) CHECK(m.Find(i * 977)->v == i);
}
