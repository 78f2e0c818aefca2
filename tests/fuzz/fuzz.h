/*
 * fuzz.h - what every libFuzzer target (tests/fuzz/fuzz_*.c) shares: the
 * entry point's declaration and CHECK, which reports a broken property
 * with its place (the file names the target) and aborts, so that
 * libFuzzer keeps the input.  A target that moves stderr defines
 * FUZZ_REPORT, the stream to report on, before including this.
 */
#ifndef CHAT_FUZZ_H
#define CHAT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef FUZZ_REPORT
#define FUZZ_REPORT stderr
#endif

#define CHECK(cond)                                                     \
	do {                                                            \
		if (!(cond)) {                                          \
			fprintf(FUZZ_REPORT, "%s:%d: %s\n", __FILE__,   \
				__LINE__, #cond);                       \
			abort();                                        \
		}                                                       \
	} while (0)

#endif
