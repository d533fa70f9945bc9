// fsck.amberfs: checks a volume and its stores. See man/fsck.amberfs.8.
//
// Exit status (fsck(8)): 0 no errors, 1 errors corrected, 4 errors left
// uncorrected, 8 operational error, 16 usage error.
#include <getopt.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "amberfs/fsck.h"
#include "amberfs/log.h"
#include "amberfs/version.h"

namespace {

constexpr const char* kUsage =
    "usage: fsck.amberfs [-n | -y] [--read-data | --read-data-subset=N%] [--slow]\n"
    "                    [--drop-broken] [--strict] [--json] VOLDIR\n"
    "\n"
    "Checks an amberfs volume: config and image, catalog, every snapshot's tree,\n"
    "the upload log, change tracking, and orphan blobs.\n"
    "  -n                 check only, change nothing (the default)\n"
    "  -y, -p, -a         repair what is safe (not while the volume is mounted)\n"
    "  --drop-broken      with -y: remove catalog entries of snapshots whose data is gone\n"
    "  --read-data        read every blob a snapshot reaches and check its SHA-256\n"
    "  --read-data-subset=N%\n"
    "                     the same for a random N% of the blobs\n"
    "  --slow             also check the slow store: every blob uploaded, refs complete\n"
    "  --strict           leaked blobs count as errors\n"
    "  --json             print the report as JSON\n"
    "  --s3-credentials FILE\n"
    "                     AWS credentials file for an s3:// slow store\n"
    "  --key-file FILE    the passphrase of an encrypted volume (needed to check one)\n"
    "  --threads N        hashing threads (default: one per core)\n"
    "  --no-progress      no progress bar, even on a terminal\n"
    "  -f                 accepted for fsck(8); every check is always full\n"
    "  --help, --version\n"
    "\n"
    "Exit status: 0 no errors, 1 errors corrected, 4 errors left uncorrected,\n"
    "8 operational error, 16 usage error.\n";

int Usage(const std::string& problem) {
  std::fprintf(stderr, "fsck.amberfs: %s\nTry 'fsck.amberfs --help'.\n", problem.c_str());
  return amberfs::kFsckUsage;
}

// "25%", "25", "0.5%" -> percent in (0, 100].
bool ParsePercent(const char* text, double* out) {
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(text, &end);
  if (end == text || errno != 0) return false;
  if (*end == '%') ++end;
  if (*end != '\0' || !(v > 0 && v <= 100)) return false;
  *out = v;
  return true;
}

// A one-line bar on stderr, redrawn at most every 100 ms.
class ProgressBar {
 public:
  void Update(const char* phase, uint64_t done, uint64_t total) {
    auto now = std::chrono::steady_clock::now();
    if (done < total && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    constexpr int kWidth = 30;
    const double frac = total ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
    const int filled = static_cast<int>(frac * kWidth);
    char line[160];
    std::snprintf(line, sizeof line, "\r%-10s [%.*s%*s] %5.1f%% %llu/%llu", phase, filled,
                  "##############################", kWidth - filled, "", frac * 100,
                  static_cast<unsigned long long>(done), static_cast<unsigned long long>(total));
    std::fputs(line, stderr);
    shown_ = true;
  }
  void Clear() {
    if (shown_) std::fputs("\r\033[K", stderr);
    shown_ = false;
  }

 private:
  std::chrono::steady_clock::time_point last_{};
  bool shown_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  enum { kReadData = 256, kSubset, kSlow, kStrict, kJson, kDropBroken, kCreds, kThreads, kNoProgress, kHelp, kVersion, kKeyFile };
  static const option kLong[] = {{"read-data", no_argument, nullptr, kReadData},
                                 {"read-data-subset", required_argument, nullptr, kSubset},
                                 {"slow", no_argument, nullptr, kSlow},
                                 {"strict", no_argument, nullptr, kStrict},
                                 {"json", no_argument, nullptr, kJson},
                                 {"drop-broken", no_argument, nullptr, kDropBroken},
                                 {"s3-credentials", required_argument, nullptr, kCreds},
                                 {"key-file", required_argument, nullptr, kKeyFile},
                                 {"threads", required_argument, nullptr, kThreads},
                                 {"no-progress", no_argument, nullptr, kNoProgress},
                                 {"help", no_argument, nullptr, kHelp},
                                 {"version", no_argument, nullptr, kVersion},
                                 {nullptr, 0, nullptr, 0}};
  amberfs::FsckOptions options;
  bool no = false, yes = false, strict = false, json = false, progress = true;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "nypaf", kLong, nullptr)) != -1) {
    switch (c) {
      case 'n': no = true; break;
      case 'y': case 'p': case 'a': yes = true; break;
      case 'f': break;
      case kReadData: options.read_data = true; break;
      case kSubset:
        if (!ParsePercent(optarg, &options.read_data_percent))
          return Usage(std::string("--read-data-subset: not a percentage in (0, 100]: ") + optarg);
        options.read_data = true;
        break;
      case kSlow: options.slow = true; break;
      case kStrict: strict = true; break;
      case kJson: json = true; break;
      case kDropBroken: options.drop_broken = true; break;
      case kCreds: options.s3_credentials = optarg; break;
      case kKeyFile: options.key_file = optarg; break;
      case kThreads: {
        char* end = nullptr;
        long n = std::strtol(optarg, &end, 10);
        if (end == optarg || *end != '\0' || n < 1 || n > 256) return Usage(std::string("--threads: bad count ") + optarg);
        options.threads = static_cast<int>(n);
        break;
      }
      case kNoProgress: progress = false; break;
      case kHelp: std::fputs(kUsage, stdout); return amberfs::kFsckOk;
      case kVersion: std::printf("fsck.amberfs %s\n", amberfs::kVersion); return amberfs::kFsckOk;
      default: {
        const char* arg = argv[optind - 1];
        if (optopt >= kReadData)  // a long option of ours without its argument
          return Usage(std::string("option needs an argument: ") + arg);
        return Usage(std::string("unknown option ") + arg);
      }
    }
  }
  if (no && yes) return Usage("-n and -y exclude each other");
  if (options.drop_broken && !yes) return Usage("--drop-broken is a repair: it needs -y");
  if (optind + 1 != argc) return Usage(optind == argc ? "missing VOLDIR" : "too many arguments");
  options.voldir = argv[optind];
  options.repair = yes;

  ProgressBar bar;
  if (progress && ::isatty(STDERR_FILENO)) {
    options.progress = [&bar](const char* phase, uint64_t done, uint64_t total) { bar.Update(phase, done, total); };
  }
  amberfs::Result<amberfs::FsckReport> report = amberfs::RunFsck(options);
  bar.Clear();
  if (!report.ok()) {
    std::fprintf(stderr, "fsck.amberfs: %s\n", report.status().message().c_str());
    return report.status().code() == EINVAL ? amberfs::kFsckUsage : amberfs::kFsckOperational;
  }
  const std::string text = json ? amberfs::RenderFsckJson(*report, strict) : amberfs::RenderFsckText(*report, strict);
  std::fputs(text.c_str(), stdout);
  return report->ExitCode(strict);
}
