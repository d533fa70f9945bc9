#include "volume/volume_key.h"

#include "base/durable_file.h"
#include "crypto/key_file.h"
#include "crypto/key_object.h"
#include "crypto/key_ring.h"
#include "snapshot/volume_layout.h"
#include "store/store_url.h"
#include "volume/volume_lock.h"

namespace amberfs {

Result<std::vector<uint8_t>> NewKeyObject(const std::string& key_file) {
  AMBER_ASSIGN_OR_RETURN(SecretBytes passphrase, ReadKeyFile(key_file));
  AMBER_ASSIGN_OR_RETURN(SecretKey master, NewMasterKey());
  return WrapMasterKey(master, passphrase.span());
}

namespace {

Result<std::vector<uint8_t>> ReadKeyObject(const std::string& voldir) {
  const std::string path = VolumePath(voldir, kKeyFile);
  Result<std::vector<uint8_t>> bytes = ReadSmallFile(path, 4096);
  if (!bytes.ok()) return bytes.status().Annotate("the volume's key object " + path);
  return bytes;
}

}  // namespace

Result<VolumeCodec> OpenVolumeCodec(const std::string& voldir, const VolumeConfig& config, const std::string& key_file,
                                    std::vector<uint8_t>* key_object) {
  if (key_object) key_object->clear();
  if (!config.encrypted) {
    if (!key_file.empty())
      return Status::Error(EINVAL, "volume " + voldir + " is not encrypted, but a key file was given (" + key_file +
                                       ")");
    return VolumeCodec::Make(config.compress, nullptr);
  }
  if (key_file.empty())
    return Status::Error(EACCES, "volume " + voldir + " is encrypted: give its passphrase's key file "
                                 "(amberfs -o key_file=FILE, --key-file FILE)");
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> object, ReadKeyObject(voldir));
  AMBER_ASSIGN_OR_RETURN(SecretBytes passphrase, ReadKeyFile(key_file));
  AMBER_ASSIGN_OR_RETURN(VolumeCodec codec,
                         VolumeCodec::Unlock(config.compress, object, passphrase.span(), "volume " + voldir));
  if (key_object) *key_object = std::move(object);
  return codec;
}

Status ChangeVolumeKey(const std::string& voldir, const std::string& key_file, const std::string& new_key_file,
                       const std::string& s3_credentials, std::string* note) {
  if (key_file.empty() || new_key_file.empty())
    return Status::Error(EINVAL, "--change-key needs --key-file OLD and --new-key-file NEW");
  AMBER_ASSIGN_OR_RETURN(VolumeLock lock, VolumeLock::Acquire(voldir, "mkfs.amberfs --change-key"));
  AMBER_ASSIGN_OR_RETURN(VolumeConfig config, VolumeConfig::Load(voldir));
  if (!config.encrypted) return Status::Error(EINVAL, "volume " + voldir + " is not encrypted: it has no key to change");
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> object, ReadKeyObject(voldir));
  AMBER_ASSIGN_OR_RETURN(SecretBytes old_passphrase, ReadKeyFile(key_file));
  AMBER_ASSIGN_OR_RETURN(SecretBytes new_passphrase, ReadKeyFile(new_key_file));
  Result<std::vector<uint8_t>> rewrapped = RewrapMasterKey(object, old_passphrase.span(), new_passphrase.span());
  if (!rewrapped.ok()) {
    if (rewrapped.status().code() == EACCES)
      return Status::Error(EACCES, "wrong passphrase for volume " + voldir + " (the old key file does not open it)");
    return rewrapped.status().Annotate("volume " + voldir);
  }
  AMBER_RETURN_IF_ERROR(WriteFileAtomic(voldir, kKeyFile, *rewrapped, false).Annotate("replace " +
                                                                                      VolumePath(voldir, kKeyFile)));
  Result<std::unique_ptr<Store>> slow = OpenStoreUrl(config.slow_url, s3_credentials, StoreCheck::kProbe);
  Status published = slow.ok() ? (*slow)->PutRef(VolumeKeyRef(config.uuid), *rewrapped) : slow.status();
  if (!published.ok() && note)
    *note = "the slow store's copy of the key object is not updated yet (" + published.ToString() +
            "); the volume's next snapshot publishes it";
  return Status::OK();
}

}  // namespace amberfs
