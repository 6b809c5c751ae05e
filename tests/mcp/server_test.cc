// McpServer: lifecycle, version negotiation, JSON-RPC error codes, argument validation, and
// tool failures as isError results.
#include "mcp/server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "common/metrics.h"
#include "fake_response.h"
#include "mcp/http_transport.h"
#include "mcp/stdio_transport.h"

namespace kobs::mcp {
namespace {

using json = nlohmann::json;

class McpServerTest : public ::testing::Test {
 protected:
  McpServerTest()
      : server_("kobs", "1.0",
                {Tool{.name = "echo",
                      .title = "Echo",
                      .description = "Echoes",
                      .input_schema = {{"type", "object"},
                                       {"properties",
                                        {{"text", {{"type", "string"}, {"minLength", 1}}},
                                         {"n", {{"type", "integer"}, {"minimum", 1},
                                                {"maximum", 5}, {"default", 2}}}}},
                                       {"required", {"text"}}},
                      .run = [](const json& a) -> absl::StatusOr<nlohmann::ordered_json> {
                        if (a["text"] == "fail") return absl::NotFoundError("no such thing");
                        return nlohmann::ordered_json{{"text", a["text"]}, {"n", a["n"]}};
                      }}},
                metrics_) {}

  json Call(const json& msg) {
    auto r = server_.Handle(msg, session_);
    return r.has_value() ? *r : json();
  }
  json Request(const std::string& method, json params = json::object()) {
    return Call({{"jsonrpc", "2.0"}, {"id", 7}, {"method", method}, {"params", params}});
  }
  void Init(const std::string& version = "2025-11-25") {
    json r = Request("initialize", {{"protocolVersion", version},
                                    {"capabilities", json::object()},
                                    {"clientInfo", {{"name", "t"}, {"version", "1"}}}});
    ASSERT_TRUE(r.contains("result")) << r;
  }

  MetricsRegistry metrics_;
  McpServer server_;
  Session session_;
};

TEST_F(McpServerTest, NegotiatesTheProtocolVersion) {
  for (const char* v : {"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}) {
    Session s;
    auto r = server_.Handle({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"},
                             {"params", {{"protocolVersion", v}}}},
                            s);
    EXPECT_EQ((*r)["result"]["protocolVersion"], v);
    EXPECT_EQ((*r)["result"]["capabilities"]["tools"]["listChanged"], false);
  }
  Session s;
  auto r = server_.Handle({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"},
                           {"params", {{"protocolVersion", "1999-01-01"}}}},
                          s);
  EXPECT_EQ((*r)["result"]["protocolVersion"], "2025-11-25") << "our latest";
}

TEST_F(McpServerTest, JsonRpcErrorCodes) {
  EXPECT_EQ(Call(json::array())["error"]["code"], kInvalidRequest);
  EXPECT_EQ(Call({{"jsonrpc", "1.0"}, {"id", 1}, {"method", "ping"}})["error"]["code"],
            kInvalidRequest);
  EXPECT_EQ(Call({{"jsonrpc", "2.0"}, {"id", 1}})["error"]["code"], kInvalidRequest);
  // Wrong types anywhere are errors, never exceptions (found by fuzzing).
  EXPECT_EQ(Call({{"jsonrpc", 2}, {"method", ""}})["error"]["code"], kInvalidRequest);
  EXPECT_EQ(Call({{"jsonrpc", "2.0"}, {"id", 1}, {"method", 5}})["error"]["code"], kInvalidRequest);
  Session other;
  EXPECT_TRUE(server_
                  .Handle({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "initialize"},
                           {"params", {{"protocolVersion", 3}, {"clientInfo", {{"name", true}}}}}},
                          other)
                  ->contains("result"));
  EXPECT_EQ(Call({{"jsonrpc", "2.0"}, {"id", nullptr}, {"method", "ping"}})["error"]["code"],
            kInvalidRequest);
  EXPECT_EQ(Request("tools/list")["error"]["code"], kInvalidRequest) << "before initialize";
  EXPECT_EQ(Request("ping")["result"], json::object()) << "ping works before initialize";
  Init();
  EXPECT_EQ(Request("no/such")["error"]["code"], kMethodNotFound);
  EXPECT_EQ(Call({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "tools/list"}, {"params", 3}})
                ["error"]["code"],
            kInvalidParams);
  EXPECT_EQ(Request("tools/call", {{"name", "nope"}})["error"]["code"], kInvalidParams);
  // Notifications and responses get no answer.
  EXPECT_FALSE(server_.Handle({{"jsonrpc", "2.0"}, {"method", "notifications/initialized"}},
                              session_)
                   .has_value());
  EXPECT_TRUE(session_.initialized);
  EXPECT_FALSE(server_.Handle({{"jsonrpc", "2.0"}, {"id", 5}, {"result", json::object()}}, session_)
                   .has_value());
}

TEST_F(McpServerTest, ListsToolsWithSchemasAndReadOnlyAnnotations) {
  Init();
  json tools = Request("tools/list")["result"]["tools"];
  ASSERT_EQ(tools.size(), 1u);
  EXPECT_EQ(tools[0]["name"], "echo");
  EXPECT_EQ(tools[0]["inputSchema"]["type"], "object");
  EXPECT_EQ(tools[0]["annotations"]["readOnlyHint"], true);
  EXPECT_EQ(tools[0]["annotations"]["destructiveHint"], false);
}

TEST_F(McpServerTest, ValidatesArgumentsAndReportsToolFailuresAsResults) {
  Init();
  json ok = Request("tools/call", {{"name", "echo"}, {"arguments", {{"text", "hi"}}}})["result"];
  EXPECT_EQ(ok["isError"], false);
  EXPECT_EQ(ok["structuredContent"], json({{"text", "hi"}, {"n", 2}})) << "default filled in";
  EXPECT_EQ(ok["content"][0]["text"], R"({"text":"hi","n":2})");
  for (const auto& [args, reason] : std::vector<std::pair<json, std::string>>{
           {json::object(), "`text` is required"},
           {{{"text", ""}}, "`text` must not be empty"},
           {{{"text", 5}}, "`text` must be a string"},
           {{{"text", "a"}, {"n", 9}}, "`n` must be at most 5"},
           {{{"text", "a"}, {"n", 1.5}}, "`n` must be an integer"},
           {{{"text", "a"}, {"x", 1}}, "unknown argument `x`"}}) {
    json r = Request("tools/call", {{"name", "echo"}, {"arguments", args}})["result"];
    EXPECT_EQ(r["isError"], true) << args;
    EXPECT_THAT(r["content"][0]["text"].get<std::string>(), ::testing::HasSubstr(reason));
  }
  json fail = Request("tools/call", {{"name", "echo"}, {"arguments", {{"text", "fail"}}}})["result"];
  EXPECT_EQ(fail["isError"], true);
  EXPECT_EQ(fail["content"][0]["text"], "no such thing");
}

}  // namespace
}  // namespace kobs::mcp

namespace kobs::mcp {
namespace {

TEST(StdioTransportTest, OneLineInOneLineOutNothingForNotifications) {
  MetricsRegistry metrics;
  McpServer server("kobs", "1.0", {}, metrics);
  std::istringstream in(
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}\n"
      "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"
      "\n"
      "not json\n"
      "[1,2]\n"
      "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}\n");
  std::ostringstream out;
  EXPECT_EQ(ServeStdio(server, in, out), 0);
  std::vector<nlohmann::json> lines;
  std::istringstream back(out.str());
  for (std::string l; std::getline(back, l);) lines.push_back(nlohmann::json::parse(l));
  ASSERT_EQ(lines.size(), 4u) << out.str();
  EXPECT_EQ(lines[0]["result"]["protocolVersion"], "2025-11-25");
  EXPECT_EQ(lines[1]["error"]["code"], kParseError);
  EXPECT_EQ(lines[2]["error"]["code"], kInvalidRequest);
  EXPECT_EQ(lines[3]["result"]["tools"], nlohmann::json::array());
}

}  // namespace
}  // namespace kobs::mcp

namespace kobs::mcp {
namespace {

using Recorder = ::kobs::testing::FakeResponse;

TEST(HttpTransportTest, RateLimitsEachClientAddress) {
  MetricsRegistry metrics;
  McpServer server("kobs", "1.0", {}, metrics);
  McpOptions o;
  o.rate_limit = 1;
  o.rate_burst = 2;
  HttpTransport transport(server, o);
  auto ping = [&](const std::string& from) {
    net::Request rq;
    rq.method = "POST";
    rq.remote_address = from;
    rq.headers.Add("content-type", "application/json");
    rq.body = R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}})";
    Recorder w;
    transport.Handle(rq, w);
    return w;
  };
  EXPECT_EQ(ping("10.0.0.1").status(), 200);
  EXPECT_EQ(ping("10.0.0.1").status(), 200);
  Recorder limited = ping("10.0.0.1");
  EXPECT_EQ(limited.status(), 429);
  EXPECT_EQ(limited.header("retry-after"), "1");
  EXPECT_THAT(limited.body(), ::testing::HasSubstr("rate limit"));
  EXPECT_EQ(ping("10.0.0.2").status(), 200) << "another client has its own bucket";
  EXPECT_EQ(transport.sessions(), 3u);
}

TEST(HttpTransportTest, AnswersAsTheClientAccepts) {
  MetricsRegistry metrics;
  McpServer server("kobs", "1.0", {}, metrics);
  HttpTransport transport(server, McpOptions{});
  auto init = [&](const std::string& accept) {
    net::Request rq;
    rq.method = "POST";
    rq.remote_address = "127.0.0.1";
    rq.headers.Add("content-type", "application/json");
    rq.headers.Add("accept", accept);
    rq.body = R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{}})";
    Recorder w;
    transport.Handle(rq, w);
    return w;
  };
  Recorder both = init("application/json, text/event-stream");
  EXPECT_EQ(both.header("content-type"), "application/json");
  Recorder sse = init("text/event-stream");
  EXPECT_EQ(sse.header("content-type"), "text/event-stream");
  EXPECT_THAT(sse.body(), ::testing::StartsWith("event: message\ndata: {"));
  EXPECT_THAT(sse.body(), ::testing::EndsWith("}\n\n"));
  EXPECT_EQ(init("text/html").status(), 406);
}

}  // namespace
}  // namespace kobs::mcp
