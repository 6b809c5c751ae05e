// The log tailer over a directory laid out as the kubelet lays out /var/log/pods: new lines,
// lines split across polls, restarts from the checkpoint, rotation by rename and by
// copytruncate, a refusing sink, deleted pods.
#include "agent/tailer.h"

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "status_matchers.h"
#include "temp_dir.h"

namespace kobs::agent {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;

class TailerTest : public ::testing::Test {
 protected:
  kobs::testing::TempDir dir_;  // first: the paths below are made from it
  std::string root_ = dir_.Sub("pods");
  std::string checkpoint_ = dir_.Sub("checkpoint.json");
  std::string file_ = root_ + "/shop_web-0_1234-abcd/app/0.log";
  std::vector<std::string> got_;  // entry texts, in delivery order
  std::unique_ptr<Tailer> tailer_;

  void SetUp() override {
    fs::create_directories(fs::path(file_).parent_path());
    Restart();
  }
  void Restart() {
    tailer_ = std::make_unique<Tailer>(
        TailerOptions{.root = root_, .checkpoint_path = checkpoint_,
                      .flush_after = std::chrono::hours(1)},
        [this](std::vector<TailedEntry>& entries) {
          for (const TailedEntry& e : entries) {
            EXPECT_EQ(e.ref->ns, "shop");
            EXPECT_EQ(e.ref->pod, "web-0");
            EXPECT_EQ(e.ref->uid, "1234-abcd");
            EXPECT_EQ(e.ref->container, "app");
            got_.push_back(e.entry.text);
          }
          return absl::OkStatus();
        });
    ASSERT_THAT(tailer_->Start(), ::kobs::testing::IsOk());
  }
  static void Append(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::app) << text;
  }
  static std::string Cri(const std::string& text, char tag = 'F') {
    return "2026-12-06T10:00:00.123456789Z stdout " + std::string(1, tag) + " " + text + "\n";
  }
  void Poll() { ASSERT_THAT(tailer_->Poll(), ::kobs::testing::IsOk()); }
};

TEST_F(TailerTest, ReadsNewLinesAndJoinsPartsAcrossPolls) {
  Append(file_, Cri("one") + Cri("tw", 'P'));
  Poll();
  EXPECT_THAT(got_, ElementsAre());  // "one" may still be continued
  Append(file_, Cri("o") + "2026-12-06T10:00:00Z stdout F thr");
  Poll();
  EXPECT_THAT(got_, ElementsAre("one"));
  Append(file_, "ee\n" + Cri("four"));
  Poll();
  EXPECT_THAT(got_, ElementsAre("one", "two", "three"));
  EXPECT_EQ(tailer_->files(), 1u);
  EXPECT_EQ(tailer_->parse_errors(), 0u);
}

TEST_F(TailerTest, RestartsFromTheCheckpointWithoutLossOrRepeats) {
  Append(file_, Cri("a") + Cri("b") + Cri("Exception in thread \"main\" java.lang.Error: x") +
                    Cri("\tat Main.main(Main.java:3)"));
  Poll();
  EXPECT_THAT(got_, ElementsAre("a", "b"));  // the trace is held back
  Restart();
  Append(file_, Cri("\tat Main.run(Main.java:9)") + Cri("c") + Cri("d"));
  Poll();
  EXPECT_THAT(got_, ElementsAre("a", "b",
                                "Exception in thread \"main\" java.lang.Error: x\n\tat "
                                "Main.main(Main.java:3)\n\tat Main.run(Main.java:9)",
                                "c"));
  Restart();
  Poll();
  EXPECT_EQ(got_.size(), 4u);  // "d" is still open; nothing again
  Append(file_, Cri("e"));
  Poll();
  EXPECT_EQ(got_.back(), "d");
}

TEST_F(TailerTest, FollowsRotationByRenameAlsoWhileStopped) {
  Append(file_, Cri("1") + Cri("2"));
  Poll();
  // The runtime writes a last line to the old file, then the kubelet renames it.
  Append(file_, Cri("3"));
  fs::rename(file_, file_ + ".20261206-100000");
  Append(file_, Cri("4") + Cri("5"));
  Poll();
  EXPECT_THAT(got_, ElementsAre("1", "2", "3", "4"));
  // Stopped, then a rotation happens: the restart finishes the renamed file first.
  tailer_.reset();
  Append(file_, Cri("6"));
  fs::rename(file_, file_ + ".20261206-110000");
  Append(file_, Cri("7") + Cri("8"));
  Restart();
  Poll();
  Poll();
  EXPECT_THAT(got_, ElementsAre("1", "2", "3", "4", "5", "6", "7"));
}

TEST_F(TailerTest, FollowsCopyTruncate) {
  Append(file_, Cri("old-1") + Cri("old-2"));
  Poll();
  fs::copy_file(file_, file_ + ".1");
  fs::resize_file(file_, 0);
  Append(file_, Cri("new-1") + Cri("new-2"));
  Poll();
  EXPECT_THAT(got_, ElementsAre("old-1", "old-2", "new-1"));
}

TEST_F(TailerTest, ARefusingSinkGetsTheSameEntriesAgain) {
  int calls = 0;
  tailer_ = std::make_unique<Tailer>(
      TailerOptions{.root = root_, .checkpoint_path = checkpoint_},
      [&](std::vector<TailedEntry>& entries) {
        if (++calls == 1) return absl::UnavailableError("store down");
        for (const TailedEntry& e : entries) got_.push_back(e.entry.text);
        return absl::OkStatus();
      });
  ASSERT_THAT(tailer_->Start(), ::kobs::testing::IsOk());
  Append(file_, Cri("x") + Cri("y"));
  EXPECT_FALSE(tailer_->Poll().ok());
  Poll();
  EXPECT_THAT(got_, ElementsAre("x"));
  Append(file_, Cri("z"));
  Poll();
  EXPECT_THAT(got_, ElementsAre("x", "y"));
}

TEST_F(TailerTest, DeletedPodsAreDrainedAndForgotten) {
  Append(file_, Cri("last words") + Cri("bye"));
  Poll();
  fs::remove_all(root_ + "/shop_web-0_1234-abcd");
  Poll();
  EXPECT_EQ(tailer_->files(), 0u);
  // A gone file is read to its end, and its last entry is complete.
  EXPECT_THAT(got_, ElementsAre("last words", "bye"));
}

TEST(LogPathTest, KubeletLayout) {
  ContainerRef r;
  ASSERT_TRUE(ParseLogPath("kube-system_coredns-5d78c9869d-x7k2p_9f2c-11/coredns/3.log", &r));
  EXPECT_EQ(r.ns, "kube-system");
  EXPECT_EQ(r.pod, "coredns-5d78c9869d-x7k2p");
  EXPECT_EQ(r.uid, "9f2c-11");
  EXPECT_EQ(r.container, "coredns");
  EXPECT_EQ(r.restart, 3);
  EXPECT_FALSE(ParseLogPath("ns_pod_uid/c/0.log.20261206-100000", &r));
  EXPECT_FALSE(ParseLogPath("nspoduid/c/0.log", &r));
  EXPECT_FALSE(ParseLogPath("ns_pod_uid/0.log", &r));
  EXPECT_FALSE(ParseLogPath("ns_pod_uid/c/x.log", &r));
}

}  // namespace
}  // namespace kobs::agent
