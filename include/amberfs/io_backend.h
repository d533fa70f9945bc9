// IoBackend: which batch I/O backend a volume asks for (the `io=` mount
// option; src/io/batch_io.h implements both).
//   kUring  io_uring, falling back to plain when it cannot be set up
//   kPlain  pread/pwrite/fdatasync
//
// Thread-safety: a value type.
#pragma once

namespace amberfs {

enum class IoBackend { kUring, kPlain };

}  // namespace amberfs
