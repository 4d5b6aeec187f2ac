// Allocators: where tensors get their memory. Below Tensor and Context (both use them) and
// independent of either.
#pragma once

#include <cstddef>
#include <memory>

#include "deblurcore/device.h"
#include "deblurcore/export.h"

namespace deblurcore {

// Hands out device memory for op outputs and scratch buffers.
class DEBLURCORE_API Allocator {
 public:
  virtual ~Allocator() = default;
  // A block of at least `bytes` bytes (64-byte aligned on the host), freed by the deleter of
  // the returned pointer.
  virtual std::shared_ptr<void> allocate(size_t bytes) = 0;

  // What the allocator holds, for profiling: bytes handed out and not yet freed, bytes kept
  // for reuse, the high-water mark of their sum and that of the live bytes alone. Allocators
  // that do not track them say 0.
  struct Stats {
    size_t live_bytes = 0;
    size_t idle_bytes = 0;
    size_t peak_bytes = 0;
    size_t peak_live_bytes = 0;
  };
  virtual Stats stats() const { return {}; }
  // Returns the freed blocks this allocator keeps for reuse (if any) to where they came from.
  // A model whose stages use different sizes (a network on a crop, then one on the whole
  // image) calls it between them, so that the first stage's idle blocks do not add to the
  // second one's peak. Blocks in use are not affected.
  virtual void release_idle() {}
};

// The default allocator of a device (aligned malloc on the host, cudaMalloc on CUDA).
DEBLURCORE_API std::shared_ptr<Allocator> default_allocator(Device device);

// An allocator that keeps freed blocks and hands them out again for requests of the same size,
// so a model that runs the same shapes frame after frame stops touching fresh memory (page
// faults were a fifth of STFAN's time at 720p) and its footprint stays flat. A request it
// cannot serve first returns idle blocks to `base` (largest first) so that live + idle never
// exceeds the most ever live at once; idle blocks beyond `max_idle_bytes` are returned too.
// Thread-safe.
DEBLURCORE_API std::shared_ptr<Allocator> make_caching_allocator(std::shared_ptr<Allocator> base,
                                                                 size_t max_idle_bytes = size_t(1)
                                                                                         << 31);

// The allocator of a model's frames on the host: blocks of 64 KiB and more are carved, best
// fit, out of one reserved address range whose pages stay mapped when blocks are freed, so the
// next frame's blocks of other sizes reuse them instead of faulting in fresh pages (blocks of
// 8 MiB and more in whole, aligned 2 MiB huge pages). It keeps at most 1.5 times the most
// bytes ever live at once (dropping the pages of free ranges beyond that). Tiny blocks, and
// all blocks where the range cannot be reserved, go to make_caching_allocator over `base`.
// release_idle() drops the pages of the free ranges. Thread-safe.
DEBLURCORE_API std::shared_ptr<Allocator> make_host_arena_allocator(
    std::shared_ptr<Allocator> base);

}  // namespace deblurcore
