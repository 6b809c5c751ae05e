#include "k8s/rest_mapper.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace kobs::k8s {
namespace {

using json = nlohmann::json;

std::string S(const json& o, const char* key) {
  if (!o.is_object()) return "";
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

std::vector<std::string> Strings(const json& o, const char* key) {
  std::vector<std::string> out;
  if (!o.is_object()) return out;
  auto it = o.find(key);
  if (it == o.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

// The array `key` of `o`, or an empty one (never throws on the server's input).
json Array(const json& o, const char* key) {
  if (!o.is_object()) return json::array();
  auto it = o.find(key);
  return it != o.end() && it->is_array() ? *it : json::array();
}

json Object(const json& o, const char* key) {
  if (!o.is_object()) return json::object();
  auto it = o.find(key);
  return it != o.end() && it->is_object() ? *it : json::object();
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

absl::StatusOr<json> Parse(std::string_view text, const char* kind) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return absl::InvalidArgumentError(fmt::format("{}: not a JSON object", kind));
  return j;
}

}  // namespace

std::string ResourceInfo::Path(std::string_view ns, std::string_view name) const {
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) p += "/namespaces/" + std::string(ns);
  p += "/" + resource;
  if (!name.empty()) p += "/" + std::string(name);
  return p;
}

void RestMapper::Add(ResourceInfo info) {
  if (std::none_of(preferred_.begin(), preferred_.end(),
                   [&](const auto& p) { return p.first == info.group; })) {
    preferred_.emplace_back(info.group, info.version);
  }
  for (auto& r : resources_) {
    if (r.group == info.group && r.version == info.version && r.resource == info.resource) {
      r = std::move(info);  // a refresh replaces what an earlier discovery said
      return;
    }
  }
  resources_.push_back(std::move(info));
}

bool RestMapper::Preferred(const ResourceInfo& r) const {
  for (const auto& [g, v] : preferred_) {
    if (g == r.group) return v == r.version;
  }
  return false;
}

absl::Status RestMapper::AddResourceList(std::string_view text) {
  auto j = Parse(text, "APIResourceList");
  if (!j.ok()) return j.status();
  const std::string gv = S(*j, "groupVersion");
  if (gv.empty()) return absl::InvalidArgumentError("APIResourceList without groupVersion");
  const size_t slash = gv.find('/');
  const std::string group = slash == std::string::npos ? "" : gv.substr(0, slash);
  const std::string version = slash == std::string::npos ? gv : gv.substr(slash + 1);
  std::vector<ResourceInfo> found;
  std::vector<std::pair<std::string, std::string>> subs;  // resource, subresource
  for (const auto& r : Array(*j, "resources")) {
    const std::string name = S(r, "name");
    if (name.empty()) continue;
    if (size_t s = name.find('/'); s != std::string::npos) {
      subs.emplace_back(name.substr(0, s), name.substr(s + 1));
      continue;
    }
    ResourceInfo info{.group = group, .version = version, .kind = S(r, "kind"), .resource = name,
                      .singular = S(r, "singularName"), .verbs = Strings(r, "verbs"),
                      .short_names = Strings(r, "shortNames")};
    auto ns = r.find("namespaced");
    info.namespaced = ns != r.end() && ns->is_boolean() && ns->get<bool>();
    if (info.singular.empty()) info.singular = Lower(info.kind);
    found.push_back(std::move(info));
  }
  for (auto& info : found) {
    for (const auto& [res, sub] : subs) {
      if (res == info.resource) info.subresources.push_back(sub);
    }
    Add(std::move(info));
  }
  return absl::OkStatus();
}

absl::Status RestMapper::AddAggregated(std::string_view text) {
  auto j = Parse(text, "APIGroupDiscoveryList");
  if (!j.ok()) return j.status();
  if (S(*j, "kind") != "APIGroupDiscoveryList") {
    return absl::InvalidArgumentError(
        fmt::format("expected an APIGroupDiscoveryList, got kind \"{}\"", S(*j, "kind")));
  }
  for (const auto& g : Array(*j, "items")) {
    const std::string group = S(Object(g, "metadata"), "name");
    for (const auto& v : Array(g, "versions")) {
      const std::string version = S(v, "version");
      if (version.empty()) continue;
      for (const auto& r : Array(v, "resources")) {
        ResourceInfo info{.group = group, .version = version,
                          .kind = S(Object(r, "responseKind"), "kind"),
                          .resource = S(r, "resource"), .singular = S(r, "singularResource"),
                          .namespaced = S(r, "scope") == "Namespaced", .verbs = Strings(r, "verbs"),
                          .short_names = Strings(r, "shortNames")};
        if (info.resource.empty()) continue;
        for (const auto& sub : Array(r, "subresources")) {
          if (const std::string name = S(sub, "subresource"); !name.empty()) {
            info.subresources.push_back(name);
          }
        }
        if (info.singular.empty()) info.singular = Lower(info.kind);
        Add(std::move(info));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ResourceInfo> RestMapper::ForKind(std::string_view group, std::string_view version,
                                                 std::string_view kind) const {
  const ResourceInfo* best = nullptr;
  for (const auto& r : resources_) {
    if (r.group != group || r.kind != kind) continue;
    if (!version.empty()) {
      if (r.version == version) return r;
      continue;
    }
    if (best == nullptr || Preferred(r)) best = &r;
  }
  if (best != nullptr) return *best;
  return absl::NotFoundError(fmt::format(
      "no resource for kind {} in {}{}", kind, group.empty() ? "the core group" : group,
      version.empty() ? "" : "/" + std::string(version)));
}

absl::StatusOr<ResourceInfo> RestMapper::ForName(std::string_view name) const {
  // "deploy.v1.apps" / "deployments.apps": a resource, then an optional version, then a group.
  std::string word(name), version, group;
  if (size_t dot = name.find('.'); dot != std::string_view::npos) {
    word = std::string(name.substr(0, dot));
    std::string rest(name.substr(dot + 1));
    size_t dot2 = rest.find('.');
    std::string first = rest.substr(0, dot2);
    if (dot2 != std::string::npos && first.size() > 1 && first[0] == 'v' &&
        std::isdigit(static_cast<unsigned char>(first[1]))) {
      version = first;
      group = rest.substr(dot2 + 1);
    } else {
      group = rest;
    }
  }
  const std::string lower = Lower(word);
  const ResourceInfo* best = nullptr;
  int best_rank = 1 << 30;
  for (const auto& r : resources_) {
    if (!group.empty() && r.group != group) continue;
    if (!version.empty() && r.version != version) continue;
    const bool hit = r.resource == lower || r.singular == lower || Lower(r.kind) == lower ||
                     std::find(r.short_names.begin(), r.short_names.end(), lower) !=
                         r.short_names.end();
    if (!hit) continue;
    // Rank: core first, then preferred versions, then discovery order.
    const int rank = (r.group.empty() ? 0 : 2) + (Preferred(r) ? 0 : 1);
    if (rank < best_rank) {
      best = &r;
      best_rank = rank;
    }
  }
  if (best != nullptr) return *best;
  return absl::NotFoundError(
      fmt::format("the server doesn't have a resource type \"{}\"", name));
}

}  // namespace kobs::k8s
