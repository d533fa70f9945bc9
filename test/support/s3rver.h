// S3rver: a real S3 endpoint for tests — s3rver (npm) on 127.0.0.1.
//
// S3rver::StartOrSkip() starts s3rver in its own session on a free port
// (s3rver -p 0 picks it and prints it) with a data directory under /tmp,
// waits until it listens, and creates the bucket. When node or s3rver is
// missing it prints "SKIP: s3rver not installed (cd test && npm install)" and
// returns nullptr, so a test does `auto s3 = S3rver::StartOrSkip(); if (!s3)
// return;`. Stop() kills it (the whole process group) and Start() brings it
// back on the same port with the same data, for "slow store down" tests. The
// destructor kills it and removes the data directory.
//
// s3rver accepts any signature for its one account, S3RVER/S3RVER; an
// unknown access key id is 403 InvalidAccessKeyId.
//
// The binary is found at $AMBERFS_S3RVER, else test/node_modules/.bin/s3rver
// under the working directory or any of the three directories above the test
// binary. Node >= 17 needs NODE_OPTIONS=--openssl-legacy-provider for s3rver
// 3.7.1, which is set here.
//
// s3rver dies with the test process (setpriv --pdeathsig) when it is killed.
//
// Not thread-safe: one test thread drives it, and it should be the thread
// that lives longest (the death signal follows the thread that spawned it).
#pragma once

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "store/pointer.h"
#include "store/s3_store.h"
#include "amberfs/status.h"

extern char** environ;

namespace amberfs::testing {

class S3rver {
 public:
  static constexpr const char* kAccessKey = "S3RVER";
  static constexpr const char* kSecretKey = "S3RVER";

  static std::unique_ptr<S3rver> StartOrSkip(const std::string& bucket = "amberfs-test") {
    std::string bin = FindBinary();
    if (bin.empty()) {
      std::printf("SKIP: s3rver not installed (cd test && npm install)\n");
      return nullptr;
    }
    std::unique_ptr<S3rver> s(new S3rver(bin, bucket));
    if (s->dir_.empty()) {
      std::printf("SKIP: s3rver: cannot create a temp directory\n");
      return nullptr;
    }
    Status st = s->Start();
    if (st.code() == ENOENT) {
      std::printf("SKIP: s3rver not installed (cd test && npm install): %s\n", st.message().c_str());
      return nullptr;
    }
    if (!st.ok()) {
      std::printf("SKIP: s3rver did not start: %s\n", st.message().c_str());
      return nullptr;
    }
    S3StoreOptions opts = s->Options();
    opts.bucket_at_open = S3StoreOptions::BucketAtOpen::kCreate;
    auto store = S3Store::Open(opts);
    if (!store.ok()) {
      std::printf("SKIP: s3rver: cannot create bucket: %s\n", store.status().message().c_str());
      return nullptr;
    }
    return s;
  }

  ~S3rver() {
    Stop().IgnoreError();  // a test's teardown: nothing to report to
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  S3rver(const S3rver&) = delete;
  S3rver& operator=(const S3rver&) = delete;

  // Starts s3rver (again) and waits until it listens.
  Status Start() {
    if (pid_ > 0) return Status::OK();
    std::string log = dir_ + "/s3rver.log";
    std::string port_arg = std::to_string(port_);  // 0 the first time: s3rver picks one
    std::string data = dir_ + "/data";
    std::vector<std::string> args = {bin_, "-d", data, "-a", "127.0.0.1", "-p", port_arg, "--silent"};
    // If the test process dies without running destructors (a crash, kill -9),
    // the kernel kills s3rver too instead of leaking it.
    const char* kSetpriv = "/usr/bin/setpriv";
    if (::access(kSetpriv, X_OK) == 0) args.insert(args.begin(), {kSetpriv, "--pdeathsig", "KILL", "--"});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_store;
    for (char** e = environ; *e; ++e)
      if (std::strncmp(*e, "NODE_OPTIONS=", 13) != 0) env_store.emplace_back(*e);
    env_store.emplace_back("NODE_OPTIONS=--openssl-legacy-provider");
    std::vector<char*> envp;
    for (auto& e : env_store) envp.push_back(e.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);  // own group: Stop kills all of it
    pid_t pid = 0;
    int rc = posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) return Status::FromErrno(rc, "spawn " + bin_);
    pid_ = pid;

    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        // 127: env(1) in the script's #! line found no node.
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127) return Status::Error(ENOENT, "node not found");
        return Status::Error(ECHILD, "s3rver exited: " + Tail(ReadFile(log)));
      }
      int port = ListeningPort(ReadFile(log));
      if (port > 0 && CanConnect(port)) {
        port_ = port;
        return Status::OK();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::string out = ReadFile(log);
    Stop().IgnoreError();  // it never came up; the timeout is the error
    return Status::Error(ETIMEDOUT, "s3rver did not listen within 20 s: " + Tail(out));
  }

  // Kills s3rver and its process group; the port stops answering.
  Status Stop() {
    if (pid_ <= 0) return Status::OK();
    ::kill(-pid_, SIGKILL);
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, 0);
    pid_ = -1;
    if (r < 0) return Status::FromErrno(errno, "waitpid s3rver");
    return Status::OK();
  }

  bool running() const { return pid_ > 0; }
  int port() const { return port_; }
  const std::string& bucket() const { return bucket_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // s3://bucket[/prefix]?endpoint=...
  std::string Url(const std::string& prefix = "") const {
    return "s3://" + bucket_ + (prefix.empty() ? "" : "/" + prefix) + "?endpoint=" + endpoint();
  }
  // Options for an S3Store on this server: its credentials and short
  // timeouts and retries, so a test against a stopped server ends quickly.
  S3StoreOptions Options(const std::string& prefix = "") const {
    S3StoreOptions o;
    o.endpoint = endpoint();
    o.bucket = bucket_;
    o.prefix = prefix;
    o.credentials = {kAccessKey, kSecretKey, ""};
    o.connect_timeout_ms = 2000;
    o.request_timeout_ms = 10000;
    o.max_attempts = 3;
    o.retry_base_delay_ms = 10;
    o.retry_max_delay_ms = 100;
    return o;
  }

  // PUTs bytes at an object name in the bucket, bypassing every check of
  // S3Store (to plant corrupt blobs and stray objects).
  Status RawPut(const std::string& object, std::string_view bytes) {
    CURL* c = curl_easy_init();
    if (!c) return Status::Error(ENOMEM, "curl_easy_init");
    std::string url = endpoint() + "/" + bucket_ + "/" + object;
    std::string hash = "x-amz-content-sha256: " + Pointer::Of(bytes.data(), bytes.size()).Hex();
    curl_slist* headers = curl_slist_append(nullptr, hash.c_str());
    std::string body(bytes);
    struct Cursor {
      std::string_view rest;
    } cursor{body};
    auto read = +[](char* buf, size_t size, size_t n, void* p) -> size_t {
      auto* cur = static_cast<Cursor*>(p);
      size_t k = std::min(size * n, cur->rest.size());
      std::memcpy(buf, cur->rest.data(), k);
      cur->rest.remove_prefix(k);
      return k;
    };
    auto sink = +[](char*, size_t size, size_t n, void*) -> size_t { return size * n; };
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_AWS_SIGV4);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
    curl_easy_setopt(c, CURLOPT_USERNAME, kAccessKey);
    curl_easy_setopt(c, CURLOPT_PASSWORD, kSecretKey);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read);
    curl_easy_setopt(c, CURLOPT_READDATA, &cursor);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    CURLcode rc = curl_easy_perform(c);
    long http = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) return Status::Error(EIO, std::string("raw put: ") + curl_easy_strerror(rc));
    if (http != 200) return Status::Error(EIO, "raw put: HTTP " + std::to_string(http));
    return Status::OK();
  }

  static std::string FindBinary() {
    if (const char* env = std::getenv("AMBERFS_S3RVER"); env && *env)
      return ::access(env, X_OK) == 0 ? env : "";
    const std::string rel = "test/node_modules/.bin/s3rver";
    std::error_code ec;
    std::vector<std::filesystem::path> roots = {std::filesystem::current_path(ec)};
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    for (auto dir = exe.parent_path(); !ec && !dir.empty() && roots.size() < 5; dir = dir.parent_path()) {
      roots.push_back(dir);
      if (dir == dir.root_path()) break;
    }
    for (const auto& root : roots) {
      auto candidate = root / rel;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
    return "";
  }

 private:
  S3rver(std::string bin, std::string bucket) : bin_(std::move(bin)), bucket_(std::move(bucket)) {
    char templ[] = "/tmp/s3rver-XXXXXX";
    if (::mkdtemp(templ) != nullptr) dir_ = templ;
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static std::string Tail(const std::string& s) { return s.size() > 400 ? s.substr(s.size() - 400) : s; }

  // Parses "S3rver listening on 127.0.0.1:PORT".
  static int ListeningPort(const std::string& log) {
    const std::string marker = "listening on 127.0.0.1:";
    size_t at = log.find(marker);
    if (at == std::string::npos) return 0;
    return std::atoi(log.c_str() + at + marker.size());
  }

  static bool CanConnect(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
  }

  std::string bin_;
  std::string bucket_;
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace amberfs::testing
