// Structure-aware mutations of attn IR text for the attn-opt fuzzer: edits
// that keep most of the text parseable (attribute values, integers, maps,
// operands, whole lines) so that mutants reach the verifier and the passes.
#ifndef ATTN_TEST_FUZZ_IRMUTATOR_H
#define ATTN_TEST_FUZZ_IRMUTATOR_H

#include <cstdint>
#include <random>
#include <string>

namespace attn::fuzz {

/// Applies one structure-aware edit, chosen by `rng`, to `ir`; returns false
/// (leaving `ir` unchanged) where the chosen edit found nothing to change.
bool mutateIrOnce(std::string &ir, std::mt19937_64 &rng);

/// Applies 1 to `maxEdits` edits (retrying edits that found nothing).
void mutateIr(std::string &ir, std::mt19937_64 &rng, unsigned maxEdits = 3);

} // namespace attn::fuzz

#endif
