// Baseline for bench/ipc_bench.cpp (our own code): the alternative SPSC ring design the issue asked us to
// measure against head/tail indices — a sequence word per slot, as Barrelfish's UMP uses an epoch bit in
// each message, so neither side ever reads the other's index line. A frame uses all 64 bytes, so the
// sequence word needs a second cache line per slot (128-byte slots, half the frames per page).
#pragma once

#include <aos/core/lock.hpp>
#include <aos/ipc/frame.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace aos_bench {

template <std::size_t Capacity>
class SeqRing {
public:
    SeqRing() {
        for (std::size_t i = 0; i < Capacity; ++i)
            slots_[i].seq.store(i, std::memory_order_relaxed);
    }

    // Producer: slot i % Capacity is free for frame i when its sequence equals i.
    bool try_send(const aos::ipc::Frame& f) {
        Slot& s = slots_[tail_ % Capacity];
        if (s.seq.load(std::memory_order_acquire) != tail_)
            return false;
        s.frame = f;
        s.seq.store(tail_ + 1, std::memory_order_release);
        ++tail_;
        return true;
    }
    // Consumer: frame i is ready when its slot's sequence equals i + 1; freeing it sets i + Capacity.
    bool try_recv(aos::ipc::Frame& out) {
        Slot& s = slots_[head_ % Capacity];
        if (s.seq.load(std::memory_order_acquire) != head_ + 1)
            return false;
        out = s.frame;
        s.seq.store(head_ + Capacity, std::memory_order_release);
        ++head_;
        return true;
    }

private:
    struct Slot {
        aos::ipc::Frame frame;
        alignas(aos::arch::aarch64::cache_line_size) std::atomic<std::uint64_t> seq;
    };
    // Each side's private position on its own line.
    alignas(aos::arch::aarch64::cache_line_size) std::uint64_t tail_ = 0;
    alignas(aos::arch::aarch64::cache_line_size) std::uint64_t head_ = 0;
    Slot slots_[Capacity];
};

} // namespace aos_bench
