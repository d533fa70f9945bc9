// torture: the writer and the checker of the crash-torture harness
// (test/torture/run.sh drives it; see there for the cycle).
//
//   torture run    MNT STATE [--seconds N] [--seed N] [--no-snapshots] [--no-rollback]
//   torture verify MNT STATE [--rebase]
//   torture snapshot MNT STATE NAME        (a snapshot taken and journaled by hand)
//   torture rollback MNT STATE NAME        (a rollback run and journaled by hand; the driver
//                                           may kill the daemon while it runs)
//   torture check-file FILE STATE NAME     (a restored image against snapshot NAME)
//
// The volume is treated as an array of 4 KiB blocks, each written whole with
// a self-describing header: magic, block index, generation, run seed, a
// payload derived from them and an xxh64 of it all. Generations only grow
// (they continue from the state directory), so "newer" is well defined.
//
// `run` writes blocks of random extent at random offsets from one writer
// thread and fsyncs at random points; a controller thread takes, deletes and
// rolls back snapshots and runs gc at random times. Everything is recorded in
// STATE/journal before it is attempted, and acknowledgements after they
// returned:
//   W gen first count     a write is about to be issued
//   A gen                 an fsync returned 0: every write up to gen is durable
//   S+ name / S name gen  a snapshot is about to be taken / was taken, with the
//                         highest generation issued when it returned
//                         (STATE/snap-NAME holds each block's acknowledged
//                         generation when it started: its lower bound)
//   D+ name / D name      a delete is about to run / succeeded
//   R+ name / R name      a rollback is about to run / succeeded
//   B file                the blocks' lower bounds restart from STATE/file
//   C                     a run starts: writes a crash left unacknowledged
//                         before it can never be acknowledged by a later fsync
// `run` ends when the time is up or when the mount stops answering (the
// daemon was killed): both exit 0; anything unexpected exits 1.
//
// `verify` (after a remount) checks every block of the volume against the
// journal: a block must hold a valid generation at least as new as the last
// one acknowledged for it (0 = never acknowledged) and not newer than any
// issued; every snapshot the journal says exists must be listed and read
// completely within its bounds; a snapshot or delete cut off by the crash may
// or may not have happened, but what exists must be valid; a rollback cut off
// by the crash must have happened completely or not at all. It prints the
// figures (blocks and bytes lost, invalid blocks, snapshots checked) and exits
// 1 on any loss. With --rebase it then starts a new journal segment whose
// lower bounds are what the volume holds now.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/torture_journal.h"

namespace {

using namespace torture;

uint64_t VolumeBlocks(const std::string& mnt) {
  struct stat st;
  if (stat((mnt + "/volume").c_str(), &st) != 0) Die("cannot stat " + mnt + "/volume: " + std::strerror(errno));
  return static_cast<uint64_t>(st.st_size) / kBlock;
}

// Errors that mean the daemon is gone (killed on purpose by the driver).
bool MountGone(int err) { return err == ENOTCONN || err == ECONNABORTED || err == ENODEV || err == EIO; }
// The same for opening or stating MNT/volume or MNT/ctl, which a mount always
// has: once the driver has unmounted the dead mount, they are missing.
bool OpenGone(int err) { return MountGone(err) || err == ENOENT; }

int CtlCommand(const std::string& mnt, const std::string& command) {
  Fd fd(open((mnt + "/ctl").c_str(), O_WRONLY));
  if (fd.fd < 0) return OpenGone(errno) ? ENOTCONN : errno;
  std::string c = command + "\n";
  return write(fd.fd, c.data(), c.size()) < 0 ? errno : 0;
}


struct Args {
  std::string cmd, mnt, state, file, name;
  double seconds = 5;
  uint64_t seed = 0;
  bool snapshots = true, rollback = true, rebase = false;
};

// After a rollback (defined below Runner, which they use).
std::string CheckRolledBack(const std::string& mnt, const std::string& name, std::vector<uint64_t>* now, bool* gone);
void JournalRolledBack(const std::string& state, Journal& journal, const std::string& name,
                       const std::vector<uint64_t>& now, uint64_t next_gen);

class Runner {
 public:
  Runner(const Args& a, uint64_t blocks, Replay replay)
      : a_(a), blocks_(blocks), journal_(a.state + "/journal"), acked_(std::move(replay.acked)),
        next_gen_(replay.max_gen + 1), rng_(a.seed ? a.seed : std::random_device{}()) {
    for (auto& [name, gen] : replay.snapshots) snapshots_.push_back(name);
  }

  int Run() {
    vol_ = open((a_.mnt + "/volume").c_str(), O_RDWR);
    if (vol_ < 0 && OpenGone(errno)) {
      std::printf("torture run: 0 writes, ended by the mount going away before the first\n");
      return 0;
    }
    if (vol_ < 0) Die("open volume: " + std::string(std::strerror(errno)));
    journal_.Record("C");
    std::thread writer([this] { Writer(); });
    std::thread controller([this] { Controller(); });
    auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(a_.seconds);
    while (std::chrono::steady_clock::now() < end && !stop_) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    stop_ = true;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
    }
    writer.join();
    controller.join();
    close(vol_);
    std::printf("torture run: %llu writes, %llu fsyncs acknowledged, %llu snapshots, %llu deletes, %llu rollbacks, "
                "%llu gc, %llu ENOSPC, ended by %s\n",
                (unsigned long long)writes_, (unsigned long long)acks_, (unsigned long long)snaps_,
                (unsigned long long)deletes_, (unsigned long long)rollbacks_, (unsigned long long)gcs_,
                (unsigned long long)enospc_, gone_ ? "the mount going away" : "time");
    return failed_ ? 1 : 0;
  }

 private:
  void Fail(const std::string& what) {
    std::fprintf(stderr, "torture run: %s\n", what.c_str());
    failed_ = true;
    stop_ = true;
  }

  // An error from the mount: expected once the daemon is killed.
  void MountError(const char* op, int err) {
    if (MountGone(err)) gone_ = true;
    else Fail(std::string(op) + ": " + std::strerror(err));
    stop_ = true;
  }

  void Writer() {
    std::vector<char> buf(64 * kBlock);
    std::mt19937_64 rng(rng_());
    while (!stop_) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        writer_idle_ = true;
        cv_.notify_all();
        cv_.wait(lock, [&] { return !pause_ || stop_; });
        writer_idle_ = false;
        if (stop_) break;
      }
      uint64_t count = 1 + rng() % 64;
      if (rng() % 4 == 0) count = 1 + rng() % 4;
      count = std::min(count, blocks_);
      uint64_t first = rng() % (blocks_ - count + 1);
      uint64_t gen = next_gen_++;
      for (uint64_t i = 0; i < count; ++i) FillBlock(&buf[i * kBlock], first + i, gen, a_.seed);
      journal_.Record("W " + std::to_string(gen) + " " + std::to_string(first) + " " + std::to_string(count));
      ssize_t n = pwrite(vol_, buf.data(), count * kBlock, static_cast<off_t>(first * kBlock));
      if (n < 0) {
        int err = errno;
        // A full disk: the write may have landed in part; it is not
        // acknowledged, and the volume must keep serving what it holds.
        if (err == ENOSPC) {
          ++enospc_;
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          continue;
        }
        MountError("write", err);
        break;
      }
      if (static_cast<uint64_t>(n) != count * kBlock) {
        Fail("short write");
        break;
      }
      ++writes_;
      {
        std::lock_guard<std::mutex> lock(mu_);
        pending_.push_back({first, count, gen});
      }
      if (rng() % 6 == 0) {
        if (fsync(vol_) != 0) {
          int err = errno;
          if (err == ENOSPC) {  // not acknowledged; the data may or may not be there
            ++enospc_;
            continue;
          }
          MountError("fsync", err);
          break;
        }
        journal_.Record("A " + std::to_string(gen));
        ++acks_;
        std::lock_guard<std::mutex> lock(mu_);
        for (const Extent& e : pending_) {
          for (uint64_t b = e.first; b < e.first + e.count; ++b) acked_[b] = std::max(acked_[b], e.gen);
        }
        pending_.clear();
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    writer_idle_ = true;
    cv_.notify_all();
  }

  void SleepRandom(std::mt19937_64& rng, int max_ms) {
    for (int ms = static_cast<int>(rng() % max_ms); ms > 0 && !stop_; ms -= 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  void Controller() {
    std::mt19937_64 rng(rng_());
    uint64_t round = 0;
    while (!stop_) {
      SleepRandom(rng, 600);
      if (stop_) break;
      if (!a_.snapshots) continue;
      ++round;
      unsigned pick = rng() % 10;
      if (snapshots_.size() > 6 && pick < 5) pick = 5;  // keep the count (and verify's reading) bounded
      if (pick < 5 || snapshots_.empty()) TakeSnapshot(round);
      else if (pick < 7) DeleteSnapshot(rng);
      else if (pick < 8) Gc();
      else if (pick < 9 && a_.rollback) Rollback(rng);
      else TakeSnapshot(round);
    }
  }

  void TakeSnapshot(uint64_t round) {
    std::string name = "t" + std::to_string(a_.seed) + "-" + std::to_string(round);
    {
      std::lock_guard<std::mutex> lock(mu_);
      WriteFileBytes(a_.state + "/snap-" + name, acked_);
    }
    journal_.Record("S+ " + name);
    int err = CtlCommand(a_.mnt, "snapshot " + name);
    if (err == EBUSY || err == ENOSPC) {
      journal_.Record("D " + name);  // did not happen
      return;
    }
    if (err != 0) return MountError("snapshot", err);
    journal_.Record("S " + name + " " + std::to_string(next_gen_.load() - 1));
    snapshots_.push_back(name);
    base_ = name;
    ++snaps_;
  }

  void DeleteSnapshot(std::mt19937_64& rng) {
    size_t i = rng() % snapshots_.size();
    std::string name = snapshots_[i];
    journal_.Record("D+ " + name);
    int err = CtlCommand(a_.mnt, "delete " + name);
    // ENOSPC is the documented refusal to delete the snapshot that is the
    // base on a full disk (snapshotter.h, "Full file system"), and for no
    // other: the base is the last snapshot taken (known once this run took
    // one). It must have changed nothing: the snapshot is still there.
    if (err == ENOSPC && !base_.empty() && name != base_)
      return Fail("delete " + name + ": ENOSPC, but it is not the base snapshot (" + base_ + ")");
    if (err == ENOSPC && !SnapshotListed(name)) return Fail("delete " + name + ": ENOSPC, yet the snapshot is gone");
    if (err == EBUSY || err == ENOSPC) {
      if (err == ENOSPC) ++enospc_;
      journal_.Record("S " + name + " " + SnapshotMaxGen(name));
      return;
    }
    if (err != 0) return MountError("delete", err);
    journal_.Record("D " + name);
    snapshots_.erase(snapshots_.begin() + static_cast<long>(i));
    ++deletes_;
  }

  bool SnapshotListed(const std::string& name) {
    struct stat st;
    return stat((a_.mnt + "/snapshots/" + name).c_str(), &st) == 0;
  }

  // The max generation a snapshot was recorded with (to re-commit it in the
  // journal after a refused delete).
  std::string SnapshotMaxGen(const std::string& name) {
    Replay r = ReplayJournal(a_.state, blocks_);
    auto it = r.snapshots.find(name);
    return std::to_string(it == r.snapshots.end() ? next_gen_.load() - 1 : it->second);
  }

  void Gc() {
    int err = CtlCommand(a_.mnt, "gc");
    if (err == EBUSY || err == 0) {
      if (err == 0) ++gcs_;
      return;
    }
    MountError("gc", err);
  }

  void Rollback(std::mt19937_64& rng) {
    if (snapshots_.empty()) return;
    std::string name = snapshots_[rng() % snapshots_.size()];
    {
      std::unique_lock<std::mutex> lock(mu_);
      pause_ = true;
      cv_.wait(lock, [&] { return writer_idle_ || stop_; });
    }
    // Every write issued so far is part of the state a rollback replaces:
    // make them durable first, so the bounds before it are exact.
    if (!stop_ && fsync(vol_) == 0) {
      std::lock_guard<std::mutex> lock(mu_);
      journal_.Record("A " + std::to_string(next_gen_.load() - 1));
      for (const Extent& e : pending_) {
        for (uint64_t b = e.first; b < e.first + e.count; ++b) acked_[b] = std::max(acked_[b], e.gen);
      }
      pending_.clear();
    } else if (!stop_ && errno == ENOSPC) {
      ++enospc_;  // not acknowledged, so the bounds are not exact: no rollback this time
      std::lock_guard<std::mutex> lock(mu_);
      pause_ = false;
      cv_.notify_all();
      return;
    } else if (!stop_) {
      MountError("fsync before rollback", errno);
    }
    if (!stop_) {
      journal_.Record("R+ " + name);
      int err = CtlCommand(a_.mnt, "rollback " + name);
      if (err == 0) {
        std::vector<uint64_t> now;
        bool gone = false;
        std::string problem = CheckRolledBack(a_.mnt, name, &now, &gone);
        if (gone) {
          MountError("read after rollback", ENOTCONN);  // the kill came during the check: verify judges
        } else if (!problem.empty()) {
          Fail(problem);
        } else {
          JournalRolledBack(a_.state, journal_, name, now, next_gen_.load());
          std::lock_guard<std::mutex> lock(mu_);
          acked_ = now;
          ++rollbacks_;
        }
      } else if (err == EBUSY) {
        journal_.Record("R " + name + " refused");  // nothing happened: bounds as before
        journal_.Record("B " + SaveBounds());
      } else {
        MountError("rollback", err);
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    pause_ = false;
    cv_.notify_all();
  }

  std::string SaveBounds() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string file = "base-k" + std::to_string(next_gen_.load());
    WriteFileBytes(a_.state + "/" + file, acked_);
    return file;
  }

 public:
  // Reads a whole image and returns each block's generation; false (with why)
  // on a read error or a corrupt block.
  static bool ReadGens(const std::string& path, std::vector<uint64_t>* gens, std::string* why, int* err = nullptr) {
    Fd fd(open(path.c_str(), O_RDONLY));
    if (fd.fd < 0) {
      if (err) *err = errno;
      *why = "open " + path + ": " + std::strerror(errno);
      return false;
    }
    std::vector<char> buf(256 * kBlock);
    gens->clear();
    for (uint64_t off = 0;;) {
      ssize_t n = pread(fd.fd, buf.data(), buf.size(), static_cast<off_t>(off));
      if (n < 0) {
        if (err) *err = errno;
        *why = "read " + path + ": " + std::strerror(errno);
        return false;
      }
      if (n == 0) break;
      for (ssize_t i = 0; i + static_cast<ssize_t>(kBlock) <= n; i += kBlock) {
        uint64_t index = (off + static_cast<uint64_t>(i)) / kBlock, gen = 0;
        if (ParseBlock(&buf[static_cast<size_t>(i)], index, &gen) == BlockState::kCorrupt) {
          *why = path + ": block " + std::to_string(index) + " is corrupt (torn or misplaced)";
          return false;
        }
        gens->push_back(gen);
      }
      off += static_cast<uint64_t>(n);
    }
    return true;
  }

  // True when both images hold the same generations; otherwise says where
  // they first differ in *why (if given).
  static bool SameFile(const std::string& a, const std::string& b, std::string* why = nullptr, int* err = nullptr) {
    std::vector<uint64_t> ga, gb;
    std::string local;
    std::string* w = why ? why : &local;
    if (!ReadGens(a, &ga, w, err) || !ReadGens(b, &gb, w, err)) return false;
    if (ga.size() != gb.size()) {
      *w = "sizes differ";
      return false;
    }
    size_t differ = 0, first = 0;
    for (size_t i = 0; i < ga.size(); ++i) {
      if (ga[i] != gb[i] && differ++ == 0) first = i;
    }
    if (differ == 0) return true;
    *w = std::to_string(differ) + " blocks differ, first block " + std::to_string(first) + ": generation " +
         std::to_string(ga[first]) + " against " + std::to_string(gb[first]);
    return false;
  }

 private:
  struct Extent {
    uint64_t first, count, gen;
  };
  const Args& a_;
  const uint64_t blocks_;
  Journal journal_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<uint64_t> acked_;   // guarded by mu_
  std::vector<Extent> pending_;   // guarded by mu_: written, not yet fsynced
  bool pause_ = false, writer_idle_ = false;  // guarded by mu_
  std::atomic<uint64_t> next_gen_;
  std::vector<std::string> snapshots_;  // controller thread only
  std::string base_;                    // controller thread only: the last snapshot taken ("" = none yet)
  std::mt19937_64 rng_;
  int vol_ = -1;
  std::atomic<bool> stop_{false}, gone_{false}, failed_{false};
  std::atomic<uint64_t> writes_{0}, acks_{0}, snaps_{0}, deletes_{0}, rollbacks_{0}, gcs_{0}, enospc_{0};
};

// Whether the mount has gone away (the daemon was killed on purpose).
bool MountGoneNow(const std::string& mnt) {
  struct stat st;
  return stat((mnt + "/volume").c_str(), &st) != 0 && OpenGone(errno);
}

// After `rollback name` returned 0: the volume must read as the snapshot.
// Returns "" and the volume's generations, or what is wrong; *gone when a
// read failed because the mount went away (a kill during the check: not the
// rollback's fault, verify judges the cut-off rollback after the remount).
std::string CheckRolledBack(const std::string& mnt, const std::string& name, std::vector<uint64_t>* now, bool* gone) {
  std::string why;
  int err = 0;
  const bool read = Runner::ReadGens(mnt + "/volume", now, &why, &err) &&
                    Runner::SameFile(mnt + "/volume", mnt + "/snapshots/" + name, &why, &err);
  if (read) return "";
  *gone = err != 0 && MountGoneNow(mnt);
  if (*gone) return "";
  if (err != 0) return "after rollback " + name + ": " + why;
  return "after rollback " + name + " the volume differs from the snapshot: " + why;
}

// Journals a finished rollback: the volume as it is now is the new lower bound.
void JournalRolledBack(const std::string& state, Journal& journal, const std::string& name,
                       const std::vector<uint64_t>& now, uint64_t next_gen) {
  std::string file = "base-r" + std::to_string(next_gen);
  WriteFileBytes(state + "/" + file, now);
  journal.Record("R " + name);
  journal.Record("B " + file);
}

// Checks gens against lower bounds and an upper bound; counts what was lost.
struct Check {
  uint64_t lost = 0, too_new = 0;
  std::string first_problem;
};

Check CheckBounds(const std::vector<uint64_t>& gens, const std::vector<uint64_t>& lower, uint64_t upper) {
  Check c;
  for (size_t b = 0; b < gens.size() && b < lower.size(); ++b) {
    if (gens[b] < lower[b]) {
      if (c.first_problem.empty())
        c.first_problem = "block " + std::to_string(b) + " holds generation " + std::to_string(gens[b]) +
                          ", acknowledged " + std::to_string(lower[b]);
      ++c.lost;
    } else if (gens[b] > upper) {
      if (c.first_problem.empty())
        c.first_problem = "block " + std::to_string(b) + " holds generation " + std::to_string(gens[b]) +
                          ", newer than any issued before (" + std::to_string(upper) + ")";
      ++c.too_new;
    }
  }
  return c;
}

std::set<std::string> ListedSnapshots(const std::string& mnt) {
  std::set<std::string> names;
  DIR* dir = opendir((mnt + "/snapshots").c_str());
  if (dir == nullptr) Die("cannot list " + mnt + "/snapshots: " + std::strerror(errno));
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') names.insert(e->d_name);
  }
  closedir(dir);
  return names;
}

// Checks one snapshot's image against its bounds; "" when it holds.
std::string CheckSnapshot(const std::string& path, const std::string& state, const std::string& name, uint64_t upper) {
  std::vector<uint64_t> gens, lower;
  std::string why;
  if (!Runner::ReadGens(path, &gens, &why)) return why;
  if (!ReadFileBytes(state + "/snap-" + name, &lower)) return "no bounds recorded for " + name;
  if (gens.size() != lower.size()) return "size differs: " + std::to_string(gens.size()) + " blocks";
  Check c = CheckBounds(gens, lower, upper);
  if (c.lost + c.too_new != 0) {
    return std::to_string(c.lost) + " blocks older than acknowledged, " + std::to_string(c.too_new) +
           " newer than allowed; first: " + c.first_problem;
  }
  return "";
}

int Verify(const Args& a) {
  const uint64_t blocks = VolumeBlocks(a.mnt);
  Replay r = ReplayJournal(a.state, blocks);
  std::vector<uint64_t> gens;
  std::string why;
  if (!Runner::ReadGens(a.mnt + "/volume", &gens, &why)) {
    std::printf("torture verify: FAIL: %s\n", why.c_str());
    return 1;
  }
  int failures = 0;
  Check c = CheckBounds(gens, r.acked, r.max_gen);
  if (c.lost + c.too_new != 0 && !r.rollback_cut.empty()) {
    // A rollback cut off by the crash: all of it must have happened (the
    // volume is the snapshot), or none (the bounds from before it hold).
    Check before = CheckBounds(gens, r.before_rollback, r.max_gen);
    bool is_snapshot = Runner::SameFile(a.mnt + "/volume", a.mnt + "/snapshots/" + r.rollback_cut);
    if (before.lost + before.too_new == 0 || is_snapshot) {
      c = Check{};
    } else {
      c.first_problem = "a rollback to " + r.rollback_cut +
                        " was cut off by the crash and left the volume neither before nor after it; " + c.first_problem;
    }
  }
  uint64_t lost_bytes = c.lost * kBlock;
  if (c.lost + c.too_new != 0) {
    std::printf("torture verify: FAIL: volume: %llu blocks (%llu bytes) older than acknowledged, %llu too new; first: %s\n",
                (unsigned long long)c.lost, (unsigned long long)lost_bytes, (unsigned long long)c.too_new,
                c.first_problem.c_str());
    ++failures;
  }
  std::set<std::string> listed = ListedSnapshots(a.mnt);
  uint64_t snaps_checked = 0;
  for (const auto& [name, upper] : r.snapshots) {
    if (!listed.count(name)) {
      std::printf("torture verify: FAIL: snapshot %s was committed but is not listed\n", name.c_str());
      ++failures;
      continue;
    }
    std::string problem = CheckSnapshot(a.mnt + "/snapshots/" + name, a.state, name, upper);
    if (!problem.empty()) {
      std::printf("torture verify: FAIL: snapshot %s: %s\n", name.c_str(), problem.c_str());
      ++failures;
    }
    ++snaps_checked;
  }
  for (const std::string& name : r.maybe_snapshots) {
    if (!listed.count(name)) continue;
    std::string problem = CheckSnapshot(a.mnt + "/snapshots/" + name, a.state, name, r.max_gen);
    if (!problem.empty()) {
      std::printf("torture verify: FAIL: snapshot %s (cut off by the crash): %s\n", name.c_str(), problem.c_str());
      ++failures;
    }
    ++snaps_checked;
  }
  for (const std::string& name : listed) {
    if (!r.snapshots.count(name) && !r.maybe_snapshots.count(name)) {
      std::printf("torture verify: FAIL: snapshot %s is listed but was never taken\n", name.c_str());
      ++failures;
    }
  }
  std::printf("torture verify: %llu blocks, %llu writes and %llu fsyncs in the journal, %llu lost bytes, %llu snapshots "
              "checked: %s\n",
              (unsigned long long)blocks, (unsigned long long)r.writes, (unsigned long long)r.acks,
              (unsigned long long)lost_bytes, (unsigned long long)snaps_checked, failures ? "FAIL" : "ok");
  if (a.rebase) {
    // A new segment, after a failure too (so one failure is counted once and
    // does not spill into the next cycles): the volume as it is is the lower
    // bound from now on; surviving snapshots are re-recorded (with what exists
    // of the cut-off ones); a listed snapshot the journal never knew is dropped.
    std::string file = "base-v" + std::to_string(r.max_gen + 1);
    WriteFileBytes(a.state + "/" + file, gens);
    std::string journal = a.state + "/journal";
    std::string tmp = journal + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << "B " << file << "\n";
      // Keep the highest generation so new writes stay newer than any issued.
      out << "W " << r.max_gen << " 0 0\n";
      for (const std::string& name : listed) {
        if (!r.snapshots.count(name) && !r.maybe_snapshots.count(name)) continue;
        uint64_t upper = r.snapshots.count(name) ? r.snapshots.at(name) : r.max_gen;
        out << "S " << name << " " << upper << "\n";
      }
      if (!out) Die("cannot write " + tmp);
    }
    if (rename(tmp.c_str(), journal.c_str()) != 0) Die("cannot rename the journal");
  }
  return failures ? 1 : 0;
}

// A snapshot of a quiet volume, recorded like the controller records one.
int TakeSnapshotByHand(const Args& a) {
  const uint64_t blocks = VolumeBlocks(a.mnt);
  Replay r = ReplayJournal(a.state, blocks);
  Journal journal(a.state + "/journal");
  journal.Record("C");
  WriteFileBytes(a.state + "/snap-" + a.name, r.acked);
  journal.Record("S+ " + a.name);
  int err = CtlCommand(a.mnt, "snapshot " + a.name);
  if (err != 0) {
    journal.Record("D " + a.name);
    std::fprintf(stderr, "torture snapshot: %s: %s\n", a.name.c_str(), std::strerror(err));
    return 1;
  }
  journal.Record("S " + a.name + " " + std::to_string(r.max_gen));
  return 0;
}

// A rollback of a quiet volume, recorded like the controller records one;
// the driver may kill the daemon while it runs (then exit 0, cut off).
int RollbackByHand(const Args& a) {
  if (MountGoneNow(a.mnt)) {
    std::printf("torture rollback: %s not started (the mount went away)\n", a.name.c_str());
    return 0;
  }
  const uint64_t blocks = VolumeBlocks(a.mnt);
  Journal journal(a.state + "/journal");
  {
    // Every write issued so far is part of what the rollback replaces.
    Fd vol(open((a.mnt + "/volume").c_str(), O_RDWR));
    if (vol.fd < 0 || fsync(vol.fd) != 0) {
      if (OpenGone(errno)) {
        std::printf("torture rollback: %s not started (the mount went away)\n", a.name.c_str());
        return 0;
      }
      Die("fsync before rollback: " + std::string(std::strerror(errno)));
    }
    journal.Record("A " + std::to_string(ReplayJournal(a.state, blocks).max_gen));
  }
  const uint64_t next_gen = ReplayJournal(a.state, blocks).max_gen + 1;
  journal.Record("R+ " + a.name);
  int err = CtlCommand(a.mnt, "rollback " + a.name);
  if (MountGone(err) || (err != 0 && MountGoneNow(a.mnt))) {
    std::printf("torture rollback: %s cut off (the mount went away)\n", a.name.c_str());
    return 0;
  }
  if (err != 0) {
    std::printf("torture rollback: FAIL: rollback %s: %s\n", a.name.c_str(), std::strerror(err));
    return 1;
  }
  std::vector<uint64_t> now;
  bool gone = false;
  std::string problem = CheckRolledBack(a.mnt, a.name, &now, &gone);
  if (!problem.empty()) {
    std::printf("torture rollback: FAIL: %s\n", problem.c_str());
    return 1;
  }
  if (!gone) JournalRolledBack(a.state, journal, a.name, now, next_gen);
  std::printf("torture rollback: %s %s\n", a.name.c_str(), gone ? "cut off while checked" : "done and checked");
  return 0;
}

int CheckFile(const Args& a) {
  std::vector<uint64_t> probe;
  std::string why;
  if (!Runner::ReadGens(a.file, &probe, &why)) {
    std::printf("torture check-file: FAIL: %s\n", why.c_str());
    return 1;
  }
  Replay r = ReplayJournal(a.state, probe.size());
  auto it = r.snapshots.find(a.name);
  if (it == r.snapshots.end()) Die("no committed snapshot " + a.name + " in the journal");
  std::string problem = CheckSnapshot(a.file, a.state, a.name, it->second);
  std::printf("torture check-file: %s against snapshot %s: %s\n", a.file.c_str(), a.name.c_str(),
              problem.empty() ? "ok" : ("FAIL: " + problem).c_str());
  return problem.empty() ? 0 : 1;
}

int Usage() {
  std::fprintf(stderr,
               "usage: torture run MNT STATE [--seconds N] [--seed N] [--no-snapshots] [--no-rollback]\n"
               "       torture verify MNT STATE [--rebase]\n"
               "       torture snapshot MNT STATE NAME\n"
               "       torture rollback MNT STATE NAME\n"
               "       torture check-file FILE STATE NAME\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "--seconds" && i + 1 < argc) a.seconds = std::atof(argv[++i]);
    else if (s == "--seed" && i + 1 < argc) a.seed = std::strtoull(argv[++i], nullptr, 10);
    else if (s == "--no-snapshots") a.snapshots = false;
    else if (s == "--no-rollback") a.rollback = false;
    else if (s == "--rebase") a.rebase = true;
    else if (!s.empty() && s[0] == '-') return Usage();
    else pos.push_back(s);
  }
  if (pos.empty()) return Usage();
  a.cmd = pos[0];
  if (a.cmd == "check-file") {
    if (pos.size() != 4) return Usage();
    a.file = pos[1], a.state = pos[2], a.name = pos[3];
    return CheckFile(a);
  }
  const bool named = a.cmd == "snapshot" || a.cmd == "rollback";
  if (pos.size() != (named ? 4u : 3u)) return Usage();
  a.mnt = pos[1], a.state = pos[2];
  mkdir(a.state.c_str(), 0700);
  if (a.cmd == "verify") return Verify(a);
  if (named) a.name = pos[3];
  if (a.cmd == "snapshot") return TakeSnapshotByHand(a);
  if (a.cmd == "rollback") return RollbackByHand(a);
  if (a.cmd != "run") return Usage();
  if (a.seed == 0) a.seed = std::random_device{}();
  struct stat st;
  if (stat((a.mnt + "/volume").c_str(), &st) != 0 && OpenGone(errno)) {
    std::printf("torture run: 0 writes, ended by the mount going away before the first\n");
    return 0;
  }
  const uint64_t blocks = VolumeBlocks(a.mnt);
  if (blocks < 64) Die("the volume is too small (at least 256 KiB)");
  Runner runner(a, blocks, ReplayJournal(a.state, blocks));
  return runner.Run();
}
