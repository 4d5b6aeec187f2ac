// deblur_frames: restores binary PPM frames with a deblurcore model, from C++ only.
//
//   deblur_frames [--threads N] WEIGHTS INPUT.ppm OUTPUT.ppm [INPUT.ppm OUTPUT.ppm ...]
//
// WEIGHTS is a file written by `deblurcore convert`; its metadata names the network. The
// frames go through the model in the order given, so a video model (STFAN) sees them as one
// clip and they must all have the same size. Inputs are binary PPM (P6) with maxval 255
// (8-bit) or 65535 (16-bit, big-endian samples, e.g. for IFAN_16bit); each output has its
// input's size and bit depth. An output file is written completely or not at all.
//
// Exit status: 0 on success, 1 when a file or the model fails (the message names the file),
// 2 for a wrong command line.
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <deblurcore/deblurcore.h>

namespace {

// A problem with one of the files given on the command line.
struct FileError : std::runtime_error {
  FileError(const std::string& path, const std::string& what)
      : std::runtime_error(path + ": " + what) {}
};

struct Frame {
  int64_t width = 0, height = 0;
  int maxval = 255;
  std::vector<uint8_t> u8;    // maxval 255: interleaved RGB
  std::vector<uint16_t> u16;  // maxval 65535: interleaved RGB, native byte order

  deblurcore::PixelType type() const {
    return maxval == 255 ? deblurcore::PixelType::U8 : deblurcore::PixelType::U16;
  }
  const void* data() const {
    return maxval == 255 ? static_cast<const void*>(u8.data()) : u16.data();
  }
  void* data() { return maxval == 255 ? static_cast<void*>(u8.data()) : u16.data(); }
};

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw FileError(path, std::string("cannot open: ") + std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) throw FileError(path, "read error");
  return bytes;
}

// The header of a binary PPM: "P6", width, height, maxval as decimal numbers separated by
// whitespace (and '#' comments up to the end of a line), then exactly one whitespace byte.
class HeaderParser {
 public:
  HeaderParser(const std::string& path, const std::string& bytes) : path_(path), s_(bytes) {}

  int64_t number(const char* what, int64_t max) {
    skip_space_and_comments();
    if (pos_ >= s_.size()) throw FileError(path_, std::string("truncated header: no ") + what);
    if (!is_digit(s_[pos_]))
      throw FileError(path_, std::string("bad header: expected the ") + what + " (a number)");
    int64_t v = 0;
    while (pos_ < s_.size() && is_digit(s_[pos_])) {
      v = v * 10 + (s_[pos_++] - '0');
      if (v > max)
        throw FileError(
            path_, std::string("bad header: ") + what + " is larger than " + std::to_string(max));
    }
    return v;
  }

  // Position of the raster: after the single whitespace byte that ends the header.
  size_t raster_start() {
    if (pos_ >= s_.size()) throw FileError(path_, "truncated header after the maxval");
    if (!is_space(s_[pos_])) throw FileError(path_, "bad header: junk after the maxval");
    return pos_ + 1;
  }

 private:
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }
  static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
  }
  void skip_space_and_comments() {
    while (pos_ < s_.size()) {
      if (is_space(s_[pos_])) {
        ++pos_;
      } else if (s_[pos_] == '#') {
        while (pos_ < s_.size() && s_[pos_] != '\n' && s_[pos_] != '\r') ++pos_;
      } else {
        break;
      }
    }
  }

  const std::string& path_;
  const std::string& s_;
  size_t pos_ = 2;  // after the magic number
};

Frame read_ppm(const std::string& path) {
  const std::string bytes = read_all(path);
  if (bytes.size() < 2 || bytes[0] != 'P' || bytes[1] != '6')
    throw FileError(path, "not a binary PPM file (the file must start with \"P6\")");
  HeaderParser header(path, bytes);
  constexpr int64_t kMaxSide = 1 << 20;
  Frame f;
  f.width = header.number("width", kMaxSide);
  f.height = header.number("height", kMaxSide);
  const int64_t maxval = header.number("maxval", 65535);
  const size_t start = header.raster_start();
  if (f.width == 0 || f.height == 0)
    throw FileError(
        path, "empty image (" + std::to_string(f.width) + "x" + std::to_string(f.height) + ")");
  if (maxval != 255 && maxval != 65535)
    throw FileError(path,
                    "maxval must be 255 (8-bit) or 65535 (16-bit), got " + std::to_string(maxval));
  f.maxval = static_cast<int>(maxval);
  const size_t samples = static_cast<size_t>(f.width * f.height * 3);
  const size_t sample_bytes = maxval == 255 ? 1 : 2;
  const size_t expected = samples * sample_bytes;
  const size_t available = bytes.size() - start;
  if (available < expected)
    throw FileError(path, "truncated: " + std::to_string(f.width) + "x" + std::to_string(f.height) +
                              " needs " + std::to_string(expected) +
                              " bytes of pixels, the file has " + std::to_string(available));
  if (available > expected)
    throw FileError(path, std::to_string(available - expected) +
                              " bytes after the image (files holding several images are not "
                              "supported)");
  const auto* raster = reinterpret_cast<const unsigned char*>(bytes.data() + start);
  if (maxval == 255) {
    f.u8.assign(raster, raster + samples);
  } else {
    f.u16.resize(samples);
    for (size_t i = 0; i < samples; ++i)  // PPM stores 16-bit samples most significant first
      f.u16[i] = static_cast<uint16_t>((raster[2 * i] << 8) | raster[2 * i + 1]);
  }
  return f;
}

// Writes to a temporary file next to `path` and renames it, so a failure never leaves a
// partial output behind.
void write_ppm(const std::string& path, const Frame& f) {
  std::string bytes = "P6\n" + std::to_string(f.width) + " " + std::to_string(f.height) + "\n" +
                      std::to_string(f.maxval) + "\n";
  if (f.maxval == 255) {
    bytes.append(reinterpret_cast<const char*>(f.u8.data()), f.u8.size());
  } else {
    for (uint16_t v : f.u16) {
      bytes.push_back(static_cast<char>(v >> 8));
      bytes.push_back(static_cast<char>(v & 0xff));
    }
  }
  const std::string tmp = path + ".tmp" + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw FileError(path, std::string("cannot create: ") + std::strerror(errno));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      throw FileError(path, "write error");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(tmp.c_str());
    throw FileError(path, "cannot write: " + reason);
  }
}

int usage(const char* message) {
  std::cerr << "deblur_frames: " << message << "\n"
            << "usage: deblur_frames [--threads N] WEIGHTS INPUT.ppm OUTPUT.ppm "
               "[INPUT.ppm OUTPUT.ppm ...]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  int threads = 0;  // all hardware threads
  if (args.size() >= 2 && args[0] == "--threads") {
    char* end = nullptr;
    const long n = std::strtol(args[1].c_str(), &end, 10);
    if (*end != '\0' || n < 1 || n > 4096) return usage("--threads needs a positive number");
    threads = static_cast<int>(n);
    args.erase(args.begin(), args.begin() + 2);
  }
  if (args.size() < 3 || args.size() % 2 == 0)
    return usage("expected WEIGHTS followed by INPUT OUTPUT pairs");

  const std::string& weights = args[0];
  std::string current;  // the frame file being worked on, for error messages
  try {
    const deblurcore::Context ctx(deblurcore::Device::CPU, threads);
    std::unique_ptr<deblurcore::Model> model = deblurcore::load_model(weights, ctx);
    for (size_t i = 1; i < args.size(); i += 2) {
      current = args[i];
      const Frame in = read_ppm(args[i]);
      Frame out = in;  // same size and bit depth; every pixel is overwritten
      model->step({in.data(), in.height, in.width, in.type()},
                  {out.data(), out.height, out.width, out.type()});
      current = args[i + 1];
      write_ppm(args[i + 1], out);
    }
  } catch (const FileError& e) {
    std::cerr << "deblur_frames: " << e.what() << "\n";
    return 1;
  } catch (const deblurcore::Error& e) {
    // Every library error: a bad weights file (the message names it), a frame the model
    // refuses (e.g. a size the clip does not have), ...
    std::cerr << "deblur_frames: " << (current.empty() ? "" : current + ": ") << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {  // std::bad_alloc
    std::cerr << "deblur_frames: " << (current.empty() ? "" : current + ": ") << e.what() << "\n";
    return 1;
  }
  return 0;
}
