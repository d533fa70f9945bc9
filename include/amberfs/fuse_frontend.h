// FUSE frontend: serves a Volume at a mount point through libfuse's low-level
// API.
//
// The mount shows a fixed tree (inode numbers are constants):
//   /volume     the block volume, 0600 (0400 read-only), direct_io unless
//               page_cache is set. read and write map onto Volume::Read
//               and Volume::Write; fsync and fdatasync are Volume::Flush;
//               fallocate PUNCH_HOLE and ZERO_RANGE are Discard; a write that
//               starts at or past the end fails with ENOSPC (one that straddles
//               the end is short); truncate to any other size is EINVAL.
//   /ctl        commands, one per write(2) (see ctl.h). The reply is kept per
//               open file; read(2) on the same file returns it, starting at the
//               file position the write left behind (or at a pread offset below
//               it). A failed command fails the write with its errno. Every
//               open is its own inode, so no command waits behind another
//               one's; a waiting command (drain) returns EINTR when its
//               writer is interrupted or the mount is ending.
//   /stats      Prometheus text, generated at open (direct_io, so the size 0 of
//               the inode does not cut reads short).
//   /snapshots/ one read-only file per snapshot, with the volume's owner and
//               its mode without write bits (the directory likewise, with x
//               where r). An open file keeps reading the snapshot it opened,
//               even after its name is deleted and taken again (ESTALE once
//               that snapshot's data is gone).
//
// The kernel must not hold writes back: writeback_cache stays off, so a
// write(2) that returned has reached the Conductor. max_write is 1 MiB (the
// kernel is asked for max_pages accordingly). The session loop is
// multithreaded. Every request gets exactly one reply; no exception leaves a
// callback (one that escapes is turned into ENOMEM or EIO).
//
// Once a reply is sent the kernel may deliver RELEASE for the same file on
// another thread at once. So no handler touches per-open state after its
// reply, and that state (a ctl open's last reply, a stats open's text, a
// snapshot open's identity) lives in a table of shared references: fh is an
// id, each handler holds a reference while it runs, RELEASE drops the table's.
//
// Thread-safety: ServeFuse runs the loop on the calling thread plus workers; it
// returns only after every worker has stopped, so the caller may then close the
// volume.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "amberfs/status.h"
#include "amberfs/volume.h"

namespace amberfs {

struct FuseServeOptions {
  std::string mountpoint;
  // Options for libfuse: each element one argv word ("-o", "allow_other", "-d").
  std::vector<std::string> fuse_args;
  bool single_thread = false;
  unsigned max_threads = 16;
  // Let the kernel cache volume's pages (needed for mmap of volume). Off by
  // default: the Conductor is the cache, and volume is opened direct_io.
  bool page_cache = false;
};

// Mounts the volume, logs "mounted" and calls on_mounted() once the kernel
// has accepted the mount (its INIT handshake; the caller daemonizes there),
// then serves until the file system is unmounted or SIGINT/SIGTERM/SIGHUP
// arrives, and unmounts. Errors setting up the session, the mount or the
// handshake are returned without on_mounted() (naming the -o options the
// kernel was given).
Status ServeFuse(Volume& volume, const FuseServeOptions& options, const std::function<void()>& on_mounted);

// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread, and so in every
// thread it starts from then on. A daemon calls it before it opens the
// Volume: a process-directed signal goes to any thread that does not block
// it, and libfuse's handler only marks the session ended, so a signal taken
// by one of the volume's threads left the loop asleep (the daemon ignored
// its first SIGTERM). ServeFuse unblocks them on its own thread once its
// handlers are in place; libfuse's workers block them.
void BlockTerminationSignals();

}  // namespace amberfs
