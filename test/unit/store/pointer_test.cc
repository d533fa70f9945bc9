#include "store/pointer.h"

#include <doctest/doctest.h>

#include <string>
#include <unordered_set>

using amberfs::Pointer;

TEST_CASE("Pointer is SHA-256 with strict hex") {
  // Known answer: SHA-256("abc").
  Pointer p = Pointer::Of("abc", 3);
  CHECK(p.Hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto back = Pointer::FromHex(p.Hex());
  REQUIRE(back.ok());
  CHECK(*back == p);
  CHECK_FALSE(p.IsNull());
  CHECK(Pointer::Null().IsNull());
  CHECK(Pointer::Null().Hex() == std::string(64, '0'));

  CHECK(Pointer::FromHex("").status().code() == EINVAL);
  CHECK(Pointer::FromHex(std::string(63, 'a')).status().code() == EINVAL);
  CHECK(Pointer::FromHex(std::string(65, 'a')).status().code() == EINVAL);
  CHECK(Pointer::FromHex(std::string(64, 'A')).status().code() == EINVAL);
  CHECK(Pointer::FromHex("../" + std::string(61, 'a')).status().code() == EINVAL);
  CHECK(Pointer::FromHex(std::string(63, 'a') + "g").status().code() == EINVAL);
}

TEST_CASE("Sha256 in pieces equals one shot") {
  std::string data(100000, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  amberfs::Sha256 sha;
  sha.Update(data.data(), 1);
  sha.Update(data.data() + 1, 4095);
  sha.Update(data.data() + 4096, data.size() - 4096);
  CHECK(sha.Finish() == Pointer::Of(data.data(), data.size()));
  std::unordered_set<Pointer> set{Pointer::Of("a", 1), Pointer::Of("b", 1), Pointer::Of("a", 1)};
  CHECK(set.size() == 2);
}
