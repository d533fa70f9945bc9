// Damage to a file:// slow store on purpose, whether a blob lies loose
// (blobs/<ab>/<hex>) or inside a pack (packs/ and index/ objects,
// pack_objects.h): for tests of what fsck, restore and gc make of a blob the
// slow store lost or holds damaged. Also OpenSlowDir: a directory opened as
// every slow store is (a DiskStore inside SlowPacks). Header-only.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "store/disk_store.h"
#include "store/pack_file.h"
#include "store/pack_objects.h"
#include "store/slow_packs.h"
#include "support/pack_test_util.h"
#include "support/store_test_util.h"

namespace amberfs::testing {

// The directory as a slow store: packed blobs are blobs (slow_packs.h).
inline std::unique_ptr<Store> OpenSlowDir(const std::string& dir) {
  auto disk = DiskStore::Open(dir);
  REQUIRE_MESSAGE(disk.ok(), disk.status().ToString());
  return std::make_unique<SlowPacks>(std::move(disk).value(), SlowPacksOptions{std::chrono::milliseconds(0)});
}

// The pack of the raw slow store that holds blob, and the blob's entry;
// false if no pack does.
inline bool FindSlowPack(Store& raw, const Pointer& blob, Pointer* pack, PackEntry* entry) {
  bool found = false;
  REQUIRE(ListPacks(raw, [&](const Pointer& p) -> Status {
            AMBER_ASSIGN_OR_RETURN(std::vector<PackEntry> entries, GetPackIndex(raw, p, nullptr));
            for (const PackEntry& e : entries) {
              if (e.id != blob) continue;
              *pack = p;
              *entry = e;
              found = true;
            }
            return Status::OK();
          }).ok());
  return found;
}

// Removes blob from a raw slow store (not a SlowPacks: its deletes of packed
// blobs are marks): a loose copy is deleted; a pack holding it is replaced
// by a pack of its other blobs (a new name, as a repack would make it), so
// exactly that blob is gone. scratch: a directory for the new pack. False
// if the store had no copy.
inline bool RemoveSlowBlob(Store& raw, const Pointer& blob, const std::string& scratch) {
  if (raw.Contains(blob).value()) {
    REQUIRE(raw.Delete(blob).ok());
    return true;
  }
  Pointer pack;
  PackEntry entry;
  if (!FindSlowPack(raw, blob, &pack, &entry)) return false;
  std::vector<PackEntry> entries = GetPackIndex(raw, pack, nullptr).value();
  std::vector<std::vector<uint8_t>> kept;
  std::vector<uint32_t> flags;
  for (const PackEntry& e : entries) {
    if (e.id == blob) continue;
    auto bytes = GetPackedBlob(raw, e.id, BlobLocation{pack, static_cast<uint32_t>(e.offset), e.length, e.flags});
    REQUIRE_MESSAGE(bytes.ok(), bytes.status().ToString());
    kept.push_back(std::move(*bytes));
    flags.push_back(e.flags);
  }
  if (!kept.empty()) {
    std::filesystem::create_directories(scratch);
    BuiltPack rest = BuildPackOf(scratch, std::move(kept), flags);
    REQUIRE(PutPack(raw, rest.sealed.name, rest.bytes).ok());
  }
  REQUIRE(DeletePack(raw, pack).ok());
  return true;
}

// RemoveSlowBlob of the file:// slow store in dir.
inline bool RemoveSlowBlob(const std::string& dir, const Pointer& blob) {
  auto disk = DiskStore::Open(dir);
  REQUIRE(disk.ok());
  const std::string scratch = dir + "-repack-test";
  const bool removed = RemoveSlowBlob(**disk, blob, scratch);
  std::filesystem::remove_all(scratch);
  return removed;
}

// Flips a byte of blob's copy in the file:// slow store in dir (loose or
// packed), at offset within the blob; false if the store has no copy.
inline bool FlipSlowBlob(const std::string& dir, const Pointer& blob, off_t offset) {
  const std::string loose = dir + "/blobs/" + blob.Hex().substr(0, 2) + "/" + blob.Hex();
  if (std::filesystem::exists(loose)) return FlipByte(loose, offset);
  auto disk = DiskStore::Open(dir);
  REQUIRE(disk.ok());
  Pointer pack;
  PackEntry entry;
  if (!FindSlowPack(**disk, blob, &pack, &entry)) return false;
  return FlipByte(dir + "/" + PackObjectName(pack), static_cast<off_t>(entry.offset) + offset);
}

}  // namespace amberfs::testing
