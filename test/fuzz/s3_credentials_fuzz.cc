// Fuzz target: AWS shared-credentials files (ParseS3CredentialsFile), named
// by -o s3_credentials=, $AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials.
//
// Input: one flags byte; bit 0 picks the profile "prod" instead of
// "default"; bit 1 instead builds a file from the bytes (comments, other
// profiles, keys with spacing) whose profile must parse to exactly its keys.
// Otherwise the rest is the file.
//
// Invariants: errors are EINVAL with the source named, never the secret;
// what parses has both keys, trimmed of blanks; built files round-trip.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>

#include "fuzz/fuzz_support.h"
#include "store/s3_store.h"

using namespace amberfs;

namespace {

bool Trimmed(const std::string& s) {
  auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  return s.empty() || (!blank(s.front()) && !blank(s.back()));
}

// A value the format can carry: no line break, no blank at either end, not empty.
std::string Value(FuzzedDataProvider& in) {
  std::string v = in.ConsumeRandomLengthString(50);
  std::string out;
  for (char c : v)
    if (c != '\n') out += c;
  while (!out.empty() && (out.back() == ' ' || out.back() == '\t' || out.back() == '\r')) out.pop_back();
  while (!out.empty() && (out.front() == ' ' || out.front() == '\t' || out.front() == '\r')) out.erase(0, 1);
  return out.empty() ? "x" : out;
}

void RoundTrip(FuzzedDataProvider& in) {
  S3Credentials want{Value(in), Value(in), in.ConsumeBool() ? Value(in) : ""};
  std::string text = "# made by the fuzzer\n[other]\naws_access_key_id = nope\naws_secret_access_key=nope\n";
  text += in.ConsumeBool() ? "[default]\n" : "[profile default]\n";
  const std::string sp = in.ConsumeBool() ? " " : "\t";
  text += "aws_access_key_id" + sp + "=" + sp + want.access_key_id + "\n";
  text += "; a comment\naws_secret_access_key=" + want.secret_access_key + "\r\n";
  if (!want.session_token.empty()) text += "aws_session_token = " + want.session_token + "\n";
  text += "region = us-east-1\n[later]\naws_access_key_id = nope\n";
  Result<S3Credentials> got = ParseS3CredentialsFile(text, "default", "fuzz-file");
  FUZZ_CHECK(got.ok(), "a well-formed file was refused: " + got.status().ToString());
  FUZZ_CHECK(got->access_key_id == want.access_key_id && got->secret_access_key == want.secret_access_key &&
                 got->session_token == want.session_token,
             "the keys did not round-trip");
}

void ParseFile(uint8_t flags, std::span<const uint8_t> input) {
  const std::string_view text = fuzz::AsText(input);
  const char* profile = (flags & 1) ? "prod" : "default";
  Result<S3Credentials> creds = ParseS3CredentialsFile(text, profile, "fuzz-file");
  if (!creds.ok()) {
    FUZZ_CHECK(creds.status().code() == EINVAL, "an error is not EINVAL: " + creds.status().ToString());
    FUZZ_CHECK(creds.status().message().starts_with("fuzz-file"), "the error does not name the file");
    return;
  }
  FUZZ_CHECK(!creds->access_key_id.empty() && !creds->secret_access_key.empty(), "credentials without both keys");
  FUZZ_CHECK(Trimmed(creds->access_key_id) && Trimmed(creds->secret_access_key) && Trimmed(creds->session_token),
             "a value with blanks around it");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz::FlaggedInput(data, size, 2, RoundTrip, ParseFile);
}
