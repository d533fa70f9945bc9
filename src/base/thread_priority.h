// Background threads yield the CPU to the threads that serve the volume.
//
// On a small machine a snapshot's capture (reading, hashing, compressing
// every changed chunk) can keep every core busy for seconds. A writer's
// request that needs CPU meanwhile (a copy-before-write hashed inline) then
// waits out whole scheduler slices behind it: 10-35 ms stalls were measured
// on the 2-core test VM. Background workers call LowerThisThreadPriority
// once at start; the work still gets whatever the foreground leaves.
//
// Best effort: a failure (a seccomp filter, say) is logged at debug level
// and the thread runs at its old priority.
#pragma once

namespace amberfs {

// The nice value background work runs at (the foreground's is 0).
inline constexpr int kBackgroundNice = 10;

void LowerThisThreadPriority(int nice = kBackgroundNice);

}  // namespace amberfs
