// A busy program for the preemption tests: counts without yielding, prints progress, and checks that a
// floating-point computation survived every switch to the other spinners.
#include "print.hpp"

#ifndef SPIN_TAG
#error "SPIN_TAG names the instance"
#endif

namespace {

constexpr unsigned rounds = 5;
constexpr unsigned long work_per_round = 3'000'000;

} // namespace

int main() {
    // Each instance keeps a different value in FP registers across its loop: a switch that lost FP state
    // would show as a wrong sum.
    volatile double step = SPIN_STEP;
    double sum = 0;
    for (unsigned r = 1; r <= rounds; ++r) {
        for (unsigned long i = 0; i < work_per_round; ++i)
            sum += step;
        aos::sys::print("spin {}: round {} of {}\n", SPIN_TAG, r, rounds);
    }
    double expected = static_cast<double>(rounds) * static_cast<double>(work_per_round) * SPIN_STEP;
    bool fp_ok = sum == expected;
    aos::sys::print("spin {}: floating point {}\n", SPIN_TAG, fp_ok ? "intact" : "CORRUPTED");
    return fp_ok ? 0 : 1;
}
