// The OTLP receivers over real sockets: OTLP/HTTP through libcurl and OTLP/gRPC through the
// generated grpc++ stubs, in front of an Ingest whose row sink the test controls (accept,
// memory full, store down). Checks status codes, response bodies in the request's encoding,
// Retry-After / RetryInfo, auth, size limits, gzip and chunked bodies.
#include <curl/curl.h>
#include <grpcpp/grpcpp.h>

#include <strings.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/metrics.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "net/gzip.h"
#include "net/http_server.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.grpc.pb.h"
#include "otlp/grpc_receiver.h"
#include "otlp/http_receiver.h"
#include "otlp/json.h"
#include "status_matchers.h"

namespace kobs::otlp {
namespace {

using ::kobs::testing::IsOk;
using ::testing::HasSubstr;
namespace logs_v1 = ::opentelemetry::proto::collector::logs::v1;

struct HttpResult {
  long status = 0;
  std::string content_type;
  std::string retry_after;
  std::string body;
};

size_t Append(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

size_t Header(char* p, size_t size, size_t n, void* out) {
  std::string line(p, size * n);
  auto* r = static_cast<HttpResult*>(out);
  auto value = [&](const char* name) -> std::string* {
    if (strncasecmp(line.c_str(), name, strlen(name)) != 0) return nullptr;
    return name[0] == 'C' ? &r->content_type : &r->retry_after;
  };
  for (const char* name : {"Content-Type: ", "Retry-After: "}) {
    if (std::string* v = value(name)) *v = line.substr(strlen(name), line.find('\r') - strlen(name));
  }
  return size * n;
}

struct Upload {
  std::string_view data;
  size_t pos = 0;
};

size_t ReadChunk(char* p, size_t size, size_t n, void* in) {
  auto* u = static_cast<Upload*>(in);
  size_t k = std::min({size * n, u->data.size() - u->pos, size_t{7}});  // small chunks
  memcpy(p, u->data.data() + u->pos, k);
  u->pos += k;
  return k;
}

std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}

logs_v1::ExportLogsServiceRequest OneLog(const std::string& trace_id = "") {
  logs_v1::ExportLogsServiceRequest req;
  auto* r = req.add_resource_logs()->add_scope_logs()->add_log_records();
  r->set_time_unix_nano(1);
  r->mutable_body()->set_string_value("hello");
  if (!trace_id.empty()) r->set_trace_id(trace_id);
  return req;
}

class ReceiverTest : public ::testing::Test {
 protected:
  void SetUp() override { curl_global_init(CURL_GLOBAL_DEFAULT); }

  void Start(ReceiverOptions o) {
    o.http_listen = "127.0.0.1:0";
    o.grpc_listen = "127.0.0.1:0";
    ingest_ = std::make_unique<Ingest>(
        [this](Decoded& d) {
          if (!sink_status_.ok()) return sink_status_;
          rows_ += d.total_rows();
          return absl::OkStatus();
        },
        metrics_);
    receiver_ = std::make_unique<HttpReceiver>(*ingest_, o);
    net::HttpServerOptions so;
    so.name = "otlp";
    so.max_body_bytes = o.max_request_bytes;
    so.error_body = OtlpErrorBody;
    auto server = net::HttpServer::Create(so, metrics_);
    ASSERT_THAT(server, IsOk());
    http_ = std::move(*server);
    receiver_->Register(*http_);
    ASSERT_THAT(http_->Start(), IsOk());
    auto g = GrpcReceiver::Start(*ingest_, o);
    ASSERT_THAT(g, IsOk());
    grpc_ = std::move(*g);
  }

  void TearDown() override {
    if (grpc_) grpc_->Stop(std::chrono::milliseconds(100));
    if (http_) http_->Stop(std::chrono::milliseconds(100));
  }

  HttpResult Post(const std::string& path, const std::string& content_type, std::string body,
                  std::vector<std::string> headers = {}, bool chunked = false) {
    HttpResult r;
    CURL* c = curl_easy_init();
    std::string url = fmt::format("http://127.0.0.1:{}{}", http_->port(), path);
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    Upload up{body};
    if (chunked) {
      headers.push_back("Transfer-Encoding: chunked");
      curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadChunk);
      curl_easy_setopt(c, CURLOPT_READDATA, &up);
    } else {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    }
    headers.push_back("Content-Type: " + content_type);
    curl_slist* list = nullptr;
    for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, Header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    EXPECT_EQ(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(list);
    curl_easy_cleanup(c);
    return r;
  }

  std::unique_ptr<logs_v1::LogsService::Stub> Stub() {
    auto channel = grpc::CreateChannel(fmt::format("127.0.0.1:{}", grpc_->port()),
                                       grpc::InsecureChannelCredentials());
    return logs_v1::LogsService::NewStub(channel);
  }

  MetricsRegistry metrics_;
  absl::Status sink_status_;
  std::atomic<uint64_t> rows_{0};
  std::unique_ptr<Ingest> ingest_;
  std::unique_ptr<HttpReceiver> receiver_;
  std::unique_ptr<net::HttpServer> http_;
  std::unique_ptr<GrpcReceiver> grpc_;
};

constexpr char kProto[] = "application/x-protobuf";
constexpr char kJson[] = "application/json";

TEST_F(ReceiverTest, HttpProtobufJsonGzipAndChunkedBodies) {
  Start({});
  auto r = Post("/v1/logs", kProto, OneLog().SerializeAsString());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, kProto);
  logs_v1::ExportLogsServiceResponse resp;
  EXPECT_TRUE(resp.ParseFromString(r.body));
  EXPECT_FALSE(resp.has_partial_success());

  r = Post("/v1/logs", kJson, R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[
        {"timeUnixNano":"1","body":{"stringValue":"a"}},
        {"timeUnixNano":"2","traceId":"abcd","body":{"stringValue":"b"}}]}]}]})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, kJson);
  EXPECT_THAT(r.body, HasSubstr(R"("rejectedLogRecords":"1")"));

  r = Post("/v1/logs", kProto, net::Gzip(OneLog().SerializeAsString()),
           {"Content-Encoding: gzip"});
  EXPECT_EQ(r.status, 200);
  r = Post("/v1/logs", kProto, OneLog().SerializeAsString(), {}, /*chunked=*/true);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(rows_, 4u);
}

TEST_F(ReceiverTest, HttpErrorsComeAsStatusInTheRequestEncoding) {
  ReceiverOptions o;
  o.max_request_bytes = 4096;
  Start(o);
  auto r = Post("/v1/traces", kProto, "\xff\xff\xff garbage");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.content_type, kProto);
  google::rpc::Status st;
  ASSERT_TRUE(st.ParseFromString(r.body));
  EXPECT_EQ(st.code(), 3);  // INVALID_ARGUMENT
  EXPECT_FALSE(st.message().empty());

  r = Post("/v1/metrics", kJson, R"({"resourceMetrics": [)");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.content_type, kJson);
  EXPECT_THAT(r.body, HasSubstr(R"("code":3)"));

  r = Post("/v1/logs", "text/plain", "hello");
  EXPECT_EQ(r.status, 415);

  r = Post("/v1/logs", kProto, std::string(8192, 'x'));
  EXPECT_EQ(r.status, 413);
  EXPECT_TRUE(st.ParseFromString(r.body));
  // Over the limit only after decompression: still 413.
  r = Post("/v1/logs", kProto, net::Gzip(std::string(100000, 'x')), {"Content-Encoding: gzip"});
  EXPECT_EQ(r.status, 413);
  r = Post("/v1/logs", kProto, "not gzip", {"Content-Encoding: gzip"});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(rows_, 0u);
}

TEST_F(ReceiverTest, TruncatedAndDeeplyNestedInputsGet400AndTheServerGoesOn) {
  Start({});
  std::string wire = OneLog().SerializeAsString();
  for (size_t cut = 1; cut < wire.size(); ++cut) {
    auto r = Post("/v1/logs", kProto, wire.substr(0, cut));
    // A cut at a field boundary can still be a valid (smaller) message; otherwise 400.
    EXPECT_TRUE(r.status == 200 || r.status == 400) << "cut at " << cut << ": " << r.status;
  }
  // An AnyValue nested far beyond protobuf's recursion limit.
  std::string value;  // AnyValue{array_value: ArrayValue{values: [value]}}, 5000 deep
  for (int i = 0; i < 5000; ++i) {
    std::string array = "\x0a" + Varint(value.size()) + value;     // ArrayValue.values = 1
    value = "\x2a" + Varint(array.size()) + array;                  // AnyValue.array_value = 5
  }
  std::string record = "\x2a" + Varint(value.size()) + value;      // LogRecord.body = 5
  std::string scope = "\x12" + Varint(record.size()) + record;     // ScopeLogs.log_records = 2
  std::string resource = "\x12" + Varint(scope.size()) + scope;    // ResourceLogs.scope_logs = 2
  std::string request = "\x0a" + Varint(resource.size()) + resource;
  EXPECT_EQ(Post("/v1/logs", kProto, request).status, 400);
  std::string json = R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":)";
  for (int i = 0; i < 5000; ++i) json += R"({"arrayValue":{"values":[)";
  EXPECT_EQ(Post("/v1/logs", kJson, json).status, 400);
  for (int i = 0; i < 5000; ++i) json += "]}}";
  json += "}]}]}]}";
  EXPECT_EQ(Post("/v1/logs", kJson, json).status, 400);
  // Still serving.
  EXPECT_EQ(Post("/v1/logs", kProto, wire).status, 200);
}

TEST_F(ReceiverTest, HttpBackpressureSetsRetryAfter) {
  Start({});
  sink_status_ = absl::ResourceExhaustedError("memory full");
  auto r = Post("/v1/logs", kProto, OneLog().SerializeAsString());
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.retry_after, "1");
  sink_status_ = absl::UnavailableError("store down, spool full");
  r = Post("/v1/logs", kJson, R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{}]}]}]})");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.retry_after, "5");
  EXPECT_THAT(r.body, HasSubstr("spool full"));
}

TEST_F(ReceiverTest, BearerTokenOnBothProtocols) {
  ReceiverOptions o;
  o.bearer_token = "s3cret";
  Start(o);
  EXPECT_EQ(Post("/v1/logs", kProto, OneLog().SerializeAsString()).status, 401);
  EXPECT_EQ(Post("/v1/logs", kProto, OneLog().SerializeAsString(), {"Authorization: Bearer nope"})
                .status,
            401);
  EXPECT_EQ(
      Post("/v1/logs", kProto, OneLog().SerializeAsString(), {"Authorization: Bearer s3cret"})
          .status,
      200);

  auto stub = Stub();
  logs_v1::ExportLogsServiceResponse resp;
  grpc::ClientContext anonymous;
  EXPECT_EQ(stub->Export(&anonymous, OneLog(), &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext authorized;
  authorized.AddMetadata("authorization", "Bearer s3cret");
  EXPECT_TRUE(stub->Export(&authorized, OneLog(), &resp).ok());
  EXPECT_EQ(rows_, 2u);
}

TEST_F(ReceiverTest, GrpcGzipPartialSuccessAndSizeLimit) {
  ReceiverOptions o;
  o.max_request_bytes = 4096;
  Start(o);
  auto stub = Stub();
  logs_v1::ExportLogsServiceResponse resp;
  grpc::ClientContext gz;
  gz.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  auto req = OneLog();
  *req.mutable_resource_logs(0)->mutable_scope_logs(0)->add_log_records() =
      OneLog("bad").resource_logs(0).scope_logs(0).log_records(0);
  ASSERT_TRUE(stub->Export(&gz, req, &resp).ok());
  EXPECT_EQ(resp.partial_success().rejected_log_records(), 1);
  EXPECT_THAT(resp.partial_success().error_message(), HasSubstr("trace_id"));

  auto big = OneLog();
  big.mutable_resource_logs(0)->mutable_scope_logs(0)->mutable_log_records(0)->mutable_body()
      ->set_string_value(std::string(8192, 'x'));
  grpc::ClientContext c2;
  EXPECT_EQ(stub->Export(&c2, big, &resp).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(rows_, 1u);
}

TEST_F(ReceiverTest, GrpcBackpressureCarriesRetryInfo) {
  Start({});
  auto stub = Stub();
  for (auto [sink, code, delay] :
       {std::tuple{absl::ResourceExhaustedError("memory full"),
                   grpc::StatusCode::RESOURCE_EXHAUSTED, 1},
        std::tuple{absl::UnavailableError("store down"), grpc::StatusCode::UNAVAILABLE, 5}}) {
    sink_status_ = sink;
    logs_v1::ExportLogsServiceResponse resp;
    grpc::ClientContext c;
    grpc::Status s = stub->Export(&c, OneLog(), &resp);
    EXPECT_EQ(s.error_code(), code);
    google::rpc::Status details;
    ASSERT_TRUE(details.ParseFromString(s.error_details()));
    ASSERT_EQ(details.details_size(), 1);
    google::rpc::RetryInfo retry;
    ASSERT_TRUE(details.details(0).UnpackTo(&retry));
    EXPECT_EQ(retry.retry_delay().seconds(), delay);
  }
  sink_status_ = absl::InvalidArgumentError("no");
  logs_v1::ExportLogsServiceResponse resp;
  grpc::ClientContext c;
  grpc::Status s = stub->Export(&c, OneLog(), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(s.error_details().empty());
}

}  // namespace
}  // namespace kobs::otlp
