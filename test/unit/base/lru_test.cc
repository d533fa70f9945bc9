#include "base/lru.h"

#include <doctest/doctest.h>

#include <string>

using namespace amberfs;

TEST_CASE("LruCache: drops the least recently used beyond its capacity") {
  LruCache<int, std::string> cache(2);
  cache.Insert(1, "one");
  cache.Insert(2, "two");
  REQUIRE(cache.Find(1) != nullptr);  // 1 is now the most recent
  cache.Insert(3, "three");
  CHECK(cache.size() == 2);
  CHECK(cache.Contains(1));
  CHECK_FALSE(cache.Contains(2));
  CHECK(*cache.Find(3) == "three");
}

TEST_CASE("LruCache: Contains does not count as a use; Insert replaces and marks used") {
  LruCache<int, int> cache(2);
  cache.Insert(1, 10);
  cache.Insert(2, 20);
  CHECK(cache.Contains(1));  // no touch: 1 stays the oldest
  cache.Insert(3, 30);
  CHECK_FALSE(cache.Contains(1));
  cache.Insert(2, 21);  // replace: 2 becomes the newest
  cache.Insert(4, 40);
  CHECK(cache.Contains(2));
  CHECK(*cache.Find(2) == 21);
  CHECK_FALSE(cache.Contains(3));
}

TEST_CASE("LruCache: unbounded, evicted by the caller oldest first") {
  LruCache<int, int> cache;
  cache.Insert(1, 1);
  cache.Insert(2, 2);
  cache.Insert(0, 0, /*most_recent=*/false);  // filled in as the oldest
  REQUIRE(cache.Oldest() != nullptr);
  CHECK(*cache.Oldest() == 0);
  auto first = cache.PopOldest();
  REQUIRE(first.has_value());
  CHECK(first->first == 0);
  CHECK(cache.Erase(1));
  CHECK_FALSE(cache.Erase(1));
  CHECK(cache.PopOldest()->first == 2);
  CHECK_FALSE(cache.PopOldest().has_value());
  CHECK(cache.Oldest() == nullptr);
}

TEST_CASE("LruCache: a capacity of 0 keeps nothing") {
  LruCache<int, int> cache(0);
  cache.Insert(1, 1);
  CHECK(cache.empty());
  CHECK(cache.Find(1) == nullptr);
}
