#include "temp_dir.h"

#include <stdlib.h>

#include <system_error>

namespace kobs::testing {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "kobs-test-XXXXXX").string();
  char* p = mkdtemp(tmpl.data());
  path_ = p != nullptr ? std::filesystem::path(p) : std::filesystem::path(tmpl);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace kobs::testing
