// mkfs.amberfs: creates a volume directory. See man/mkfs.amberfs.8.
//
// Exit status: 0 created, 1 refused or failed (nothing changed), 2 usage error.
#include <getopt.h>

#include <cstdio>
#include <string>

#include "amberfs/size_parse.h"
#include "amberfs/version.h"
#include "amberfs/volume_create.h"

namespace {

constexpr const char* kUsage =
    "usage: mkfs.amberfs --size SIZE [--block-size 4K] [--chunk-size 64K]\n"
    "                    [--image PATH] [--slow URL] [--force] VOLDIR\n"
    "       mkfs.amberfs --restore URL [--volume UUID] [--snapshot NAME] VOLDIR\n"
    "\n"
    "Creates an amberfs volume in VOLDIR (created if missing).\n"
    "  --size SIZE        volume size, K/M/G/T binary suffixes; a multiple of the chunk size\n"
    "                     (optional with an existing --image: its size is taken)\n"
    "  --block-size SIZE  cache block size, a power of two from 512 to 64K (default 4K)\n"
    "  --chunk-size SIZE  snapshot chunk size, a power of two, at least the block size,\n"
    "                     at most 64M (default 64K)\n"
    "  --image PATH       the image: created sparse if missing; an existing file or block\n"
    "                     device is used as it is and must have exactly --size bytes\n"
    "                     (default VOLDIR/image, created sparse)\n"
    "  --slow URL         slow store: file:///path or s3://bucket[/prefix][?endpoint=URL&region=R]\n"
    "                     (default file://VOLDIR/archive)\n"
    "  --force            replace an existing volume in VOLDIR (not while it is mounted)\n"
    "  --restore URL      rebuild a volume from a slow store (not implemented yet)\n"
    "  --help, --version\n";

int Usage(const char* problem) {
  std::fprintf(stderr, "mkfs.amberfs: %s\nTry 'mkfs.amberfs --help'.\n", problem);
  return 2;
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

int main(int argc, char** argv) {
  enum { kSize = 1, kBlock, kChunk, kImage, kSlow, kForce, kRestore, kVolume, kSnapshot, kHelp, kVersion };
  static const option kLong[] = {
      {"size", required_argument, nullptr, kSize},         {"block-size", required_argument, nullptr, kBlock},
      {"chunk-size", required_argument, nullptr, kChunk},  {"image", required_argument, nullptr, kImage},
      {"slow", required_argument, nullptr, kSlow},         {"force", no_argument, nullptr, kForce},
      {"restore", required_argument, nullptr, kRestore},   {"volume", required_argument, nullptr, kVolume},
      {"snapshot", required_argument, nullptr, kSnapshot}, {"help", no_argument, nullptr, kHelp},
      {"version", no_argument, nullptr, kVersion},         {nullptr, 0, nullptr, 0}};

  amberfs::CreateVolumeOptions options;
  bool restore = false;
  uint64_t block = options.block_size, chunk = options.chunk_size;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "", kLong, nullptr)) != -1) {
    switch (c) {
      case kSize: if (!ParseSizeOption("size", optarg, &options.size)) return 2; break;
      case kBlock: if (!ParseSizeOption("block-size", optarg, &block)) return 2; break;
      case kChunk: if (!ParseSizeOption("chunk-size", optarg, &chunk)) return 2; break;
      case kImage: options.image = optarg; break;
      case kSlow: options.slow_url = optarg; break;
      case kForce: options.force = true; break;
      case kRestore: case kVolume: case kSnapshot: restore = true; break;
      case kHelp: std::fputs(kUsage, stdout); return 0;
      case kVersion: std::printf("mkfs.amberfs %s\n", amberfs::kVersion); return 0;
      default: {
        std::string what = c == ':' || optopt ? std::string("option needs an argument: ") + argv[optind - 1]
                                              : std::string("unknown option ") + argv[optind - 1];
        return Usage(what.c_str());
      }
    }
  }
  if (restore) {
    std::fprintf(stderr, "mkfs.amberfs: not implemented yet: rebuild from a slow store comes with snapshots (issue 5)\n");
    return 2;
  }
  if (optind + 1 != argc) return Usage(optind == argc ? "no VOLDIR given" : "more than one VOLDIR given");
  options.voldir = argv[optind];
  // The sizes must fit the config's 32-bit fields; Validate checks the real limits.
  if (block > UINT32_MAX || chunk > UINT32_MAX) return Usage("block or chunk size too large");
  options.block_size = static_cast<uint32_t>(block);
  options.chunk_size = static_cast<uint32_t>(chunk);

  amberfs::Result<amberfs::VolumeConfig> config = amberfs::CreateVolume(options);
  if (!config.ok()) {
    std::fprintf(stderr, "mkfs.amberfs: %s\n", config.status().message().c_str());
    return 1;
  }
  std::printf("created amberfs volume %s in %s\n  size %s, block %s, chunk %s\n  image %s\n  slow store %s\n",
              config->uuid.c_str(), amberfs::AbsolutePath(options.voldir).c_str(),
              amberfs::FormatSize(config->size).c_str(), amberfs::FormatSize(config->block_size).c_str(),
              amberfs::FormatSize(config->chunk_size).c_str(),
              config->ImagePath(amberfs::AbsolutePath(options.voldir)).c_str(), config->slow_url.c_str());
  return 0;
}
