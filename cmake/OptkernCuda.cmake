# Decides whether the CUDA backend is built (OPTKERN_CUDA=AUTO|ON|OFF) and sets it up.
# Sets OPTKERN_HAVE_CUDA to ON or OFF.
include(CheckLanguage)

set(OPTKERN_HAVE_CUDA OFF)
string(TOUPPER "${OPTKERN_CUDA}" _optk_cuda_mode)

if(NOT _optk_cuda_mode STREQUAL "OFF")
  # A toolkit installed in the default prefix but not on PATH is still found.
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    find_program(_optk_nvcc nvcc)
    if(NOT _optk_nvcc)
      set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
    endif()
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # A100, L4/RTX 4090 and H100 unless the caller chose.
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 80 89 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(OPTKERN_HAVE_CUDA ON)
  elseif(_optk_cuda_mode STREQUAL "ON")
    message(FATAL_ERROR "OPTKERN_CUDA=ON but no CUDA compiler (nvcc) was found")
  endif()
endif()

# Exact arithmetic contract: no implicit FMA contraction, IEEE division and square root on
# both sides, so that the shared rules give the same bits on the CPU and the GPU.
# -fno-math-errno and -fno-trapping-math change no result: they let the compiler use
# sqrtps without an errno check and evaluate both arms of a rule's select (we never enable
# FP exception traps), which is what lets every rule's CPU loop vectorise.
set(OPTKERN_C_FLAGS -Wall -Wextra -Werror -ffp-contract=off -fno-math-errno -fno-trapping-math)
# The CPU's hot loops are cloned for x86-64-v4 (AVX-512) as well as v3 and baseline
# (src/cpu/mixed_precision.h). GCC's generic tuning would still use 256-bit vectors in the v4
# clones; on the cores we measured (AMD Zen 5) full-width vectors made compute-bound loops
# up to 1.9x faster (README, CPU backend). The flag only matters where 512-bit registers
# exist, i.e. in the v4 clones; the results are the same bits (IEEE operations lane by lane).
if(CMAKE_C_COMPILER_ID STREQUAL "GNU" AND CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64)$")
  list(APPEND OPTKERN_C_FLAGS -mprefer-vector-width=512)
endif()
set(OPTKERN_CUDA_FLAGS
    --fmad=false -prec-div=true -prec-sqrt=true -ftz=false
    -Werror=all-warnings
    "-Xcompiler=-Wall,-Wextra,-Werror,-ffp-contract=off,-fno-math-errno,-fno-trapping-math")
