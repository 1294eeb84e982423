// Sleeps three times and checks with the virtual counter that each sleep lasted at least as asked: the
// kernel blocks it, runs others (or idles in wfi) and wakes it on a timer tick.
#include "print.hpp"

namespace {

constexpr std::uint64_t sleep_ms = 100;
constexpr unsigned sleeps = 3;
constexpr std::uint64_t us_per_ms = 1000;

} // namespace

int main() {
    std::uint64_t freq = aos::sys::counter_frequency();
    bool ok = true;
    for (unsigned i = 1; i <= sleeps; ++i) {
        aos::sys::print("sleeper: sleeping {} ms\n", sleep_ms);
        std::uint64_t start = aos::sys::counter();
        if (!aos::sys::sleep_us(sleep_ms * us_per_ms)) {
            aos::sys::print("sleeper: sleep failed\n");
            return 1;
        }
        std::uint64_t elapsed_ms = (aos::sys::counter() - start) * us_per_ms / freq;
        bool long_enough = elapsed_ms >= sleep_ms;
        ok = ok && long_enough;
        aos::sys::print("sleeper: woke after {} ms ({})\n", elapsed_ms,
                        long_enough ? "at least as asked" : "TOO EARLY");
    }
    return ok ? 0 : 1;
}
