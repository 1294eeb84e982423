// Typed bit ranges for registers, descriptors and ABI words: each field is declared once with its position.
//
//   using Ec = aos::core::BitField<std::uint64_t, 26, 6>;   // ESR_EL1.EC is bits [31:26]
//   auto ec = Ec::get(esr);
//   esr = Ec::set(esr, 0x15);
#pragma once

#include <concepts>
#include <cstdint>
#include <limits>

namespace aos::core {

template <std::unsigned_integral Word, unsigned Lo, unsigned Width>
struct BitField {
    static_assert(Width > 0, "a field has at least one bit");
    static_assert(Lo + Width <= std::numeric_limits<Word>::digits, "field lies outside its word");

    static constexpr unsigned lo = Lo;
    static constexpr unsigned width = Width;
    static constexpr Word value_mask =
        Width == std::numeric_limits<Word>::digits ? ~Word{0} : static_cast<Word>((Word{1} << Width) - 1);
    static constexpr Word mask = static_cast<Word>(value_mask << Lo);
    static constexpr Word max = value_mask;

    static constexpr Word get(Word word) { return static_cast<Word>((word >> Lo) & value_mask); }
    // Values wider than the field are truncated to it; callers that accept outside input check `fits` first.
    static constexpr Word set(Word word, Word value) {
        return static_cast<Word>((word & ~mask) | ((value & value_mask) << Lo));
    }
    static constexpr bool fits(Word value) { return (value & ~value_mask) == 0; }
    static constexpr Word make(Word value) { return set(Word{0}, value); }
};

// A single-bit flag.
template <std::unsigned_integral Word, unsigned Bit>
struct BitFlag {
    static_assert(Bit < std::numeric_limits<Word>::digits, "flag lies outside its word");
    static constexpr Word mask = static_cast<Word>(Word{1} << Bit);
    static constexpr bool get(Word word) { return (word & mask) != 0; }
    static constexpr Word set(Word word, bool on) { return on ? (word | mask) : (word & ~mask); }
};

} // namespace aos::core
