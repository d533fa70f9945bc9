// The frontend's pure parts: inode numbering, attributes (modes and owners of
// snapshot files), and the FUSE option parsing behind max_read and messages.
// The operations themselves are exercised on real mounts (test/mount/).
#include "fuse/frontend.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include "amberfs/volume_create.h"
#include "support/temp_dir.h"

using namespace amberfs;
using namespace amberfs::frontend;
using amberfs::testing::TempDir;

TEST_CASE("frontend: -o options split as fuse_opt splits them; max_read") {
  std::vector<std::string> args = {"-o", "default_permissions", "-o", "fsname=/a\\,b,max_read=4096", "-oallow_other",
                                   "-d", "-o", "subtype=amberfs"};
  CHECK(FuseOptions(args) ==
        std::vector<std::string>{"default_permissions", "fsname=/a,b", "max_read=4096", "allow_other", "subtype=amberfs"});
  CHECK(MaxReadOption(FuseOptions(args)) == 4096);
  CHECK(MaxReadOption({"max_read=1"}) == 1);
  CHECK(MaxReadOption({"max_read=1", "max_read=8192"}) == 8192);  // the last one counts, as in fuse_opt
  CHECK(MaxReadOption({"allow_other"}) == 0);
  CHECK(MaxReadOption({"max_read=abc"}) == 0);
  CHECK(MaxReadOption({"max_read=12k"}) == 0);
  CHECK(MaxReadOption({"max_read=99999999999"}) == 0);
  CHECK(FuseOptions({"-o"}).empty());
}

TEST_CASE("frontend: inode ranges do not overlap") {
  CHECK(IsCtlIno(kCtlIno));
  CHECK_FALSE(IsSnapshotIno(kCtlIno));
  CHECK(IsSnapshotIno(kFirstSnapshotIno));
  CHECK(IsSnapshotIno(kFirstCtlIno - 1));
  CHECK_FALSE(IsSnapshotIno(kFirstCtlIno));
  CHECK(IsCtlIno(kFirstCtlIno));
  for (fuse_ino_t ino : {kRootIno, kVolumeIno, kStatsIno, kSnapshotsIno}) {
    CHECK_FALSE(IsCtlIno(ino));
    CHECK_FALSE(IsSnapshotIno(ino));
  }
}

TEST_CASE("frontend: snapshot files carry the volume's owner and mode without write bits") {
  TempDir dir("frontend");
  const std::string voldir = dir / "vol";
  CreateVolumeOptions create;
  create.voldir = voldir;
  create.size = 4 << 20;
  REQUIRE(CreateVolume(create).ok());
  for (bool ro : {false, true}) {
    CAPTURE(ro);
    Result<std::unique_ptr<Volume>> v =
        Volume::Open(voldir, VolumeOptions{.cache_bytes = 1 << 20, .io = IoBackend::kPlain, .read_only = ro});
    REQUIRE_MESSAGE(v.ok(), v.status().ToString());
    Frontend fe(**v, false, "/mnt", nullptr, 0);
    const struct stat vol = fe.Attr(kVolumeIno);
    const struct stat snap = fe.SnapshotAttr(kFirstSnapshotIno + 3, SnapshotFile{"s", 1500000000123456789ull, 4 << 20});
    const struct stat dir_st = fe.Attr(kSnapshotsIno);
    CHECK((vol.st_mode & 07777) == (ro ? 0400u : 0600u));
    CHECK((snap.st_mode & 07777) == (vol.st_mode & 0444));
    CHECK(S_ISREG(snap.st_mode));
    CHECK((dir_st.st_mode & 07777) == 0500u);
    CHECK(S_ISDIR(dir_st.st_mode));
    CHECK(snap.st_uid == vol.st_uid);
    CHECK(snap.st_gid == vol.st_gid);
    CHECK(vol.st_uid == getuid());
    CHECK(snap.st_size == vol.st_size);
    CHECK(snap.st_ino == kFirstSnapshotIno + 3);
    CHECK(snap.st_mtim.tv_sec == 1500000000);
    CHECK(snap.st_mtim.tv_nsec == 123456789);
    const fuse_ino_t a = fe.NextCtlIno(), b = fe.NextCtlIno();
    CHECK(a != b);
    CHECK(IsCtlIno(a));
    CHECK((fe.Attr(a).st_mode & 07777) == 0600u);
    CHECK(fe.Attr(a).st_ino == a);
    REQUIRE((*v)->Close().ok());
  }
}
