// Prints a numbered tick every 20 ms and never ends by itself: the dispatcher-operation test suspends,
// resumes and stops it from init.
#include "print.hpp"

namespace {

constexpr std::uint64_t tick_us = 20'000;

} // namespace

int main() {
    for (unsigned n = 1;; ++n) {
        aos::sys::print("ticker: tick {}\n", n);
        if (!aos::sys::sleep_us(tick_us))
            return 1;
    }
}
