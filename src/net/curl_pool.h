// A pool of libcurl easy handles for blocking HTTP clients (store::RemoteStore, k8s::Client).
// At most `max` handles exist; callers beyond that wait for a free one. A handle returned to
// the pool keeps its live connections (curl's connection cache is per handle), so the next
// request on it skips the TCP and TLS handshakes. Thread-safe. The pool must outlive its
// leases; its destructor waits until every lease has been returned.
#pragma once

#include <curl/curl.h>

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace kobs::net {

// curl_global_init, exactly once per process (thread-safe; curl's own function is not). Call
// it before the first curl_easy_init; CurlPool::Acquire does.
void CurlGlobalInit();

class CurlPool {
 public:
  // Gives the handle back: reset (options cleared, live connections kept), then pooled.
  struct Returner {
    CurlPool* pool;
    void operator()(CURL* handle) const;
  };
  // Exclusive use of one handle until destroyed.
  using Lease = std::unique_ptr<CURL, Returner>;

  explicit CurlPool(int max);
  ~CurlPool();
  CurlPool(const CurlPool&) = delete;
  CurlPool& operator=(const CurlPool&) = delete;

  // Blocks until a handle is free or may be created; null when curl cannot make one.
  Lease Acquire();

 private:
  void Release(CURL* handle);
  bool CanLease() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !free_.empty() || created_ < max_;
  }
  bool AllReturned() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return static_cast<int>(free_.size()) == created_;
  }

  const int max_;
  absl::Mutex mu_;
  std::vector<CURL*> free_ ABSL_GUARDED_BY(mu_);
  int created_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace kobs::net
