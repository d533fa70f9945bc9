// S3 credentials: the shared-credentials file format and where credentials
// come from (see LoadS3Credentials in s3_store.h).
#include <unistd.h>

#include <cstdlib>

#include "base/durable_file.h"
#include "store/s3_store.h"

namespace amberfs {
namespace {

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

std::string EnvOr(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

Result<std::string> ReadCredentialsFile(const std::string& path) {
  Result<std::vector<uint8_t>> bytes = ReadSmallFile(path, 1 << 20);
  if (!bytes.ok()) return bytes.status().Annotate("read credentials file");
  return std::string(bytes->begin(), bytes->end());
}

}  // namespace

Result<S3Credentials> ParseS3CredentialsFile(std::string_view text, std::string_view profile,
                                             std::string_view source) {
  S3Credentials creds;
  bool in_profile = false, seen_profile = false;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = Trim(text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      if (line.back() != ']')
        return Status::Error(EINVAL, std::string(source) + ":" + std::to_string(line_no) + ": malformed section header");
      std::string name = Trim(std::string_view(line).substr(1, line.size() - 2));
      // The config-file spelling "[profile x]" is accepted too.
      if (name.rfind("profile ", 0) == 0) name = Trim(std::string_view(name).substr(8));
      in_profile = name == profile;
      seen_profile = seen_profile || in_profile;
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos)
      return Status::Error(EINVAL, std::string(source) + ":" + std::to_string(line_no) + ": expected key = value");
    if (!in_profile) continue;
    std::string key = Trim(std::string_view(line).substr(0, eq));
    std::string value = Trim(std::string_view(line).substr(eq + 1));
    if (key == "aws_access_key_id") creds.access_key_id = value;
    else if (key == "aws_secret_access_key") creds.secret_access_key = value;
    else if (key == "aws_session_token") creds.session_token = value;
  }
  if (!seen_profile)
    return Status::Error(EINVAL, std::string(source) + ": no [" + std::string(profile) + "] profile");
  if (creds.access_key_id.empty() || creds.secret_access_key.empty())
    return Status::Error(EINVAL, std::string(source) + ": profile [" + std::string(profile) +
                                     "] lacks aws_access_key_id or aws_secret_access_key");
  return creds;
}

Result<S3Credentials> LoadS3Credentials(const std::string& credentials_file) {
  std::string profile = EnvOr("AWS_PROFILE", "default");
  if (!credentials_file.empty()) {
    AMBER_ASSIGN_OR_RETURN(std::string text, ReadCredentialsFile(credentials_file));
    return ParseS3CredentialsFile(text, profile, credentials_file);
  }
  std::string id = EnvOr("AWS_ACCESS_KEY_ID", ""), secret = EnvOr("AWS_SECRET_ACCESS_KEY", "");
  if (!id.empty() || !secret.empty()) {
    if (id.empty() || secret.empty())
      return Status::Error(EINVAL, "S3 credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together");
    return S3Credentials{id, secret, EnvOr("AWS_SESSION_TOKEN", "")};
  }
  std::string file = EnvOr("AWS_SHARED_CREDENTIALS_FILE", "");
  if (file.empty()) {
    std::string home = EnvOr("HOME", "");
    if (!home.empty()) file = home + "/.aws/credentials";
  }
  if (!file.empty() && ::access(file.c_str(), F_OK) == 0) {
    AMBER_ASSIGN_OR_RETURN(std::string text, ReadCredentialsFile(file));
    return ParseS3CredentialsFile(text, profile, file);
  }
  return Status::Error(EACCES,
                       "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give a "
                       "credentials file");
}

}  // namespace amberfs
