// LowerThisThreadPriority: see thread_priority.h.
#include "base/thread_priority.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "amberfs/log.h"

namespace amberfs {

void LowerThisThreadPriority(int nice) {
  // On Linux the nice value belongs to the thread (PRIO_PROCESS of a tid),
  // not to the whole process as POSIX would have it.
  const pid_t tid = ::gettid();
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), nice) != 0)
    LOG_DEBUG("setpriority(thread %d, %d): %s", static_cast<int>(tid), nice, std::strerror(errno));
}

}  // namespace amberfs
