// PairedStore deletes racing uploads and Puts, interrupted by a crash, and a
// batch whose Commit fails halfway.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "store/paired_store.h"
#include "support/eventually.h"
#include "support/fault_file_ops.h"
#include "support/fault_store.h"
#include "support/paired_rig.h"

using namespace amberfs;
using namespace amberfs::testing;
using namespace std::chrono_literals;

TEST_CASE("Paired: the upload of a blob deleted in flight never removes a newer upload of it") {
  PairedRig rig;
  rig.Open();
  auto data = Blob(7);
  const Pointer key = Pointer::Of(data);
  // The first upload of key is held on its way to the slow store.
  rig.slow->PauseNext(FaultStore::Op::kPut, key);
  REQUIRE(rig.store->Put(key, data).ok());
  REQUIRE(rig.slow->WaitPaused());
  // Deleted (its upload is cancelled in flight), then put again.
  REQUIRE(rig.store->Delete(key).ok());
  REQUIRE(rig.store->Put(key, data).ok());
  // The second upload must not finish before the first: if it did, the
  // first one's cancellation would delete its copy. Give it the chance.
  auto second_put_landed = [&] {
    int puts = 0;
    for (const std::string& op : rig.ops->ops()) puts += op == "slow:put " + key.Hex();
    return puts >= 1;  // the held first Put has not reached the recorder yet
  };
  for (int i = 0; i < 40 && !second_put_landed(); ++i) std::this_thread::sleep_for(10ms);
  CHECK_FALSE(second_put_landed());
  rig.slow->Resume();
  REQUIRE(rig.store->Drain(10s).ok());
  CHECK(rig.InSlow(key));
  CHECK(rig.store->Get(key).value() == data);
  CHECK(rig.store->Stats().lost == 0);
}

TEST_CASE("Paired: deleting a blob while its Put is in flight is no loss") {
  PairedRig rig;
  rig.Open();
  auto data = Blob(8);
  const Pointer key = Pointer::Of(data);
  // The Put has written the fast copy and not yet queued its upload.
  rig.fast->PauseNext(FaultStore::Op::kPut, key, /*after=*/true);
  Status put;
  std::thread putter([&] { put = rig.store->Put(key, data); });
  REQUIRE(rig.fast->WaitPaused());
  REQUIRE(rig.store->Delete(key).ok());  // the delete comes first; the Put after it
  rig.fast->Resume();
  putter.join();
  REQUIRE(put.ok());
  Status drained = rig.store->Drain(10s);
  CHECK_MESSAGE(drained.ok(), drained.ToString());
  CHECK(rig.store->Stats().lost == 0);
  CHECK(rig.InSlow(key));
  CHECK(rig.store->Get(key).value() == data);
}

TEST_CASE("Paired: a batch whose Commit fails halfway leaves nothing of its own in the fast store") {
  PairedRig rig;
  rig.bare_fast = true;  // the fast store's own batch: syncfs, renames, syncfs
  rig.Open();
  auto old = Blob(50);
  REQUIRE(rig.store->Put(Pointer::Of(old), old).ok());  // in the fast store before the batch
  REQUIRE(rig.store->Drain(10s).ok());
  rig.slow->SetDown(true);  // no uploads meanwhile (they would rename files too)
  const uint64_t bytes_before = rig.store->Stats().fast_bytes;

  std::vector<Pointer> keys;
  auto batch = rig.store->NewPutBatch();
  for (int i = 0; i < 6; ++i) {
    keys.push_back(Pointer::Of(Blob(i)));
    REQUIRE(batch->Put(keys.back(), Blob(i)).ok());
  }
  REQUIRE(batch->Put(Pointer::Of(old), old).ok());
  {
    FaultFileOps faults;
    faults.Fail(FaultFileOps::Call::kRename, EIO, 1, /*skip=*/3);  // three blobs become visible, then EIO
    ScopedFileOps scoped(&faults);
    CHECK(batch->Commit().code() == EIO);
  }
  batch.reset();
  for (const Pointer& k : keys) CHECK_FALSE(rig.InFast(k));
  CHECK(rig.InFast(Pointer::Of(old)));  // not the batch's to remove
  CHECK(rig.store->Stats().fast_bytes == bytes_before);
  CHECK(rig.store->Stats().pending == 0);
  rig.slow->SetDown(false);
  CHECK(rig.store->Get(Pointer::Of(old)).value() == old);
}

TEST_CASE("Paired: a delete interrupted by a crash is finished at open, not uploaded again") {
  PairedRig rig;
  auto data = Blob(9, 3000);
  const Pointer key = Pointer::Of(data);
  int pipefd[2];
  REQUIRE(::pipe(pipefd) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(pipefd[0]);
    rig.Open();
    if (!rig.store->Put(key, data).ok() || !rig.store->Drain(10s).ok()) ::_exit(2);
    // The slow copy goes, and the process dies before the fast one does.
    rig.fast->PauseNext(FaultStore::Op::kDelete, key);
    std::thread deleter([&] { (void)rig.store->Delete(key); });
    if (!rig.fast->WaitPaused()) ::_exit(3);
    char ready = 1;
    if (::write(pipefd[1], &ready, 1) != 1) ::_exit(4);
    deleter.join();  // never: killed first
    ::_exit(5);
  }
  ::close(pipefd[1]);
  char ready = 0;
  REQUIRE(::read(pipefd[0], &ready, 1) == 1);
  ::kill(child, SIGKILL);
  int wstatus = 0;
  ::waitpid(child, &wstatus, 0);
  ::close(pipefd[0]);
  REQUIRE(WIFSIGNALED(wstatus));
  REQUIRE_FALSE(rig.OpenDisk("slow")->Contains(key).value());  // the child's rig is not ours
  REQUIRE(rig.InFast(key));

  PairedOptions o = FastRetry();
  o.fast_budget_bytes = 1;  // the evictor looks at everything the fast store holds
  rig.Open(o);
  REQUIRE(Eventually([&] { return rig.store->Stats().fast_bytes <= o.fast_budget_bytes; }));
  REQUIRE(rig.store->Drain(10s).ok());
  CHECK_FALSE(rig.InFast(key));
  CHECK_FALSE(rig.InSlow(key));
}

TEST_CASE("Paired: a blob found in the fast store at open and missing from the slow one is still uploaded") {
  // The other side of the case above: without a delete in the log, the fast
  // copy may be the only one left of a blob a snapshot needs.
  PairedRig rig;
  auto data = Blob(10, 3000);
  REQUIRE(rig.OpenDisk("fast")->Put(Pointer::Of(data), data).ok());
  PairedOptions o = FastRetry();
  o.fast_budget_bytes = 1;
  rig.Open(o);
  REQUIRE(Eventually([&] { return rig.InSlow(Pointer::Of(data)); }));
}
