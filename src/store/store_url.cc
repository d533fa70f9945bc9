// Slow-store URLs: a strict parser, the canonical printer, and OpenStoreUrl.
#include "store/store_url.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <string>
#include <vector>

#include "amberfs/log.h"
#include "store/disk_store.h"
#include "store/path_components.h"
#include "store/s3_store.h"
#include "store/slow_packs.h"
#include "store/store.h"

namespace amberfs {

namespace {

Status Bad(std::string why) { return Status::Error(EINVAL, "invalid store URL: " + why); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes; a truncated or non-hex escape, or a decoded NUL, is EINVAL.
Result<std::string> PercentDecode(std::string_view s, std::string_view what) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    int hi = i + 2 < s.size() ? HexValue(s[i + 1]) : -1;
    int lo = i + 2 < s.size() ? HexValue(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) return Bad("bad percent-escape in " + std::string(what));
    char c = static_cast<char>(hi * 16 + lo);
    if (c == '\0') return Bad("%00 in " + std::string(what));
    out += c;
    i += 2;
  }
  return out;
}

// Percent-encodes what would break ParseStoreUrl's splitting, nothing else,
// so canonical URLs stay readable.
std::string EncodeQueryValue(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (c == '%' || c == '&' || c == '#' || c == '=' || c == '?' || c <= ' ' || c >= 0x7f) {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

Result<std::string> ParseFilePath(std::string_view rest) {
  // rest follows "file://": an empty authority, so it must start with '/'.
  if (rest.empty()) return Bad("file URL without a path (want file:///absolute/path)");
  if (rest[0] != '/') {
    size_t slash = rest.find('/');
    if (slash == 0 || slash == std::string_view::npos)
      return Bad("file URL path must be absolute (want file:///absolute/path)");
    return Bad("file URL with a host \"" + std::string(rest.substr(0, slash)) +
               "\"; only local paths are supported (want file:///absolute/path)");
  }
  if (rest.find('?') != std::string_view::npos) return Bad("a file URL takes no query");
  AMBER_ASSIGN_OR_RETURN(std::string path, PercentDecode(rest, "the file path"));
  std::string clean;
  for (char c : path) {
    if (c == '/' && !clean.empty() && clean.back() == '/') continue;
    clean += c;
  }
  while (clean.size() > 1 && clean.back() == '/') clean.pop_back();
  return clean;
}

Result<std::string> ParseEndpoint(std::string_view value) {
  std::string lower;
  size_t scheme_end = value.find("://");
  if (scheme_end == std::string_view::npos) return Bad("endpoint must be http://host[:port] or https://host[:port]");
  for (char c : value.substr(0, scheme_end)) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower != "http" && lower != "https")
    return Bad("endpoint scheme \"" + lower + "\" is not http or https");
  std::string_view authority = value.substr(scheme_end + 3);
  while (!authority.empty() && authority.back() == '/') authority.remove_suffix(1);
  if (authority.find('@') != std::string_view::npos)
    return Bad("the endpoint carries credentials; give them in the environment or a credentials file");
  if (authority.find_first_of("/?#") != std::string_view::npos)
    return Bad("endpoint must be scheme://host[:port] without a path, query or fragment");
  std::string_view host = authority, port;
  if (!authority.empty() && authority[0] == '[') {  // [IPv6]:port
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return Bad("endpoint has an unterminated [IPv6] host");
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return Bad("endpoint has junk after the [IPv6] host");
      port = after.substr(1);
      if (port.empty()) return Bad("endpoint has an empty port");
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) return Bad("endpoint has an empty port");
  }
  if (host.empty()) return Bad("endpoint has no host");
  std::string out = lower + "://";
  for (char c : host) {
    unsigned char u = static_cast<unsigned char>(c);
    if (!(std::isalnum(u) || c == '.' || c == '-' || c == '_' || c == '[' || c == ']' || c == ':'))
      return Bad("endpoint host has an invalid character");
    out += static_cast<char>(std::tolower(u));
  }
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos)
      return Bad("endpoint port is not a number");
    int n = std::stoi(std::string(port));
    if (n < 1 || n > 65535) return Bad("endpoint port out of range");
    out += ":" + std::to_string(n);
  }
  return out;
}

Status ValidateRegion(std::string_view region) {
  if (region.empty() || region.size() > 32) return Bad("region must be 1-32 characters");
  for (char c : region)
    if (!IsLowerAlnum(c) && c != '-') return Bad("region \"" + std::string(region) + "\" is not of [a-z0-9-]");
  return Status::OK();
}

Result<StoreUrl> ParseS3(std::string_view rest) {
  StoreUrl url;
  url.kind = StoreUrl::Kind::kS3;
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  size_t slash = rest.find('/');
  url.bucket = std::string(rest.substr(0, slash));
  if (url.bucket.empty()) return Bad("s3 URL without a bucket (want s3://bucket[/prefix])");
  if (Status s = ValidateBucketName(url.bucket); !s.ok()) return Bad(s.message());
  if (slash != std::string_view::npos) {
    std::string_view prefix = rest.substr(slash + 1);
    while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
    if (Status s = ValidateS3Prefix(prefix); !s.ok()) return Bad(s.message());
    url.prefix = std::string(prefix);
  }
  bool seen_endpoint = false, seen_region = false;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty() || (amp != std::string_view::npos && query.empty())) return Bad("empty query parameter");
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos) return Bad("query parameter without '=' value");
    std::string_view key = pair.substr(0, eq);
    AMBER_ASSIGN_OR_RETURN(std::string value, PercentDecode(pair.substr(eq + 1), "a query value"));
    if (key == "endpoint") {
      if (seen_endpoint) return Bad("endpoint given twice");
      seen_endpoint = true;
      AMBER_ASSIGN_OR_RETURN(url.endpoint, ParseEndpoint(value));
    } else if (key == "region") {
      if (seen_region) return Bad("region given twice");
      seen_region = true;
      AMBER_RETURN_IF_ERROR(ValidateRegion(value));
      url.region = value;
    } else {
      std::string shown(key.substr(0, 40));
      return Bad("unknown query parameter \"" + shown + "\" (known: endpoint, region)");
    }
  }
  return url;
}

}  // namespace

std::string StoreUrl::EffectiveRegion() const { return region.empty() ? std::string(kDefaultS3Region) : region; }

std::string StoreUrl::EffectiveEndpoint() const {
  return endpoint.empty() ? "https://s3." + EffectiveRegion() + ".amazonaws.com" : endpoint;
}

Status ValidateBucketName(std::string_view bucket) {
  auto bad = [&](const char* why) {
    return Status::Error(EINVAL, "invalid S3 bucket name \"" + std::string(bucket.substr(0, 70)) + "\": " + why);
  };
  if (bucket.size() < 3 || bucket.size() > 63) return bad("must be 3 to 63 characters");
  for (char c : bucket)
    if (!IsLowerAlnum(c) && c != '.' && c != '-') return bad("may hold only a-z, 0-9, '.' and '-'");
  if (!IsLowerAlnum(bucket.front()) || !IsLowerAlnum(bucket.back())) return bad("must start and end with a letter or digit");
  if (bucket.find("..") != std::string_view::npos) return bad("must not contain \"..\"");
  int dots = 0;
  bool all_digits_and_dots = true;
  for (char c : bucket) {
    if (c == '.') ++dots;
    else if (!(c >= '0' && c <= '9')) all_digits_and_dots = false;
  }
  if (dots == 3 && all_digits_and_dots) return bad("must not look like an IP address");
  return Status::OK();
}

Status ValidateS3Prefix(std::string_view prefix) {
  auto bad = [&](const char* why) {
    return Status::Error(EINVAL, "invalid S3 prefix \"" + std::string(prefix.substr(0, 70)) + "\": " + why);
  };
  if (prefix.size() > 256) return bad("longer than 256 characters");
  if (prefix.empty()) return Status::OK();
  if (const char* problem = PathComponentsProblem(prefix)) return bad(problem);
  return Status::OK();
}

Result<StoreUrl> ParseStoreUrl(std::string_view text) {
  if (text.empty()) return Bad("empty");
  if (text.find('#') != std::string_view::npos) return Bad("fragments ('#') are not allowed");
  for (char c : text)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return Bad("contains a space or control character");
  size_t colon = text.find("://");
  if (colon == std::string_view::npos) return Bad("no scheme (want file:///path or s3://bucket/prefix)");
  std::string_view scheme = text.substr(0, colon), rest = text.substr(colon + 3);
  if (scheme == "file") {
    StoreUrl url;
    url.kind = StoreUrl::Kind::kFile;
    AMBER_ASSIGN_OR_RETURN(url.path, ParseFilePath(rest));
    return url;
  }
  if (scheme == "s3") return ParseS3(rest);
  return Bad("unknown scheme \"" + std::string(scheme.substr(0, 20)) + "\" (want file or s3)");
}

std::string CanonicalStoreUrl(const StoreUrl& url) {
  if (url.kind == StoreUrl::Kind::kFile) {
    std::string out = "file://";
    for (char c : url.path) {
      // Everything ParseStoreUrl refuses raw (blanks, control characters, DEL) or splits on.
      if (c == '%' || c == '#' || c == '?' || static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
        static const char* kHex = "0123456789ABCDEF";
        out += '%';
        out += kHex[static_cast<unsigned char>(c) >> 4];
        out += kHex[c & 15];
      } else {
        out += c;
      }
    }
    return out;
  }
  std::string out = "s3://" + url.bucket;
  if (!url.prefix.empty()) out += "/" + url.prefix;
  char sep = '?';
  if (!url.endpoint.empty()) {
    out += sep + std::string("endpoint=") + EncodeQueryValue(url.endpoint);
    sep = '&';
  }
  if (!url.region.empty()) out += sep + std::string("region=") + EncodeQueryValue(url.region);
  return out;
}

namespace {

// An S3Store for url, its bucket checked as `check` says.
Result<std::unique_ptr<S3Store>> OpenS3(const StoreUrl& url, const std::string& credentials_file,
                                        S3StoreOptions::BucketAtOpen check) {
  S3StoreOptions options;
  options.endpoint = url.EffectiveEndpoint();
  options.region = url.EffectiveRegion();
  options.bucket = url.bucket;
  options.prefix = url.prefix;
  options.description = CanonicalStoreUrl(url);
  options.bucket_at_open = check;
  AMBER_ASSIGN_OR_RETURN(options.credentials, LoadS3Credentials(credentials_file));
  return S3Store::Open(std::move(options));
}

// A message that names the store once: S3Store's messages start with its
// URL already; others (credentials, a directory) get it in front.
Status NameStore(const Status& st, const std::string& canonical) {
  if (st.ok() || st.message().rfind(canonical, 0) == 0) return st;
  return st.Annotate(canonical);
}

}  // namespace

Result<std::unique_ptr<Store>> OpenStoreUrl(std::string_view text, const std::string& credentials_file,
                                            StoreCheck check) {
  AMBER_ASSIGN_OR_RETURN(StoreUrl url, ParseStoreUrl(text));
  const std::string canonical = CanonicalStoreUrl(url);
  if (url.kind == StoreUrl::Kind::kFile) {
    DiskStoreOptions options;
    options.pack_objects = true;  // a slow store: packs/ and index/ hold pack objects
    Result<std::unique_ptr<DiskStore>> disk = DiskStore::Open(url.path, options);
    if (!disk.ok()) return NameStore(disk.status(), canonical);
    return std::unique_ptr<Store>(std::make_unique<SlowPacks>(std::move(disk).value()));
  }
  using Bucket = S3StoreOptions::BucketAtOpen;
  const Bucket bucket = check == StoreCheck::kCreate  ? Bucket::kCreate
                        : check == StoreCheck::kProbe ? Bucket::kUnchecked
                                                      : Bucket::kMustExist;
  Result<std::unique_ptr<S3Store>> s3 = OpenS3(url, credentials_file, bucket);
  if (!s3.ok()) return NameStore(s3.status(), canonical);
  if (check == StoreCheck::kProbe) {
    Status probe = (*s3)->CheckBucket(/*quick=*/true);
    if (!probe.ok()) {
      LOG_WARN("slow store unusable for now: %s; continuing: snapshots commit locally and their uploads wait "
               "until it answers",
               probe.message().c_str());
    }
  }
  return std::unique_ptr<Store>(std::make_unique<SlowPacks>(std::move(s3).value()));
}

Result<std::string> PrepareSlowStore(std::string_view text, const std::string& credentials_file) {
  AMBER_ASSIGN_OR_RETURN(StoreUrl url, ParseStoreUrl(text));
  const std::string canonical = CanonicalStoreUrl(url);
  if (url.kind == StoreUrl::Kind::kFile) {
    struct stat st;
    if (::stat(url.path.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) return Status::Error(ENOTDIR, canonical + ": not a directory");
      if (::access(url.path.c_str(), W_OK | X_OK) != 0) return Status::FromErrno(errno, canonical);
      return std::string("directory exists");
    }
    if (errno != ENOENT) return Status::FromErrno(errno, canonical);
    // The mount creates it (and its parents), as DiskStore::Open does.
    return std::string("directory to be created at the first mount");
  }
  Result<std::unique_ptr<S3Store>> s3 = OpenS3(url, credentials_file, S3StoreOptions::BucketAtOpen::kUnchecked);
  if (!s3.ok()) return NameStore(s3.status(), canonical);
  Status found = (*s3)->CheckBucket();
  if (found.ok()) return "bucket " + url.bucket + " exists";
  if (found.code() != ENOENT) return found;
  AMBER_RETURN_IF_ERROR((*s3)->CreateBucket());
  return "bucket " + url.bucket + " created";
}

}  // namespace amberfs
