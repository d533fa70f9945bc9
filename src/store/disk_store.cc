// DiskStore: see disk_store.h for the layout and the crash-safety protocol.
#include "store/disk_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "amberfs/log.h"
#include "base/durable_file.h"
#include "base/unique_fd.h"
#include "store/disk_store_internal.h"
#include "store/pack_objects.h"

namespace amberfs {

namespace {

// Blobs are volume data: private to the owner, like the volume directory.
constexpr mode_t kDirMode = 0700;

std::string HexByte(unsigned b) {
  char buf[3];
  std::snprintf(buf, sizeof buf, "%02x", b & 0xff);
  return buf;
}

// A blob or ref file, whole, if it is at most max_size bytes; a directory
// is no object (ENOENT); a bigger file is EFBIG.
Result<std::vector<uint8_t>> ReadFile(const std::string& path, size_t max_size) {
  auto data = ReadSmallFile(path, max_size);
  if (!data.ok() && data.status().code() == EISDIR) return Status::Error(ENOENT, path + " is a directory, not an object");
  return data;
}

// Creates dir and its missing parents (not above stop, which exists);
// appends to synced the parents whose entries changed.
Status MakeDirs(const std::string& stop, const std::string& dir, std::vector<std::string>* changed_parents) {
  if (dir.size() <= stop.size()) return Status::OK();
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Status::Error(ENOTDIR, dir + " exists and is not a directory");
    return Status::OK();
  }
  std::string parent = dir.substr(0, dir.rfind('/'));
  AMBER_RETURN_IF_ERROR(MakeDirs(stop, parent, changed_parents));
  if (::mkdir(dir.c_str(), kDirMode) != 0 && errno != EEXIST) return Status::FromErrno(errno, "mkdir " + dir);
  changed_parents->push_back(parent);
  return Status::OK();
}

Status ForEachDirEntry(const std::string& dir, const std::function<Status(const struct dirent&)>& fn) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return Status::FromErrno(errno, "opendir " + dir);
  std::unique_ptr<DIR, int (*)(DIR*)> closer(d, ::closedir);
  while (true) {
    errno = 0;
    struct dirent* e = ::readdir(d);
    if (e == nullptr) {
      if (errno != 0) return Status::FromErrno(errno, "readdir " + dir);
      return Status::OK();
    }
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    AMBER_RETURN_IF_ERROR(fn(*e));
  }
}

bool IsDir(const std::string& path, const struct dirent& e) {
  if (e.d_type == DT_DIR) return true;
  if (e.d_type != DT_UNKNOWN) return false;
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Removes leftover temp files under dir (recursively) per the Open policy;
// counts them in *removed (a kill -9 during a snapshot may leave thousands:
// one line for all of them, by the caller).
Status CleanTemps(const std::string& dir, bool exclusive, std::chrono::seconds age, uint64_t* removed) {
  time_t now = ::time(nullptr);
  return ForEachDirEntry(dir, [&](const struct dirent& e) -> Status {
    std::string path = dir + "/" + e.d_name;
    if (IsTempName(e.d_name)) {
      struct stat st;
      if (::lstat(path.c_str(), &st) != 0) return Status::OK();  // another cleaner got it
      if (!exclusive && now - st.st_mtime < age.count()) return Status::OK();
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Status::FromErrno(errno, "unlink " + path);
      LOG_DEBUG("removed leftover temp file %s", path.c_str());
      ++*removed;
      return Status::OK();
    }
    if (e.d_name[0] != '.' && IsDir(path, e)) return CleanTemps(path, exclusive, age, removed);
    return Status::OK();
  });
}

}  // namespace

bool HoldsBlobFile(const std::string& path, uint64_t size) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && static_cast<uint64_t>(st.st_size) == size;
}

Result<std::unique_ptr<DiskStore>> DiskStore::Open(const std::string& root_arg, DiskStoreOptions options) {
  if (root_arg.empty()) return Status::Error(EINVAL, "disk store root is empty");
  std::string root = root_arg;
  if (root[0] != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd) == nullptr) return Status::FromErrno(errno, "getcwd");
    root = std::string(cwd) + "/" + root;
  }
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  std::unique_ptr<DiskStore> store(new DiskStore(root, options.pack_objects));
  AMBER_RETURN_IF_ERROR(store->Init(options).Annotate("open disk store " + root));
  return store;
}

Status DiskStore::Init(const DiskStoreOptions& options) {
  std::vector<std::string> changed;
  AMBER_RETURN_IF_ERROR(MakeDirs("", root_, &changed));
  std::string blobs = root_ + "/blobs";
  AMBER_RETURN_IF_ERROR(MakeDirs(root_, blobs, &changed));
  for (unsigned b = 0; b < 256; ++b) {
    std::string sub = blobs + "/" + HexByte(b);
    if (::mkdir(sub.c_str(), kDirMode) == 0) {
      changed.push_back(blobs);
    } else if (errno != EEXIST) {
      return Status::FromErrno(errno, "mkdir " + sub);
    }
  }
  std::sort(changed.begin(), changed.end());
  changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
  for (const std::string& dir : changed) AMBER_RETURN_IF_ERROR(FsyncDir(dir));
  root_fd_ = UniqueFd(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd_.valid()) return Status::FromErrno(errno, "open " + root_);
  if (!options.exclusive) {
    struct stat st;
    if (::fstat(root_fd_.get(), &st) == 0 && (st.st_mode & 0077) != 0)
      LOG_WARN("%s: the store's directory is open to other users (mode %04o); `chmod 700 %s` unless a group "
               "shares it on purpose",
               Describe().c_str(), static_cast<unsigned>(st.st_mode & 07777), root_.c_str());
  }
  uint64_t removed = 0;
  Status cleaned = CleanTemps(root_, options.exclusive, options.stale_temp_age, &removed);
  if (removed > 0)
    LOG_INFO("%s: removed %llu leftover temp files (writes an earlier process did not finish)", Describe().c_str(),
             static_cast<unsigned long long>(removed));
  return cleaned;
}

std::string DiskStore::Describe() const { return "file://" + root_; }

std::string DiskStore::BlobPath(const Pointer& key) const {
  std::string hex = key.Hex();
  return root_ + "/blobs/" + hex.substr(0, 2) + "/" + hex;
}

Status DiskStore::SyncDir(const std::string& dir, int bucket) {
  if (bucket < 0) return FsyncDir(dir);
  return bucket_commit_[bucket].Commit([&dir] { return FsyncDir(dir); });
}

Status DiskStore::WriteAtomically(const std::string& dir, const std::string& name, std::span<const uint8_t> data,
                                  int bucket) {
  AMBER_RETURN_IF_ERROR(WriteFileAndRename(dir, name, data, /*no_replace=*/false));
  return SyncDir(dir, bucket);
}

Status DiskStore::CheckPut(const Pointer& key, std::span<const uint8_t> data, bool hash) const {
  if (key.IsNull()) return Status::Error(EINVAL, "put of the null pointer into " + Describe());
  if (data.size() > kMaxBlobBytes)
    return Status::Error(EINVAL, "put of blob " + key.Hex() + " into " + Describe() + ": " +
                                     std::to_string(data.size()) + " bytes, more than a blob may have (" +
                                     std::to_string(kMaxBlobBytes) + ")");
  if (hash && Pointer::Of(data) != key)
    return Status::Error(EINVAL, "put of blob " + key.Hex() + " into " + Describe() + ": key is not the SHA-256 of the data");
  return Status::OK();
}

Status DiskStore::Put(const Pointer& key, std::span<const uint8_t> data) {
  AMBER_RETURN_IF_ERROR(CheckPut(key, data, /*hash=*/true));
  if (HoldsBlobFile(BlobPath(key), data.size())) return Status::OK();  // a short one is rewritten
  std::string hex = key.Hex();
  Result<SpaceReserve::Admission> admitted =
      SpaceReserve::AdmitData(space_reserve_, data.size(), "put blob " + hex + " into " + Describe());
  if (!admitted.ok()) return admitted.status();
  return WriteAtomically(root_ + "/blobs/" + hex.substr(0, 2), hex, data, key.bytes()[0])
      .Annotate("put blob " + hex + " into " + Describe());
}

Result<std::vector<uint8_t>> DiskStore::Get(const Pointer& key) {
  if (key.IsNull()) return Status::Error(EINVAL, "get of the null pointer from " + Describe());
  auto data = ReadFile(BlobPath(key), kMaxBlobBytes);
  if (!data.ok()) {
    if (data.status().code() == ENOENT)
      return Status::Error(ENOENT, "blob " + key.Hex() + " not found in " + Describe());
    if (data.status().code() == EFBIG)  // never read whole: no blob is that big
      return Status::Error(EBADMSG, "blob " + key.Hex() + " in " + Describe() + " is corrupt: " +
                                        data.status().message());
    return data.status().Annotate("get blob " + key.Hex() + " from " + Describe());
  }
  if (Pointer::Of(*data) != key)
    return Status::Error(EBADMSG, "blob " + key.Hex() + " in " + Describe() + " is corrupt (SHA-256 mismatch)");
  return data;
}

Result<bool> DiskStore::Contains(const Pointer& key) {
  if (key.IsNull()) return Status::Error(EINVAL, "contains of the null pointer in " + Describe());
  struct stat st;
  std::string path = BlobPath(key);
  if (::stat(path.c_str(), &st) == 0) return S_ISREG(st.st_mode);
  if (errno == ENOENT) return false;
  return Status::FromErrno(errno, "stat " + path);
}

Status DiskStore::Delete(const Pointer& key) {
  if (key.IsNull()) return Status::Error(EINVAL, "delete of the null pointer from " + Describe());
  std::string path = BlobPath(key);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return Status::OK();
    return Status::FromErrno(errno, "delete blob " + path);
  }
  return SyncDir(path.substr(0, path.rfind('/')), key.bytes()[0]);
}

Status DiskStore::ListBlobFiles(const std::function<Status(const Pointer&, const std::string&)>& fn) {
  for (unsigned b = 0; b < 256; ++b) {
    std::string sub = HexByte(b);
    std::string dir = root_ + "/blobs/" + sub;
    AMBER_RETURN_IF_ERROR(ForEachDirEntry(dir, [&](const struct dirent& e) -> Status {
      if (IsTempName(e.d_name)) return Status::OK();
      std::string path = dir + "/" + e.d_name;
      auto key = Pointer::FromHex(e.d_name);
      if (!key.ok() || key->Hex().compare(0, 2, sub) != 0 || key->IsNull() ||
          (e.d_type != DT_REG && e.d_type != DT_UNKNOWN)) {
        LOG_WARN("%s: ignoring %s: not a blob file", Describe().c_str(), path.c_str());
        return Status::OK();
      }
      return fn(*key, path);
    }));
  }
  return Status::OK();
}

Status DiskStore::List(const std::function<Status(const Pointer&)>& fn) {
  return ListBlobFiles([&](const Pointer& key, const std::string&) { return fn(key); });
}

Status DiskStore::ListBlobInfo(const std::function<Status(const BlobInfo&)>& fn) {
  return ListBlobFiles([&](const Pointer& key, const std::string& path) -> Status {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) return Status::OK();  // deleted while we listed
      return Status::FromErrno(errno, "stat " + path);
    }
    BlobInfo info;
    info.key = key;
    info.disk_bytes = static_cast<uint64_t>(st.st_blocks) * 512;
    info.last_access = std::max(st.st_atime, st.st_mtime);
    return fn(info);
  });
}

Result<uint64_t> DiskStore::BlobDiskSize(const Pointer& key) {
  struct stat st;
  std::string path = BlobPath(key);
  if (::stat(path.c_str(), &st) != 0) return Status::FromErrno(errno, "stat " + path);
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

Status DiskStore::WriteUnderRoot(const std::string& rel, std::span<const uint8_t> data, const std::string& what) {
  std::string path = root_ + "/" + rel;
  size_t slash = path.rfind('/');
  std::string dir = path.substr(0, slash);
  std::vector<std::string> changed;
  AMBER_RETURN_IF_ERROR(MakeDirs(root_, dir, &changed).Annotate(what));
  // The new directories' entries must be durable before the file inside them is.
  for (const std::string& parent : changed) AMBER_RETURN_IF_ERROR(FsyncDir(parent));
  return WriteAtomically(dir, path.substr(slash + 1), data).Annotate(what + " into " + Describe());
}

Status DiskStore::PutRef(std::string_view name, std::span<const uint8_t> data) {
  AMBER_RETURN_IF_ERROR(ValidateRefName(name));
  if (data.size() > kMaxRefBytes)
    return Status::Error(EINVAL, "put ref " + std::string(name) + " into " + Describe() + ": " +
                                     std::to_string(data.size()) + " bytes, more than a ref may have");
  return WriteUnderRoot(std::string(name), data, "put ref " + std::string(name));
}

Result<std::vector<uint8_t>> DiskStore::GetRef(std::string_view name) {
  AMBER_RETURN_IF_ERROR(ValidateRefName(name));
  auto data = ReadFile(root_ + "/" + std::string(name), kMaxRefBytes);
  if (!data.ok()) {
    int code = data.status().code();
    if (code == ENOENT || code == ENOTDIR)
      return Status::Error(ENOENT, "ref " + std::string(name) + " not found in " + Describe());
    return data.status().Annotate("get ref " + std::string(name) + " from " + Describe());
  }
  return data;
}

Status DiskStore::DeleteRef(std::string_view name) {
  AMBER_RETURN_IF_ERROR(ValidateRefName(name));
  std::string path = root_ + "/" + std::string(name);
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Status::OK();  // no ref by that name
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return Status::OK();
    return Status::FromErrno(errno, "delete ref " + path);
  }
  return SyncDir(path.substr(0, path.rfind('/')));
}

Result<std::vector<std::string>> DiskStore::ListRefs(std::string_view prefix) {
  AMBER_RETURN_IF_ERROR(ValidateRefPrefix(prefix));
  // Walk from the deepest directory the prefix names, filtering by string prefix.
  std::string base(prefix.substr(0, prefix.rfind('/') == std::string_view::npos ? 0 : prefix.rfind('/')));
  std::vector<std::string> names;
  std::function<Status(const std::string&)> walk = [&](const std::string& rel) -> Status {
    std::string dir = rel.empty() ? root_ : root_ + "/" + rel;
    Status s = ForEachDirEntry(dir, [&](const struct dirent& e) -> Status {
      if (e.d_name[0] == '.') return Status::OK();  // temp files; never a ref component
      std::string name = rel.empty() ? std::string(e.d_name) : rel + "/" + e.d_name;
      if (rel.empty() && (name == "blobs" || name == "packs" || name == "index")) return Status::OK();
      bool may_match = name.compare(0, prefix.size(), prefix) == 0 ||
                       std::string_view(prefix).substr(0, name.size() + 1) == name + "/";
      if (!may_match) return Status::OK();
      if (IsDir(root_ + "/" + name, e)) return walk(name);
      if (name.compare(0, prefix.size(), prefix) != 0 || !ValidateRefName(name).ok()) return Status::OK();
      names.push_back(std::move(name));
      return Status::OK();
    });
    if (!s.ok() && (s.code() == ENOENT || s.code() == ENOTDIR)) return Status::OK();
    return s;
  };
  AMBER_RETURN_IF_ERROR(walk(base).Annotate("list refs in " + Describe()));
  std::sort(names.begin(), names.end());
  return names;
}

Status DiskStore::CheckObjectName(std::string_view name) const {
  if (!pack_objects_) return Status::Error(ENOTSUP, Describe() + " does not store pack objects");
  return ValidateObjectName(name);
}

Status DiskStore::PutObject(std::string_view name, std::span<const uint8_t> bytes) {
  AMBER_RETURN_IF_ERROR(CheckObjectName(name));
  const std::string what = "put object " + std::string(name);
  if (bytes.size() > kMaxPackBytes)
    return Status::Error(EINVAL, what + " into " + Describe() + ": " + std::to_string(bytes.size()) +
                                     " bytes, more than a pack may have");
  Result<SpaceReserve::Admission> admitted = SpaceReserve::AdmitData(space_reserve_, bytes.size(), what);
  if (!admitted.ok()) return admitted.status();
  return WriteUnderRoot(std::string(name), bytes, what);
}

Result<std::vector<uint8_t>> ReadObjectFileRange(const std::string& path, uint64_t offset, uint64_t length,
                                                 const std::string& what, std::vector<uint8_t> data) {
  AMBER_ASSIGN_OR_RETURN(FileToRead file, OpenFileToRead(path, 0, what));
  const UniqueFd& fd = file.fd;
  const uint64_t size = file.size;
  if (length == 0) {
    if (size > kMaxPackBytes)
      return Status::Error(EBADMSG, what + ": " + std::to_string(size) + " bytes, more than a pack may have");
    offset = 0;
    length = size;
  } else if (length > kMaxPackBytes) {
    return Status::Error(EINVAL, what + ": a read of " + std::to_string(length) + " bytes, more than a pack has");
  }
  if (offset > size || size - offset < length)
    return Status::Error(EBADMSG, what + " is " + std::to_string(size) + " bytes, short of the range " +
                                      std::to_string(offset) + "+" + std::to_string(length));
  data.clear();
  data.resize(length);  // in the memory data had, when it is large enough
  AMBER_ASSIGN_OR_RETURN(size_t got, PreadFull(fd.get(), data.data(), length, static_cast<off_t>(offset), path));
  if (got != length) return Status::Error(EBADMSG, what + " was cut short while read");
  return data;
}

Result<std::vector<uint8_t>> DiskStore::GetObjectRange(std::string_view name, uint64_t offset, uint64_t length) {
  std::vector<uint8_t> bytes;
  AMBER_RETURN_IF_ERROR(GetObjectRangeInto(name, offset, length, &bytes));
  return bytes;
}

Status DiskStore::GetObjectRangeInto(std::string_view name, uint64_t offset, uint64_t length,
                                     std::vector<uint8_t>* into) {
  AMBER_RETURN_IF_ERROR(CheckObjectName(name));
  AMBER_ASSIGN_OR_RETURN(*into, ReadObjectFileRange(root_ + "/" + std::string(name), offset, length,
                                                    "object " + std::string(name) + " in " + Describe(),
                                                    std::move(*into)));
  return Status::OK();
}

Status DiskStore::ListObjects(std::string_view prefix, const std::function<Status(std::string_view)>& fn) {
  if (!pack_objects_) return Status::Error(ENOTSUP, Describe() + " does not store pack objects");
  AMBER_RETURN_IF_ERROR(ValidateObjectPrefix(prefix));
  // Made at the first object put there: none yet is no object (and no 256 failed opendirs).
  struct stat st;
  if (::stat((root_ + "/" + std::string(prefix)).c_str(), &st) != 0 && errno == ENOENT) return Status::OK();
  for (unsigned b = 0; b < 256; ++b) {
    const std::string rel = std::string(prefix) + HexByte(b) + "/";
    std::vector<std::string> names;
    Status s = ForEachDirEntry(root_ + "/" + rel, [&](const struct dirent& e) -> Status {
      if (IsTempName(e.d_name)) return Status::OK();
      std::string name = rel + e.d_name;
      if (!ValidateObjectName(name).ok() || (e.d_type != DT_REG && e.d_type != DT_UNKNOWN)) {
        LOG_WARN("%s: ignoring %s/%s: not a pack object", Describe().c_str(), root_.c_str(), name.c_str());
        return Status::OK();
      }
      names.push_back(std::move(name));
      return Status::OK();
    });
    if (s.code() == ENOENT) continue;  // made at the first object there
    AMBER_RETURN_IF_ERROR(s.Annotate("list objects in " + Describe()));
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) AMBER_RETURN_IF_ERROR(fn(name));
  }
  return Status::OK();
}

Status DiskStore::DeleteObject(std::string_view name) {
  AMBER_RETURN_IF_ERROR(CheckObjectName(name));
  const std::string path = root_ + "/" + std::string(name);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return Status::OK();
    return Status::FromErrno(errno, "delete object " + path);
  }
  return SyncDir(path.substr(0, path.rfind('/')));
}

}  // namespace amberfs
