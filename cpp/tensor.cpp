#include "deblurcore/tensor.h"

#include <cstdint>
#include <cstring>
#include <sstream>

#include "deblurcore/allocator.h"
#include "deblurcore/error.h"
#include "memory/device_memory.h"
#include "memory/tensor_memory.h"

namespace deblurcore {

const char* device_name(Device device) {
  switch (device) {
    case Device::CPU: return "cpu";
    case Device::CUDA: return "cuda";
  }
  return "unknown";
}

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << '(';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << (shape.size() == 1 ? ",)" : ")");
  return os.str();
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) {
    check(s >= 0, "tensor shape ", shape_str(shape), " has a negative size");
    check(s == 0 || n <= INT64_MAX / s, "tensor shape ", shape_str(shape),
          " has more elements than a 64-bit count holds");
    n *= s;
  }
  return n;
}

Tensor::Tensor(float* data, Shape shape, std::shared_ptr<void> owner, Device device)
    : data_(data), shape_(std::move(shape)), owner_(std::move(owner)), device_(device) {
  numel_ = shape_numel(shape_);
}

Tensor Tensor::empty(const Shape& shape, Device device) {
  return memory::allocate_tensor(*default_allocator(device), shape, device);
}

Tensor Tensor::zeros(const Shape& shape, Device device) {
  return memory::allocate_zeros(*default_allocator(device), shape, device);
}

Tensor Tensor::wrap(float* data, const Shape& shape, std::shared_ptr<void> owner, Device device) {
  check(data != nullptr || shape_numel(shape) == 0, "Tensor::wrap: null data");
  return Tensor(data, shape, std::move(owner), device);
}

Tensor Tensor::from_vector(const std::vector<float>& values, const Shape& shape) {
  check(static_cast<int64_t>(values.size()) == shape_numel(shape),
        "Tensor::from_vector: ", values.size(), " values do not fill shape ",
        deblurcore::shape_str(shape));
  Tensor t = empty(shape);
  if (!values.empty()) std::memcpy(t.data(), values.data(), t.nbytes());
  return t;
}

int64_t Tensor::size(int d) const {
  const int n = dim();
  const int i = d < 0 ? d + n : d;
  check<ValueError>(i >= 0 && i < n, "dimension ", d, " is out of range for a ", n, "-D tensor");
  return shape_[i];
}

Tensor Tensor::reshape(const Shape& shape) const {
  check(shape_numel(shape) == numel_, "cannot reshape a tensor of shape ", shape_str(), " to ",
        deblurcore::shape_str(shape));
  return Tensor(data_, shape, owner_, device_);
}

Tensor Tensor::slice0(int64_t begin, int64_t end) const {
  check(dim() >= 1 && 0 <= begin && begin <= end && end <= shape_[0], "slice0: range [", begin,
        ", ", end, ") is out of bounds for shape ", shape_str());
  Shape s = shape_;
  s[0] = end - begin;
  const int64_t row = shape_[0] ? numel_ / shape_[0] : 0;
  return Tensor(data_ + begin * row, s, owner_, device_);
}

Tensor Tensor::to(Device device) const {
  if (device == device_) return *this;
  Tensor out = empty(shape_, device);
  memory::copy(out.data(), device, data_, device_, nbytes());
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape_, device_);
  memory::copy(out.data(), device_, data_, device_, nbytes());
  return out;
}

std::vector<float> Tensor::to_vector() const {
  Tensor host = to(Device::CPU);
  return std::vector<float>(host.data(), host.data() + host.numel());
}

}  // namespace deblurcore
