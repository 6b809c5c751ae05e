#include "net/curl_pool.h"

namespace kobs::net {

void CurlGlobalInit() {
  // A function-local static runs it exactly once, whichever thread comes first.
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  (void)rc;
}

void CurlPool::Returner::operator()(CURL* handle) const {
  curl_easy_reset(handle);
  pool->Release(handle);
}

CurlPool::CurlPool(int max) : max_(max < 1 ? 1 : max) { CurlGlobalInit(); }

CurlPool::~CurlPool() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &CurlPool::AllReturned));
  for (CURL* h : free_) curl_easy_cleanup(h);
}

CurlPool::Lease CurlPool::Acquire() {
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &CurlPool::CanLease));
    if (!free_.empty()) {
      CURL* h = free_.back();
      free_.pop_back();
      return Lease(h, Returner{this});
    }
    ++created_;
  }
  CURL* h = curl_easy_init();
  if (h == nullptr) {
    absl::MutexLock lock(&mu_);
    --created_;
    return Lease(nullptr, Returner{this});
  }
  return Lease(h, Returner{this});
}

void CurlPool::Release(CURL* handle) {
  absl::MutexLock lock(&mu_);
  free_.push_back(handle);
}

}  // namespace kobs::net
