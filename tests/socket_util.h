// Raw loopback TCP for tests that play HTTP clients no library would be: slow, half-closing,
// pipelining, silent.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace digitlab::testing {

// A socket connected to 127.0.0.1:`port`, or -1.
inline int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline void send_all(int fd, const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += size_t(n);
  }
}

// Reads until the peer closes or `seconds` pass without a byte.
inline std::string read_until_close(int fd, double seconds = 5) {
  std::string out;
  char buffer[4096];
  pollfd p{fd, POLLIN, 0};
  while (::poll(&p, 1, int(seconds * 1000)) > 0) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    out.append(buffer, size_t(n));
  }
  return out;
}

// Whether the peer closes the connection within `seconds` (end of file, nothing else sent).
inline bool closed_by_peer(int fd, double seconds = 3) {
  pollfd p{fd, POLLIN, 0};
  char byte;
  return ::poll(&p, 1, int(seconds * 1000)) > 0 && ::recv(fd, &byte, 1, 0) == 0;
}

// Reads one response framed by its Content-Length, keeping what follows in `pending`; "" on
// timeout or close.
inline std::string read_response(int fd, std::string& pending, double seconds = 5) {
  char buffer[4096];
  pollfd p{fd, POLLIN, 0};
  while (true) {
    const size_t head = pending.find("\r\n\r\n");
    const size_t at = pending.find("Content-Length: ");
    if (head != std::string::npos && at != std::string::npos && at < head) {
      const size_t length = std::stoul(pending.substr(at + 16));
      if (pending.size() >= head + 4 + length) {
        std::string one = pending.substr(0, head + 4 + length);
        pending.erase(0, one.size());
        return one;
      }
    }
    if (::poll(&p, 1, int(seconds * 1000)) <= 0) return "";
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return "";
    pending.append(buffer, size_t(n));
  }
}

// One request on a new connection; its answer, or "".
inline std::string exchange(int port, const std::string& request) {
  const int fd = connect_to(port);
  if (fd < 0) return "";
  send_all(fd, request);
  std::string pending;
  std::string r = read_response(fd, pending);
  ::close(fd);
  return r;
}

}  // namespace digitlab::testing
