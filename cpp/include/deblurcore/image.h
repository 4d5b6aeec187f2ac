// Interleaved H x W x 3 RGB images as applications hold them, and their conversion to and from
// a network's input tensor (channel order, value scaling, padding to a size multiple).
#pragma once

#include <cstdint>

#include "deblurcore/context.h"
#include "deblurcore/export.h"
#include "deblurcore/tensor.h"

namespace deblurcore {

enum class PixelType : int { U8 = 0, U16 = 1, F32 = 2 };

DEBLURCORE_API const char* pixel_type_name(PixelType type);

// A read-only view of an interleaved RGB image (3 channels, row-major). `row_stride` is in
// bytes; 0 means packed rows (width * 3 * pixel size). Float images hold values in [0, 1].
// Views do not own the pixels: the caller keeps them alive during the call. 16-bit samples
// are in the machine's byte order (convert big-endian file data first).
struct ImageView {
  const void* data = nullptr;
  int64_t height = 0, width = 0;
  PixelType type = PixelType::U8;
  int64_t row_stride = 0;
};

// A writable view with the same conventions.
struct MutableImageView {
  void* data = nullptr;
  int64_t height = 0, width = 0;
  PixelType type = PixelType::U8;
  int64_t row_stride = 0;
};

// How a network wants its input and gives its output; read from the weights' metadata.
struct ImageFormat {
  // Network channel 0 is blue (STFAN, trained on OpenCV frames) instead of red.
  bool bgr = false;
  // Input scaling of an integer pixel v with maximum M (255 or 65535):
  //   Divide:       v / M (true float division: bit-identical to the official float64 path)
  //   SymmetricUnit: (v - M/2) * (1 / (M/2)), the [-1, 1] range of ASPDC (albumentations'
  //                  Normalize(0.5, 0.5) multiplies by the reciprocal).
  //   Byte:         v * (255 / M), the 0..255 values of the Analysis-Synthesis pair (uint8
  //                  exactly v); the output is clipped to [0, 255] and integers are rounded
  //                  half to even (numpy's round), floats divided by 255.
  // Float input in [0, 1] is mapped the same way: v, 2v - 1, or 255 v.
  enum class Range : int { Unit = 0, SymmetricUnit = 1, Byte = 2 } range = Range::Unit;
  // The network's H and W must be multiples of this; other sizes are padded (replicate) at
  // the bottom and right and the output is cropped back.
  int size_multiple = 1;
};

// ValueError unless every sample of a float32 image is finite, naming `name`, how many are NaN
// or infinite and the first (row, column, channel): a NaN spreads through a network into an
// all-black result (and into every later frame of a recurrent model). Integer images pass.
DEBLURCORE_API void check_finite_image(const ImageView& image, const char* name = "image");

// image -> (1, 3, Hp, Wp) tensor on ctx's device, Hp/Wp rounded up to the size multiple.
DEBLURCORE_API Tensor image_to_tensor(const Context& ctx, const ImageView& image,
                                      const ImageFormat& format);

// (1, 3, Hp, Wp) network output -> image (cropped to out's size): clamped to the output range
// ([0, 1], or [-1, 1] mapped to [0, 1] for SymmetricUnit), integers rounded to nearest.
DEBLURCORE_API void tensor_to_image(const Tensor& output, const ImageFormat& format,
                                    const MutableImageView& out);

}  // namespace deblurcore
