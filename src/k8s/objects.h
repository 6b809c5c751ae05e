// Typed views of the objects kobs reads most (metadata, owner references, Pods, Events,
// Leases), decoded from the unstructured JSON the client returns. Decoding never throws and
// never fails on a missing or wrongly typed field (it is left empty, as the API's own
// omitempty would have it); it fails only when the input is not an object. Everything else
// stays generic JSON.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace kobs::k8s {

struct OwnerReference {
  std::string api_version;
  std::string kind;
  std::string name;
  std::string uid;
  bool controller = false;
  bool block_owner_deletion = false;
};

struct ObjectMeta {
  std::string name;
  std::string namespace_;
  std::string uid;
  std::string resource_version;
  std::string generate_name;
  int64_t generation = 0;
  std::string creation_timestamp;
  std::string deletion_timestamp;  // "" unless being deleted
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<OwnerReference> owner_references;
  std::vector<std::string> finalizers;

  // The owner reference marked controller: true, if any.
  const OwnerReference* Controller() const;
};

// An object reference as events carry it (involvedObject / regarding).
struct ObjectReference {
  std::string api_version;
  std::string kind;
  std::string namespace_;
  std::string name;
  std::string uid;
  std::string field_path;
};

// A core/v1 Event or an events.k8s.io/v1 Event (both decode to the same fields).
struct Event {
  ObjectMeta metadata;
  ObjectReference involved_object;  // regarding
  ObjectReference related;
  std::string reason;
  std::string message;               // note
  std::string type;                  // Normal, Warning
  std::string action;
  std::string reporting_component;   // reportingController
  std::string reporting_instance;
  std::string source_component;      // deprecatedSource
  std::string source_host;
  std::string first_timestamp;       // deprecatedFirstTimestamp
  std::string last_timestamp;        // deprecatedLastTimestamp, else series.lastObservedTime
  std::string event_time;            // MicroTime
  int64_t count = 1;                 // deprecatedCount, or series.count when larger

  // The most recent time the event was seen: lastTimestamp, series, eventTime, then
  // creationTimestamp (the order kubectl uses).
  std::string LastSeen() const;
};

struct ContainerStatus {
  std::string name;
  std::string image;
  std::string container_id;
  bool ready = false;
  int64_t restart_count = 0;
  // The current state: "running", "waiting", "terminated" (or "" when unknown), with the
  // waiting/terminated reason and message and the exit code of a terminated one.
  std::string state;
  std::string reason;
  std::string message;
  int exit_code = 0;
  // The previous instance's termination, when it has one ("OOMKilled", "Error", ...).
  std::string last_termination_reason;
  int last_exit_code = 0;
};

struct Pod {
  ObjectMeta metadata;
  std::string node_name;
  std::string service_account;
  std::vector<std::string> containers;       // spec.containers[].name
  std::vector<std::string> init_containers;  // spec.initContainers[].name
  std::string phase;
  std::string reason;
  std::string message;
  std::string pod_ip;
  std::string host_ip;
  std::string start_time;
  std::vector<ContainerStatus> container_statuses;
  std::vector<ContainerStatus> init_container_statuses;

  // Sum of the containers' restart counts.
  int64_t Restarts() const;
};

struct Lease {
  ObjectMeta metadata;
  std::string holder_identity;
  int64_t lease_duration_seconds = 0;
  std::string acquire_time;
  std::string renew_time;
  int64_t lease_transitions = 0;
};

absl::StatusOr<ObjectMeta> DecodeObjectMeta(const nlohmann::json& object);
absl::StatusOr<Event> DecodeEvent(const nlohmann::json& object);
absl::StatusOr<Pod> DecodePod(const nlohmann::json& object);
absl::StatusOr<Lease> DecodeLease(const nlohmann::json& object);

// A quantity ("64Mi", "250m", "1.5G", "2e3") in thousandths of its unit, so that CPU reads in
// millicores and memory in milli-bytes. InvalidArgument when malformed.
absl::StatusOr<int64_t> ParseQuantityMilli(std::string_view quantity);

}  // namespace kobs::k8s
