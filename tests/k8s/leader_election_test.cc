// k8s::LeaderElector against the fake API server's Lease endpoint (resourceVersion conflicts
// included): acquiring an absent lease, renewing it, taking over only after the holder stopped
// renewing (judged by local observation, not the holder's timestamps), release on Stop, one
// leader among racing candidates, and losing leadership when renewals fail.
#include "k8s/leader_election.h"

#include <atomic>
#include <chrono>
#include <regex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fake_api_server.h"
#include "status_matchers.h"

namespace kobs::k8s {
namespace {

using ::kobs::k8s::testing::FakeApiServer;
using ::kobs::testing::IsOk;
using ::kobs::testing::StatusIs;
using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr char kLeases[] = "/apis/coordination.k8s.io/v1/namespaces/kobs/leases";

template <typename Cond>
bool WaitFor(Cond cond, std::chrono::milliseconds limit = 3000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

struct Candidate {
  std::unique_ptr<LeaderElector> elector;
  std::atomic<int> started{0}, stopped{0};
};

class LeaderElectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterConfig config;
    config.server = server_.url();
    ClientOptions options;
    options.timeout = 300ms;
    auto client = Client::Create(config, options);
    ASSERT_THAT(client, IsOk());
    client_ = std::move(*client);
  }

  LeaderElectionOptions Options(const std::string& identity) {
    LeaderElectionOptions o;
    o.lease_namespace = "kobs";
    o.lease_name = "kobs-controller";
    o.identity = identity;
    o.lease_duration = 1000ms;  // written as 1 s
    o.renew_deadline = 600ms;
    o.retry_period = 50ms;
    return o;
  }

  std::unique_ptr<Candidate> Start(const std::string& identity, bool release_on_stop = true) {
    auto c = std::make_unique<Candidate>();
    LeaderElectionOptions o = Options(identity);
    o.release_on_stop = release_on_stop;
    Candidate* raw = c.get();
    o.on_started_leading = [raw] { raw->started.fetch_add(1); };
    o.on_stopped_leading = [raw] { raw->stopped.fetch_add(1); };
    auto elector = LeaderElector::Create(*client_, std::move(o));
    EXPECT_THAT(elector, IsOk());
    c->elector = std::move(*elector);
    c->elector->Start();
    return c;
  }

  json Lease() { return server_.Object(kLeases, "kobs-controller").value_or(json()); }

  FakeApiServer server_{{}};
  std::unique_ptr<Client> client_;
};

TEST_F(LeaderElectionTest, RejectsInconsistentDurations) {
  LeaderElectionOptions o = Options("a");
  o.renew_deadline = 1000ms;
  EXPECT_THAT(LeaderElector::Create(*client_, o), StatusIs(absl::StatusCode::kInvalidArgument));
  o = Options("a");
  o.retry_period = 550ms;
  EXPECT_THAT(LeaderElector::Create(*client_, o), StatusIs(absl::StatusCode::kInvalidArgument));
  o = Options("");
  EXPECT_THAT(LeaderElector::Create(*client_, o), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(LeaderElectionTest, AcquiresAnAbsentLeaseAndRenewsIt) {
  auto a = Start("a");
  ASSERT_TRUE(WaitFor([&] { return a->elector->IsLeader(); }));
  EXPECT_EQ(a->started.load(), 1);
  json lease = Lease();
  const json& spec = lease["spec"];
  EXPECT_EQ(spec["holderIdentity"], "a");
  EXPECT_EQ(spec["leaseDurationSeconds"], 1);
  EXPECT_EQ(spec["leaseTransitions"], 0);
  const std::regex micro_time(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)");
  EXPECT_TRUE(std::regex_match(spec["renewTime"].get<std::string>(), micro_time)) << spec;
  EXPECT_TRUE(std::regex_match(spec["acquireTime"].get<std::string>(), micro_time)) << spec;
  const std::string rv = lease["metadata"]["resourceVersion"];
  ASSERT_TRUE(WaitFor([&] { return Lease()["metadata"]["resourceVersion"] != rv; }));
  json renewed = Lease();
  EXPECT_EQ(renewed["spec"]["holderIdentity"], "a");
  EXPECT_EQ(renewed["spec"]["acquireTime"], spec["acquireTime"]);  // kept on renewal
  EXPECT_EQ(renewed["spec"]["leaseTransitions"], 0);
  EXPECT_TRUE(a->elector->IsLeader());
  EXPECT_EQ(a->elector->leader(), "a");
  EXPECT_EQ(a->stopped.load(), 0);
}

TEST_F(LeaderElectionTest, TakesOverOnlyAfterTheHolderStoppedRenewing) {
  // The holder's renewTime is ancient: only a candidate that compares it with its own clock
  // would take over at once. Expiry counts from when this candidate first saw the record.
  server_.Put(kLeases, {{"apiVersion", "coordination.k8s.io/v1"},
                        {"kind", "Lease"},
                        {"metadata", {{"name", "kobs-controller"}, {"namespace", "kobs"}}},
                        {"spec",
                         {{"holderIdentity", "ghost"},
                          {"leaseDurationSeconds", 1},
                          {"acquireTime", "2000-01-01T00:00:00.000000Z"},
                          {"renewTime", "2000-01-01T00:00:00.000000Z"},
                          {"leaseTransitions", 3}}}});
  const auto start = std::chrono::steady_clock::now();
  auto b = Start("b");
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(b->elector->IsLeader());
  EXPECT_EQ(b->elector->leader(), "ghost");
  ASSERT_TRUE(WaitFor([&] { return b->elector->IsLeader(); }));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1000ms);
  json spec = Lease()["spec"];
  EXPECT_EQ(spec["holderIdentity"], "b");
  EXPECT_EQ(spec["leaseTransitions"], 4);
  EXPECT_NE(spec["acquireTime"], "2000-01-01T00:00:00.000000Z");
}

TEST_F(LeaderElectionTest, StopReleasesTheLeaseSoTheNextCandidateNeedNotWait) {
  auto a = Start("a");
  ASSERT_TRUE(WaitFor([&] { return a->elector->IsLeader(); }));
  auto b = Start("b");
  ASSERT_TRUE(WaitFor([&] { return b->elector->leader() == "a"; }));
  std::this_thread::sleep_for(100ms);  // b keeps seeing a renew
  EXPECT_FALSE(b->elector->IsLeader());
  a->elector->Stop();
  EXPECT_FALSE(a->elector->IsLeader());
  EXPECT_EQ(a->stopped.load(), 1);
  const auto released = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return b->elector->IsLeader(); }));
  EXPECT_LT(std::chrono::steady_clock::now() - released, 600ms);  // well before 1 s expiry
  EXPECT_EQ(Lease()["spec"]["leaseTransitions"], 1);
}

TEST_F(LeaderElectionTest, RacingCandidatesElectOneLeader) {
  std::vector<std::unique_ptr<Candidate>> candidates;
  for (const char* id : {"a", "b", "c"}) candidates.push_back(Start(id));
  ASSERT_TRUE(WaitFor([&] {
    return std::any_of(candidates.begin(), candidates.end(),
                       [](const auto& c) { return c->elector->IsLeader(); });
  }));
  std::this_thread::sleep_for(200ms);
  int leaders = 0, started = 0;
  for (const auto& c : candidates) {
    leaders += c->elector->IsLeader();
    started += c->started.load();
  }
  EXPECT_EQ(leaders, 1);
  EXPECT_EQ(started, 1);
  EXPECT_EQ(Lease()["spec"]["leaseTransitions"], 0);
}

TEST_F(LeaderElectionTest, StopsLeadingWhenRenewalsFailPastTheDeadline) {
  auto a = Start("a", /*release_on_stop=*/false);
  ASSERT_TRUE(WaitFor([&] { return a->elector->IsLeader(); }));
  server_.SetHook([](const net::Request& r, net::ResponseWriter& w) {
    if (r.method != "PUT") return false;
    net::Reply(w, 500, "application/json",
               testing::StatusBody(500, "InternalError", "etcdserver: request timed out"));
    return true;
  });
  const auto failing = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitFor([&] { return a->stopped.load() == 1; }));
  EXPECT_GE(std::chrono::steady_clock::now() - failing, 450ms);
  EXPECT_FALSE(a->elector->IsLeader());
  EXPECT_GT(a->elector->failed_attempts(), 0u);
  // Renewals work again: a leads again (its own lease, no transition).
  server_.SetHook(nullptr);
  ASSERT_TRUE(WaitFor([&] { return a->started.load() == 2; }));
  EXPECT_EQ(Lease()["spec"]["leaseTransitions"], 0);
}

}  // namespace
}  // namespace kobs::k8s
