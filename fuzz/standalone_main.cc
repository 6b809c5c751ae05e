// A driver for LLVMFuzzerTestOneInput when libFuzzer is not linked (g++ builds): runs every
// file given on the command line, then `KOBS_FUZZ_ITERATIONS` (default 20000) inputs mutated
// from them with a fixed seed. A smoke test, not a fuzzer: real runs use clang -fsanitize=fuzzer.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  std::vector<std::string> corpus;
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    corpus.push_back(ss.str());
  }
  if (corpus.empty()) corpus.push_back("");
  for (const auto& c : corpus) {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(c.data()), c.size());
  }
  const char* env = std::getenv("KOBS_FUZZ_ITERATIONS");
  long iterations = env != nullptr ? std::atol(env) : 20000;
  std::mt19937_64 rng(12345);
  for (long i = 0; i < iterations; ++i) {
    std::string s = corpus[rng() % corpus.size()];
    int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) {
      size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
      switch (rng() % 4) {
        case 0: s.insert(s.begin() + pos, static_cast<char>(rng())); break;
        case 1: if (pos < s.size()) s.erase(pos, 1 + rng() % 4); break;
        case 2: if (pos < s.size()) s[pos] = static_cast<char>(rng()); break;
        default: s.insert(pos, corpus[rng() % corpus.size()].substr(0, rng() % 16)); break;
      }
    }
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  std::printf("%zu corpus inputs and %ld mutations ran without a crash\n", corpus.size(), iterations);
  return 0;
}
