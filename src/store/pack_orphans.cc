// Orphan packs: see pack_orphans.h.
#include "store/pack_orphans.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <unordered_set>

#include "base/durable_file.h"

namespace amberfs {

Result<std::vector<Pointer>> ListPackFiles(const std::string& packs_dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(packs_dir.c_str());
  if (d == nullptr && errno == ENOENT) return std::vector<Pointer>();  // no batch yet (a guest creates none)
  if (d == nullptr) return Status::FromErrno(errno, "opendir " + packs_dir);
  while (struct dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
  ::closedir(d);
  std::vector<Pointer> packs;
  for (const std::string& name : names) {
    Result<Pointer> pack = Pointer::FromHex(name);
    if (pack.ok()) packs.push_back(*pack);
  }
  return packs;
}

Result<std::vector<OrphanPack>> FindOrphanPacks(const std::string& packs_dir, const BlobIndex& index) {
  // Listing first: a pack the listing sees was sealed before the index pass,
  // so if the index names it at all, the pass sees that.
  AMBER_ASSIGN_OR_RETURN(std::vector<Pointer> packs, ListPackFiles(packs_dir));
  if (packs.empty()) return std::vector<OrphanPack>();
  std::unordered_set<Pointer> named;
  AMBER_RETURN_IF_ERROR(index.ForEach([&](const Pointer&, const BlobLocation& where) {
    named.insert(where.pack);
    return Status::OK();
  }));
  std::vector<OrphanPack> orphans;
  for (const Pointer& pack : packs) {
    if (named.count(pack)) continue;
    struct stat st;
    const std::string path = packs_dir + "/" + pack.Hex();
    if (::stat(path.c_str(), &st) != 0) return Status::FromErrno(errno, "stat " + path);
    orphans.push_back(OrphanPack{pack, static_cast<uint64_t>(st.st_size)});
  }
  return orphans;
}

Status RemoveOrphanPacks(const std::string& packs_dir, const std::vector<OrphanPack>& orphans) {
  if (orphans.empty()) return Status::OK();
  for (const OrphanPack& o : orphans) {
    const std::string path = packs_dir + "/" + o.name.Hex();
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Status::FromErrno(errno, "remove orphan pack " + path);
  }
  return FsyncDir(packs_dir);
}

}  // namespace amberfs
