// A host allocator for a model's frames that keeps the physical pages it has touched.
//
// Why: a frame allocates the same few hundred blocks every time, but not all sizes are live
// at once. Caching freed blocks by exact size alone holds the sum of every size a frame uses
// (1.15 GB for STFAN at 720p against ~0.5 GB ever live at once), and giving blocks back to
// the system to stay under that costs fresh, zeroed pages on the next frame: measured on
// STFAN at 720p, 2,000 page faults, 0.2-0.5 s of kernel time and 15 % of the frame.
//
// How: blocks are carved, best fit, out of one reserved range of address space whose used
// part only grows; freed blocks coalesce with their free neighbours and their pages stay
// mapped, so a block of another size reuses the same pages. What it may hold is bounded:
// when the pages kept (live, free but mapped, and the cache of tiny blocks) would pass 1.5
// times the most bytes ever live at once, pages of free ranges are dropped, highest first,
// and only those fault in again when reused. Tiny blocks, requests past the reservation and
// hosts where it cannot be made (an address-space limit) go to an exact-size cache in front
// of `base`.
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "deblurcore/allocator.h"
#include "deblurcore/error.h"

namespace deblurcore {

namespace {

// Blocks of at least kArenaMinBytes come from the arena in multiples of kGranule; those of
// at least kHugeMinBytes in whole 2 MiB huge pages, aligned to them, so that transparent huge
// pages apply to all of them (at most a fifth of such a block is rounding).
constexpr size_t kArenaMinBytes = size_t(64) << 10;
constexpr size_t kGranule = size_t(64) << 10;
constexpr size_t kHugeMinBytes = size_t(8) << 20;
constexpr size_t kHugePage = size_t(2) << 20;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

// Address space to reserve: the machine's memory (a frame cannot use more), and at most a
// quarter of an address-space limit if the process has one.
size_t reservation_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return 0;
  size_t bytes = size_t(pages) * size_t(page);
  rlimit limit{};
  if (getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
      size_t(limit.rlim_cur) / 4 < bytes)
    bytes = size_t(limit.rlim_cur) / 4;
  return bytes / kHugePage * kHugePage;
}

class HostArenaAllocator final : public Allocator {
 public:
  explicit HostArenaAllocator(std::shared_ptr<Allocator> base)
      : small_(make_caching_allocator(std::move(base))), state_(std::make_shared<State>()) {
    state_->reserve(reservation_bytes());
  }

  std::shared_ptr<void> allocate(size_t bytes) override {
    if (bytes < kArenaMinBytes || state_->region == nullptr) return small_->allocate(bytes);
    const size_t align = bytes >= kHugeMinBytes ? kHugePage : kGranule;
    const size_t need = round_up(bytes, align);
    const Stats small = small_->stats();
    const size_t offset =
        state_->take(need, align, small.live_bytes, small.live_bytes + small.idle_bytes);
    if (offset == State::kNone) return small_->allocate(bytes);
    std::shared_ptr<State> state = state_;
    return std::shared_ptr<void>(state->region + offset,
                                 [state, offset, need](void*) { state->give_back(offset, need); });
  }

  Stats stats() const override {
    const Stats small = small_->stats();
    std::lock_guard<std::mutex> lock(state_->mutex);
    Stats s;
    s.live_bytes = small.live_bytes + state_->live;
    s.idle_bytes = small.idle_bytes + (state_->top - state_->dropped_bytes - state_->live);
    s.peak_bytes = std::max(state_->peak_held, small.peak_bytes);
    s.peak_live_bytes = std::max(state_->peak_live, small.peak_live_bytes);
    return s;
  }

  void release_idle() override {
    small_->release_idle();
    std::lock_guard<std::mutex> lock(state_->mutex);
    // Drop the pages of every free range (they fault in again when next used) and give the
    // free range at the top back to the reservation, so the footprint is what is live.
    for (const auto& [offset, length] : state_->free_by_offset) state_->drop(offset, length);
    state_->trim_top();
  }

 private:
  struct State {
    static constexpr size_t kNone = ~size_t(0);

    std::mutex mutex;
    char* region = nullptr;  // the reservation: [0, top) readable and writable, the rest not
    size_t reserved = 0;
    size_t top = 0;
    std::map<size_t, size_t> free_by_offset;           // offset -> length, below top
    std::set<std::pair<size_t, size_t>> free_by_size;  // (length, offset): best fit, lowest first
    // Parts of the free ranges whose pages were dropped (offset -> length, disjoint): they
    // cost page faults when reused.
    std::map<size_t, size_t> dropped;
    size_t dropped_bytes = 0;
    size_t live = 0;
    size_t peak_live = 0;  // of the arena and the small blocks together
    size_t peak_held = 0;  // pages kept by the arena and the small blocks, at most

    void reserve(size_t bytes) {
      if (bytes < kHugeMinBytes) return;
      // PROT_NONE: address space only, no memory committed until a block needs it.
      void* p = mmap(nullptr, bytes + kHugePage, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p == MAP_FAILED) return;
      char* raw = static_cast<char*>(p);
      char* aligned = reinterpret_cast<char*>(round_up(reinterpret_cast<size_t>(raw), kHugePage));
      if (aligned > raw) munmap(raw, size_t(aligned - raw));
      const size_t tail = size_t(raw + bytes + kHugePage - (aligned + bytes));
      if (tail > 0) munmap(aligned + bytes, tail);
#ifdef MADV_HUGEPAGE
      madvise(aligned, bytes, MADV_HUGEPAGE);  // advice only; failure is fine
#endif
      region = aligned;
      reserved = bytes;
    }

    ~State() {
      if (region) munmap(region, reserved);
    }

    // The offset of a block of `need` bytes, or kNone when the reservation cannot hold it.
    // The offset (a multiple of `align`) of a block of `need` bytes, or kNone when the
    // reservation cannot hold it.
    size_t take(size_t need, size_t align, size_t small_live, size_t small_held) {
      std::lock_guard<std::mutex> lock(mutex);
      size_t offset = kNone;
      // Best fit: the smallest free range that holds the block once aligned.
      for (auto fit = free_by_size.lower_bound({need, 0}); fit != free_by_size.end(); ++fit) {
        const auto [length, begin] = *fit;
        const size_t start = round_up(begin, align);
        if (start + need > begin + length) continue;
        erase_free(begin, length);
        if (start > begin) insert_free(begin, start - begin);
        if (start + need < begin + length) insert_free(start + need, begin + length - start - need);
        offset = start;
        break;
      }
      if (offset == kNone) {
        // Grow the used part, starting inside a free range that ends at the top if any.
        size_t begin = top;
        size_t reused = 0;
        if (!free_by_offset.empty()) {
          const auto last = std::prev(free_by_offset.end());
          if (last->first + last->second == top) {
            begin = last->first;
            reused = last->second;
          }
        }
        const size_t start = round_up(begin, align);
        if (start + need > reserved) return kNone;
        if (mprotect(region + top, start + need - top, PROT_READ | PROT_WRITE) != 0)
          return kNone;  // no memory to commit: the base allocator reports it
        if (reused > 0) erase_free(begin, reused);
        if (start > begin) insert_free(begin, start - begin);
        top = start + need;
        offset = start;
      }
      dropped_bytes -= remove_interval(dropped, offset, offset + need);
      live += need;
      peak_live = std::max(peak_live, live + small_live);
      // Keep at most 1.5 times the most ever live: drop the pages of free ranges from the top
      // down. Not 1.0: dropped pages fault in again as 2 MiB pages, which on a host with
      // fragmented memory means compaction (measured on STFAN at 720p with a 1.0 bound: 0.2 s
      // of kernel time per frame; at 1.5 none, as its arena settles at 1.37).
      size_t held = top - dropped_bytes + small_held;
      const size_t budget = peak_live + peak_live / 2;
      for (auto it = free_by_offset.rbegin(); held > budget && it != free_by_offset.rend(); ++it) {
        const size_t excess = round_up(held - budget, kGranule);
        const size_t length = std::min(it->second, excess);
        held -= drop(it->first + it->second - length, length);
      }
      peak_held = std::max(peak_held, held);
      return offset;
    }

    // Drops the pages of [offset, offset + length) (free); returns the bytes newly dropped.
    size_t drop(size_t offset, size_t length) {
      const size_t kept = length - remove_interval(dropped, offset, offset + length);
      madvise(region + offset, length, MADV_DONTNEED);
      dropped.emplace(offset, length);  // disjoint from the rest now; merged by later removals
      dropped_bytes += kept;
      return kept;
    }

    // Removes [begin, end) from a set of disjoint intervals; returns the bytes removed.
    static size_t remove_interval(std::map<size_t, size_t>& set, size_t begin, size_t end) {
      size_t removed = 0;
      auto it = set.upper_bound(begin);
      if (it != set.begin()) --it;
      while (it != set.end() && it->first < end) {
        const size_t a = it->first, b = it->first + it->second;
        if (b <= begin) {
          ++it;
          continue;
        }
        it = set.erase(it);
        if (a < begin) set.emplace(a, begin - a);
        if (b > end) set.emplace(end, b - end);
        removed += std::min(b, end) - std::max(a, begin);
      }
      return removed;
    }

    void give_back(size_t offset, size_t length) noexcept {
      std::lock_guard<std::mutex> lock(mutex);
      live -= length;
      // Coalesce with the free neighbours on both sides.
      auto next = free_by_offset.lower_bound(offset);
      if (next != free_by_offset.end() && offset + length == next->first) {
        const size_t next_length = next->second;
        erase_free(next->first, next_length);
        length += next_length;
      }
      auto after = free_by_offset.lower_bound(offset);
      if (after != free_by_offset.begin()) {
        const auto prev = std::prev(after);
        if (prev->first + prev->second == offset) {
          const size_t prev_offset = prev->first;
          length += prev->second;
          erase_free(prev_offset, prev->second);
          offset = prev_offset;
        }
      }
      insert_free(offset, length);
    }

    // Returns a free range ending at the top to the reservation (its pages already dropped).
    void trim_top() {
      if (free_by_offset.empty()) return;
      const auto last = std::prev(free_by_offset.end());
      if (last->first + last->second != top) return;
      const size_t offset = last->first;
      erase_free(offset, last->second);
      dropped_bytes -= remove_interval(dropped, offset, top);
      mprotect(region + offset, top - offset, PROT_NONE);
      top = offset;
    }

    void insert_free(size_t offset, size_t length) {
      free_by_offset.emplace(offset, length);
      free_by_size.emplace(length, offset);
    }
    void erase_free(size_t offset, size_t length) {
      free_by_offset.erase(offset);
      free_by_size.erase({length, offset});
    }
  };

  std::shared_ptr<Allocator> small_;
  std::shared_ptr<State> state_;
};

}  // namespace

std::shared_ptr<Allocator> make_host_arena_allocator(std::shared_ptr<Allocator> base) {
  check(base != nullptr, "make_host_arena_allocator: base allocator is null");
  return std::make_shared<HostArenaAllocator>(std::move(base));
}

}  // namespace deblurcore
