// ScriptedServer: fault injection for HTTP clients in unit tests. A tiny
// HTTP/1.1 server on 127.0.0.1 (one thread, one connection at a time,
// keep-alive) that answers each request with whatever the test's script
// returns for it: a status, a body, extra headers, and optionally a body far
// larger than memory (stream_bytes of filler after the body, all announced in
// Content-Length, sent until the client hangs up).
//
// Not for concurrency tests: requests are served one after another.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

#include <doctest/doctest.h>

namespace amberfs::testing {

class ScriptedServer {
 public:
  struct Reply {
    int status = 200;
    std::string body;
    std::string headers;         // extra header lines, each ending in "\r\n"
    uint64_t stream_bytes = 0;   // filler bytes sent after body
  };
  struct Seen {
    std::string method, target, head, body;  // head: request line and headers
  };
  using Script = std::function<Reply(const Seen& request)>;

  explicit ScriptedServer(Script script) : script_(std::move(script)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listen_fd_, 16) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
  }
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_.load(); }
  int connections() const { return connections_.load(); }
  // Bytes of body (and filler) written so far, over all replies.
  uint64_t body_bytes_sent() const { return body_bytes_sent_.load(); }

 private:
  bool WriteAll(int fd, const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      p += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }

  bool Answer(int fd, const std::string& method, const Reply& reply) {
    const bool head = method == "HEAD";
    std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " X\r\nContent-Length: " +
                      std::to_string(reply.body.size() + reply.stream_bytes) +
                      "\r\nContent-Type: application/xml\r\n" + reply.headers + "\r\n";
    if (!WriteAll(fd, out.data(), out.size())) return false;
    if (head) return true;
    if (!WriteAll(fd, reply.body.data(), reply.body.size())) return false;
    body_bytes_sent_ += reply.body.size();
    const std::string filler(64 << 10, 'x');
    for (uint64_t left = reply.stream_bytes; left > 0;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(left, filler.size()));
      if (!WriteAll(fd, filler.data(), n)) return false;  // the client hung up
      body_bytes_sent_ += n;
      left -= n;
    }
    return true;
  }

  void Serve() {
    while (true) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;  // shut down
      ++connections_;
      std::string buf;
      char chunk[4096];
      while (true) {
        size_t end = buf.find("\r\n\r\n");
        if (end == std::string::npos) {
          ssize_t n = ::read(fd, chunk, sizeof chunk);
          if (n <= 0) break;
          buf.append(chunk, static_cast<size_t>(n));
          continue;
        }
        std::string head = buf.substr(0, end);
        size_t body_len = 0;
        if (size_t cl = head.find("Content-Length: "); cl != std::string::npos)
          body_len = std::strtoul(head.c_str() + cl + 16, nullptr, 10);
        while (buf.size() < end + 4 + body_len) {
          ssize_t n = ::read(fd, chunk, sizeof chunk);
          if (n <= 0) break;
          buf.append(chunk, static_cast<size_t>(n));
        }
        Seen seen;
        seen.method = head.substr(0, head.find(' '));
        seen.target = head.substr(seen.method.size() + 1, head.find(' ', seen.method.size() + 1) - seen.method.size() - 1);
        seen.head = head;
        seen.body = buf.substr(end + 4, body_len);
        ++requests_;
        Reply reply = script_(seen);
        if (!Answer(fd, seen.method, reply)) break;
        buf.erase(0, std::min(buf.size(), end + 4 + body_len));
      }
      ::close(fd);
    }
  }

  Script script_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::atomic<int> connections_{0};
  std::atomic<uint64_t> body_bytes_sent_{0};
  std::thread thread_;
};

}  // namespace amberfs::testing
