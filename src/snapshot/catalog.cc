#include "snapshot/catalog.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "base/byte_order.h"
#include "base/durable_file.h"
#include "amberfs/log.h"
#include "snapshot/snapshot_record.h"

namespace amberfs {
namespace {

constexpr char kMagic[8] = {'A', 'M', 'B', 'R', 'C', 'A', 'T', 'E'};
constexpr uint32_t kVersion = 1;
constexpr size_t kFixed = 56;
constexpr size_t kMaxEntry = kFixed + kSnapshotNameMax + 8;

struct DirCloser {
  void operator()(DIR* d) const { closedir(d); }
};

}  // namespace

std::vector<uint8_t> EncodeCatalogEntry(const CatalogEntry& e) {
  std::vector<uint8_t> out(kFixed + e.name.size() + 8, 0);
  uint8_t* p = out.data();
  std::memcpy(p, kMagic, 8);
  PutLE32(p + 8, kVersion);
  PutLE32(p + 12, static_cast<uint32_t>(e.name.size()));
  PutLE64(p + 16, e.created_ns);
  std::memcpy(p + 24, e.record.bytes().data(), Pointer::kSize);
  std::memcpy(p + kFixed, e.name.data(), e.name.size());
  PutLE64(p + kFixed + e.name.size(), XXH3_64bits(p, kFixed + e.name.size()));
  return out;
}

Result<CatalogEntry> DecodeCatalogEntry(std::span<const uint8_t> bytes, std::string_view file_name) {
  auto bad = [&](const std::string& why) {
    return Status::Error(EBADMSG, "catalog entry " + std::string(file_name) + " is corrupt: " + why);
  };
  if (bytes.size() < kFixed + 1 + 8 || bytes.size() > kMaxEntry)
    return bad("size " + std::to_string(bytes.size()) + " is impossible");
  const uint8_t* p = bytes.data();
  if (std::memcmp(p, kMagic, 8) != 0) return bad("bad magic");
  if (GetLE32(p + 8) != kVersion) return bad("unsupported version " + std::to_string(GetLE32(p + 8)));
  const uint32_t n = GetLE32(p + 12);
  if (bytes.size() != kFixed + size_t{n} + 8) return bad("name length does not fit the size");
  if (GetLE64(p + kFixed + n) != XXH3_64bits(p, kFixed + n)) return bad("checksum mismatch");
  CatalogEntry e;
  e.created_ns = GetLE64(p + 16);
  e.record = Pointer::FromBytes(p + 24);
  e.name.assign(reinterpret_cast<const char*>(p + kFixed), n);
  if (e.name != file_name) return bad("it names snapshot '" + e.name + "'");
  // fsck decodes any file it finds in catalog/, whatever its name.
  if (Status st = ValidateSnapshotName(e.name); !st.ok()) return bad(st.message());
  if (e.record.IsNull()) return bad("null record pointer");
  return e;
}

Result<std::unique_ptr<Catalog>> Catalog::Open(const std::string& voldir) {
  std::string dir = voldir + "/catalog";
  if (::mkdir(dir.c_str(), 0755) == 0) {
    AMBER_RETURN_IF_ERROR(FsyncDir(voldir));
  } else if (errno != EEXIST) {
    return Status::FromErrno(errno, "create " + dir);
  }
  std::unique_ptr<DIR, DirCloser> d(::opendir(dir.c_str()));
  if (!d) return Status::FromErrno(errno, "open " + dir);
  while (struct dirent* de = ::readdir(d.get())) {
    std::string_view name = de->d_name;
    if (IsTempName(name)) {
      std::string path = dir + "/" + std::string(name);
      if (::unlink(path.c_str()) != 0) return Status::FromErrno(errno, "remove stale " + path);
      LOG_INFO("removed stale catalog temporary %s", path.c_str());
    }
  }
  return std::unique_ptr<Catalog>(new Catalog(std::move(dir)));
}

Result<std::unique_ptr<Catalog>> Catalog::OpenForReading(const std::string& voldir) {
  std::string dir = voldir + "/catalog";
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return Status::FromErrno(errno, "open " + dir);
  if (!S_ISDIR(st.st_mode)) return Status::Error(ENOTDIR, dir + " is not a directory");
  return std::unique_ptr<Catalog>(new Catalog(std::move(dir)));
}

Result<CatalogEntry> Catalog::Get(std::string_view name) const {
  AMBER_RETURN_IF_ERROR(ValidateSnapshotName(name));
  const std::string path = dir_ + "/" + std::string(name);
  auto bytes = ReadSmallFile(path, kMaxEntry);
  if (!bytes.ok()) {
    if (bytes.status().code() == ENOENT) return Status::Error(ENOENT, "no snapshot named " + std::string(name));
    if (bytes.status().code() == EFBIG) return Status::Error(EBADMSG, "catalog entry " + path + " is corrupt: too large");
    return bytes.status();
  }
  auto e = DecodeCatalogEntry(*bytes, name);
  if (!e.ok()) return e.status().Annotate(dir_);
  return e;
}

Result<std::vector<CatalogEntry>> Catalog::List(std::vector<Status>* problems) const {
  std::vector<std::string> names;
  {
    std::unique_ptr<DIR, DirCloser> d(::opendir(dir_.c_str()));
    if (!d) return Status::FromErrno(errno, "open " + dir_);
    errno = 0;
    while (struct dirent* de = ::readdir(d.get())) {
      std::string_view name = de->d_name;
      if (name == "." || name == ".." || IsTempName(name)) continue;  // temps: an Add in flight
      names.emplace_back(name);
    }
    if (errno != 0) return Status::FromErrno(errno, "read " + dir_);
  }
  std::vector<CatalogEntry> out;
  for (const std::string& name : names) {
    Result<CatalogEntry> e = ValidateSnapshotName(name).ok()
                                 ? Get(name)
                                 : Result<CatalogEntry>(Status::Error(
                                       EBADMSG, dir_ + ": stray file '" + name + "' is not a snapshot entry"));
    if (e.ok()) {
      out.push_back(std::move(e).value());
      continue;
    }
    if (e.status().code() == ENOENT) continue;  // removed while we listed
    if (!problems) return e.status();
    problems->push_back(e.status());
  }
  std::sort(out.begin(), out.end(), [](const CatalogEntry& a, const CatalogEntry& b) {
    return a.created_ns != b.created_ns ? a.created_ns < b.created_ns : a.name < b.name;
  });
  return out;
}

Status Catalog::Add(const CatalogEntry& entry) {
  AMBER_RETURN_IF_ERROR(ValidateSnapshotName(entry.name));
  if (entry.record.IsNull()) return Status::Error(EINVAL, "snapshot " + entry.name + " has a null record pointer");
  Status st = WriteFileAtomic(dir_, entry.name, EncodeCatalogEntry(entry), /*no_replace=*/true);
  if (st.code() == EEXIST) return Status::Error(EEXIST, "a snapshot named " + entry.name + " exists already");
  return st;
}

Status Catalog::Remove(std::string_view name) {
  AMBER_RETURN_IF_ERROR(ValidateSnapshotName(name));
  Status st = RemoveDurably(dir_, std::string(name));
  if (st.code() == ENOENT) return Status::Error(ENOENT, "no snapshot named " + std::string(name));
  return st;
}

}  // namespace amberfs
