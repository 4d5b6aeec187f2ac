// Tensor basics: host alignment, shapes, memory sharing of views, copies, errors.
#include <cstdint>
#include <vector>

#include "deblurcore/deblurcore.h"
#include "test_util.h"

using namespace deblurcore;

static bool aligned64(const void* p) { return reinterpret_cast<uintptr_t>(p) % 64 == 0; }

TEST_CASE(host_memory_is_64_byte_aligned) {
  for (int64_t n : {1, 3, 15, 16, 17, 63, 64, 65, 1000, 4097}) {
    CHECK(aligned64(Tensor::empty({n}).data()));
    CHECK(aligned64(Tensor::zeros({n, 2}).data()));
    CHECK(aligned64(Tensor::from_vector(std::vector<float>(n, 1.f), {n}).data()));
    CHECK(aligned64(Tensor::empty({n}).clone().data()));
    CHECK(aligned64(Context().empty({1, n}).data()));
  }
  CHECK(aligned64(Tensor::empty({0}).data()));
}

TEST_CASE(shape_and_sizes) {
  Tensor t = Tensor::empty({2, 3, 4, 5});
  CHECK_EQ(t.dim(), 4);
  CHECK_EQ(t.numel(), 120);
  CHECK_EQ(t.nbytes(), size_t{480});
  CHECK_EQ(t.size(0), 2);
  CHECK_EQ(t.size(-1), 5);
  CHECK_EQ(t.size(-4), 2);
  CHECK(t.shape() == (Shape{2, 3, 4, 5}));
  CHECK(t.device() == Device::CPU);
  CHECK(t.defined());
  CHECK_EQ(t.shape_str(), std::string("(2, 3, 4, 5)"));
  CHECK_EQ(shape_str({5}), std::string("(5,)"));
  CHECK_EQ(shape_str({}), std::string("()"));
  CHECK_EQ(shape_numel({}), 1);
  CHECK_EQ(shape_numel({3, 0, 2}), 0);

  Tensor scalar = Tensor::from_vector({7.f}, {});
  CHECK(scalar.defined());
  CHECK_EQ(scalar.numel(), 1);
  CHECK_EQ(scalar.to_vector()[0], 7.f);

  Tensor undefined;
  CHECK(!undefined.defined());
  CHECK_EQ(undefined.numel(), 0);
}

TEST_CASE(zeros_and_vectors) {
  Tensor z = Tensor::zeros({3, 5});
  for (float v : z.to_vector()) CHECK_EQ(v, 0.f);
  const std::vector<float> values = {1.f, -2.f, 3.5f, 0.f, 1e-30f, 6.f};
  Tensor t = Tensor::from_vector(values, {2, 3});
  CHECK(t.to_vector() == values);
  CHECK(Tensor::from_vector({}, {0, 4}).to_vector().empty());
  Tensor cz = Context().zeros({4});
  for (float v : cz.to_vector()) CHECK_EQ(v, 0.f);
}

TEST_CASE(reshape_and_slice_share_memory) {
  std::vector<float> values(24);
  for (int i = 0; i < 24; ++i) values[i] = static_cast<float>(i);
  Tensor t = Tensor::from_vector(values, {4, 6});
  Tensor r = t.reshape({2, 3, 4});
  CHECK(r.data() == t.data());
  CHECK(r.shape() == (Shape{2, 3, 4}));
  r.data()[5] = 100.f;
  CHECK_EQ(t.data()[5], 100.f);

  Tensor s = t.slice0(1, 3);
  CHECK(s.shape() == (Shape{2, 6}));
  CHECK(s.data() == t.data() + 6);
  CHECK_EQ(s.to_vector()[0], 6.f);
  s.data()[0] = -1.f;
  CHECK_EQ(t.data()[6], -1.f);
  CHECK_EQ(t.slice0(4, 4).numel(), 0);

  // A view keeps the memory alive after the original is gone.
  Tensor view;
  {
    Tensor owner = Tensor::from_vector({1.f, 2.f, 3.f, 4.f}, {2, 2});
    view = owner.slice0(1, 2);
  }
  CHECK(view.to_vector() == (std::vector<float>{3.f, 4.f}));
}

TEST_CASE(clone_and_to_copy) {
  Tensor t = Tensor::from_vector({1.f, 2.f}, {2});
  Tensor c = t.clone();
  CHECK(c.data() != t.data());
  CHECK(c.to_vector() == t.to_vector());
  c.data()[0] = 9.f;
  CHECK_EQ(t.data()[0], 1.f);
  CHECK(t.to(Device::CPU).data() == t.data());  // already there: same tensor
}

TEST_CASE(wrap_keeps_owner_alive) {
  auto block = std::make_shared<std::vector<float>>(std::vector<float>{5.f, 6.f, 7.f});
  std::weak_ptr<std::vector<float>> weak = block;
  Tensor t = Tensor::wrap(block->data(), {3}, block);
  block.reset();
  CHECK(!weak.expired());
  CHECK(t.to_vector() == (std::vector<float>{5.f, 6.f, 7.f}));
  t = Tensor();
  CHECK(weak.expired());
}

TEST_CASE(errors) {
  CHECK_THROWS(ValueError, Tensor::from_vector({1.f, 2.f}, {3}), "do not fill shape (3,)");
  CHECK_THROWS(ValueError, Tensor::empty({2, -1}), "negative size");
  Tensor t = Tensor::empty({2, 3});
  CHECK_THROWS(ValueError, t.reshape({4, 2}), "cannot reshape");
  CHECK_THROWS(ValueError, t.slice0(1, 3), "out of bounds");
  CHECK_THROWS(ValueError, t.slice0(2, 1), "out of bounds");
  CHECK_THROWS(ValueError, t.slice0(-1, 1), "out of bounds");
  CHECK_THROWS(ValueError, Tensor::from_vector({1.f}, {}).slice0(0, 0), "out of bounds");
  CHECK_THROWS(ValueError, t.size(2), "out of range");
  CHECK_THROWS(ValueError, t.size(-3), "out of range");
  CHECK_THROWS(ValueError, Tensor::wrap(nullptr, {2}, nullptr), "null data");
  // Errors are catchable as the common base class.
  CHECK_THROWS(Error, t.reshape({5}), "cannot reshape");
  if (!cuda_available()) CHECK_THROWS(Error, t.to(Device::CUDA), "CUDA");
}

TEST_CASE(context_bounds_and_cancellation) {
  const int cap = Context::max_num_threads();
  CHECK(cap >= 4);
  CHECK(Context(Device::CPU, cap).num_threads() == cap);
  CHECK_THROWS(ValueError, Context(Device::CPU, cap + 1), "num_threads must be at most");
  CHECK_THROWS(ValueError, Context().set_num_threads(100000), "num_threads must be at most");
  Context ctx(Device::CPU, 1);
  // Beyond the 2^34-element limit, refused before any allocation; overflow of the count too.
  CHECK_THROWS(ValueError, ctx.empty({1 << 20, 1 << 20}), "exceeds the limit");
  CHECK_THROWS(ValueError, ctx.zeros({int64_t(1) << 40, int64_t(1) << 40}), "64-bit");
  // The cancel check is polled by every op before it runs, and shared with copies.
  int polls = 0;
  bool cancel = false;
  ctx.set_cancel_check([&] {
    ++polls;
    return cancel;
  });
  const Context copy = ctx;
  const Tensor x = Tensor::from_vector({-1.f, 2.f}, {2});
  CHECK(relu(copy, x).to_vector()[0] == 0.f);
  CHECK(polls == 1);
  cancel = true;
  CHECK_THROWS(CancelledError, relu(copy, x), "cancelled");
  ctx.set_cancel_check({});
  CHECK(relu(copy, x).to_vector()[1] == 2.f);
}

int main() { return testing::run_all(); }
