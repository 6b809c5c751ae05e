#include "sim/scenario.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "common/absl_compat.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "common/yaml_json.h"
#include "sim/container_profile.h"
#include "sim/helm.h"
#include "sim/object_meta.h"

namespace kobs::sim {
namespace {

using nlohmann::json;
using Steady = std::chrono::steady_clock;

const char* const kActions[] = {"apply",  "patch", "setImage", "scale",
                                "restart", "delete", "helm",    "helmRollback"};

absl::Status StepError(size_t index, std::string_view why) {
  return absl::InvalidArgumentError(fmt::format("timeline[{}]: {}", index, why));
}

std::string Field(const json& args, const char* key) {
  return args.is_object() && args.contains(key) && args[key].is_string()
             ? args[key].get<std::string>()
             : "";
}

// ${uid:<apiVersion>:<Kind>:<namespace>:<name>} -> the object's uid, in every string.
absl::Status ExpandUids(Api& api, json& v) {
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    size_t pos;
    while ((pos = s.find("${uid:")) != std::string::npos) {
      size_t end = s.find('}', pos);
      if (end == std::string::npos) return absl::InvalidArgumentError("unterminated ${uid:...}");
      std::vector<std::string> parts;
      std::stringstream ref(s.substr(pos + 6, end - pos - 6));
      for (std::string p; std::getline(ref, p, ':');) parts.push_back(p);
      if (parts.size() != 4) {
        return absl::InvalidArgumentError(
            "want ${uid:<apiVersion>:<Kind>:<namespace>:<name>} (namespace may be empty)");
      }
      auto type = api.registry().FindKind(parts[0], parts[1]);
      if (type == nullptr) {
        return absl::NotFoundError(fmt::format("${{uid:...}}: no kind {} in {}", parts[1], parts[0]));
      }
      KOBS_ASSIGN_OR_RETURN(json obj, api.Get(*type, parts[2], parts[3]));
      s.replace(pos, end - pos + 1, Str(obj, "metadata", "uid"));
    }
    v = s;
  } else if (v.is_structured()) {
    for (auto& [k, child] : v.items()) KOBS_RETURN_IF_ERROR(ExpandUids(api, child));
  }
  return absl::OkStatus();
}

std::shared_ptr<const ResourceType> TypeFor(Api& api, const json& args) {
  std::string api_version = Field(args, "apiVersion");
  const std::string kind = Field(args, "kind");
  if (api_version.empty()) {
    if (kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet" ||
        kind == "ReplicaSet") {
      api_version = "apps/v1";
    } else if (kind == "Job") {
      api_version = "batch/v1";
    } else {
      api_version = "v1";
    }
  }
  return api.registry().FindKind(api_version, kind);
}

absl::StatusOr<std::vector<json>> Documents(const json& v) {
  if (v.is_string()) return YamlDocumentsToJson(v.get<std::string>());
  if (v.is_array()) return std::vector<json>(v.begin(), v.end());
  if (v.is_object()) return std::vector<json>{v};
  return absl::InvalidArgumentError("want YAML text, an object, or a list of objects");
}

}  // namespace

absl::StatusOr<Scenario> ParseScenario(std::string_view yaml) {
  KOBS_ASSIGN_OR_RETURN(json doc, YamlToJson(yaml));
  if (!doc.is_object()) return absl::InvalidArgumentError("a scenario is a YAML map");
  Scenario s;
  s.name = Field(doc, "name");
  s.description = Field(doc, "description");
  for (const auto& [key, v] : doc.items()) {
    if (key != "name" && key != "description" && key != "manifests" && key != "timeline") {
      return absl::InvalidArgumentError(fmt::format(
          "unknown field \"{}\" (known: name, description, manifests, timeline)", key));
    }
  }
  if (doc.contains("manifests")) {
    KOBS_RETURN_IF_ERROR(Documents(doc["manifests"]).status());
    s.steps.push_back({std::chrono::milliseconds(0), "apply", doc["manifests"]});
  }
  if (doc.contains("timeline")) {
    const json& timeline = doc["timeline"];
    if (!timeline.is_array()) return absl::InvalidArgumentError("timeline: want a list of steps");
    for (size_t i = 0; i < timeline.size(); ++i) {
      const json& step = timeline[i];
      if (!step.is_object()) return StepError(i, "want a map with `at` and one action");
      ScenarioStep out;
      int actions = 0;
      for (const auto& [key, v] : step.items()) {
        if (key == "at") {
          std::string at = v.is_string() ? v.get<std::string>() : v.is_number() ? v.dump() + "s" : "";
          absl::StatusOr<std::chrono::milliseconds> d = ParseDuration(at);
          if (!d.ok()) return StepError(i, fmt::format("at: {}", ToStd(d.status().message())));
          out.at = *d;
          continue;
        }
        if (std::find(std::begin(kActions), std::end(kActions), key) == std::end(kActions)) {
          return StepError(i, fmt::format("unknown action \"{}\" (known: apply, patch, setImage, "
                                          "scale, restart, delete, helm, helmRollback)",
                                          key));
        }
        out.action = key;
        out.args = v;
        ++actions;
      }
      if (actions != 1) return StepError(i, "want exactly one action");
      if (out.action == "apply") {
        absl::Status docs = Documents(out.args).status();
        if (!docs.ok()) return StepError(i, fmt::format("apply: {}", ToStd(docs.message())));
      } else if (!out.args.is_object()) {
        return StepError(i, fmt::format("{}: want a map of arguments", out.action));
      }
      s.steps.push_back(std::move(out));
    }
  }
  std::stable_sort(s.steps.begin(), s.steps.end(),
                   [](const ScenarioStep& a, const ScenarioStep& b) { return a.at < b.at; });
  return s;
}

absl::StatusOr<Scenario> LoadScenario(const std::string& name_or_path) {
  if (const char* yaml = BuiltinScenarioYaml(name_or_path)) return ParseScenario(yaml);
  std::ifstream in(name_or_path);
  if (!in) {
    std::string names;
    for (const auto& [name, desc] : BuiltinScenarios()) names += (names.empty() ? "" : ", ") + name;
    return absl::NotFoundError(fmt::format(
        "scenario \"{}\": no such file, and not a built-in scenario ({})", name_or_path, names));
  }
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<Scenario> s = ParseScenario(text.str());
  if (!s.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("scenario {}: {}", name_or_path, ToStd(s.status().message())));
  }
  if (s->name.empty()) s->name = name_or_path;
  return s;
}

struct ScenarioRunner::HelmWait {
  std::string ns, release;
  int revision = 0;
  Steady::time_point deadline;
};

ScenarioRunner::ScenarioRunner(Api& api, double time_factor, MetricsRegistry& metrics)
    : api_(api),
      time_factor_(time_factor > 0 ? time_factor : 1.0),
      steps_ok_metric_(metrics.GetCounter("kobs_sim_scenario_steps_total",
                                          "Scenario steps run.", {{"result", "ok"}})),
      steps_failed_metric_(metrics.GetCounter("kobs_sim_scenario_steps_total",
                                              "Scenario steps run.", {{"result", "error"}})) {}

ScenarioRunner::~ScenarioRunner() { Stop(); }

void ScenarioRunner::Start(std::vector<Scenario> scenarios) {
  stop_ = false;
  done_ = false;
  thread_ = std::thread([this, s = std::move(scenarios)]() mutable { Run(std::move(s)); });
}

void ScenarioRunner::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

absl::Status ScenarioRunner::RunStep(const ScenarioStep& step) {
  json args = step.args;
  KOBS_RETURN_IF_ERROR(ExpandUids(api_, args));
  const std::string ns = Field(args, "namespace").empty() ? "default" : Field(args, "namespace");
  const std::string name = Field(args, "name");
  if (step.action == "apply") {
    KOBS_ASSIGN_OR_RETURN(std::vector<json> docs, Documents(args));
    for (json& d : docs) {
      if (d.is_null()) continue;
      KOBS_RETURN_IF_ERROR(ApplyObject(api_, std::move(d), "default", "kobs-sim").status());
    }
    return absl::OkStatus();
  }
  if (step.action == "helm") {
    HelmAction a;
    a.release = Field(args, "release");
    a.ns = ns;
    json chart = args.contains("chart") ? args["chart"] : json::object();
    a.chart.name = Field(chart, "name");
    if (!Field(chart, "version").empty()) a.chart.version = Field(chart, "version");
    a.chart.app_version = Field(chart, "appVersion");
    if (args.contains("values") && args["values"].is_object()) a.values = args["values"];
    a.manifest = Field(args, "manifest");
    if (!Field(args, "wait").empty()) {
      KOBS_ASSIGN_OR_RETURN(std::chrono::milliseconds w, ParseDuration(Field(args, "wait")));
      a.wait = w;
    }
    KOBS_ASSIGN_OR_RETURN(int revision, HelmUpgrade(api_, a));
    if (a.wait) {
      auto real = std::chrono::duration_cast<Steady::duration>(
          std::chrono::duration<double>(static_cast<double>(a.wait->count()) / 1000.0 / time_factor_));
      absl::MutexLock lock(&mu_);
      waits_.push_back(std::make_unique<HelmWait>(HelmWait{ns, a.release, revision, Steady::now() + real}));
    }
    return absl::OkStatus();
  }
  if (step.action == "helmRollback") {
    int revision = args.contains("revision") && args["revision"].is_number_integer()
                       ? args["revision"].get<int>()
                       : 0;
    return HelmRollback(api_, ns, Field(args, "release"), revision).status();
  }
  if (step.action == "setImage") {
    const std::string deployment = Field(args, "deployment");
    auto type = api_.registry().Find("apps", "v1", "deployments");
    json patch = {{"spec",
                   {{"template",
                     {{"spec",
                       {{"containers",
                         {{{"name", Field(args, "container")}, {"image", Field(args, "image")}}}}}}}}}}};
    return api_.Patch(*type, ns, deployment, k8s::PatchType::kStrategicMergePatch, patch.dump())
        .status();
  }
  auto type = TypeFor(api_, args);
  if (type == nullptr) {
    return absl::NotFoundError(fmt::format("{}: unknown kind \"{}\"", step.action, Field(args, "kind")));
  }
  if (step.action == "patch") {
    const std::string t = Field(args, "type");
    k8s::PatchType pt = t == "json"        ? k8s::PatchType::kJsonPatch
                        : t == "strategic" ? k8s::PatchType::kStrategicMergePatch
                                           : k8s::PatchType::kMergePatch;
    json body = args.contains("patch") ? args["patch"] : json::object();
    return api_.Patch(*type, ns, name, pt, body.is_string() ? body.get<std::string>() : body.dump())
        .status();
  }
  if (step.action == "scale") {
    if (!args.contains("replicas") || !args["replicas"].is_number_integer()) {
      return absl::InvalidArgumentError("scale: want replicas");
    }
    json patch = {{"spec", {{"replicas", args["replicas"]}}}};
    return api_.PatchScale(*type, ns, name, k8s::PatchType::kMergePatch, patch.dump()).status();
  }
  if (step.action == "restart") {
    json patch = {{"spec",
                   {{"template",
                     {{"metadata",
                       {{"annotations", {{"kubectl.kubernetes.io/restartedAt", NowRfc3339()}}}}}}}}}};
    return api_.Patch(*type, ns, name, k8s::PatchType::kStrategicMergePatch, patch.dump()).status();
  }
  if (step.action == "delete") {
    return api_.Delete(*type, type->namespaced ? ns : "", name).status();
  }
  return absl::InvalidArgumentError(fmt::format("unknown action {}", step.action));
}

bool ScenarioRunner::SettleHelmWaits() {
  absl::MutexLock lock(&mu_);
  for (auto it = waits_.begin(); it != waits_.end();) {
    HelmWait& w = **it;
    absl::StatusOr<bool> ready = HelmWorkloadsReady(api_, w.ns, w.release, w.revision);
    bool expired = Steady::now() >= w.deadline;
    if ((ready.ok() && *ready) || expired) {
      absl::Status s = FinishHelmWait(api_, w.ns, w.release, w.revision, ready.ok() && *ready);
      if (!s.ok()) {
        Log(Logger("sim"), spdlog::level::warn, "settling a Helm release failed",
            {{"release", w.release}, {"error", std::string(ToStd(s.message()))}});
      }
      it = waits_.erase(it);
    } else {
      ++it;
    }
  }
  return waits_.empty();
}

void ScenarioRunner::Run(std::vector<Scenario> scenarios) {
  struct Pending {
    Steady::time_point when;
    std::string scenario;
    size_t index;
    const ScenarioStep* step;
  };
  const Steady::time_point start = Steady::now();
  std::vector<Pending> pending;
  for (const Scenario& s : scenarios) {
    for (size_t i = 0; i < s.steps.size(); ++i) {
      auto real = std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(
          static_cast<double>(s.steps[i].at.count()) / 1000.0 / time_factor_));
      pending.push_back({start + real, s.name, i, &s.steps[i]});
    }
  }
  std::stable_sort(pending.begin(), pending.end(),
                   [](const Pending& a, const Pending& b) { return a.when < b.when; });
  size_t next = 0;
  while (!stop_) {
    while (next < pending.size() && Steady::now() >= pending[next].when) {
      const Pending& p = pending[next++];
      absl::Status s = RunStep(*p.step);
      ++steps_run_;
      if (s.ok()) {
        steps_ok_metric_.Inc();
        Log(Logger("sim"), spdlog::level::info, "scenario step",
            {{"scenario", p.scenario}, {"step", std::to_string(p.index)}, {"action", p.step->action}});
      } else {
        ++steps_failed_;
        steps_failed_metric_.Inc();
        Log(Logger("sim"), spdlog::level::warn, "scenario step failed",
            {{"scenario", p.scenario},
             {"step", std::to_string(p.index)},
             {"action", p.step->action},
             {"error", std::string(ToStd(s.message()))}});
      }
    }
    bool settled = SettleHelmWaits();
    if (next == pending.size() && settled) {
      done_ = true;
      // Nothing left but late Helm steps from RunStep callers: keep settling.
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace kobs::sim
