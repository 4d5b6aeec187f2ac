// The CUDA entry points of a build without CUDA (cpp/cuda/stub/, linked instead of
// cpp/cuda/*.cu) all throw through no_cuda(), so a CUDA request fails with a clear message
// instead of a link error. One stub file per op, named like the op's .cu file.
#pragma once

namespace deblurcore {
namespace cuda {

[[noreturn]] void no_cuda();

}  // namespace cuda
}  // namespace deblurcore
