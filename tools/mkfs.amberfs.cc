// mkfs.amberfs: creates a volume directory. See man/mkfs.amberfs.8.
//
// Exit status: 0 created, 1 refused or failed (nothing changed), 2 usage error
// (options, and values the format does not allow: EINVAL).
#include <getopt.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <new>
#include <cstdio>
#include <string>

#include "amberfs/restore.h"
#include "amberfs/size_parse.h"
#include "amberfs/version.h"
#include "amberfs/volume_create.h"
#include "amberfs/volume_key.h"
#include "amberfs/volume_resize.h"

namespace {

constexpr const char* kUsage =
    "usage: mkfs.amberfs --size SIZE [--block-size 4K] [--chunk-size 64K]\n"
    "                    [--image PATH] [--slow URL] [--key-file FILE] [--compress zstd|none]\n"
    "                    [--force] VOLDIR\n"
    "       mkfs.amberfs --restore URL [--volume UUID] [--snapshot NAME] [--key-file FILE]\n"
    "                    [--take-over-identity] [--force] VOLDIR\n"
    "       mkfs.amberfs --clone URL [--volume UUID] [--snapshot NAME] [--key-file FILE]\n"
    "                    [--force] VOLDIR\n"
    "       mkfs.amberfs --resize SIZE VOLDIR\n"
    "       mkfs.amberfs --change-key --key-file OLD --new-key-file NEW VOLDIR\n"
    "\n"
    "Creates an amberfs volume in VOLDIR (a new or empty directory): it is built beside\n"
    "VOLDIR and renamed into place, so VOLDIR holds the whole volume or none.\n"
    "  --size SIZE        volume size, K/M/G/T binary suffixes; a multiple of the chunk size\n"
    "                     (optional with an existing --image: its size is taken)\n"
    "  --block-size SIZE  cache block size, a power of two from 512 to 64K (default 4K)\n"
    "  --chunk-size SIZE  snapshot chunk size, a power of two from 4K to 64M, at least\n"
    "                     the block size (default 64K)\n"
    "  --image PATH       the image: created sparse if missing; an existing file or block\n"
    "                     device is used as it is and must have exactly --size bytes\n"
    "                     (default VOLDIR/image, created sparse)\n"
    "  --slow URL         slow store: file:///path or s3://bucket[/prefix][?endpoint=URL&region=R]\n"
    "                     (default file://VOLDIR/archive); an S3 bucket must answer and is\n"
    "                     created when missing\n"
    "  --key-file FILE    encrypt: every chunk, index node, record and ref that reaches a\n"
    "                     store is sealed with AES-256-GCM under a random master key, kept\n"
    "                     wrapped by FILE's passphrase (its whole content, one trailing\n"
    "                     newline dropped) in VOLDIR/key and the slow store; with --restore\n"
    "                     and --clone: the passphrase of the encrypted volume to read\n"
    "  --compress zstd|none  compress blobs with zstd (default) or not; a blob that does\n"
    "                     not shrink is stored as it is\n"
    "  --change-key       rewrap the master key of VOLDIR (not mounted) under the passphrase\n"
    "                     of --new-key-file FILE; the old one stops working\n"
    "  --force            replace the volume in VOLDIR, all at once (not while it is\n"
    "                     mounted; VOLDIR/archive, the default slow store, is kept)\n"
    "  --restore URL      rebuild a volume from a slow store: the newest snapshot (or\n"
    "                     --snapshot NAME) of the only volume there (or --volume UUID),\n"
    "                     as a new volume with a new uuid\n"
    "  --clone URL        a new, writable volume from a snapshot (as --restore chooses it)\n"
    "                     without copying its data: the image starts empty and each chunk\n"
    "                     is fetched from the slow store when first used; `echo hydrate >\n"
    "                     ctl` fetches the rest. Returns once the snapshot's index is read\n"
    "  --take-over-identity  with --restore: keep the original's uuid and continue it\n"
    "                     (for a volume gone for good; refused while its markers in the\n"
    "                     store are less than an hour old)\n"
    "  --resize SIZE      grow the volume in VOLDIR (not mounted) to SIZE, a multiple of its\n"
    "                     chunk size; the image file grows sparse (a block device must\n"
    "                     have SIZE bytes already); shrinking is refused; snapshots\n"
    "                     keep the size they were taken at\n"
    "  --s3-credentials FILE  AWS credentials file for an s3:// URL (default: environment,\n"
    "                     then ~/.aws/credentials)\n"
    "  --help, --version\n";

int Usage(const char* problem) {
  std::fprintf(stderr, "mkfs.amberfs: %s\nTry 'mkfs.amberfs --help'.\n", problem);
  return 2;
}

// After a message of its own: the hint and the usage exit status.
int Hint() {
  std::fputs("Try 'mkfs.amberfs --help'.\n", stderr);
  return 2;
}

// A failure's exit status: a value the format does not allow is a usage error.
int Failed(const amberfs::Status& st) {
  if (st.code() == EINVAL) return Usage(st.message().c_str());
  std::fprintf(stderr, "mkfs.amberfs: %s\n", st.message().c_str());
  return 1;
}

bool ParseSizeOption(const char* name, const char* text, uint64_t* out) {
  amberfs::Result<uint64_t> v = amberfs::ParseSize(text);
  if (!v.ok()) {
    std::fprintf(stderr, "mkfs.amberfs: --%s: %s\n", name, v.status().message().c_str());
    return false;
  }
  *out = *v;
  return true;
}

}  // namespace

// mkfs.amberfs --restore: see restore.h. Progress on stderr: one line
// rewritten in place on a terminal, else a line every 5 s and at the end (a
// log or a journal).
int Restore(amberfs::RestoreVolumeOptions options) {
  const bool tty = ::isatty(STDERR_FILENO);
  const auto start = std::chrono::steady_clock::now();
  auto last = start;
  options.planned = [clone = options.clone](const amberfs::RestoreChoice& choice) {
    std::fprintf(stderr, "%s volume %s, snapshot %s (%s)\n", clone ? "cloning" : "restoring", choice.uuid.c_str(),
                 choice.snapshot.c_str(), amberfs::FormatSize(choice.volume_size).c_str());
  };
  const auto every = tty ? std::chrono::milliseconds(200) : std::chrono::milliseconds(5000);
  options.progress = [&, tty, every](const amberfs::RestoreProgress& p) {
    auto now = std::chrono::steady_clock::now();
    const bool end = p.chunks_done == p.chunks_total;
    if (!end && now - last < every) return;
    last = now;
    double secs = std::chrono::duration<double>(now - start).count();
    std::fprintf(stderr, "%s  %llu/%llu chunks, %s, %.1f MiB/s%s", tty ? "\r" : "",
                 (unsigned long long)p.chunks_done, (unsigned long long)p.chunks_total,
                 amberfs::FormatSize(p.bytes_done).c_str(), secs > 0 ? p.bytes_done / secs / (1 << 20) : 0.0,
                 tty && !end ? "   " : "\n");
  };
  amberfs::Result<amberfs::RestoreVolumeResult> r = amberfs::RestoreVolume(options);
  if (!r.ok()) {
    if (tty) std::fputc('\n', stderr);
    return Failed(r.status());
  }
  if (options.clone) {
    std::printf("cloned amberfs volume %s in %s from %s\n  volume %s snapshot %s: %llu of %llu chunks stay in the "
                "slow store until first used (or `echo hydrate > ctl`)\n",
                r->uuid.c_str(), amberfs::AbsolutePath(options.voldir).c_str(), options.url.c_str(),
                r->choice.uuid.c_str(), r->choice.snapshot.c_str(), (unsigned long long)r->stats.remote,
                (unsigned long long)r->stats.chunks);
  } else {
    std::printf("restored amberfs volume %s in %s from %s\n  volume %s snapshot %s: %llu of %llu chunks downloaded, "
                "%s\n",
                r->uuid.c_str(), amberfs::AbsolutePath(options.voldir).c_str(), options.url.c_str(),
                r->choice.uuid.c_str(), r->choice.snapshot.c_str(), (unsigned long long)r->stats.downloaded,
                (unsigned long long)r->stats.chunks, amberfs::FormatSize(r->stats.bytes).c_str());
  }
  if (!r->publish_note.empty()) {
    std::printf("  the restored snapshot's refs wait in the volume's upload log (%s); its mount uploads them\n",
                r->publish_note.c_str());
  }
  return 0;
}

// mkfs.amberfs --resize: see volume_resize.h.
static int Resize(const std::string& voldir, uint64_t new_size) {
  amberfs::Result<amberfs::ResizeVolumeResult> r = amberfs::ResizeVolume(voldir, new_size);
  if (!r.ok()) return Failed(r.status());
  std::printf("resized amberfs volume %s in %s from %s to %s\n", r->config.uuid.c_str(),
              amberfs::AbsolutePath(voldir).c_str(), amberfs::FormatSize(r->old_size).c_str(),
              amberfs::FormatSize(r->config.size).c_str());
  return 0;
}

// mkfs.amberfs --change-key: see volume_key.h.
static int ChangeKey(const std::string& voldir, const std::string& old_file, const std::string& new_file,
                     const std::string& credentials) {
  std::string note;
  amberfs::Status st = amberfs::ChangeVolumeKey(voldir, old_file, new_file, credentials, &note);
  if (!st.ok()) return Failed(st);
  std::printf("changed the passphrase of amberfs volume %s: it opens with %s now\n",
              amberfs::AbsolutePath(voldir).c_str(), new_file.c_str());
  if (!note.empty()) std::printf("  %s\n", note.c_str());
  return 0;
}

static int Run(int argc, char** argv) {
  enum { kSize = 1, kBlock, kChunk, kImage, kSlow, kForce, kRestore, kVolume, kSnapshot, kCreds, kTakeOver, kHelp,
         kVersion, kResize, kClone, kKeyFile, kNewKeyFile, kChangeKey, kCompress };
  static const option kLong[] = {
      {"size", required_argument, nullptr, kSize},         {"block-size", required_argument, nullptr, kBlock},
      {"chunk-size", required_argument, nullptr, kChunk},  {"image", required_argument, nullptr, kImage},
      {"slow", required_argument, nullptr, kSlow},         {"force", no_argument, nullptr, kForce},
      {"restore", required_argument, nullptr, kRestore},   {"volume", required_argument, nullptr, kVolume},
      {"snapshot", required_argument, nullptr, kSnapshot}, {"help", no_argument, nullptr, kHelp},
      {"s3-credentials", required_argument, nullptr, kCreds},
      {"take-over-identity", no_argument, nullptr, kTakeOver},
      {"resize", required_argument, nullptr, kResize},
      {"clone", required_argument, nullptr, kClone},
      {"key-file", required_argument, nullptr, kKeyFile},
      {"new-key-file", required_argument, nullptr, kNewKeyFile},
      {"change-key", no_argument, nullptr, kChangeKey},
      {"compress", required_argument, nullptr, kCompress},
      {"version", no_argument, nullptr, kVersion},         {nullptr, 0, nullptr, 0}};

  amberfs::CreateVolumeOptions options;
  amberfs::RestoreVolumeOptions restore_options;
  bool restore = false, create_only = false, resize = false, force_given = false;
  int sources = 0;  // --restore and --clone given
  uint64_t resize_to = 0;
  bool change_key = false, compress_given = false;
  std::string key_file, new_key_file;
  uint64_t block = options.block_size, chunk = options.chunk_size;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", kLong, nullptr)) != -1) {
    switch (c) {
      case kSize: if (!ParseSizeOption("size", optarg, &options.size)) return Hint(); create_only = true; break;
      case kBlock: if (!ParseSizeOption("block-size", optarg, &block)) return Hint(); create_only = true; break;
      case kChunk: if (!ParseSizeOption("chunk-size", optarg, &chunk)) return Hint(); create_only = true; break;
      case kImage: options.image = optarg; create_only = true; break;
      case kSlow: options.slow_url = optarg; create_only = true; break;
      case kForce: options.force = force_given = true; break;
      case kResize: if (!ParseSizeOption("resize", optarg, &resize_to)) return Hint(); resize = true; break;
      case kRestore: restore_options.url = optarg; restore = true; ++sources; break;
      case kClone: restore_options.url = optarg; restore_options.clone = restore = true; ++sources; break;
      case kVolume: restore_options.volume = optarg; break;
      case kSnapshot: restore_options.snapshot = optarg; break;
      case kCreds: restore_options.credentials_file = options.s3_credentials = optarg; break;
      case kTakeOver: restore_options.take_over_identity = true; break;
      case kKeyFile: key_file = optarg; break;
      case kNewKeyFile: new_key_file = optarg; break;
      case kChangeKey: change_key = true; break;
      case kCompress:
        if (std::strcmp(optarg, "zstd") != 0 && std::strcmp(optarg, "none") != 0)
          return Usage("--compress takes zstd or none");
        options.compress = std::strcmp(optarg, "zstd") == 0;
        compress_given = create_only = true;
        break;
      case kHelp: std::fputs(kUsage, stdout); return 0;
      case kVersion: std::printf("mkfs.amberfs %s\n", amberfs::kVersion); return 0;
      default: {
        std::string what = c == ':' || optopt ? std::string("option needs an argument: ") + argv[optind - 1]
                                              : std::string("unknown option ") + argv[optind - 1];
        return Usage(what.c_str());
      }
    }
  }
  if (optind + 1 != argc) return Usage(optind == argc ? "no VOLDIR given" : "more than one VOLDIR given");
  if (resize && (restore || create_only || force_given || !restore_options.volume.empty() ||
                 !restore_options.snapshot.empty() || restore_options.take_over_identity ||
                 !options.s3_credentials.empty())) {
    return Usage("--resize SIZE VOLDIR takes no other option (the volume keeps its geometry and stores)");
  }
  if (change_key || !new_key_file.empty()) {
    if (!change_key || resize || restore || create_only || force_given || key_file.empty() || new_key_file.empty())
      return Usage("--change-key --key-file OLD --new-key-file NEW VOLDIR takes no other option");
    return ChangeKey(argv[optind], key_file, new_key_file, options.s3_credentials);
  }
  if (resize && !key_file.empty()) return Usage("--resize SIZE VOLDIR takes no other option");
  if (resize) return Resize(argv[optind], resize_to);
  (void)compress_given;
  if (sources > 1) return Usage("give one of --restore URL and --clone URL, once");
  if (restore_options.clone && restore_options.take_over_identity) {
    return Usage("a clone always gets its own identity; --take-over-identity goes with --restore");
  }
  if (restore && create_only) return Usage("--restore and --clone take its geometry and slow store from the snapshot; "
                                           "--size, --block-size, --chunk-size, --image and --slow do not apply");
  if (!restore && (!restore_options.volume.empty() || !restore_options.snapshot.empty() ||
                   restore_options.take_over_identity)) {
    return Usage("--volume, --snapshot and --take-over-identity go with --restore URL (or --clone URL)");
  }
  if (restore) {
    restore_options.voldir = argv[optind];
    restore_options.force = options.force;
    restore_options.key_file = key_file;
    return Restore(std::move(restore_options));
  }
  options.voldir = argv[optind];
  options.key_file = key_file;
  // The sizes must fit the config's 32-bit fields; the geometry check says the real limits.
  if (block > UINT32_MAX || chunk > UINT32_MAX) return Usage("block or chunk size too large");
  options.block_size = static_cast<uint32_t>(block);
  options.chunk_size = static_cast<uint32_t>(chunk);
  // The rules a mount applies, before anything is touched (the size may come from an image).
  amberfs::Status geometry =
      amberfs::ValidateVolumeGeometry(options.size ? options.size : chunk, options.block_size, options.chunk_size);
  if (!geometry.ok()) return Usage(geometry.message().c_str());

  std::string slow_store_found;
  options.on_slow_store = [&](const std::string& found) { slow_store_found = " (" + found + ")"; };
  amberfs::Result<amberfs::VolumeConfig> config = amberfs::CreateVolume(options);
  if (!config.ok()) return Failed(config.status());
  std::printf("created amberfs volume %s in %s\n  size %s, block %s, chunk %s\n  image %s\n  slow store %s%s\n"
              "  compress %s, encryption %s\n",
              config->uuid.c_str(), amberfs::AbsolutePath(options.voldir).c_str(),
              amberfs::FormatSize(config->size).c_str(), amberfs::FormatSize(config->block_size).c_str(),
              amberfs::FormatSize(config->chunk_size).c_str(),
              config->ImagePath(amberfs::AbsolutePath(options.voldir)).c_str(), config->slow_url.c_str(),
              slow_store_found.c_str(), config->compress ? "zstd" : "none",
              config->encrypted ? "aes-256-gcm (keep the key file: without it the volume cannot be read)" : "none");
  return 0;
}

int main(int argc, char** argv) {
  // Memory that cannot be had (a huge volume's chunk list) is a message, not an abort.
  try {
    return Run(argc, argv);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "mkfs.amberfs: out of memory\n");
    return 1;
  }
}
