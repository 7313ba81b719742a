// Functions compiled twice, for AVX2 and for baseline x86-64, picked at load time (ifunc). "avx2" does not
// enable FMA, so every product and sum rounds exactly as in scalar code, in the same order per element: the same
// bits on every CPU, only faster where the vectors are wider. GAINCELL_SIMD_CLONES_512 adds an AVX-512 clone,
// which has FMA: a module using it for bit-exact code compiles with -ffp-contract=off (GCC contracts a * b + c by
// default in C++, ISO mode included; src/CMakeLists.txt).
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define GAINCELL_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
// The same with an AVX-512 clone too (x86-64-v4: AVX-512 F, BW, CD, DQ and VL; 16-float vectors in one register, 64-bit
// lane products), for kernels written on V16.
#define GAINCELL_SIMD_CLONES_512 __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
// Clones for 8-float kernels that fuse products and sums explicitly (fmadd, core/simd_v8.h: one rounding, the same
// bits on every CPU): the AVX2 clone is x86-64-v3, which has FMA, so a fused multiply-add is one instruction there;
// the baseline clone computes it in software (glibc's fmaf, exact). Only for modules compiled with
// -ffp-contract=off, so that nothing else is fused. (Their 16-float twins are target("avx512f,fma") functions.)
#define GAINCELL_FMA_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define GAINCELL_SIMD_CLONES
#define GAINCELL_SIMD_CLONES_512
#define GAINCELL_FMA_CLONES
#endif

namespace gaincell {

// Whether the kernels written for AVX-512 alone (16-float vectors and their 32 registers; each has an 8-float path
// for other CPUs, picked at run time) run: the CPU has AVX-512 F and no test has turned them off.
bool avx512_kernels();
// For tests: false makes every such kernel take its 8-float path on AVX-512 CPUs too (the path other CPUs run).
void set_avx512_kernels(bool allowed);

}  // namespace gaincell
