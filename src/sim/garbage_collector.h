// The garbage collector and namespace controller of the simulated cluster, as
// kube-controller-manager runs them: dependents whose owners are all gone are deleted
// (background propagation), owners marked with the `foregroundDeletion` finalizer go once
// their dependents are gone, the `orphan` finalizer strips the owner reference from the
// dependents first, and a terminating namespace is emptied and then removed. Works from the
// store's change stream, with a periodic sweep that catches what a restart interrupted.
#pragma once

#include <atomic>
#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "sim/api.h"
#include "sim/pod_logs.h"

namespace kobs::sim {

class GarbageCollector {
 public:
  GarbageCollector(Api& api, PodLogs& logs,
                   std::chrono::milliseconds sweep_interval = std::chrono::seconds(5));
  ~GarbageCollector();

  void Start();
  void Stop();

  // One full pass over every object (what the periodic sweep runs); for tests.
  void Sweep();

 private:
  void Run();
  void OnChange(const Change& change);
  // Finishes what an object marked for deletion waits for (orphan, foreground, namespace).
  void Finalize(const ResourceType& type, const nlohmann::json& obj);
  // Deletes `obj` when every owner it names is gone; drops references to gone owners else.
  void CollectIfOrphaned(const ResourceType& type, const nlohmann::json& obj);
  bool OwnerExists(const std::string& ns, const nlohmann::json& ref) const;
  std::shared_ptr<const ResourceType> TypeOfStorage(const std::string& storage) const;
  void RemoveFinalizer(const ResourceType& type, const nlohmann::json& obj,
                       const std::string& finalizer);

  Api& api_;
  PodLogs& logs_;
  const std::chrono::milliseconds sweep_interval_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace kobs::sim
