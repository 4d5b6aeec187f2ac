#!/bin/sh
# Build the fuzz targets and run both campaigns.
#
#   fuzz/run.sh BUILD_DIR [CPP_RUNS] [PY_RUNS]
#
# BUILD_DIR receives the clang build of fuzz/CMakeLists.txt, the seed corpora and the grown
# corpora (kept between runs). Needs clang with libFuzzer and OpenMP, CMake, Ninja, and for
# the converter target Python with atheris and the built deblurcore package importable.
# Each campaign stops at its number of executions (defaults: 1,000,000 and 200,000) or at its
# first finding, which is saved as BUILD_DIR/artifacts-*.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$1
cpp_runs=${2:-1000000}
py_runs=${3:-200000}
mkdir -p "$build"
CXX=${CXX:-clang++} cmake -S "$here" -B "$build/cmake" -G Ninja >/dev/null
ninja -C "$build/cmake" safetensors_fuzzer
python "$here/make_seeds.py" "$build/seeds"
mkdir -p "$build/corpus-safetensors" "$build/corpus-checkpoint"
"$build/cmake/safetensors_fuzzer" -dict="$here/safetensors.dict" -runs="$cpp_runs" \
  -max_len=8192 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$build/artifacts-safetensors-" \
  "$build/corpus-safetensors" "$build/seeds/safetensors"
python "$here/checkpoint_fuzzer.py" -runs="$py_runs" -max_len=8192 -timeout=20 \
  -rss_limit_mb=3072 -print_final_stats=1 -artifact_prefix="$build/artifacts-checkpoint-" \
  "$build/corpus-checkpoint" "$build/seeds/checkpoint"
