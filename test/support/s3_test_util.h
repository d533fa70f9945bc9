// Helpers for S3 unit tests: a closed port, S3 error documents, and
// S3StoreOptions for a ScriptedServer.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "store/s3_store.h"
#include "support/scripted_http_server.h"

namespace amberfs::testing {

// A port on 127.0.0.1 nothing listens on (bound, then closed).
inline int ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

inline S3StoreOptions ScriptedOptions(const ScriptedServer& server, int attempts) {
  S3StoreOptions o;
  o.endpoint = server.endpoint();
  o.bucket = "bkt";
  o.credentials = {"AKIDEXAMPLE", "wJalrXUtnFEMI-secret", ""};
  o.connect_timeout_ms = 2000;
  o.request_timeout_ms = 5000;
  o.max_attempts = attempts;
  o.retry_base_delay_ms = 5;
  o.retry_max_delay_ms = 20;
  return o;
}

inline std::string S3Error(const std::string& code, const std::string& message) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code + "</Code><Message>" + message +
         "</Message><RequestId>1</RequestId></Error>";
}

}  // namespace amberfs::testing
