// libFuzzer target for the safetensors reader and its JSON header parser (cpp/io/).
//
// Each input is used twice:
//  * as JSON text for json::parse (the header parser on its own, no size prefix needed);
//  * as the bytes of a whole .safetensors file, opened with SafetensorsFile::open; every tensor
//    of a file that opens is then read as float32 (the F16/BF16/F64 conversions included).
// The file lives in memory (memfd) and is opened through /proc/self/fd, so the reader runs its
// real open/fstat/mmap path without touching the disk. A ValueError is the expected outcome of
// a bad input; any other exception, a sanitizer report, a crash or a hang is a finding.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "deblurcore/error.h"
#include "deblurcore/safetensors.h"
#include "io/json.h"

namespace {

int memory_file() {
  static const int fd = [] {
    const int f = memfd_create("safetensors_fuzz", MFD_CLOEXEC);
    if (f < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    return f;
  }();
  return fd;
}

void write_file(const uint8_t* data, size_t size) {
  const int fd = memory_file();
  if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != static_cast<ssize_t>(size))) {
    std::perror("writing the memory file");
    std::abort();
  }
}

// Tensors larger than this are not read: a valid header may describe a large tensor whose
// bytes the (small) input really holds; reading it is fine but only slows the campaign.
constexpr int64_t kMaxReadElements = 1 << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    deblurcore::json::parse(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const deblurcore::ValueError&) {
  }

  write_file(data, size);
  const std::string path = "/proc/self/fd/" + std::to_string(memory_file());
  try {
    const auto file = deblurcore::SafetensorsFile::open(path);
    for (const auto& name : file.names()) {
      (void)file.dtype(name);
      int64_t numel = 1;
      for (int64_t d : file.shape(name)) numel *= d;
      if (numel > kMaxReadElements) continue;
      try {
        const deblurcore::Tensor t = file.tensor(name);
        volatile float sink = t.numel() ? t.data()[t.numel() - 1] : 0.0f;
        (void)sink;
      } catch (const deblurcore::ValueError&) {
      }
    }
    (void)file.metadata();
  } catch (const deblurcore::ValueError&) {
  }
  return 0;
}
