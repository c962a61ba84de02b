#ifndef TOLLGATE_CLIBFUZZER_H
#define TOLLGATE_CLIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry for a program that keeps its own `main` (clang's FuzzerInterface.h; in
/// libclang_rt.fuzzer since LLVM 11). Only the fuzz build of tollgate-fuzz, linked with
/// -sanitize=fuzzer, calls it; the declaration alone costs the normal build nothing.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
