// Models: networks loaded from converted weights (.safetensors), run on RGB images.
//
//   auto model = deblurcore::load_model("stfan.safetensors");  // architecture from metadata
//   for (each frame) model->step(in_view, out_view);            // STFAN: frames in order
//   model->reset();                                             // before the next clip
//
// Ownership and threads: load_model returns the only owner of the model. A Model owns its
// weights (copied from the file: once load_model has returned, the file may be modified,
// truncated or deleted without affecting the model) and its recurrent state. Calls
// on one instance must not overlap; use one instance per thread. Instances loaded from the
// same file share nothing mutable, so several threads may each run their own instance. The
// model keeps a copy of the Context it was loaded with.
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
  // result into `out`, which must have the size and pixel type of `in` (and must not overlap
  // it). For recurrent models this is one step of the recurrence, as step().
  virtual void process(const ImageView& in, const MutableImageView& out);

  // Restores the next frame of a clip. For recurrent models (STFAN) the result depends on
  // the frames given since load or reset(), and every frame of a clip must have the same
  // size (a ValueError otherwise: call reset() first); for the others it is process().
  void step(const ImageView& in, const MutableImageView& out) { process(in, out); }

  const ImageFormat& image_format() const { return format_; }
  // Smallest image height and width process() accepts (smaller ones are padded to the size
  // multiple, but the network needs this much of real image).
  virtual int64_t min_image_size() const { return 1; }
  // False when process() refuses uint16 images (TypeError): the 8-bit IFAN variants, trained
  // on 8-bit images, rather than silently requantise; float32 works for all.
  virtual bool takes_16bit_images() const { return true; }
  const Context& context() const { return ctx_; }

 protected:
  // The model's context allocates through a cache in front of the given allocator (on the
  // host's default allocator: an arena that keeps its pages): each frame reuses the memory of
  // the previous one instead of faulting in fresh pages.
  Model(const Context& ctx, const ImageFormat& format) : ctx_(ctx), format_(format) {
    const bool host_default =
        ctx.device() == Device::CPU && ctx.allocator_ptr() == default_allocator(Device::CPU);
    ctx_.set_allocator(host_default ? make_host_arena_allocator(ctx.allocator_ptr())
                                    : make_caching_allocator(ctx.allocator_ptr()));
  }
  // ValueError/TypeError unless `in` is an image this model takes (size at least
  // min_image_size()) and `out` has its size and pixel type.
  void check_images(const ImageView& in, const MutableImageView& out) const;

  Context ctx_;
  ImageFormat format_;
};

// Loads the model named by the file's "architecture" metadata, on ctx's device. ValueError
// when the file is missing, is not a well-formed safetensors file, names no or an unknown
// architecture, or lacks or has extra weights; RuntimeError for a CUDA context in a build
// without CUDA. The returned model holds a copy of ctx (which may then be destroyed).
DEBLURCORE_API std::unique_ptr<Model> load_model(const std::string& weights_path,
                                                 const Context& ctx = Context());

}  // namespace deblurcore
