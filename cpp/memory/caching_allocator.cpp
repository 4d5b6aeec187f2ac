// A size-bucketed cache of freed blocks in front of another allocator.
#include <map>
#include <mutex>

#include "deblurcore/allocator.h"
#include "deblurcore/error.h"

namespace deblurcore {

namespace {

class CachingAllocator final : public Allocator {
 public:
  CachingAllocator(std::shared_ptr<Allocator> base, size_t max_idle)
      : state_(std::make_shared<State>()) {
    state_->base = std::move(base);
    state_->max_idle = max_idle;
  }

  std::shared_ptr<void> allocate(size_t bytes) override {
    std::shared_ptr<void> block;
    {
      std::lock_guard<std::mutex> lock(state_->mutex);
      auto it = state_->idle.find(bytes);
      if (it != state_->idle.end()) {
        block = std::move(it->second);
        state_->idle.erase(it);
        state_->idle_bytes -= bytes;
      }
    }
    if (!block) block = state_->base->allocate(bytes);
    // The returned handle gives the block back to the cache instead of freeing it. The cache
    // state is shared with the deleter so blocks may outlive the allocator object.
    void* raw = block.get();
    std::shared_ptr<State> state = state_;
    return std::shared_ptr<void>(raw, [state, block, bytes](void*) mutable {
      state->give_back(std::move(block), bytes);
    });
  }

  void release_idle() override {
    std::multimap<size_t, std::shared_ptr<void>> idle;  // freed after the lock is released
    std::lock_guard<std::mutex> lock(state_->mutex);
    idle.swap(state_->idle);
    state_->idle_bytes = 0;
  }

 private:
  struct State {
    std::mutex mutex;
    std::shared_ptr<Allocator> base;
    std::multimap<size_t, std::shared_ptr<void>> idle;  // by size
    size_t idle_bytes = 0;
    size_t max_idle = 0;

    void give_back(std::shared_ptr<void> block, size_t bytes) noexcept {
      std::lock_guard<std::mutex> lock(mutex);
      idle.emplace(bytes, std::move(block));
      idle_bytes += bytes;
      while (idle_bytes > max_idle && !idle.empty()) {
        auto largest = std::prev(idle.end());
        idle_bytes -= largest->first;
        idle.erase(largest);
      }
    }
  };
  std::shared_ptr<State> state_;
};

}  // namespace

std::shared_ptr<Allocator> make_caching_allocator(std::shared_ptr<Allocator> base,
                                                  size_t max_idle_bytes) {
  check(base != nullptr, "make_caching_allocator: base allocator is null");
  return std::make_shared<CachingAllocator>(std::move(base), max_idle_bytes);
}

}  // namespace deblurcore
