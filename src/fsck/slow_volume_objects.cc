// With --slow: the slow store's copies of the volume's config and key object
// (volumes/<uuid>/config, volumes/<uuid>/key), the first things a restore
// from the slow store alone opens. Each must be there once a snapshot is,
// open with the volume's codec and passphrase, and say what VOLDIR says. -y
// rewrites a bad one from VOLDIR (fsck holds the volume lock, so no mount
// publishes meanwhile; both are copies of local state).

#include <functional>

#include "base/durable_file.h"
#include "crypto/key_file.h"
#include "crypto/key_object.h"
#include "fsck/internal.h"

namespace amberfs::fsck {
namespace {

// Records problem `why` about ref; with -y writes `good` over it.
void Report(Context& ctx, const std::string& ref, const std::string& why, std::span<const uint8_t> good) {
  const size_t p = ctx.Problem(FsckClass::kSlowStore, ref, why);
  if (!ctx.opt.repair) return;
  Status st = ctx.slow->PutRef(ref, good);
  if (st.ok()) ctx.report.problems[p].repaired = true;
  else ctx.report.problems[p].message += " (rewrite failed: " + st.ToString() + ")";
}

// Why the stored config is not the volume's ("is ..."), or "" if it is.
std::string ConfigMismatch(Context& ctx, const std::string& ref, std::vector<uint8_t> stored) {
  Result<std::vector<uint8_t>> opened = ctx.codec.OpenRef(ref, std::move(stored));
  if (!opened.ok()) return "is unreadable: " + opened.status().message();
  Result<VolumeConfig> c = VolumeConfig::Parse(std::string(opened->begin(), opened->end()));
  if (!c.ok()) return "is damaged: " + c.status().message();
  const VolumeConfig& mine = *ctx.config;
  if (c->uuid != mine.uuid || c->chunk_size != mine.chunk_size || c->compress != mine.compress ||
      c->encrypted != mine.encrypted)
    return "does not match VOLDIR/config (uuid, chunk size, compress or encryption differ)";
  return "";
}

// Why the stored key object does not open the volume, or "" if it does.
std::string KeyMismatch(Context& ctx, std::span<const uint8_t> stored, std::span<const uint8_t> local) {
  if (std::equal(stored.begin(), stored.end(), local.begin(), local.end())) return "";
  if (Result<KeyObjectInfo> info = DecodeKeyObject(stored); !info.ok()) return "is damaged: " + info.status().message();
  Result<SecretBytes> passphrase = ReadKeyFile(ctx.opt.key_file);
  if (!passphrase.ok()) return "differs from VOLDIR/key and cannot be tried: " + passphrase.status().message();
  Result<SecretKey> theirs = UnwrapMasterKey(stored, passphrase->span());
  Result<SecretKey> ours = UnwrapMasterKey(local, passphrase->span());
  if (!theirs.ok())
    return "does not open with this passphrase (" + theirs.status().message() +
           "): a restore from the slow store would need the one it was wrapped under";
  if (ours.ok() && !theirs->SameAs(*ours)) return "holds another master key than VOLDIR/key";
  return "";  // another wrap of the same key under the same passphrase
}

// The slow store's copy at ref (the volume's `what`): `mismatch` says why a
// copy that is there is wrong ("" if it is right); a missing one is a
// problem (`missing`) once the store has snapshots. -y writes `good`.
void CheckSlowCopy(Context& ctx, const std::string& ref, const std::string& what, std::span<const uint8_t> good,
                   bool slow_has_snapshots, const std::string& missing,
                   const std::function<std::string(std::vector<uint8_t>)>& mismatch) {
  Result<std::vector<uint8_t>> stored = ctx.slow->GetRef(ref);
  if (stored.ok()) {
    if (std::string why = mismatch(std::move(stored).value()); !why.empty())
      Report(ctx, ref, "the volume's " + what + " in the slow store " + why, good);
  } else if (stored.status().code() != ENOENT) {
    ctx.Skip("the slow store's " + what + ": " + stored.status().ToString());
  } else if (slow_has_snapshots) {
    Report(ctx, ref, missing, good);
  }
}

}  // namespace

void CheckSlowVolumeObjects(Context& ctx, bool slow_has_snapshots) {
  const std::string& uuid = ctx.config->uuid;
  const std::string config_ref = VolumeConfigRef(uuid);
  Result<std::vector<uint8_t>> good_config = ctx.codec.SealRef(config_ref, AsBytes(ctx.config->Serialize()));
  if (!good_config.ok()) {
    ctx.Skip("the slow store's config: " + good_config.status().ToString());
    return;
  }
  CheckSlowCopy(ctx, config_ref, "config", *good_config, slow_has_snapshots,
                "the slow store has snapshots but not the volume's config: a restore cannot tell how its blobs are "
                "stored",
                [&](std::vector<uint8_t> stored) { return ConfigMismatch(ctx, config_ref, std::move(stored)); });
  if (!ctx.config->encrypted) return;
  Result<std::vector<uint8_t>> local = ReadSmallFile(ctx.Path(kKeyFile), 4096);
  if (!local.ok()) {
    ctx.Skip("the slow store's key object (VOLDIR/key: " + local.status().ToString() + ")");
    return;
  }
  CheckSlowCopy(ctx, VolumeKeyRef(uuid), "key object", *local, slow_has_snapshots,
                "the slow store has snapshots of this encrypted volume but not its key object: a restore from the "
                "slow store alone cannot open them",
                [&](std::vector<uint8_t> stored) { return KeyMismatch(ctx, stored, *local); });
}

}  // namespace amberfs::fsck
