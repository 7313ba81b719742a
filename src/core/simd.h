// Functions compiled twice, for AVX2 and for baseline x86-64, picked at load time (ifunc). "avx2" does not
// enable FMA (and -std=c++20 contracts nothing), so every product and sum rounds exactly as in scalar code, in
// the same order per element: the same bits on every CPU, only faster where the vectors are wider.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define GAINCELL_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define GAINCELL_SIMD_CLONES
#endif
