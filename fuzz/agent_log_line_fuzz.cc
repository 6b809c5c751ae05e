// Fuzzes the node agent's reading of container log files: each input line through the CRI and
// Docker parsers, partial-line assembly (bounded), multi-line recombination (bounded), ANSI
// stripping and severity inference (JSON level fields included). Properties: an assembled line
// never exceeds the bound; a recombined entry never holds more lines than the bound; stripping
// leaves no ESC byte.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "agent/log_line.h"
#include "otlp/severity.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  kobs::agent::LineAssembler assembler(64);
  kobs::agent::Recombiner recombiner(4, 256);
  std::vector<kobs::agent::Recombiner::Entry> done;
  std::string scratch;
  auto recombine = [&](const kobs::agent::LineAssembler::Line& line) {
    if (line.text.size() > 64) std::abort();
    done.clear();
    recombiner.Add(line, &done);
    for (const auto& e : done) {
      if (e.lines > 4) std::abort();
    }
  };
  size_t start = 0;
  while (start <= input.size()) {
    size_t nl = input.find('\n', start);
    std::string_view line = input.substr(start, nl == std::string_view::npos ? nl : nl - start);
    kobs::agent::LogLine part;
    if (kobs::agent::ParseLogLine(line, &part, &scratch).ok()) {
      if (auto whole = assembler.Add(part)) recombine(*whole);
    }
    const std::string stripped = kobs::agent::StripAnsi(line);
    if (stripped.find('\x1b') != std::string::npos) std::abort();
    // As the agent does with each entry: the severity of the stripped text.
    (void)kobs::otlp::InferSeverity(stripped);
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  for (const auto& w : assembler.Flush()) recombine(w);
  (void)recombiner.Flush();
  return 0;
}
