#include "deblurcore/model.h"

#include "deblurcore/error.h"
#include "deblurcore/safetensors.h"
#include "models/metadata.h"
#include "models/registry.h"

namespace deblurcore {

void Model::check_images(const ImageView& in, const MutableImageView& out) const {
  const int64_t m = min_image_size();
  check(in.height >= m && in.width >= m, "image is ", in.height, "x", in.width,
        "; this model needs at least ", m, "x", m, " pixels");
  check<TypeError>(in.type != PixelType::U16 || takes_16bit_images(),
                   "image: dtype uint16 images need the 16-bit IFAN (IFAN_16bit); this "
                   "model (",
                   variant(), ") takes uint8, or float32 in [0, 1]");
  check(out.height == in.height && out.width == in.width, "output image must be ", in.height, "x",
        in.width, " like the input, got ", out.height, "x", out.width);
  check<TypeError>(out.type == in.type, "output image must have the input's pixel type ",
                   pixel_type_name(in.type), ", got ", pixel_type_name(out.type));
  check_finite_image(in, "image");
}

void Model::process(const ImageView& in, const MutableImageView& out) {
  check_images(in, out);
  const Tensor x = image_to_tensor(ctx_, in, format_);
  tensor_to_image(forward(x), format_, out);
}

std::unique_ptr<Model> load_model(const std::string& weights_path, const Context& ctx) {
  const SafetensorsFile file = SafetensorsFile::open(weights_path);
  const std::string arch = file.metadata_value("architecture", "");
  // Format 1 is the layout written by `deblurcore convert`; a later format may change
  // meanings this version cannot know about.
  const std::string format = file.metadata_value("format_version", "1");
  check(format == "1", weights_path, ": weights format_version ", format,
        " is newer than this deblurcore understands (1); upgrade deblurcore");
  std::unique_ptr<Model> model;
  if (arch == "stfan") model = load_stfan(file, ctx);
  if (arch == "ifan") model = load_ifan(file, ctx);
  if (arch == "aspdc") model = load_aspdc(file, ctx);
  if (arch == "analysis_synthesis") model = load_analysis_synthesis(file, ctx);
  if (model) {
    // After the model's own checks, which name a missing or extra tensor precisely.
    check_metadata_counts(file);
    return model;
  }
  if (arch.empty())
    fail<ValueError>(weights_path,
                     ": no 'architecture' in the metadata; convert the official "
                     "checkpoint with `deblurcore convert`");
  fail<ValueError>(weights_path, ": unknown architecture '", arch,
                   "' (known: stfan, ifan, aspdc, analysis_synthesis)");
}

}  // namespace deblurcore
