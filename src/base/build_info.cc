// The commit the build came from: the Makefile passes AMBERFS_COMMIT to this
// file alone (and rebuilds it when HEAD moves), so a new commit recompiles
// one file, not the tree.
#include "amberfs/version.h"

#ifndef AMBERFS_COMMIT
#define AMBERFS_COMMIT "unknown"
#endif

namespace amberfs {

const char* BuildCommit() { return AMBERFS_COMMIT; }

}  // namespace amberfs
