// Fuzzes the Kubernetes watch-stream decoder (the input split into chunks at positions the
// first byte seeds), the typed object decoders (Pod, Event, Lease) on the decoded objects, the
// API Status and discovery decoders (the input as an error body and as discovery documents),
// and the label and field selector parsers (a parsed label selector must print to text that
// parses to itself).
#include <cstdint>
#include <string_view>
#include <vector>

#include <cstdlib>

#include "k8s/api_status.h"
#include "k8s/objects.h"
#include "k8s/rest_mapper.h"
#include "k8s/selector.h"
#include "k8s/watch_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t step = 1 + data[0] % 64;
  kobs::k8s::WatchDecoder decoder(1 << 16);
  std::vector<kobs::k8s::WatchEvent> events;
  for (size_t at = 0; at < body.size(); at += step) {
    if (!decoder.Feed(body.substr(at, step), &events).ok()) break;
  }
  (void)decoder.Finish();
  for (const auto& e : events) {
    (void)kobs::k8s::IsGone(e.error);
    // The typed object decoders, on whatever objects the stream carried.
    (void)kobs::k8s::DecodeEvent(e.object);
    (void)kobs::k8s::DecodePod(e.object);
    (void)kobs::k8s::DecodeLease(e.object);
  }
  absl::Status s = kobs::k8s::StatusFromResponse(400 + data[0] % 200, body);
  (void)kobs::k8s::ApiCode(s);
  if (auto sel = kobs::k8s::LabelSelector::Parse(body); sel.ok()) {
    auto again = kobs::k8s::LabelSelector::Parse(sel->ToString());
    if (!again.ok() || again->ToString() != sel->ToString()) std::abort();
    (void)sel->Matches(nlohmann::json{{"metadata", {{"labels", {{"a", "b"}}}}}});
  }
  kobs::k8s::RestMapper mapper;
  (void)mapper.AddResourceList(body);
  (void)mapper.AddAggregated(body);
  for (const auto& r : mapper.resources()) (void)mapper.ForName(r.resource + "." + r.group);
  if (auto f = kobs::k8s::FieldSelector::Parse(body); f.ok()) {
    (void)f->Matches(nlohmann::json{{"metadata", {{"name", "x"}}}});
  }
  return 0;
}
