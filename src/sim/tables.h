// Server-side printing: the meta.k8s.io/v1 Table that `kubectl get` asks for (Accept:
// application/json;as=Table;v=v1;g=meta.k8s.io). The columns follow the real API server's
// for pods, deployments, replica sets, stateful sets, daemon sets, jobs, events, nodes,
// namespaces, services, config maps, secrets and leases; a CRD's additionalPrinterColumns;
// and Name + Age for everything else.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/resources.h"

namespace kobs::sim {

enum class IncludeObject { kNone, kMetadata, kObject };

struct TableOptions {
  IncludeObject include = IncludeObject::kMetadata;
  bool with_columns = true;  // columnDefinitions (watch events after the first may omit them)
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
};

nlohmann::json ToTable(const ResourceType& type, const std::vector<nlohmann::json>& objects,
                       const TableOptions& options);

// The age of an RFC 3339 timestamp as kubectl shows it ("5m", "3h20m", "2d", "<unknown>").
std::string HumanAge(const std::string& timestamp, std::chrono::system_clock::time_point now);

}  // namespace kobs::sim
