#include "amberfs/status.h"

#include <doctest/doctest.h>

using amberfs::Result;
using amberfs::Status;

TEST_CASE("Status carries errno and message") {
  Status ok;
  CHECK(ok.ok());
  CHECK(ok.code() == 0);
  CHECK(ok.ToString() == "OK");

  Status e = Status::Error(ENOENT, "no such snapshot 'x'");
  CHECK_FALSE(e.ok());
  CHECK(e.code() == ENOENT);
  CHECK(e.ToString() == "no such snapshot 'x' (errno 2 ENOENT)");
  CHECK(e.Annotate("rollback").message() == "rollback: no such snapshot 'x'");

  Status sys = Status::FromErrno(EIO, "pwrite image");
  CHECK(sys.message() == "pwrite image: Input/output error");
  CHECK(Status::Error(0, "zero errno becomes EIO").code() == EIO);
}

static Result<int> Half(int x) {
  if (x % 2) return Status::Error(EINVAL, "odd");
  return x / 2;
}

static Status UseHalf(int x, int* out) {
  AMBER_ASSIGN_OR_RETURN(int h, Half(x));
  *out = h;
  return Status::OK();
}

TEST_CASE("Result and the return macros") {
  int out = 0;
  CHECK(UseHalf(8, &out).ok());
  CHECK(out == 4);
  Status s = UseHalf(7, &out);
  CHECK(s.code() == EINVAL);
  CHECK(out == 4);
  Result<int> r = Status::OK();  // an OK status without a value is a bug, reported as one
  CHECK_FALSE(r.ok());
}
