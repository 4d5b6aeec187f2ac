// Placeholder until the IFAN model lands.
#include "deblurcore/error.h"
#include "models/registry.h"

namespace deblurcore {
std::unique_ptr<Model> load_ifan(const SafetensorsFile&, const Context&) {
  fail<RuntimeError>("the ifan model is not available in this build");
}
}  // namespace deblurcore
