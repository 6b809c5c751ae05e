// The HTTP server: one io_context thread runs the accept loop and one coroutine per
// connection (on its own strand) that reads requests with Beast; handlers run on a worker
// pool, and their output goes back to the connection's strand as async writes. Responses are
// serialized here (not by Beast) so a handler can stream: Content-Length when known, chunked
// otherwise, gzip on request. A connection is a Session<Stream> over a plain tcp_stream or an
// ssl_stream: the request handling is templated on the stream, so both share every line; TLS
// adds only the handshake before and close_notify after (the context is built in
// tls_context.cc).
#include "net/http_server.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <type_traits>
#include <vector>

#include <absl/strings/ascii.h>
#include <absl/strings/match.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <fmt/format.h>

#include "common/absl_compat.h"
#include "common/log.h"
#include "common/metrics.h"
#include "net/gzip.h"
#include "net/tls_context.h"

namespace kobs::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

spdlog::logger& log() { return Logger("http"); }

// Runs `fn` on `pool` and resumes the awaiting coroutine on its own executor afterwards.
template <typename Token>
auto RunOnPool(asio::thread_pool& pool, std::function<void()> fn, Token&& token) {
  return asio::async_initiate<Token, void()>(
      [&pool](auto handler, std::function<void()> f) {
        auto ex = asio::get_associated_executor(handler);
        asio::post(pool, [f = std::move(f), handler = std::move(handler), ex]() mutable {
          f();
          asio::post(ex, std::move(handler));
        });
      },
      token, std::move(fn));
}

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
template <typename Stream>
constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

class StreamImpl;

// A connection as Stop() and the Writer see it, whatever its stream type. Owned by shared_ptr
// (the server's session set, the connection's coroutine and a running handler's Writer).
struct SessionBase : std::enable_shared_from_this<SessionBase> {
  virtual ~SessionBase() = default;
  // Closes the socket on the session's strand (cancels whatever it is waiting for).
  virtual void Close() = 0;
  // Writes `data`, which must stay valid until `done` runs, on the session's strand within
  // `timeout` (zero: no limit). `done` runs on the strand.
  virtual void AsyncWrite(std::string_view data, std::chrono::milliseconds timeout,
                          std::function<void(beast::error_code)> done) = 0;
  // Lets StreamImpl write to the socket from its caller's thread (plain TCP only): sets
  // direct_fd unless the socket is closed already. Any thread.
  virtual void EnableDirectWrites() = 0;

  // Shuts the socket down and closes it, under fd_mu. On the session's strand.
  void CloseSocket(tcp::socket& socket) {
    std::lock_guard lock(fd_mu);
    direct_fd = -1;
    socket_closed = true;
    beast::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  // Writes made outside the strand (StreamImpl) hold fd_mu, and the socket is closed only
  // under it, so such a write never reaches a descriptor number reused by another file.
  std::mutex fd_mu;
  int direct_fd = -1;          // guarded by fd_mu; -1: write through the strand
  bool socket_closed = false;  // guarded by fd_mu

  beast::flat_buffer buffer;
  bool in_request = false;  // guarded by ServerImpl::mu_
  bool closed = false;      // guarded by ServerImpl::mu_
  // Set once by the TLS handshake, before the first request; read-only afterwards.
  bool tls = false;
  internal::PeerIdentity peer;
  // Set when the handler detached the response body (ResponseWriter::Detach).
  std::shared_ptr<StreamImpl> body_stream;
};

template <typename Stream>
struct Session final : SessionBase {
  // `args`: the TLS context for TlsStream.
  template <typename... Args>
  explicit Session(tcp::socket socket, Args&... args) : stream(std::move(socket), args...) {}

  // The TCP layer: timeouts and closing.
  beast::tcp_stream& transport() { return beast::get_lowest_layer(stream); }

  void Close() override {
    asio::post(stream.get_executor(),
               [self = shared_from_this(), this] { CloseSocket(transport().socket()); });
  }

  void EnableDirectWrites() override {
    if constexpr (!kIsTls<Stream>) {
      std::lock_guard lock(fd_mu);
      if (!socket_closed) direct_fd = transport().socket().native_handle();
    }
  }

  void AsyncWrite(std::string_view data, std::chrono::milliseconds timeout,
                  std::function<void(beast::error_code)> done) override {
    asio::post(stream.get_executor(),
               [self = shared_from_this(), this, data, timeout, done = std::move(done)]() mutable {
                 if (timeout.count() > 0) {
                   transport().expires_after(timeout);
                 } else {
                   transport().expires_never();
                 }
                 asio::async_write(stream, asio::buffer(data.data(), data.size()),
                                   [done = std::move(done)](beast::error_code ec, size_t) {
                                     done(ec);
                                   });
               });
  }

  Stream stream;
};

// A detached response body. Sends are queued under a mutex and written in rounds: while one
// async write is in flight, later sends accumulate and go out together in the next one.
class StreamImpl final : public StreamWriter, public std::enable_shared_from_this<StreamImpl> {
 public:
  StreamImpl(std::shared_ptr<SessionBase> session, bool chunked)
      : session_(std::move(session)), chunked_(chunked) {}

  bool Send(std::shared_ptr<const std::string> data) override {
    if (data == nullptr || data->empty()) return !closed();
    return Queue(std::move(data), /*raw=*/false);
  }

  // Queues bytes without chunk framing (the response head, the last chunk).
  bool SendRaw(std::string data) {
    return Queue(std::make_shared<const std::string>(std::move(data)), /*raw=*/true);
  }

  uint64_t buffered_bytes() const override { return buffered_.load(std::memory_order_relaxed); }

  void Close() override {
    std::unique_lock lock(mu_);
    if (closing_ || ended_) return;
    if (chunked_) Enqueue(std::make_shared<const std::string>("0\r\n\r\n"), true);
    closing_ = true;
    if (!writing_) session_->Close();
  }

  void Abort() override {
    std::unique_lock lock(mu_);
    if (ended_) return;
    closing_ = true;
    queue_.clear();
    session_->Close();
  }

  bool closed() const override {
    std::lock_guard lock(mu_);
    return closing_ || ended_;
  }

  void OnClose(std::function<void()> fn) override {
    {
      std::lock_guard lock(mu_);
      if (!ended_) {
        on_close_.push_back(std::move(fn));
        return;
      }
    }
    fn();
  }

  // Called by the session once the connection is finished with.
  void MarkEnded() {
    std::vector<std::function<void()>> callbacks;
    {
      std::lock_guard lock(mu_);
      if (ended_) return;
      ended_ = true;
      closing_ = true;
      queue_.clear();
      callbacks.swap(on_close_);
    }
    for (auto& fn : callbacks) fn();
  }

 private:
  bool Queue(std::shared_ptr<const std::string> data, bool raw) {
    std::lock_guard lock(mu_);
    if (closing_ || ended_) return false;
    if (!writing_ && queue_.empty()) return WriteNow(std::move(data), raw);
    Enqueue(std::move(data), raw);
    return true;
  }

  // With nothing queued ahead, writes `data` from the calling thread without waiting: a
  // fan-out to thousands of streams then costs one system call per stream, not a hop through
  // the strand. What the socket does not take is queued for the strand. Requires mu_.
  bool WriteNow(std::shared_ptr<const std::string> data, bool raw) {
    const bool framed = chunked_ && !raw;
    char head[24];
    iovec iov[3];
    int parts = 0;
    if (framed) {
      const auto end = fmt::format_to_n(head, sizeof head, "{:x}\r\n", data->size()).out;
      iov[parts++] = {head, static_cast<size_t>(end - head)};
    }
    iov[parts++] = {const_cast<char*>(data->data()), data->size()};
    if (framed) iov[parts++] = {const_cast<char*>("\r\n"), 2};
    size_t total = 0;
    for (int i = 0; i < parts; ++i) total += iov[i].iov_len;
    ssize_t n = -1;
    int err = EAGAIN;
    {
      std::lock_guard fd_lock(session_->fd_mu);
      if (session_->direct_fd >= 0) {
        msghdr msg{};
        msg.msg_iov = iov;
        msg.msg_iovlen = static_cast<size_t>(parts);
        n = sendmsg(session_->direct_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        err = errno;
      }
    }
    if (n == static_cast<ssize_t>(total)) return true;
    if (n < 0 && err != EAGAIN && err != EWOULDBLOCK && err != EINTR) {
      closing_ = true;  // the peer is gone; the session's read sees it too
      session_->Close();
      return false;
    }
    if (n <= 0) {
      Enqueue(std::move(data), raw);
      return true;
    }
    // A partial write: the rest of the framed bytes go out through the strand.
    std::string rest;
    rest.reserve(total - static_cast<size_t>(n));
    size_t skip = static_cast<size_t>(n);
    for (int i = 0; i < parts; ++i) {
      const size_t len = iov[i].iov_len;
      if (skip >= len) {
        skip -= len;
        continue;
      }
      rest.append(static_cast<const char*>(iov[i].iov_base) + skip, len - skip);
      skip = 0;
    }
    Enqueue(std::make_shared<const std::string>(std::move(rest)), /*raw=*/true);
    return true;
  }

  void Enqueue(std::shared_ptr<const std::string> data, bool raw) {
    buffered_.fetch_add(data->size(), std::memory_order_relaxed);
    queue_.emplace_back(std::move(data), raw);
    if (!writing_) StartRound();
  }

  // Requires mu_ and !writing_ and a non-empty queue.
  void StartRound() {
    writing_ = true;
    out_.clear();
    round_bytes_ = 0;
    for (const auto& [data, raw] : queue_) {
      round_bytes_ += data->size();
      if (chunked_ && !raw) out_ += fmt::format("{:x}\r\n", data->size());
      out_.append(*data);
      if (chunked_ && !raw) out_ += "\r\n";
    }
    queue_.clear();
    session_->AsyncWrite(out_, std::chrono::milliseconds(0),
                         [self = shared_from_this()](beast::error_code ec) { self->Written(ec); });
  }

  void Written(beast::error_code ec) {
    std::lock_guard lock(mu_);
    buffered_.fetch_sub(round_bytes_, std::memory_order_relaxed);
    writing_ = false;
    if (ec) {
      closing_ = true;
      queue_.clear();
      session_->Close();
    } else if (!queue_.empty()) {
      StartRound();
    } else if (closing_) {
      session_->Close();
    }
  }

  const std::shared_ptr<SessionBase> session_;
  const bool chunked_;
  std::atomic<uint64_t> buffered_{0};
  mutable std::mutex mu_;
  std::deque<std::pair<std::shared_ptr<const std::string>, bool>> queue_;
  std::string out_;  // the round being written; untouched while writing_
  uint64_t round_bytes_ = 0;
  bool writing_ = false;
  bool closing_ = false;
  bool ended_ = false;
  std::vector<std::function<void()>> on_close_;
};

// ResponseWriter over a session: called from a worker thread while the session's coroutine
// waits for the handler, so nothing else touches the socket meanwhile.
class Writer : public ResponseWriter {
 public:
  Writer(std::shared_ptr<SessionBase> session, const Request& request, std::chrono::milliseconds
         write_timeout, bool head_only, int http_version)
      : session_(std::move(session)),
        write_timeout_(write_timeout),
        head_only_(head_only),
        http10_(http_version == 10) {
    auto ae = request.headers.Get("accept-encoding");
    accepts_gzip_ = ae.has_value() && absl::AsciiStrToLower(std::string(*ae)).find("gzip") != std::string::npos;
  }

  void SetStatus(int status) override {
    if (!committed_) status_ = status;
  }
  void SetHeader(std::string_view name, std::string_view value) override {
    if (committed_) return;
    std::string lower = absl::AsciiStrToLower(std::string(name));
    for (auto& h : headers_) {
      if (absl::AsciiStrToLower(h.first) == lower) {
        h.second = std::string(value);
        return;
      }
    }
    headers_.emplace_back(std::string(name), std::string(value));
  }
  void EnableCompression() override {
    if (!committed_ && accepts_gzip_) compress_ = true;
  }

  absl::Status Write(std::string_view data) override {
    if (finished_) return absl::FailedPreconditionError("response already finished");
    std::string out;
    if (!committed_) out = Head();
    if (head_only_) return out.empty() ? absl::OkStatus() : Send(std::move(out));
    std::string compressed;
    if (gzip_ != nullptr) {
      compressed = gzip_->Compress(data, false);
      data = compressed;
    }
    body_bytes_ += data.size();
    if (chunked_) {
      if (!data.empty()) {
        out += fmt::format("{:x}\r\n", data.size());
        out.append(data);
        out += "\r\n";
      }
    } else {
      out.append(data);
    }
    if (out.empty()) return absl::OkStatus();
    return Send(std::move(out));
  }

  absl::Status Finish() override {
    if (finished_) return io_status_;
    if (!committed_ && !HasHeader("content-length") && !compress_) {
      SetHeader("Content-Length", "0");
    }
    std::string out;
    if (!committed_) out = Head();
    if (!head_only_) {
      if (gzip_ != nullptr) {
        std::string tail = gzip_->Compress({}, true);
        body_bytes_ += tail.size();
        if (!tail.empty()) out += fmt::format("{:x}\r\n{}\r\n", tail.size(), tail);
      }
      if (chunked_) out += "0\r\n\r\n";
      if (content_length_ >= 0 && body_bytes_ != static_cast<uint64_t>(content_length_)) {
        // The handler promised a length it did not deliver: the framing is broken.
        keep_alive_ = false;
        Log(log(), spdlog::level::warn, "handler broke its Content-Length",
            {{"written", std::to_string(body_bytes_)},
             {"content_length", std::to_string(content_length_)}});
      }
    }
    finished_ = true;
    if (!out.empty()) (void)Send(std::move(out));
    return io_status_;
  }

  bool committed() const override { return committed_; }
  int status() const override { return status_; }

  std::shared_ptr<StreamWriter> Detach() override {
    if (committed_ || finished_ || head_only_) return nullptr;
    compress_ = false;
    headers_.erase(std::remove_if(headers_.begin(), headers_.end(),
                                  [](const auto& h) {
                                    return absl::EqualsIgnoreCase(h.first, "content-length");
                                  }),
                   headers_.end());
    std::string head = Head();
    finished_ = true;
    keep_alive_ = false;
    auto stream = std::make_shared<StreamImpl>(session_, chunked_);
    session_->EnableDirectWrites();
    stream->SendRaw(std::move(head));
    session_->body_stream = stream;
    return stream;
  }

  // Whether the connection can carry another request after this response.
  bool reusable() const { return keep_alive_ && finished_ && io_status_.ok(); }
  void set_keep_alive(bool k) { keep_alive_ = k; }
  uint64_t body_bytes() const { return body_bytes_; }

 private:
  bool HasHeader(std::string_view lower) const {
    for (const auto& h : headers_) {
      if (absl::EqualsIgnoreCase(h.first, ToAbsl(lower))) return true;
    }
    return false;
  }

  // Commits status and headers and picks the framing.
  std::string Head() {
    committed_ = true;
    if (compress_) {
      headers_.erase(std::remove_if(headers_.begin(), headers_.end(),
                                    [](const auto& h) {
                                      return absl::EqualsIgnoreCase(h.first, "content-length");
                                    }),
                     headers_.end());
      headers_.emplace_back("Content-Encoding", "gzip");
      headers_.emplace_back("Vary", "Accept-Encoding");
      gzip_ = std::make_unique<GzipWriter>();
    }
    for (const auto& h : headers_) {
      if (absl::EqualsIgnoreCase(h.first, "content-length")) {
        content_length_ = std::strtoll(h.second.c_str(), nullptr, 10);
      }
    }
    if (content_length_ < 0 && !head_only_) {
      if (http10_) {
        keep_alive_ = false;  // HTTP/1.0 has no chunked encoding: the body ends at close
      } else {
        chunked_ = true;
      }
    }
    std::string out = fmt::format(
        "HTTP/1.{} {} {}\r\n", http10_ ? 0 : 1, status_,
        std::string_view(bhttp::obsolete_reason(bhttp::int_to_status(status_))));
    for (const auto& [name, value] : headers_) {
      // CR/LF in a header value would let a handler's input split the response.
      if (value.find_first_of("\r\n") != std::string::npos) continue;
      out += fmt::format("{}: {}\r\n", name, value);
    }
    if (chunked_) out += "Transfer-Encoding: chunked\r\n";
    out += keep_alive_ ? (http10_ ? "Connection: keep-alive\r\n" : "") : "Connection: close\r\n";
    out += "\r\n";
    return out;
  }

  absl::Status Send(std::string out) {
    if (!io_status_.ok()) return io_status_;
    std::promise<beast::error_code> done;
    std::future<beast::error_code> result = done.get_future();
    session_->AsyncWrite(out, write_timeout_,
                         [&done](beast::error_code ec) { done.set_value(ec); });
    beast::error_code ec = result.get();
    if (ec) {
      keep_alive_ = false;
      io_status_ = absl::UnavailableError(fmt::format("client connection lost: {}", ec.message()));
    }
    return io_status_;
  }

  std::shared_ptr<SessionBase> session_;
  const std::chrono::milliseconds write_timeout_;
  const bool head_only_;
  const bool http10_;
  bool accepts_gzip_ = false;
  int status_ = 200;
  std::vector<std::pair<std::string, std::string>> headers_;
  bool compress_ = false;
  bool committed_ = false;
  bool finished_ = false;
  bool chunked_ = false;
  bool keep_alive_ = true;
  int64_t content_length_ = -1;
  uint64_t body_bytes_ = 0;
  std::unique_ptr<GzipWriter> gzip_;
  absl::Status io_status_;
};

std::string RemoteAddress(const tcp::socket& socket, bool* loopback) {
  beast::error_code ec;
  tcp::endpoint ep = socket.remote_endpoint(ec);
  if (ec) return "";
  asio::ip::address a = ep.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  }
  *loopback = a.is_loopback();
  return a.to_string();
}

class ServerImpl : public HttpServer {
 public:
  // `tls`: the HTTPS context, or null for plain HTTP.
  ServerImpl(HttpServerOptions options, MetricsRegistry& metrics,
             std::unique_ptr<asio::ssl::context> tls)
      : options_(std::move(options)),
        metrics_(metrics),
        tls_(std::move(tls)),
        handshake_timeout_(std::min<std::chrono::milliseconds>(options_.idle_timeout,
                                                               kMaxHandshakeTime)),
        acceptor_(ioc_),
        pool_(std::max(1, options_.worker_threads)),
        connections_(metrics.GetGauge("kobs_http_connections", "Open HTTP connections.",
                                      {{"server", options_.name}})),
        in_flight_(metrics.GetGauge("kobs_http_requests_in_flight",
                                    "HTTP requests being handled.", {{"server", options_.name}})) {}

  ~ServerImpl() override { Stop(std::chrono::milliseconds(0)); }

  absl::Status Bind() {
    beast::error_code ec;
    asio::ip::address address = asio::ip::make_address(options_.host, ec);
    if (ec) {
      tcp::resolver resolver(ioc_);
      auto results = resolver.resolve(options_.host, "", ec);
      if (ec || results.empty()) {
        return absl::InvalidArgumentError(
            fmt::format("{}: cannot resolve listen host '{}'", options_.name, options_.host));
      }
      address = results.begin()->endpoint().address();
    }
    tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(fmt::format("{}: cannot listen on {}:{}: {}", options_.name,
                                                options_.host, options_.port, ec.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    return absl::OkStatus();
  }

  void Route(std::string path, Handler handler, bool prefix) override {
    routes_[path] = RouteEntry{path, std::move(handler), prefix};
  }

  absl::Status Start() override {
    std::lock_guard lock(mu_);
    if (started_) return absl::FailedPreconditionError("server already started");
    started_ = true;
    asio::co_spawn(ioc_, Accept(), asio::detached);
    io_thread_ = std::thread([this] { ioc_.run(); });
    return absl::OkStatus();
  }

  void Stop(std::chrono::milliseconds grace) override {
    std::unique_lock lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_ = true;
    if (!started_) return;
    asio::post(ioc_, [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
    });
    for (const auto& s : sessions_) {
      if (!s->in_request) s->Close();
    }
    const auto deadline = std::chrono::steady_clock::now() + grace;
    if (!idle_.wait_until(lock, deadline, [this] { return active_requests_ == 0; })) {
      Log(log(), spdlog::level::warn, "requests still running after the grace period; closing",
          {{"server", options_.name}, {"requests", std::to_string(active_requests_)},
           {"grace_ms", std::to_string(grace.count())}});
    }
    for (const auto& s : sessions_) s->Close();
    lock.unlock();
    pool_.join();  // handlers finish (their writes fail once the sockets are closed)
    work_.reset();
    ioc_.stop();
    if (io_thread_.joinable()) io_thread_.join();
  }

  uint16_t port() const override { return port_; }

 private:
  static constexpr std::chrono::milliseconds kMaxHandshakeTime{10'000};
  // How long to wait for the client's close_notify after sending ours.
  static constexpr std::chrono::milliseconds kTlsShutdownTime{1'000};

  struct RouteEntry {
    std::string path;
    Handler handler;
    bool prefix = false;
  };

  const RouteEntry* Match(const std::string& path) const {
    auto it = routes_.find(path);
    if (it != routes_.end()) return &it->second;
    const RouteEntry* best = nullptr;
    for (const auto& [p, r] : routes_) {
      if (r.prefix && absl::StartsWith(path, p) && (best == nullptr || p.size() > best->path.size())) {
        best = &r;
      }
    }
    return best;
  }

  asio::awaitable<void> Accept() {
    for (;;) {
      beast::error_code ec;
      tcp::socket socket = co_await acceptor_.async_accept(
          asio::make_strand(ioc_), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
        // Out of descriptors or similar: back off briefly instead of spinning.
        Log(log(), spdlog::level::warn, "accept failed",
            {{"server", options_.name}, {"error", ec.message()}});
        asio::steady_timer t(ioc_, std::chrono::milliseconds(50));
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      // Responses go out whole, and streams as they come: never wait for the peer's delayed
      // ACK before sending the next small write (Nagle), which costs a stream up to 40 ms.
      beast::error_code nodelay_ec;
      socket.set_option(tcp::no_delay(true), nodelay_ec);
      if (tls_ != nullptr) {
        Launch(std::make_shared<Session<TlsStream>>(std::move(socket), *tls_));
      } else {
        Launch(std::make_shared<Session<PlainStream>>(std::move(socket)));
      }
    }
  }

  template <typename Stream>
  void Launch(std::shared_ptr<Session<Stream>> session) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;  // the socket closes with the session
      sessions_.insert(session);
    }
    connections_.Add(1);
    auto executor = session->stream.get_executor();
    asio::co_spawn(executor, Serve(std::move(session)), asio::detached);
  }

  // Answers a request that never reaches a handler (bad framing, too large, ...), then closes.
  template <typename Stream>
  asio::awaitable<void> Reject(Session<Stream>& s, int status, std::string_view message,
                               const bhttp::fields* request_headers = nullptr) {
    std::string body = std::string(message) + "\n";
    std::string type = "text/plain; charset=utf-8";
    if (request_headers != nullptr && options_.error_body) {
      Headers headers;
      for (const auto& f : *request_headers) {
        headers.Add(std::string_view(f.name_string()), std::string_view(f.value()));
      }
      options_.error_body(status, message, headers, &type, &body);
    }
    std::string out = fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
        "Connection: close\r\n\r\n{}",
        status, std::string_view(bhttp::obsolete_reason(bhttp::int_to_status(status))), type,
        body.size(), body);
    beast::error_code ec;
    s.transport().expires_after(options_.idle_timeout);
    co_await asio::async_write(s.stream, asio::buffer(out),
                               asio::redirect_error(asio::use_awaitable, ec));
    Count("none", "-", status);
  }

  void Count(const std::string& route, const std::string& method, int status) {
    metrics_
        .GetCounter("kobs_http_requests_total", "HTTP requests by server, route, method, status.",
                    {{"server", options_.name},
                     {"route", route},
                     {"method", method},
                     {"code", std::to_string(status)}})
        .Inc();
  }

  template <typename Stream>
  asio::awaitable<void> Serve(std::shared_ptr<Session<Stream>> s) {
    bool open = true;
    if constexpr (kIsTls<Stream>) open = co_await Handshake(*s);
    if (open) co_await ServeRequests(s);
    if constexpr (kIsTls<Stream>) {
      if (open) co_await ShutdownTls(*s);
    }
    s->CloseSocket(s->transport().socket());
    {
      std::lock_guard lock(mu_);
      sessions_.erase(s);
    }
    connections_.Add(-1);
  }

  void CountHandshakeFailure(std::string_view reason, const beast::error_code& ec) {
    metrics_
        .GetCounter("kobs_http_tls_handshake_failures_total",
                    "TLS connections closed before the handshake completed, by reason.",
                    {{"server", options_.name}, {"reason", std::string(reason)}})
        .Inc();
    Log(log(), spdlog::level::debug, "TLS handshake failed",
        {{"server", options_.name}, {"reason", reason}, {"error", ec.message()}});
  }

  // Reads the first bytes (a plain-HTTP request gets a plain-text 400, as from Go's net/http)
  // and completes the TLS handshake within handshake_timeout_. Returns whether it succeeded.
  asio::awaitable<bool> Handshake(Session<TlsStream>& s) {
    beast::error_code ec;
    s.transport().expires_after(handshake_timeout_);
    const bool is_tls = co_await beast::async_detect_ssl(
        s.transport(), s.buffer, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && !is_tls) {
      static constexpr std::string_view kMessage =
          "client sent an HTTP request to an HTTPS server\n";
      static const std::string kPlainHttp = fmt::format(
          "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
          "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
          kMessage.size(), kMessage);
      co_await asio::async_write(s.transport(), asio::buffer(kPlainHttp),
                                 asio::redirect_error(asio::use_awaitable, ec));
      CountHandshakeFailure("plaintext", ec);
      co_return false;
    }
    size_t used = 0;
    if (!ec) {
      used = co_await s.stream.async_handshake(asio::ssl::stream_base::server, s.buffer.data(),
                                               asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec == asio::error::operation_aborted) co_return false;  // Stop() closed the socket
    if (ec) {
      const bool closed = ec == asio::error::eof || ec == asio::error::connection_reset ||
                          ec == asio::ssl::error::stream_truncated;
      CountHandshakeFailure(ec == beast::error::timeout ? "timeout" : closed ? "closed" : "failed",
                            ec);
      co_return false;
    }
    s.buffer.consume(used);
    s.tls = true;
    s.peer = internal::VerifiedPeerIdentity(s.stream.native_handle());
    co_return true;
  }

  // Sends close_notify and waits briefly for the client's, so that a client reading to the end
  // of the connection (HTTP/1.0) can tell a complete response from a truncated one.
  asio::awaitable<void> ShutdownTls(Session<TlsStream>& s) {
    beast::error_code ignored;
    s.transport().expires_after(kTlsShutdownTime);
    co_await s.stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ignored));
  }

  // Serves requests until the connection cannot carry another one.
  template <typename Stream>
  asio::awaitable<void> ServeRequests(std::shared_ptr<Session<Stream>> s) {
    bool loopback = false;
    const std::string remote = RemoteAddress(s->transport().socket(), &loopback);
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(64 * 1024);
      parser.body_limit(options_.max_body_bytes);
      beast::error_code ec;
      s->transport().expires_after(options_.idle_timeout);
      co_await bhttp::async_read_header(s->stream, s->buffer, parser,
                                        asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == bhttp::error::header_limit) {
          co_await Reject(*s, 431, "request header fields too large");
        } else if (ec == bhttp::error::body_limit) {  // Content-Length over the limit
          co_await Reject(*s, 413, fmt::format("request body exceeds the limit of {} bytes",
                                               options_.max_body_bytes), &parser.get());
        } else if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
                   ec != bhttp::error::end_of_stream) {
          co_await Reject(*s, 400, fmt::format("malformed HTTP request: {}", ec.message()));
        }
        break;
      }
      {
        std::lock_guard lock(mu_);
        if (stopping_) break;
        s->in_request = true;
        ++active_requests_;
      }
      in_flight_.Add(1);
      bool reusable = co_await Exchange(s, parser, remote, loopback);
      in_flight_.Add(-1);
      {
        std::lock_guard lock(mu_);
        s->in_request = false;
        --active_requests_;
        if (stopping_) reusable = false;
      }
      idle_.notify_all();
      if (s->body_stream != nullptr) {
        co_await AwaitStreamEnd(*s);
        break;
      }
      if (!reusable) break;
    }
  }

  // Holds a detached response's connection open until the client leaves or the stream is
  // closed (which closes the socket). A client sends nothing on such a connection; what it
  // sends anyway is discarded.
  template <typename Stream>
  asio::awaitable<void> AwaitStreamEnd(Session<Stream>& s) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) s.Close();
    }
    std::array<char, 512> discard;
    for (;;) {
      beast::error_code ec;
      co_await s.stream.async_read_some(asio::buffer(discard),
                                        asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
    }
    s.body_stream->MarkEnded();
    s.body_stream.reset();  // the stream holds the session: break the cycle
  }

  // Reads the body of a request whose header is in `parser`, runs the handler and writes the
  // response. Returns whether the connection can carry another request.
  template <typename Stream>
  asio::awaitable<bool> Exchange(std::shared_ptr<Session<Stream>> s,
                                 bhttp::request_parser<bhttp::string_body>& parser,
                                 const std::string& remote, bool loopback) {
    const auto start = std::chrono::steady_clock::now();
    auto& header = parser.get();
    beast::error_code ec;
    if (auto len = parser.content_length(); len && *len > options_.max_body_bytes) {
      co_await Reject(*s, 413, fmt::format("request body of {} bytes exceeds the limit of {}",
                                           *len, options_.max_body_bytes), &header);
      co_return false;
    }
    if (absl::EqualsIgnoreCase(ToAbsl(header[bhttp::field::expect]), "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      co_await asio::async_write(s->stream, asio::buffer(kContinue),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return false;
    }
    if (!parser.is_done()) {
      s->transport().expires_after(options_.idle_timeout);
      co_await bhttp::async_read(s->stream, s->buffer, parser,
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec == bhttp::error::body_limit) {
        co_await Reject(*s, 413, fmt::format("request body exceeds the limit of {} bytes",
                                             options_.max_body_bytes), &header);
        co_return false;
      }
      if (ec) {
        if (ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category()) {
          co_await Reject(*s, 400, fmt::format("malformed HTTP request body: {}", ec.message()));
        }
        co_return false;
      }
    }
    s->transport().expires_never();

    Request request;
    request.method = std::string(header.method_string());
    request.target = std::string(header.target());
    ParseTarget(request.target, &request.path, &request.query);
    for (const auto& field : header) {
      request.headers.Add(std::string_view(field.name_string()), std::string_view(field.value()));
    }
    request.body = std::move(header.body());
    request.remote_address = remote;
    request.remote_is_loopback = loopback;
    request.tls = s->tls;
    request.client_cert_verified = s->peer.verified;
    request.client_cert_cn = s->peer.common_name;
    request.client_cert_orgs = s->peer.organizations;
    const bool keep_alive = header.keep_alive();
    const int version = header.version();

    if (auto encoding = request.headers.Get("content-encoding")) {
      std::string e = absl::AsciiStrToLower(std::string(*encoding));
      if (e == "gzip" || e == "x-gzip" || e == "deflate") {
        auto inflated = Inflate(request.body, options_.max_body_bytes);
        if (!inflated.ok()) {
          bool too_big = absl::IsResourceExhausted(inflated.status());
          co_await Reject(*s, too_big ? 413 : 400, ToStd(inflated.status().message()), &header);
          co_return false;
        }
        request.body = std::move(*inflated);
        Headers rest;
        for (const auto& [k, v] : request.headers.all()) {
          if (k != "content-encoding") rest.Add(k, v);
        }
        request.headers = std::move(rest);
      } else if (e != "identity" && !e.empty()) {
        co_await Reject(*s, 415, fmt::format("unsupported Content-Encoding '{}' (gzip, deflate "
                                             "and identity are)", e), &header);
        co_return false;
      }
    }

    const RouteEntry* route = Match(request.path);
    Writer writer(s, request, options_.idle_timeout, request.method == "HEAD", version);
    writer.set_keep_alive(keep_alive);
    co_await RunOnPool(
        pool_,
        [&] {
          try {
            if (route == nullptr) {
              Reply(writer, 404, "text/plain; charset=utf-8",
                    fmt::format("no handler for {}\n", request.path));
            } else {
              route->handler(request, writer);
            }
            (void)writer.Finish();
          } catch (const std::exception& e) {
            Log(log(), spdlog::level::err, "handler threw",
                {{"method", request.method}, {"path", request.path}, {"error", e.what()}});
            if (!writer.committed()) {
              Reply(writer, 500, "text/plain; charset=utf-8", "internal error\n");
            } else {
              writer.set_keep_alive(false);
              (void)writer.Finish();
            }
          }
        },
        asio::use_awaitable);
    const std::string route_name = route == nullptr ? "unmatched" : route->path;
    Count(route_name, request.method, writer.status());
    metrics_
        .GetHistogram("kobs_http_request_duration_seconds",
                      "Time from request header to the end of the response.",
                      {{"server", options_.name}, {"route", route_name}})
        .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    co_return writer.reusable();
  }

  const HttpServerOptions options_;
  MetricsRegistry& metrics_;
  const std::unique_ptr<asio::ssl::context> tls_;
  const std::chrono::milliseconds handshake_timeout_;
  asio::io_context ioc_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(ioc_);
  tcp::acceptor acceptor_;
  asio::thread_pool pool_;
  std::thread io_thread_;
  std::map<std::string, RouteEntry> routes_;
  uint16_t port_ = 0;
  Gauge& connections_;
  Gauge& in_flight_;

  std::mutex mu_;
  std::condition_variable idle_;
  bool started_ = false;
  bool stopping_ = false;
  bool stopped_ = false;
  int active_requests_ = 0;
  std::set<std::shared_ptr<SessionBase>> sessions_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(HttpServerOptions options,
                                                              MetricsRegistry& metrics) {
  std::unique_ptr<asio::ssl::context> tls;
  if (!options.tls_cert_pem.empty() || !options.tls_key_pem.empty() ||
      !options.tls_client_ca_pem.empty()) {
    auto ctx = internal::MakeServerTlsContext(options.tls_cert_pem, options.tls_key_pem,
                                              options.tls_client_ca_pem);
    if (!ctx.ok()) {
      return absl::Status(ctx.status().code(),
                          fmt::format("{}: {}", options.name, ctx.status().message()));
    }
    tls = std::make_unique<asio::ssl::context>(ctx->release());  // takes ownership
  }
  auto server = std::make_unique<ServerImpl>(std::move(options), metrics, std::move(tls));
  if (absl::Status s = server->Bind(); !s.ok()) return s;
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace kobs::net
