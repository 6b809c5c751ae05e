// Fuzzes the patch library (k8s/patch.h). The input is "<document>\n===\n<patch>", both JSON;
// without the separator the whole input is the patch against a small Deployment. The patch runs
// as a JSON patch, a merge patch, a strategic merge patch, a server-side apply configuration and
// an update; its first line also goes through PatchTypeFromContentType. Aborts on a kInternal
// status (an escaped exception) and on broken invariants: results stay within the depth bound,
// merge patches are idempotent, an empty strategic patch changes nothing, and re-applying the
// same configuration as the same manager changes nothing.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "k8s/patch.h"

namespace {

using nlohmann::json;

constexpr std::string_view kSeparator = "\n===\n";

const json& DefaultDocument() {
  static const json doc = json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment",
      "metadata":{"name":"web","labels":{"app":"web"},"finalizers":["a"]},
      "spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"web","image":"nginx",
      "env":[{"name":"A","value":"1"}]}]}}}})");
  return doc;
}

template <typename T>
void Check(const absl::StatusOr<T>& result) {
  if (result.status().code() == absl::StatusCode::kInternal) std::abort();
}

void CheckDepth(const json& result) {
  // A merge patch with an empty patch accepts exactly the values within the depth bound.
  if (!kobs::k8s::ApplyMergePatch(result, json::object()).ok()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kobs::k8s;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  auto type = PatchTypeFromContentType(input.substr(0, input.find('\n')));
  if (type.ok() && PatchTypeFromContentType(ContentTypeFor(*type)).value() != *type) std::abort();

  const size_t split = input.find(kSeparator);
  json doc = DefaultDocument();
  std::string_view patch_text = input;
  if (split != std::string_view::npos) {
    doc = json::parse(input.substr(0, split), nullptr, false);
    patch_text = input.substr(split + kSeparator.size());
  }
  const json patch = json::parse(patch_text, nullptr, false);
  if (doc.is_discarded() || patch.is_discarded()) return 0;

  auto json_patched = ApplyJsonPatch(doc, patch);
  Check(json_patched);
  if (json_patched.ok()) CheckDepth(*json_patched);

  auto merged = ApplyMergePatch(doc, patch);
  Check(merged);
  if (merged.ok()) {
    auto twice = ApplyMergePatch(*merged, patch);
    if (!twice.ok() || *twice != *merged) std::abort();
  }

  auto strategic = ApplyStrategicMergePatch(doc, patch);
  Check(strategic);
  if (strategic.ok()) {
    CheckDepth(*strategic);
    auto unchanged = ApplyStrategicMergePatch(*strategic, json::object());
    if (!unchanged.ok() || *unchanged != *strategic) std::abort();
  }

  const ApplyOptions options{.manager = "fuzz", .force = size % 2 == 0, .now = "t"};
  auto applied = ServerSideApply(doc.is_object() ? doc : json(), patch, options);
  Check(applied);
  if (applied.ok()) {
    CheckDepth(*applied);
    auto again = ServerSideApply(*applied, patch, options);
    if (!again.ok() || *again != *applied) std::abort();
  }
  Check(ServerSideApply(nullptr, patch, {.manager = "other", .now = "t"}));

  auto updated = RecordUpdate(doc, patch, "editor", "t");
  Check(updated);
  if (updated.ok() && doc.is_object()) {
    Check(ServerSideApply(*updated, doc, options));
  }
  return 0;
}
