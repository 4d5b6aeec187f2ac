// Placeholder until the ASPDC model lands.
#include "deblurcore/error.h"
#include "models/registry.h"

namespace deblurcore {
std::unique_ptr<Model> load_aspdc(const SafetensorsFile&, const Context&) {
  fail<RuntimeError>("the aspdc model is not available in this build");
}
}  // namespace deblurcore
