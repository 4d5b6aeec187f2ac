// Conversion between interleaved RGB images and network tensors. Done on the host: it is a
// few per-pixel operations, and the tensor is copied to the device once at the end.
#include <algorithm>
#include <cmath>

#include "deblurcore/error.h"
#include "deblurcore/image.h"

namespace deblurcore {

const char* pixel_type_name(PixelType type) {
  switch (type) {
    case PixelType::U8: return "uint8";
    case PixelType::U16: return "uint16";
    case PixelType::F32: return "float32";
  }
  return "unknown";
}

namespace {

size_t pixel_bytes(PixelType type) {
  switch (type) {
    case PixelType::U8: return 1;
    case PixelType::U16: return 2;
    case PixelType::F32: return 4;
  }
  fail<ValueError>("unknown pixel type ", static_cast<int>(type));
}

int64_t stride_of(int64_t row_stride, int64_t width, PixelType type, const char* what) {
  const int64_t packed = width * 3 * static_cast<int64_t>(pixel_bytes(type));
  if (row_stride == 0) return packed;
  check(row_stride >= packed, what, ": row_stride ", row_stride,
        " bytes is smaller than a packed row of ", packed, " bytes");
  return row_stride;
}

}  // namespace

void check_finite_image(const ImageView& image, const char* name) {
  if (image.type != PixelType::F32 || image.height <= 0 || image.width <= 0) return;
  const int64_t stride = stride_of(image.row_stride, image.width, image.type, name);
  int64_t bad = 0, first_y = 0, first_x = 0, first_c = 0;
  for (int64_t y = 0; y < image.height; ++y) {
    const float* row =
        reinterpret_cast<const float*>(static_cast<const char*>(image.data) + y * stride);
    for (int64_t i = 0; i < image.width * 3; ++i)
      if (!std::isfinite(row[i]) && bad++ == 0) {
        first_y = y;
        first_x = i / 3;
        first_c = i % 3;
      }
  }
  check(bad == 0, name, " has ", bad, " NaN or infinite value", bad == 1 ? "" : "s",
        " (first at row ", first_y, ", column ", first_x, ", channel ", first_c,
        "); the model needs finite values in [0, 1]");
}

namespace {

// Network value of one input sample.
template <typename T>
float to_network(T v, ImageFormat::Range range);

template <>
float to_network(uint8_t v, ImageFormat::Range range) {
  if (range == ImageFormat::Range::Byte) return float(v);
  return range == ImageFormat::Range::Unit ? float(v) / 255.0f
                                           : (float(v) - 127.5f) * (1.0f / 127.5f);
}
template <>
float to_network(uint16_t v, ImageFormat::Range range) {
  if (range == ImageFormat::Range::Byte) return float(v) * (255.0f / 65535.0f);
  return range == ImageFormat::Range::Unit ? float(v) / 65535.0f
                                           : (float(v) - 32767.5f) * (1.0f / 32767.5f);
}
template <>
float to_network(float v, ImageFormat::Range range) {
  if (range == ImageFormat::Range::Byte) return v * 255.0f;
  return range == ImageFormat::Range::Unit ? v : v * 2.0f - 1.0f;
}

template <typename T>
void fill_planes(const ImageView& img, int64_t stride, const ImageFormat& f, float* planes,
                 int64_t Hp, int64_t Wp) {
  const int64_t plane = Hp * Wp;
  for (int64_t y = 0; y < Hp; ++y) {
    const int64_t sy = std::min(y, img.height - 1);  // replicate padding at the bottom
    const T* row = reinterpret_cast<const T*>(static_cast<const char*>(img.data) + sy * stride);
    for (int64_t x = 0; x < Wp; ++x) {
      const int64_t sx = std::min(x, img.width - 1);  // and at the right
      for (int c = 0; c < 3; ++c) {
        const int dst_c = f.bgr ? 2 - c : c;
        planes[dst_c * plane + y * Wp + x] = to_network<T>(row[sx * 3 + c], f.range);
      }
    }
  }
}

// One sample of a 0..255 network output: clipped (NaN becomes 0), integers rounded half to
// even as numpy's np.round of the official code.
void write_byte_range(float v, PixelType type, char* row, int64_t i) {
  v = v > 0.0f ? (v < 255.0f ? v : 255.0f) : 0.0f;
  switch (type) {
    case PixelType::U8:
      reinterpret_cast<uint8_t*>(row)[i] = static_cast<uint8_t>(std::nearbyint(v));
      break;
    case PixelType::U16:
      reinterpret_cast<uint16_t*>(row)[i] =
          static_cast<uint16_t>(std::nearbyint(v * (65535.0f / 255.0f)));
      break;
    case PixelType::F32: reinterpret_cast<float*>(row)[i] = v / 255.0f; break;
  }
}

}  // namespace

Tensor image_to_tensor(const Context& ctx, const ImageView& img, const ImageFormat& f) {
  check<TypeError>(img.data != nullptr, "image: data is null");
  check(img.height > 0 && img.width > 0, "image: height and width must be positive, got ",
        img.height, "x", img.width);
  const int64_t stride = stride_of(img.row_stride, img.width, img.type, "image");
  const int64_t m = std::max(f.size_multiple, 1);
  const int64_t Hp = (img.height + m - 1) / m * m, Wp = (img.width + m - 1) / m * m;
  Tensor host = Tensor::empty({1, 3, Hp, Wp});
  switch (img.type) {
    case PixelType::U8: fill_planes<uint8_t>(img, stride, f, host.data(), Hp, Wp); break;
    case PixelType::U16: fill_planes<uint16_t>(img, stride, f, host.data(), Hp, Wp); break;
    case PixelType::F32: fill_planes<float>(img, stride, f, host.data(), Hp, Wp); break;
  }
  return host.to(ctx.device());
}

void tensor_to_image(const Tensor& output, const ImageFormat& f, const MutableImageView& out) {
  check<TypeError>(out.data != nullptr, "output image: data is null");
  check(output.dim() == 4 && output.size(0) == 1 && output.size(1) == 3,
        "network output must be (1, 3, H, W), got ", output.shape_str());
  const int64_t Hp = output.size(2), Wp = output.size(3);
  check(out.height > 0 && out.width > 0 && out.height <= Hp && out.width <= Wp, "output image of ",
        out.height, "x", out.width, " does not fit the network output ", Hp, "x", Wp);
  const int64_t stride = stride_of(out.row_stride, out.width, out.type, "output image");
  const Tensor host = output.to(Device::CPU);
  const float* planes = host.data();
  const int64_t plane = Hp * Wp;
  const bool symmetric = f.range == ImageFormat::Range::SymmetricUnit;
  for (int64_t y = 0; y < out.height; ++y) {
    char* row = static_cast<char*>(out.data) + y * stride;
    for (int64_t x = 0; x < out.width; ++x)
      for (int c = 0; c < 3; ++c) {
        const int src_c = f.bgr ? 2 - c : c;
        float v = planes[src_c * plane + y * Wp + x];
        if (f.range == ImageFormat::Range::Byte) {
          write_byte_range(v, out.type, row, x * 3 + c);
          continue;
        }
        // NaN-safe clamp: a NaN becomes 0.
        if (symmetric) v = (std::min(std::max(v, -1.0f), 1.0f) + 1.0f) * 0.5f;
        v = v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f;
        const int64_t i = x * 3 + c;
        switch (out.type) {
          case PixelType::U8:
            reinterpret_cast<uint8_t*>(row)[i] = static_cast<uint8_t>(std::lround(v * 255.0f));
            break;
          case PixelType::U16:
            reinterpret_cast<uint16_t*>(row)[i] = static_cast<uint16_t>(std::lround(v * 65535.0f));
            break;
          case PixelType::F32: reinterpret_cast<float*>(row)[i] = v; break;
        }
      }
  }
}

}  // namespace deblurcore
