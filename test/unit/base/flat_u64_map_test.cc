#include "base/flat_u64_map.h"

#include <doctest/doctest.h>

#include <cstdint>
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
