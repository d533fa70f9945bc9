// The crash-torture harness's self-describing blocks and journal (used by
// test/support/torture.cc; the harness is described there and in
// test/torture/run.sh).
//
// A block is 4 KiB: magic, block index, generation, run seed, a payload
// derived from them and an xxh64 of it all. The journal is STATE/journal,
// one text line per record, replayed by ReplayJournal.
//
// Header-only; not thread-safe except Journal::Record.
#pragma once

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace torture {

constexpr size_t kBlock = 4096;
constexpr uint64_t kMagic = 0x31524f54424d41ull;  // "AMBTOR1"
constexpr size_t kSumAt = kBlock - 8;

struct Header {
  uint64_t magic, index, gen, seed;
};

inline void FillBlock(char* b, uint64_t index, uint64_t gen, uint64_t seed) {
  Header h{kMagic, index, gen, seed};
  std::memcpy(b, &h, sizeof h);
  uint64_t x = (index * 0x9e3779b97f4a7c15ull) ^ (gen * 0xc2b2ae3d27d4eb4full) ^ seed ^ 1;
  for (size_t i = sizeof h; i < kSumAt; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(b + i, &x, 8);
  }
  uint64_t sum = XXH64(b, kSumAt, 0);
  std::memcpy(b + kSumAt, &sum, 8);
}

enum class BlockState { kZero, kValid, kCorrupt };

// Parses one block read back; gen is set when valid.
inline BlockState ParseBlock(const char* b, uint64_t index, uint64_t* gen) {
  bool zero = true;
  for (size_t i = 0; i < kBlock && zero; i += 8) {
    uint64_t w;
    std::memcpy(&w, b + i, 8);
    zero = w == 0;
  }
  if (zero) {
    *gen = 0;
    return BlockState::kZero;
  }
  Header h;
  std::memcpy(&h, b, sizeof h);
  uint64_t sum;
  std::memcpy(&sum, b + kSumAt, 8);
  if (h.magic != kMagic || h.index != index || sum != XXH64(b, kSumAt, 0)) return BlockState::kCorrupt;
  *gen = h.gen;
  return BlockState::kValid;
}

[[noreturn]] inline void Die(const std::string& what) {
  std::fprintf(stderr, "torture: %s\n", what.c_str());
  std::exit(1);
}

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

inline bool ReadFileBytes(const std::string& path, std::vector<uint64_t>* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  in.seekg(0, std::ios::end);
  size_t n = static_cast<size_t>(in.tellg()) / 8;
  in.seekg(0);
  out->resize(n);
  in.read(reinterpret_cast<char*>(out->data()), static_cast<std::streamsize>(n * 8));
  return static_cast<bool>(in);
}

inline void WriteFileBytes(const std::string& path, const std::vector<uint64_t>& v) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 8));
    if (!out) Die("cannot write " + tmp);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) Die("cannot rename " + tmp + ": " + std::strerror(errno));
}

// The journal: one text line per record, each written with one write(2) so a
// crash of this process never leaves a half line that matters.
class Journal {
 public:
  explicit Journal(const std::string& path) : fd_(open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) {
    if (fd_.fd < 0) Die("cannot open " + path + ": " + std::strerror(errno));
  }
  void Record(const std::string& line) {
    std::lock_guard<std::mutex> lock(mu_);
    std::string l = line + "\n";
    if (write(fd_.fd, l.data(), l.size()) != static_cast<ssize_t>(l.size())) Die("journal write failed");
  }

 private:
  Fd fd_;
  std::mutex mu_;
};

// What a journal says, replayed.
struct Replay {
  std::vector<uint64_t> acked;  // per block: lowest generation it may hold
  uint64_t max_gen = 0;         // highest generation issued
  std::map<std::string, uint64_t> snapshots;  // committed: name -> max generation
  std::set<std::string> maybe_snapshots;      // cut off while being taken or deleted
  std::string rollback_cut;                   // a rollback cut off by the crash
  std::vector<uint64_t> before_rollback;      // the bounds before it
  uint64_t writes = 0, acks = 0;
};

inline Replay ReplayJournal(const std::string& state, uint64_t blocks) {
  Replay r;
  r.acked.assign(blocks, 0);
  std::ifstream in(state + "/journal");
  std::vector<std::pair<uint64_t, std::pair<uint64_t, uint64_t>>> pending;  // gen, (first, count)
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    std::string op;
    s >> op;
    if (op == "W") {
      uint64_t gen, first, count;
      s >> gen >> first >> count;
      pending.push_back({gen, {first, count}});
      r.max_gen = std::max(r.max_gen, gen);
      ++r.writes;
    } else if (op == "A") {
      uint64_t gen;
      s >> gen;
      std::vector<std::pair<uint64_t, std::pair<uint64_t, uint64_t>>> later;
      for (auto& [g, ext] : pending) {
        if (g > gen) {
          later.push_back({g, ext});
          continue;
        }
        for (uint64_t b = ext.first; b < ext.first + ext.second && b < blocks; ++b) r.acked[b] = std::max(r.acked[b], g);
      }
      pending.swap(later);
      ++r.acks;
    } else if (op == "C") {
      pending.clear();
    } else if (op == "B") {
      std::string file;
      s >> file;
      if (!ReadFileBytes(state + "/" + file, &r.acked) || r.acked.size() != blocks) Die("bad baseline " + file);
      for (uint64_t g : r.acked) r.max_gen = std::max(r.max_gen, g);
      pending.clear();
    } else if (op == "S+") {
      std::string name;
      s >> name;
      r.maybe_snapshots.insert(name);
    } else if (op == "S") {
      std::string name;
      uint64_t gen;
      s >> name >> gen;
      r.maybe_snapshots.erase(name);
      r.snapshots[name] = gen;
    } else if (op == "D+") {
      std::string name;
      s >> name;
      if (r.snapshots.erase(name)) r.maybe_snapshots.insert(name);
    } else if (op == "D") {
      std::string name;
      s >> name;
      r.maybe_snapshots.erase(name);
    } else if (op == "R+") {
      s >> r.rollback_cut;
      r.before_rollback = r.acked;
    } else if (op == "R") {
      r.rollback_cut.clear();
    }
  }
  return r;
}

}  // namespace torture
