// HttpServer against real clients: libcurl for ordinary exchanges (keep-alive, gzip both
// ways, chunked bodies, 100-continue) and raw sockets for malformed or HTTP/1.0 requests.
#include "net/http_server.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <chrono>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/metrics.h"
#include "net/gzip.h"
#include "net/http.h"
#include "loopback_socket.h"
#include "status_matchers.h"

namespace kobs::net {
namespace {

using ::kobs::testing::IsOk;
using ::testing::HasSubstr;

struct CurlResult {
  long status = 0;
  std::string body;
  std::string headers;
  long connects = 0;
};

size_t Append(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

// One curl handle per client so connections are reused between calls.
class Client {
 public:
  Client() : curl_(curl_easy_init()) {}
  ~Client() { curl_easy_cleanup(curl_); }

  CurlResult Do(const std::string& url, const std::string* post = nullptr,
                std::vector<std::string> headers = {}, bool decode_gzip = true) {
    CurlResult r;
    curl_easy_reset(curl_);
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, Append);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, Append);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &r.headers);
    if (decode_gzip) curl_easy_setopt(curl_, CURLOPT_ACCEPT_ENCODING, "gzip");
    if (post != nullptr) {
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, post->data());
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(post->size()));
    }
    curl_slist* list = nullptr;
    for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, list);
    CURLcode rc = curl_easy_perform(curl_);
    EXPECT_EQ(rc, CURLE_OK) << curl_easy_strerror(rc);
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_getinfo(curl_, CURLINFO_NUM_CONNECTS, &r.connects);
    curl_slist_free_all(list);
    return r;
  }

 private:
  CURL* curl_;
};

// Sends raw bytes and reads until the server closes (or 2 s pass).
std::string RawExchange(uint16_t port, const std::string& bytes) {
  int fd = kobs::testing::ConnectLoopback(port, std::chrono::seconds(2));
  EXPECT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, n);
  close(fd);
  return out;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServerOptions o;
    o.name = "test";
    o.max_body_bytes = 1 << 20;
    o.worker_threads = 4;
    auto s = HttpServer::Create(o, metrics_);
    ASSERT_THAT(s, IsOk());
    server_ = std::move(*s);
    server_->Route("/echo", [](const Request& rq, ResponseWriter& w) {
      std::string out = rq.method + " " + rq.path + "\n";
      for (const auto& [k, v] : rq.query) out += k + "=" + v + "\n";
      out += "body:" + rq.body;
      Reply(w, 200, "text/plain", out);
    });
    server_->Route("/stream", [](const Request& rq, ResponseWriter& w) {
      if (rq.QueryParam("gzip")) w.EnableCompression();
      w.SetHeader("Content-Type", "text/plain");
      for (int i = 0; i < 3; ++i) {
        if (!w.Write(std::string(10000, static_cast<char>('a' + i))).ok()) return;
      }
    });
    server_->Route("/api/", [](const Request& rq, ResponseWriter& w) {
      Reply(w, 200, "text/plain", "prefix " + rq.path);
    }, /*prefix=*/true);
    server_->Route("/slow", [this](const Request&, ResponseWriter& w) {
      slow_started_ = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(400));
      Reply(w, 200, "text/plain", "done");
    });
    server_->Route("/throw", [](const Request&, ResponseWriter&) {
      throw std::runtime_error("boom");
    });
    server_->Route("/empty", [](const Request&, ResponseWriter& w) { w.SetStatus(204); });
    server_->Route("/detach", [this](const Request&, ResponseWriter& w) {
      w.SetHeader("Content-Type", "text/event-stream");
      w.SetHeader("Content-Length", "5");  // dropped: a stream has no length
      std::shared_ptr<StreamWriter> stream = w.Detach();
      ASSERT_NE(stream, nullptr);
      EXPECT_EQ(w.Detach(), nullptr);
      stream->OnClose([this] { ++stream_ends_; });
      stream->Send(std::make_shared<const std::string>("first\n"));
      std::lock_guard lock(streams_mu_);
      streams_.push_back(std::move(stream));
    });
    ASSERT_THAT(server_->Start(), IsOk());
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }

  MetricsRegistry metrics_;
  std::unique_ptr<HttpServer> server_;
  std::string base_;
  std::atomic<bool> slow_started_{false};
  std::mutex streams_mu_;
  std::vector<std::shared_ptr<StreamWriter>> streams_;
  std::atomic<int> stream_ends_{0};

  // Opens /detach on a raw socket; returns the descriptor once the handler has returned.
  int OpenStream() {
    int fd = kobs::testing::ConnectLoopback(server_->port(), std::chrono::seconds(2));
    const std::string req = "GET /detach HTTP/1.1\r\nHost: x\r\n\r\n";
    EXPECT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
    for (int i = 0; i < 400; ++i) {
      {
        std::lock_guard lock(streams_mu_);
        if (!streams_.empty()) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return fd;
  }
};

// Reads from `fd` until `want` appears in what was read (or 2 s pass).
std::string ReadUntil(int fd, std::string_view want) {
  std::string out;
  char buf[4096];
  while (out.find(want) == std::string::npos) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, n);
  }
  return out;
}

TEST_F(HttpServerTest, RoutesExactPrefixAndUnmatched) {
  Client c;
  auto r = c.Do(base_ + "/echo?a=1&b=x%20y+z&flag");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "GET /echo\na=1\nb=x y z\nflag=\nbody:");
  r = c.Do(base_ + "/api/v1/things");
  EXPECT_EQ(r.body, "prefix /api/v1/things");
  r = c.Do(base_ + "/nothing");
  EXPECT_EQ(r.status, 404);
}

TEST_F(HttpServerTest, KeepsConnectionsAlive) {
  Client c;
  EXPECT_EQ(c.Do(base_ + "/echo").connects, 1);
  for (int i = 0; i < 5; ++i) {
    auto r = c.Do(base_ + "/echo");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.connects, 0) << "request " << i << " opened a new connection";
  }
}

TEST_F(HttpServerTest, StreamsChunkedAndGzipResponses) {
  Client c;
  auto r = c.Do(base_ + "/stream");
  EXPECT_THAT(r.headers, HasSubstr("Transfer-Encoding: chunked"));
  EXPECT_EQ(r.body, std::string(10000, 'a') + std::string(10000, 'b') + std::string(10000, 'c'));
  r = c.Do(base_ + "/stream?gzip=1");
  EXPECT_THAT(r.headers, HasSubstr("Content-Encoding: gzip"));
  EXPECT_EQ(r.body.size(), 30000u);
  // Without Accept-Encoding the handler's request for compression is ignored.
  r = c.Do(base_ + "/stream?gzip=1", nullptr, {}, /*decode_gzip=*/false);
  EXPECT_THAT(r.headers, ::testing::Not(HasSubstr("Content-Encoding")));
  EXPECT_EQ(r.body.size(), 30000u);
}

TEST_F(HttpServerTest, DecodesGzipAndChunkedRequestBodies) {
  Client c;
  std::string gz = Gzip("hello compressed world");
  auto r = c.Do(base_ + "/echo", &gz, {"Content-Encoding: gzip"});
  EXPECT_EQ(r.body, "POST /echo\nbody:hello compressed world");
  std::string plain = "chunked body";
  r = c.Do(base_ + "/echo", &plain, {"Transfer-Encoding: chunked"});
  EXPECT_EQ(r.body, "POST /echo\nbody:chunked body");
  std::string corrupt = "\x1f\x8b not gzip";
  r = c.Do(base_ + "/echo", &corrupt, {"Content-Encoding: gzip"});
  EXPECT_EQ(r.status, 400);
  r = c.Do(base_ + "/echo", &plain, {"Content-Encoding: br"});
  EXPECT_EQ(r.status, 415);
}

TEST_F(HttpServerTest, AnswersExpectContinue) {
  Client c;
  std::string body(200000, 'x');
  auto r = c.Do(base_ + "/echo", &body, {"Expect: 100-continue"});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), std::string("POST /echo\nbody:").size() + body.size());
}

TEST_F(HttpServerTest, RejectsBodiesOverTheLimit) {
  Client c;
  std::string big((1 << 20) + 1, 'x');
  EXPECT_EQ(c.Do(base_ + "/echo", &big).status, 413);
  // A small gzip body that inflates past the limit.
  std::string bomb = Gzip(std::string(4 << 20, '\0'));
  EXPECT_EQ(c.Do(base_ + "/echo", &bomb, {"Content-Encoding: gzip"}).status, 413);
  // The server keeps serving.
  EXPECT_EQ(c.Do(base_ + "/echo").status, 200);
}

TEST_F(HttpServerTest, AnswersMalformedRequestsWith400) {
  std::string out = RawExchange(server_->port(), "GARBAGE\r\n\r\n");
  EXPECT_THAT(out, HasSubstr("HTTP/1.1 400"));
  out = RawExchange(server_->port(), "GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n");
  EXPECT_THAT(out, HasSubstr("HTTP/1.1 400"));
}

TEST_F(HttpServerTest, ServesHttp10WithoutChunking) {
  std::string out = RawExchange(server_->port(), "GET /stream HTTP/1.0\r\n\r\n");
  EXPECT_THAT(out, HasSubstr("HTTP/1.0 200"));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("chunked")));
  EXPECT_THAT(out, HasSubstr(std::string(10000, 'c')));
}

TEST_F(HttpServerTest, HandlerErrorsBecome500AndEmptyHandlersFinish) {
  Client c;
  EXPECT_EQ(c.Do(base_ + "/throw").status, 500);
  auto r = c.Do(base_ + "/empty");
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.body, "");
}

TEST_F(HttpServerTest, CountsRequestsInMetrics) {
  Client c;
  c.Do(base_ + "/echo");
  c.Do(base_ + "/nothing");
  // Requests are counted right after their response is sent: give the server a moment.
  std::string text;
  for (int i = 0; i < 200; ++i) {
    text = metrics_.Render();
    if (text.find("unmatched") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_THAT(text, HasSubstr(
      R"(kobs_http_requests_total{code="200",method="GET",route="/echo",server="test"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(route="unmatched")"));
  EXPECT_THAT(text, HasSubstr("kobs_http_request_duration_seconds_bucket"));
}

TEST_F(HttpServerTest, StopLetsInFlightRequestsFinish) {
  CurlResult slow;
  std::thread t([&] {
    Client c;
    slow = c.Do(base_ + "/slow");
  });
  while (!slow_started_) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Client idle;  // an idle keep-alive connection must not hold Stop up
  idle.Do(base_ + "/echo");
  auto start = std::chrono::steady_clock::now();
  server_->Stop(std::chrono::milliseconds(5000));
  auto took = std::chrono::steady_clock::now() - start;
  t.join();
  EXPECT_EQ(slow.status, 200);
  EXPECT_EQ(slow.body, "done");
  EXPECT_LT(took, std::chrono::milliseconds(3000));
}

TEST_F(HttpServerTest, DetachedStreamOutlivesItsHandler) {
  int fd = OpenStream();
  std::shared_ptr<StreamWriter> stream;
  {
    std::lock_guard lock(streams_mu_);
    ASSERT_EQ(streams_.size(), 1u);
    stream = streams_[0];
  }
  std::string head = ReadUntil(fd, "first\n\r\n");
  EXPECT_THAT(head, HasSubstr("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(head, HasSubstr("Content-Type: text/event-stream\r\n"));
  EXPECT_THAT(head, HasSubstr("Transfer-Encoding: chunked\r\n"));
  EXPECT_THAT(head, ::testing::Not(HasSubstr("Content-Length")));
  EXPECT_THAT(head, HasSubstr("6\r\nfirst\n\r\n"));
  // Sends from another thread, long after the handler returned, arrive in order.
  std::thread([stream] {
    for (int i = 0; i < 100; ++i) stream->Send(std::make_shared<const std::string>("x"));
    stream->Send(std::make_shared<const std::string>("end"));
  }).join();
  std::string rest = ReadUntil(fd, "3\r\nend\r\n");
  EXPECT_EQ(std::count(rest.begin(), rest.end(), 'x'), 100);
  stream->Close();  // the last chunk, then the server closes
  std::string tail = ReadUntil(fd, "never");
  EXPECT_THAT(tail, ::testing::EndsWith("0\r\n\r\n"));
  close(fd);
  for (int i = 0; i < 200 && stream_ends_ == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(stream_ends_, 1);
  EXPECT_TRUE(stream->closed());
  EXPECT_FALSE(stream->Send(std::make_shared<const std::string>("late")));
}

TEST_F(HttpServerTest, DetachedStreamKeepsEveryByteWhenTheSocketIsFull) {
  int fd = OpenStream();
  std::shared_ptr<StreamWriter> stream;
  {
    std::lock_guard lock(streams_mu_);
    stream = streams_[0];
  }
  ReadUntil(fd, "first\n\r\n");
  // The client reads nothing while 8 MiB are sent in pieces of odd sizes: the socket takes
  // part of a piece (written at once), the rest waits in the queue, in order.
  std::string sent;
  for (int i = 0; i < 64; ++i) {
    std::string piece(131'071 + i, static_cast<char>('a' + i % 26));
    piece += std::to_string(i);
    sent += piece;
    ASSERT_TRUE(stream->Send(std::make_shared<const std::string>(std::move(piece))));
  }
  EXPECT_GT(stream->buffered_bytes(), 0u);
  stream->Close();
  std::string raw;
  char buf[65536];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) raw.append(buf, static_cast<size_t>(n));
  close(fd);
  // Undo the chunked framing.
  std::string body;
  for (size_t pos = 0;;) {
    size_t eol = raw.find("\r\n", pos);
    ASSERT_NE(eol, std::string::npos);
    const size_t len = std::stoul(raw.substr(pos, eol - pos), nullptr, 16);
    if (len == 0) break;
    body += raw.substr(eol + 2, len);
    pos = eol + 2 + len + 2;
  }
  EXPECT_EQ(body.size(), sent.size());
  EXPECT_TRUE(body == sent) << "the bytes arrived out of order or changed";
}

TEST_F(HttpServerTest, DetachedStreamEndsWhenTheClientLeavesOrTheServerStops) {
  int fd = OpenStream();
  ReadUntil(fd, "first\n\r\n");
  close(fd);  // the client leaves: OnClose runs
  for (int i = 0; i < 400 && stream_ends_ == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(stream_ends_, 1);
  streams_.clear();
  int fd2 = OpenStream();
  ReadUntil(fd2, "first\n\r\n");
  // An open stream does not hold Stop() for its grace period.
  auto start = std::chrono::steady_clock::now();
  server_->Stop(std::chrono::milliseconds(5000));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2000));
  char buf[64];
  EXPECT_LE(read(fd2, buf, sizeof buf), 0);
  close(fd2);
}

TEST(ParseTargetTest, DecodesPathAndQuery) {
  std::string path;
  std::vector<std::pair<std::string, std::string>> q;
  ParseTarget("/a%20b/c?x=%41%zz&&y=1+2&=v", &path, &q);
  EXPECT_EQ(path, "/a b/c");
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(q[0], std::make_pair(std::string("x"), std::string("A%zz")));
  EXPECT_EQ(q[1], std::make_pair(std::string("y"), std::string("1 2")));
  EXPECT_EQ(q[2], std::make_pair(std::string(""), std::string("v")));
  ParseTarget("http://host:1/p?q", &path, &q);
  EXPECT_EQ(path, "/p");
  ParseTarget("", &path, &q);
  EXPECT_EQ(path, "/");
  EXPECT_EQ(PercentDecode("%", true), "%");
  EXPECT_EQ(PercentDecode("%4", true), "%4");
}

TEST(GzipTest, RoundTripsAndRejectsCorruption) {
  std::string data;
  for (int i = 0; i < 10000; ++i) data += std::to_string(i);
  auto back = Inflate(Gzip(data), 1 << 20);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, data);
  // Two concatenated members decode as one body.
  back = Inflate(Gzip("ab") + Gzip("cd"), 100);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, "abcd");
  std::string gz = Gzip(data);
  EXPECT_FALSE(Inflate(gz.substr(0, gz.size() / 2), 1 << 20).ok());
  EXPECT_TRUE(absl::IsResourceExhausted(Inflate(gz, 100).status()));
  GzipWriter w;
  std::string streamed = w.Compress("part one ", false);
  streamed += w.Compress("part two", true);
  back = Inflate(streamed, 100);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, "part one part two");
}

}  // namespace
}  // namespace kobs::net
