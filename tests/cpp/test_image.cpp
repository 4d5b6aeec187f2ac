// image_to_tensor / tensor_to_image (the conversion every Model::process does) and
// Model::process/step on a model written here, through the public API: channel order, value
// scaling, padding to the size multiple, rounding, clamping, row strides and bad views.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "deblurcore/deblurcore.h"
#include "test_util.h"

using namespace deblurcore;

namespace {

const Context kCtx(Device::CPU, 1);

ImageFormat format(bool bgr, ImageFormat::Range range, int multiple) {
  ImageFormat f;
  f.bgr = bgr;
  f.range = range;
  f.size_multiple = multiple;
  return f;
}

// Value of tensor element (0, c, y, x).
float at(const Tensor& t, int64_t c, int64_t y, int64_t x) {
  return t.data()[(c * t.size(2) + y) * t.size(3) + x];
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

// The identity network: forward() returns its input, so process() is a pure round trip.
class IdentityModel final : public Model {
 public:
  explicit IdentityModel(const ImageFormat& f) : Model(Context(Device::CPU, 1), f) {}
  std::string architecture() const override { return "identity"; }
  Tensor forward(const Tensor& x) override {
    ++calls;
    last_shape = x.shape();
    return x;
  }
  int calls = 0;
  Shape last_shape;
};

}  // namespace

TEST_CASE(u8_scaling_and_channel_order) {
  // 1 x 256 image: pixel x holds (x, 255 - x, x / 2).
  std::vector<uint8_t> img(256 * 3);
  for (int x = 0; x < 256; ++x) {
    img[x * 3 + 0] = uint8_t(x);
    img[x * 3 + 1] = uint8_t(255 - x);
    img[x * 3 + 2] = uint8_t(x / 2);
  }
  const ImageView view{img.data(), 1, 256, PixelType::U8};
  const Tensor rgb = image_to_tensor(kCtx, view, format(false, ImageFormat::Range::Unit, 1));
  const Tensor bgr = image_to_tensor(kCtx, view, format(true, ImageFormat::Range::Unit, 1));
  CHECK(rgb.shape() == (Shape{1, 3, 1, 256}));
  bool ok = true;
  for (int x = 0; x < 256; ++x)
    for (int c = 0; c < 3; ++c) {
      // v / 255 as one correctly rounded float division.
      const float want = float(img[x * 3 + c]) / 255.0f;
      ok = ok && same_bits(at(rgb, c, 0, x), want) && same_bits(at(bgr, 2 - c, 0, x), want);
    }
  CHECK(ok);
  CHECK_EQ(at(rgb, 0, 0, 255), 1.0f);
  CHECK_EQ(at(bgr, 0, 0, 0), 0.0f);  // blue of pixel 0 first in BGR
}

TEST_CASE(symmetric_range_and_u16_and_float_input) {
  const uint8_t u8[3] = {0, 128, 255};
  const Tensor s8 = image_to_tensor(kCtx, {u8, 1, 1, PixelType::U8},
                                    format(false, ImageFormat::Range::SymmetricUnit, 1));
  CHECK_EQ(at(s8, 0, 0, 0), -1.0f);
  CHECK_EQ(at(s8, 2, 0, 0), 1.0f);
  CHECK(same_bits(at(s8, 1, 0, 0), (128.0f - 127.5f) * (1.0f / 127.5f)));

  const uint16_t u16[3] = {0, 32768, 65535};
  const Tensor t16 = image_to_tensor(kCtx, {u16, 1, 1, PixelType::U16},
                                     format(false, ImageFormat::Range::Unit, 1));
  CHECK_EQ(at(t16, 0, 0, 0), 0.0f);
  CHECK(same_bits(at(t16, 1, 0, 0), 32768.0f / 65535.0f));
  CHECK_EQ(at(t16, 2, 0, 0), 1.0f);

  const float f32[3] = {0.25f, -0.5f, 2.0f};  // float input is not clamped on the way in
  const Tensor unit = image_to_tensor(kCtx, {f32, 1, 1, PixelType::F32},
                                      format(false, ImageFormat::Range::Unit, 1));
  const Tensor sym = image_to_tensor(kCtx, {f32, 1, 1, PixelType::F32},
                                     format(true, ImageFormat::Range::SymmetricUnit, 1));
  CHECK_EQ(at(unit, 0, 0, 0), 0.25f);
  CHECK_EQ(at(unit, 1, 0, 0), -0.5f);
  CHECK_EQ(at(sym, 2, 0, 0), -0.5f);  // 2 * 0.25 - 1, in channel 2 (BGR)
  CHECK_EQ(at(sym, 0, 0, 0), 3.0f);
}

TEST_CASE(padding_replicates_the_last_row_and_column) {
  // 5 x 6 image, multiple 4 -> 8 x 8; pixel (y, x) = (10 y + x, 0, 200).
  const int64_t H = 5, W = 6;
  std::vector<uint8_t> img(H * W * 3);
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) {
      img[(y * W + x) * 3 + 0] = uint8_t(10 * y + x);
      img[(y * W + x) * 3 + 1] = 0;
      img[(y * W + x) * 3 + 2] = 200;
    }
  const Tensor t = image_to_tensor(kCtx, {img.data(), H, W, PixelType::U8},
                                   format(false, ImageFormat::Range::Unit, 4));
  CHECK(t.shape() == (Shape{1, 3, 8, 8}));
  bool ok = true;
  for (int64_t y = 0; y < 8; ++y)
    for (int64_t x = 0; x < 8; ++x) {
      const int64_t sy = std::min<int64_t>(y, H - 1), sx = std::min<int64_t>(x, W - 1);
      ok =
          ok && at(t, 0, y, x) == float(10 * sy + sx) / 255.0f && at(t, 2, y, x) == 200.0f / 255.0f;
    }
  CHECK(ok);
  // Sizes already a multiple are not padded; multiple 1 (or less) never pads.
  CHECK(image_to_tensor(kCtx, {img.data(), 4, 4, PixelType::U8, W * 3},
                        format(false, ImageFormat::Range::Unit, 4))
            .shape() == (Shape{1, 3, 4, 4}));
  CHECK(image_to_tensor(kCtx, {img.data(), H, W, PixelType::U8},
                        format(false, ImageFormat::Range::Unit, 0))
            .shape() == (Shape{1, 3, 5, 6}));
}

TEST_CASE(row_strides_skip_the_row_padding) {
  // 3 x 2 image in rows of 16 bytes (6 used); the rest is garbage that must not be read back.
  const int64_t H = 3, W = 2, stride = 16;
  std::vector<uint8_t> img(H * stride, 0xEE);
  for (int64_t y = 0; y < H; ++y)
    for (int64_t i = 0; i < W * 3; ++i) img[y * stride + i] = uint8_t(y * 50 + i);
  const ImageFormat f = format(false, ImageFormat::Range::Unit, 1);
  const Tensor t = image_to_tensor(kCtx, {img.data(), H, W, PixelType::U8, stride}, f);
  bool ok = true;
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x)
      for (int c = 0; c < 3; ++c) ok = ok && at(t, c, y, x) == float(y * 50 + x * 3 + c) / 255.0f;
  CHECK(ok);
  // Writing back with a stride leaves the bytes between rows untouched.
  std::vector<uint8_t> out(H * stride, 0x55);
  tensor_to_image(t, f, {out.data(), H, W, PixelType::U8, stride});
  for (int64_t y = 0; y < H; ++y) {
    for (int64_t i = 0; i < W * 3; ++i) ok = ok && out[y * stride + i] == img[y * stride + i];
    for (int64_t i = W * 3; i < stride; ++i) ok = ok && out[y * stride + i] == 0x55;
  }
  CHECK(ok);
  // Float image with a stride that is not a multiple of the row size.
  std::vector<float> fimg(2 * 8, -7.f);
  for (int i = 0; i < 3; ++i) fimg[i] = 0.1f * float(i + 1), fimg[8 + i] = 0.2f * float(i + 1);
  const Tensor ft = image_to_tensor(kCtx, {fimg.data(), 2, 1, PixelType::F32, 8 * 4}, f);
  CHECK_EQ(at(ft, 2, 0, 0), 0.3f);
  CHECK_EQ(at(ft, 0, 1, 0), 0.2f);
}

TEST_CASE(output_rounding_clamping_and_cropping) {
  // Values around the rounding points of 8 and 16 bits, out of range ones and NaN.
  const std::vector<float> values = {0.0f,
                                     1.0f,
                                     -0.25f,
                                     1.5f,
                                     NAN,
                                     INFINITY,
                                     -INFINITY,
                                     3.49f / 255,
                                     3.51f / 255,
                                     254.49f / 255,
                                     0.5f / 65535 * 0.98f,
                                     1000.6f / 65535,
                                     0.5f,
                                     0.7f};
  const int64_t W = static_cast<int64_t>(values.size());
  // Tensor (1, 3, 2, W): channel c = values, row 1 = garbage to be cropped away.
  std::vector<float> data(3 * 2 * W, 0.9f);
  for (int c = 0; c < 3; ++c)
    for (int64_t x = 0; x < W; ++x) data[(c * 2) * W + x] = values[x];
  const Tensor t = Tensor::from_vector(data, {1, 3, 2, W});
  const ImageFormat f = format(false, ImageFormat::Range::Unit, 1);

  std::vector<uint8_t> u8(W * 3);
  tensor_to_image(t, f, {u8.data(), 1, W, PixelType::U8});
  const uint8_t want8[] = {0, 255, 0, 255, 0, 255, 0, 3, 4, 254, 0, 4, 128, 179};
  std::vector<uint16_t> u16(W * 3);
  tensor_to_image(t, f, {u16.data(), 1, W, PixelType::U16});
  const uint16_t want16[] = {0,   65535, 0,     65535, 0,    65535, 0,
                             897, 902,   65404, 0,     1001, 32768, 45875};
  std::vector<float> f32(W * 3);
  tensor_to_image(t, f, {f32.data(), 1, W, PixelType::F32});
  for (int64_t x = 0; x < W; ++x)
    for (int c = 0; c < 3; ++c) {
      CHECK_EQ(int(u8[x * 3 + c]), int(want8[x]));
      CHECK_EQ(int(u16[x * 3 + c]), int(want16[x]));
      const float v = values[x];
      const float clamped = std::isnan(v) ? 0.f : std::min(std::max(v, 0.f), 1.f);
      CHECK_EQ(f32[x * 3 + c], clamped);
    }
}

TEST_CASE(symmetric_output_and_round_trips) {
  // Every 8-bit value survives image -> tensor -> image in both ranges and channel orders.
  std::vector<uint8_t> img(256 * 3), back(256 * 3);
  for (int i = 0; i < 256 * 3; ++i) img[i] = uint8_t((i * 37) % 256);
  for (bool bgr : {false, true})
    for (auto range : {ImageFormat::Range::Unit, ImageFormat::Range::SymmetricUnit}) {
      const ImageFormat f = format(bgr, range, 4);
      const Tensor t = image_to_tensor(kCtx, {img.data(), 16, 16, PixelType::U8}, f);
      tensor_to_image(t, f, {back.data(), 16, 16, PixelType::U8});
      CHECK(back == img);
    }
  // 16-bit samples too (a spread of values including both ends).
  std::vector<uint16_t> img16(64 * 3), back16(64 * 3);
  for (int i = 0; i < 64 * 3; ++i) img16[i] = uint16_t(i == 0 ? 65535 : (i * 3449) % 65536);
  for (auto range : {ImageFormat::Range::Unit, ImageFormat::Range::SymmetricUnit}) {
    const ImageFormat f = format(true, range, 1);
    tensor_to_image(image_to_tensor(kCtx, {img16.data(), 8, 8, PixelType::U16}, f), f,
                    {back16.data(), 8, 8, PixelType::U16});
    CHECK(back16 == img16);
  }
  // SymmetricUnit output: [-1, 1] maps to [0, 1], clamped.
  const Tensor t = Tensor::from_vector({-2.f, 0.f, 1.f}, {1, 3, 1, 1});
  float px[3];
  tensor_to_image(t, format(false, ImageFormat::Range::SymmetricUnit, 1),
                  {px, 1, 1, PixelType::F32});
  CHECK_EQ(px[0], 0.0f);
  CHECK_EQ(px[1], 0.5f);
  CHECK_EQ(px[2], 1.0f);
}

TEST_CASE(bad_views_are_refused) {
  uint8_t img[4 * 4 * 3] = {};
  const ImageFormat f = format(false, ImageFormat::Range::Unit, 1);
  CHECK_THROWS(TypeError, image_to_tensor(kCtx, {nullptr, 4, 4, PixelType::U8}, f), "null");
  CHECK_THROWS(ValueError, image_to_tensor(kCtx, {img, 0, 4, PixelType::U8}, f), "positive");
  CHECK_THROWS(ValueError, image_to_tensor(kCtx, {img, 4, -1, PixelType::U8}, f), "positive");
  CHECK_THROWS(ValueError, image_to_tensor(kCtx, {img, 4, 4, PixelType::U8, 11}, f), "row_stride");
  CHECK_THROWS(ValueError, image_to_tensor(kCtx, {img, 1, 1, static_cast<PixelType>(7)}, f),
               "pixel type");

  const Tensor t = Tensor::zeros({1, 3, 4, 4});
  CHECK_THROWS(TypeError, tensor_to_image(t, f, {nullptr, 4, 4, PixelType::U8}), "null");
  CHECK_THROWS(ValueError, tensor_to_image(t, f, {img, 5, 4, PixelType::U8}), "does not fit");
  CHECK_THROWS(ValueError, tensor_to_image(t, f, {img, 4, 0, PixelType::U8}), "does not fit");
  CHECK_THROWS(ValueError, tensor_to_image(t, f, {img, 4, 4, PixelType::U8, 2}), "row_stride");
  CHECK_THROWS(ValueError,
               tensor_to_image(Tensor::zeros({1, 4, 4, 4}), f, {img, 4, 4, PixelType::U8}),
               "(1, 3, H, W)");
  CHECK_THROWS(ValueError, tensor_to_image(Tensor::zeros({3, 4, 4}), f, {img, 4, 4, PixelType::U8}),
               "(1, 3, H, W)");
  CHECK_THROWS(ValueError, tensor_to_image(Tensor(), f, {img, 4, 4, PixelType::U8}),
               "(1, 3, H, W)");
}

TEST_CASE(model_process_and_step) {
  IdentityModel model(format(true, ImageFormat::Range::SymmetricUnit, 4));
  CHECK(!model.is_recurrent());
  CHECK_EQ(model.variant(), std::string("identity"));
  std::vector<uint8_t> img(5 * 7 * 3), out(5 * 7 * 3, 0);
  for (size_t i = 0; i < img.size(); ++i) img[i] = uint8_t(i * 11);
  model.process({img.data(), 5, 7, PixelType::U8}, {out.data(), 5, 7, PixelType::U8});
  CHECK(out == img);
  CHECK(model.last_shape == (Shape{1, 3, 8, 8}));  // padded to the multiple, cropped back
  std::fill(out.begin(), out.end(), 0);
  model.step({img.data(), 5, 7, PixelType::U8}, {out.data(), 5, 7, PixelType::U8});
  CHECK(out == img);
  CHECK_EQ(model.calls, 2);

  std::vector<uint16_t> out16(5 * 7 * 3);
  CHECK_THROWS(
      TypeError,
      model.process({img.data(), 5, 7, PixelType::U8}, {out16.data(), 5, 7, PixelType::U16}),
      "pixel type");
  CHECK_THROWS(ValueError,
               model.step({img.data(), 5, 7, PixelType::U8}, {out.data(), 7, 5, PixelType::U8}),
               "like the input");
  CHECK_EQ(model.calls, 2);  // refused before running the network
}

TEST_CASE(load_model_errors_are_value_errors) {
  testing::TempDir dir;
  CHECK_THROWS(ValueError, load_model(dir.file("missing.safetensors")), "missing.safetensors");
  // A valid safetensors file without an architecture.
  const std::string header = "{\"__metadata__\":{\"format_version\":\"1\"}}";
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = char((header.size() >> (8 * i)) & 0xff);
  testing::write_file(dir.file("empty.safetensors"), bytes + header);
  CHECK_THROWS(ValueError, load_model(dir.file("empty.safetensors")), "architecture");
  const std::string other = "{\"__metadata__\":{\"architecture\":\"unet\"}}";
  for (int i = 0; i < 8; ++i) bytes[i] = char((other.size() >> (8 * i)) & 0xff);
  testing::write_file(dir.file("unet.safetensors"), bytes + other);
  CHECK_THROWS(Error, load_model(dir.file("unet.safetensors")), "unknown architecture 'unet'");
}

TEST_CASE(non_finite_float_images_refused) {
  // 2 x 2 image with a row stride of 8 floats: the padding after each row is not read.
  std::vector<float> img(2 * 8, NAN);
  for (int y = 0; y < 2; ++y)
    for (int i = 0; i < 6; ++i) img[y * 8 + i] = 0.5f;
  const ImageView view{img.data(), 2, 2, PixelType::F32, 8 * 4};
  check_finite_image(view, "image");
  img[8 + 4] = INFINITY;  // row 1, column 1, channel 1
  img[8 + 5] = NAN;
  CHECK_THROWS(ValueError, check_finite_image(view, "frame"),
               "frame has 2 NaN or infinite values (first at row 1, column 1, channel 1)");
  std::vector<uint8_t> bytes(12, 0);
  check_finite_image({bytes.data(), 2, 2, PixelType::U8, 0},
                     "image");  // integers: nothing to check
}

int main() { return testing::run_all(); }
