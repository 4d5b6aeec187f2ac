// DLPack import and export of the bindings (see dlpack.h).
#include "dlpack.h"

#include <memory>
#include <string>
#include <vector>

#include "deblurcore/error.h"

namespace py = pybind11;
using deblurcore::Device;
using deblurcore::Shape;
using deblurcore::Tensor;

namespace {

constexpr const char* kName = "dltensor";
constexpr const char* kUsedName = "used_dltensor";

// What an exported capsule owns: the tensor (its memory) and the shape array DLPack points to.
struct Exported {
  Tensor tensor;
  std::vector<int64_t> shape;
  dlpack::ManagedTensor managed{};
};

void delete_exported(dlpack::ManagedTensor* self) {
  delete static_cast<Exported*>(self->manager_ctx);
}

}  // namespace

Tensor tensor_from_dlpack(py::handle capsule, const char* name, int* device_id) {
  PyObject* obj = capsule.ptr();
  if (!PyCapsule_CheckExact(obj) || !PyCapsule_IsValid(obj, kName))
    deblurcore::fail<deblurcore::TypeError>(name, ": expected an unconsumed DLPack capsule");
  auto* managed = static_cast<dlpack::ManagedTensor*>(PyCapsule_GetPointer(obj, kName));
  // From here on the tensor owns `managed`: the producer's deleter runs with its last copy.
  std::shared_ptr<void> owner(managed, [](void* p) {
    auto* m = static_cast<dlpack::ManagedTensor*>(p);
    if (m->deleter) m->deleter(m);
  });
  PyCapsule_SetName(obj, kUsedName);
  PyCapsule_SetDestructor(obj, nullptr);

  const dlpack::DLTensor& t = managed->dl_tensor;
  if (t.dtype.code != dlpack::kFloat || t.dtype.bits != 32 || t.dtype.lanes != 1)
    deblurcore::fail<deblurcore::TypeError>(name, ": expected float32 data (DLPack dtype code ",
                                            int(t.dtype.code), ", ", int(t.dtype.bits), " bits)");
  Device device;
  if (t.device.device_type == dlpack::kCPU)
    device = Device::CPU;
  else if (t.device.device_type == dlpack::kCUDA)
    device = Device::CUDA;
  else
    deblurcore::fail<deblurcore::ValueError>(name, ": DLPack device type ", t.device.device_type,
                                             " is neither the CPU (1) nor CUDA (2)");
  if (device_id) *device_id = t.device.device_id;
  Shape shape(t.shape, t.shape + t.ndim);
  bool empty = false;
  for (int64_t d : shape) empty = empty || d == 0;
  if (t.strides && !empty) {  // an empty tensor's strides are arbitrary; the op refuses it
    int64_t expected = 1;
    for (int d = t.ndim - 1; d >= 0; --d) {
      if (shape[d] != 1 && t.strides[d] != expected)
        deblurcore::fail<deblurcore::ValueError>(name,
                                                 ": expected a contiguous (row-major) tensor");
      expected *= shape[d];
    }
  }
  auto* data = reinterpret_cast<float*>(static_cast<char*>(t.data) + t.byte_offset);
  return Tensor::wrap(data, shape, std::move(owner), device);
}

py::capsule tensor_to_dlpack(const Tensor& t, int device_id) {
  auto* e = new Exported{t, std::vector<int64_t>(t.shape().begin(), t.shape().end()), {}};
  dlpack::DLTensor& d = e->managed.dl_tensor;
  d.data = e->tensor.numel() ? e->tensor.data() : nullptr;
  d.device = {t.device() == Device::CUDA ? dlpack::kCUDA : dlpack::kCPU,
              t.device() == Device::CUDA ? device_id : 0};
  d.ndim = static_cast<int32_t>(e->shape.size());
  d.dtype = {dlpack::kFloat, 32, 1};
  d.shape = e->shape.data();
  d.strides = nullptr;
  d.byte_offset = 0;
  e->managed.manager_ctx = e;
  e->managed.deleter = &delete_exported;
  // Dropped without being consumed (the name is still "dltensor"): free it here.
  PyObject* cap = PyCapsule_New(&e->managed, kName, [](PyObject* obj) {
    if (!PyCapsule_IsValid(obj, kName)) return;
    auto* m = static_cast<dlpack::ManagedTensor*>(PyCapsule_GetPointer(obj, kName));
    m->deleter(m);
  });
  if (!cap) {
    delete e;
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::capsule>(cap);
}
