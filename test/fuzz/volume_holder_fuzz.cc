// Fuzz target: the lines another process reads from a volume directory to
// find who has it (amberctl umount and status): VOLDIR/lock
// (FindVolumeHolder, with the flock held by this process) and
// VOLDIR/mounted (ReadMountedMarker), and the pid a line names (PidNamedIn).
//
// Input: a flags byte, then the file's bytes. flags & 1 writes them as the
// lock file and holds a flock on it; else they are the mounted marker.
//
// Invariants: a file over 4096 bytes is EFBIG, any other file reads as its
// first line (without the newline); PidNamedIn is 0 or the decimal number
// right after the first "by pid ", when that number is a positive pid_t
// (never a number cut short, wrapped or read past blanks and signs); with the
// lock held the holder found is this process, whatever the line says.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <climits>
#include <cstdint>
#include <string>

#include "amberfs/volume_holder.h"
#include "fuzz/fuzz_support.h"
#include "snapshot/volume_layout.h"

using namespace amberfs;

namespace {

constexpr size_t kMaxLine = 4096;

const fuzz::ScratchDir& Scratch() {
  static fuzz::ScratchDir dir;
  return dir;
}

std::string FirstLine(std::span<const uint8_t> bytes) {
  std::string text(fuzz::AsText(bytes));
  const size_t end = text.find('\n');
  if (end != std::string::npos) text.resize(end);
  return text;
}

// PidNamedIn worked out apart: the digits right after "by pid ".
pid_t ExpectedPid(std::string_view line) {
  const size_t at = line.find("by pid ");
  if (at == std::string_view::npos) return 0;
  long long n = 0;
  size_t i = at + 7;
  for (; i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i) {
    n = n * 10 + (line[i] - '0');
    if (n > INT_MAX) return 0;
  }
  return static_cast<pid_t>(n);
}

void CheckPid(std::string_view line) {
  const pid_t pid = PidNamedIn(line);
  FUZZ_CHECK(pid == ExpectedPid(line), "PidNamedIn gave " + std::to_string(pid) + ", the line names " +
                                           std::to_string(ExpectedPid(line)));
}

void Marker(std::span<const uint8_t> bytes) {
  Scratch().Reset();
  Scratch().Write(kMountedMarker, bytes);
  Result<std::optional<std::string>> line = ReadMountedMarker(Scratch().path());
  if (bytes.size() > kMaxLine) {
    FUZZ_CHECK(!line.ok() && line.status().code() == EFBIG, "an oversized marker was read");
    return;
  }
  FUZZ_CHECK(line.ok() && line->has_value(), "a marker that is there was not read");
  FUZZ_CHECK(**line == FirstLine(bytes), "the marker's line is not its first line");
  CheckPid(**line);
}

void Lock(std::span<const uint8_t> bytes) {
  Scratch().Reset();
  Scratch().Write(kLockFile, bytes);
  const std::string path = Scratch() / kLockFile;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  FUZZ_CHECK(fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0, "cannot lock the scratch lock file");
  Result<std::optional<VolumeHolder>> holder = FindVolumeHolder(Scratch().path());
  ::close(fd);
  FUZZ_CHECK(holder.ok(), "FindVolumeHolder: " + holder.status().ToString());
  FUZZ_CHECK(holder->has_value() && (*holder)->pid == ::getpid(), "the lock's holder is not this process");
  // The line is read for messages only; an oversized file gives none.
  const std::string want = bytes.size() > kMaxLine ? std::string() : FirstLine(bytes);
  FUZZ_CHECK((*holder)->what == want, "the holder's line is not the lock file's first line");
  CheckPid((*holder)->what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::QuietLogs();
  if (size == 0) return 0;
  const std::span<const uint8_t> bytes(data + 1, size - 1);
  if (data[0] & 1) Lock(bytes);
  else Marker(bytes);
  CheckPid(fuzz::AsText(bytes));
  return 0;
}
