// FLOWMOD_TARGET_CLONES on a function with a hot loop compiles it three times: for AVX-512
// (x86-64-v4), for AVX2 with FMA (x86-64-v3) and for the baseline the build targets; the
// dynamic loader picks the best the CPU supports (an ifunc, resolved once). The library
// itself is built for baseline x86-64, so it runs everywhere, while the loops that are
// bound by arithmetic (tanh, sigmoid) get the wide vectors of the machine they run on.
// Elsewhere (non-x86, or no ifunc support) the macro is empty: one baseline version.
//
// With FMA available the compiler contracts a * b + c, so the AVX2 and AVX-512 versions can
// differ from the baseline in the last bit of a result.
#pragma once

#if defined(__x86_64__) && defined(__linux__) && (defined(__GNUC__) || defined(__clang__))
#define FLOWMOD_TARGET_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define FLOWMOD_TARGET_CLONES
#endif
