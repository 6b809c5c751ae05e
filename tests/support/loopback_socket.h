// A raw TCP connection to a test server on 127.0.0.1, for tests that speak HTTP byte by byte.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <cstdint>

#include <gtest/gtest.h>

namespace kobs::testing {

// Connects to 127.0.0.1:`port` (a failed connect fails the test). Reads on the descriptor
// give up after `read_timeout`, so a server that never answers cannot hang the test.
inline int ConnectLoopback(uint16_t port, std::chrono::milliseconds read_timeout) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{static_cast<time_t>(read_timeout.count() / 1000),
             static_cast<suseconds_t>(read_timeout.count() % 1000 * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

}  // namespace kobs::testing
