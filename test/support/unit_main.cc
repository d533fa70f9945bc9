// The doctest main for the unit-test binary: every test/*_test.cc links in.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
