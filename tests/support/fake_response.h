// A net::ResponseWriter that records what a handler sent (status, headers, body, chunks).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "net/http.h"

namespace kobs::testing {

class FakeResponse : public net::ResponseWriter {
 public:
  void SetStatus(int s) override { status_ = s; }
  void SetHeader(std::string_view n, std::string_view v) override {
    headers_[absl::AsciiStrToLower(std::string(n))] = std::string(v);
  }
  void EnableCompression() override { compression_ = true; }
  absl::Status Write(std::string_view d) override {
    committed_ = true;
    body_.append(d);
    chunks_.emplace_back(d);
    return fail_writes_ ? absl::UnavailableError("client gone") : absl::OkStatus();
  }
  absl::Status Finish() override {
    committed_ = true;
    return absl::OkStatus();
  }
  bool committed() const override { return committed_; }
  int status() const override { return status_; }
  std::shared_ptr<net::StreamWriter> Detach() override { return nullptr; }

  std::string header(const std::string& n) const {
    auto it = headers_.find(n);
    return it == headers_.end() ? "" : it->second;
  }
  const std::string& body() const { return body_; }
  const std::vector<std::string>& chunks() const { return chunks_; }
  bool compression() const { return compression_; }
  void set_fail_writes(bool f) { fail_writes_ = f; }

 private:
  int status_ = 200;
  bool committed_ = false;
  bool compression_ = false;
  bool fail_writes_ = false;
  std::map<std::string, std::string> headers_;
  std::string body_;
  std::vector<std::string> chunks_;
};

}  // namespace kobs::testing
