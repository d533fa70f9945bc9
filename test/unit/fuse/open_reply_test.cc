// The open reply's flags (fuse/open_reply.h): what fuse_reply_open would send,
// plus FOPEN_PARALLEL_DIRECT_WRITES only for a direct-I/O open that asks.
#include "fuse/open_reply.h"

#include <doctest/doctest.h>

using namespace amberfs::frontend;

TEST_CASE("open reply: libfuse's flags, and parallel direct writes only with direct I/O") {
  fuse_file_info fi;
  std::memset(&fi, 0, sizeof fi);
  CHECK(OpenReplyFlags(fi, false) == 0);
  CHECK(OpenReplyFlags(fi, true) == 0);  // the kernel ignores it without FOPEN_DIRECT_IO

  fi.direct_io = 1;
  CHECK(OpenReplyFlags(fi, false) == FOPEN_DIRECT_IO);
  CHECK(OpenReplyFlags(fi, true) == (FOPEN_DIRECT_IO | FOPEN_PARALLEL_DIRECT_WRITES));

  fi.direct_io = 0;
  fi.keep_cache = 1;
  fi.cache_readdir = 1;
  fi.nonseekable = 1;
  fi.noflush = 1;
  CHECK(OpenReplyFlags(fi, true) == (FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR | FOPEN_NONSEEKABLE | FOPEN_NOFLUSH));
}
