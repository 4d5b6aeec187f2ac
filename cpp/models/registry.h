// Constructors of the built-in models, one per architecture; load_model picks one from the
// weights' "architecture" metadata.
#pragma once

#include <memory>

#include "deblurcore/context.h"
#include "deblurcore/model.h"

namespace deblurcore {
class SafetensorsFile;
}

namespace deblurcore {

std::unique_ptr<Model> load_stfan(const SafetensorsFile& file, const Context& ctx);
std::unique_ptr<Model> load_ifan(const SafetensorsFile& file, const Context& ctx);
std::unique_ptr<Model> load_aspdc(const SafetensorsFile& file, const Context& ctx);
std::unique_ptr<Model> load_analysis_synthesis(const SafetensorsFile& file, const Context& ctx);

}  // namespace deblurcore
