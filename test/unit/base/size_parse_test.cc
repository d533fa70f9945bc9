#include "amberfs/size_parse.h"

#include <doctest/doctest.h>

using namespace amberfs;

TEST_CASE("size_parse: accepts numbers with binary suffixes") {
  CHECK(ParseSize("4096").value() == 4096);
  CHECK(ParseSize("4K").value() == 4096);
  CHECK(ParseSize("4k").value() == 4096);
  CHECK(ParseSize("64KiB").value() == 65536);
  CHECK(ParseSize("3MB").value() == 3ull << 20);
  CHECK(ParseSize("1G").value() == 1ull << 30);
  CHECK(ParseSize("2t").value() == 2ull << 40);
  CHECK(ParseSize("16777215T").value() == 16777215ull << 40);
}

TEST_CASE("size_parse: rejects zero, garbage and overflow") {
  for (const char* bad : {"", "0", "0K", "K", "-1", "+1", " 1", "1 ", "1.5", "1.G", ".5G", "1..5G", "0.0001K", "1e3", "0.0G", "1X", "1KX",
                          "1Kib", "1KiBB", "0x10", "18446744073709551616", "16777216T",
                          "99999999999999999999G"}) {
    CAPTURE(bad);
    Result<uint64_t> r = ParseSize(bad);
    CHECK_FALSE(r.ok());
    CHECK(r.status().code() == EINVAL);
  }
  CHECK(ParseSize("18446744073709551615").value() == UINT64_MAX);
  CHECK(ParseSize("0.0001K").status().message().find("0.0001K") != std::string::npos);
  CHECK(ParseSize("0.0001K").status().message().find("whole number of bytes") != std::string::npos);
  CHECK(ParseSize("16777215.99T").status().code() == EINVAL);
}

TEST_CASE("size_parse: decimals that make whole bytes") {
  CHECK(ParseSize("1.5G").value() == (3ull << 30) / 2);
  CHECK(ParseSize("1.5GiB").value() == (3ull << 30) / 2);
  CHECK(ParseSize("0.5K").value() == 512);
  CHECK(ParseSize("2.25m").value() == (9ull << 20) / 4);
  CHECK(ParseSize("1.000G").value() == 1ull << 30);
  CHECK(ParseSize("0.125T").value() == 1ull << 37);
  CHECK(ParseSize("0.1T").status().code() == EINVAL);  // 2^40 / 10 is not whole
}

TEST_CASE("size_parse: durations") {
  CHECK(ParseDuration("0").value().count() == 0);
  CHECK(ParseDuration("250").value().count() == 250);
  CHECK(ParseDuration("250us").value().count() == 250);
  CHECK(ParseDuration("2ms").value().count() == 2000);
  CHECK(ParseDuration("1s").value().count() == 1000000);
  for (const char* bad : {"", "ms", "1m", "1 ms", "-1", "3601s", "1.5ms"}) {
    CAPTURE(bad);
    CHECK(ParseDuration(bad).status().code() == EINVAL);
  }
}

TEST_CASE("size_parse: FormatSize round-trips") {
  CHECK(FormatSize(0) == "0");
  CHECK(FormatSize(1000) == "1000");
  CHECK(FormatSize(4096) == "4K");
  CHECK(FormatSize(3ull << 30) == "3G");
  CHECK(FormatSize((1ull << 30) + 4096) == "1048580K");
  for (uint64_t v : {1ull, 512ull, 65536ull, 5ull << 40, 123456789ull}) {
    CHECK(ParseSize(FormatSize(v)).value() == v);
  }
  CHECK(IsPowerOfTwo(4096));
  CHECK_FALSE(IsPowerOfTwo(0));
  CHECK_FALSE(IsPowerOfTwo(12288));
}
