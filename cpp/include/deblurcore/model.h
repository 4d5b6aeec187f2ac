// Models: networks loaded from converted weights (.safetensors), run on RGB images.
//
// Ownership and threads: a Model owns its weights (shared, read-only, memory-mapped where
// possible) and its recurrent state. Calls on one instance must not overlap; use one instance
// per thread. Instances loaded from the same file share nothing mutable.
#pragma once

#include <memory>
#include <string>

#include "deblurcore/context.h"
#include "deblurcore/export.h"
#include "deblurcore/image.h"
#include "deblurcore/tensor.h"

namespace deblurcore {

class DEBLURCORE_API Model {
 public:
  virtual ~Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  // "stfan", "ifan" or "aspdc".
  virtual std::string architecture() const = 0;
  // A variant name from the weights' metadata (e.g. "IFAN_16bit"), or the architecture.
  virtual std::string variant() const { return architecture(); }
  // True when outputs depend on the frames seen before (STFAN); reset() forgets them.
  virtual bool is_recurrent() const { return false; }
  virtual void reset() {}

  // Advanced use: the network on its native input (1, 3, H, W) in its own channel order and
  // value range (see image_format()), H and W multiples of image_format().size_multiple.
  // Returns the raw (unclamped) output (1, 3, H, W). For recurrent models this is one step.
  virtual Tensor forward(const Tensor& x) = 0;

  // Restores an RGB image: converts it with image_format(), runs forward() and writes the
  // result into `out`, which must have the size and pixel type of `in`.
  virtual void process(const ImageView& in, const MutableImageView& out);

  const ImageFormat& image_format() const { return format_; }
  const Context& context() const { return ctx_; }

 protected:
  Model(const Context& ctx, const ImageFormat& format) : ctx_(ctx), format_(format) {}
  Context ctx_;
  ImageFormat format_;
};

// Loads the model named by the file's "architecture" metadata, on ctx's device.
DEBLURCORE_API std::unique_ptr<Model> load_model(const std::string& weights_path,
                                                 const Context& ctx = Context());

}  // namespace deblurcore
