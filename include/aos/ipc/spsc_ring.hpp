// A single-producer single-consumer ring of frames placed in shared memory (UMP): one ring per direction,
// the pair fits the two pages of a URPC frame. The ring itself holds only two indices and the slots (no
// pointers), so each side may map it at a different address; each side drives it through its own end
// object, which keeps that side's cached copy of the other side's index in private memory.
//
//   auto* ring = aos::ipc::SpscRing<62>::create(shared_page);       // once, by whoever sets up the channel
//   aos::ipc::SpscProducer<62> tx{*ring};                           // in the sender
//   aos::ipc::SpscConsumer<62> rx{*ring};                           // in the receiver (maybe another core)
//   AOS_TRY(tx.send(frame, wait));            // waits while full: backpressure, never loss
//   if (rx.try_recv(frame)) handle(frame);    // Errc::would_block while empty
#pragma once

#include <aos/arch/aarch64/sizes.hpp>
#include <aos/arch/page.hpp>
#include <aos/core/errc.hpp>
#include <aos/core/lock.hpp>
#include <aos/core/result.hpp>
#include <aos/ipc/frame.hpp>

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>

namespace aos::ipc {

// How a blocked end waits: `wait(attempt)` is called with 0, 1, 2, ... while the ring stays full (send) or
// empty (recv). The kernel plugs in SpinWait (it has nothing to yield to), init and user programs a
// SpinThenYield that yields to their thread scheduler after a few spins, hosted tests SpinThenYield over
// std::this_thread::yield (or, single-threaded, a function that runs the peer).
template <class W>
concept WaitPolicy = requires(W& w, unsigned attempt) {
    { w.wait(attempt) } -> std::same_as<void>;
};

struct SpinWait {
    void wait(unsigned) { core::cpu_relax(); }
};

// Spins `spins` times (the peer is usually on another core and answers within a few hundred cycles),
// then calls `yield()` on every further attempt so a waiting thread does not burn its core.
template <class Yield>
struct SpinThenYield {
    Yield yield;
    unsigned spins = 128;
    void wait(unsigned attempt) {
        if (attempt < spins)
            core::cpu_relax();
        else
            yield();
    }
};

// The shared part. Ordering argument (AArch64 is weakly ordered; x86 only needs the compiler barriers):
// - The producer writes a slot with plain stores, then publishes it with a store-release of `tail` (STLR).
//   A consumer that load-acquires `tail` (LDAR) and sees the new value is guaranteed to see the slot's
//   contents: release orders all earlier stores before the index store, acquire orders the index load
//   before all later loads.
// - The consumer copies the slot out, then store-releases `head`. The producer load-acquires `head` before
//   reusing a slot, so the consumer's reads of the old contents happen before the producer's new writes
//   (no load-store reordering across the release).
// - Each index is written by one side only and lives on its own cache line, so the two cores never write the
//   same line; slots are cache-line frames, so a slot never shares a line with an index.
// Indices count frames since creation (64 bits never wrap in practice); slot = index % Capacity, which
// lets a page hold 62 slots instead of the 32 a power of two would allow.
template <std::size_t Capacity>
// NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init): the slots stay uninitialized, see below
struct SpscRing {
    static_assert(Capacity > 0, "a ring holds at least one frame");
    static constexpr std::size_t capacity = Capacity;

    alignas(arch::aarch64::cache_line_size) std::atomic<std::uint64_t> tail; // frames sent (producer writes)
    alignas(arch::aarch64::cache_line_size) std::atomic<std::uint64_t> head; // frames taken (consumer writes)
    // Left uninitialized on purpose: a slot is written before its index publishes it, and zeroing a page of
    // shared memory at setup would be wasted work.
    Frame slots[Capacity];

    // Constructs an empty ring in `memory` (at least sizeof(SpscRing), aligned to a cache line), e.g. a
    // freshly mapped shared frame. Only the side that sets up the channel calls this.
    static SpscRing* create(void* memory) {
        auto* ring = ::new (memory) SpscRing;
        ring->tail.store(0, std::memory_order_relaxed);
        ring->head.store(0, std::memory_order_relaxed);
        return ring;
    }

    // Holds for a ring both ends use correctly; false means a peer scribbled over the indices.
    bool check_invariants() const {
        std::uint64_t h = head.load(std::memory_order_acquire);
        std::uint64_t t = tail.load(std::memory_order_acquire);
        return h <= t && t - h <= Capacity;
    }
};

// Frames per ring when the two rings of a channel share a URPC frame of two pages.
inline constexpr std::size_t urpc_ring_capacity =
    (arch::page_size - 2 * arch::aarch64::cache_line_size) / frame_bytes;

// The ring is shared across address spaces and cores: no pointers, fixed layout, lock-free indices.
static_assert(sizeof(SpscRing<urpc_ring_capacity>) == arch::page_size);
static_assert(std::is_standard_layout_v<SpscRing<urpc_ring_capacity>>);
static_assert(offsetof(SpscRing<1>, head) == arch::aarch64::cache_line_size);
static_assert(offsetof(SpscRing<1>, slots) == 2 * arch::aarch64::cache_line_size);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free && sizeof(std::atomic<std::uint64_t>) == 8);

// The two ends keep their private indices on their own cache lines, so that even when both ends live in one
// address space (threads, or a RingTransport's pair) a store to one never invalidates the other's line.
template <std::size_t Capacity>
class alignas(arch::aarch64::cache_line_size) SpscProducer {
public:
    explicit SpscProducer(SpscRing<Capacity>& ring)
        : ring_(&ring), tail_(ring.tail.load(std::memory_order_relaxed)),
          head_cache_(ring.head.load(std::memory_order_acquire)) {}

    // Appends a frame; Errc::would_block when full, Errc::corrupt when the consumer's index is impossible.
    Result<void> try_send(const Frame& f) {
        if (tail_ - head_cache_ >= Capacity) {
            // Only now read the consumer's line: while there is room we never touch it.
            std::uint64_t h = ring_->head.load(std::memory_order_acquire);
            if (h > tail_ || h < head_cache_) [[unlikely]]
                return error(Errc::corrupt);
            head_cache_ = h;
            if (tail_ - head_cache_ >= Capacity)
                return error(Errc::would_block);
        }
        ring_->slots[tail_ % Capacity] = f;
        ++tail_;
        ring_->tail.store(tail_, std::memory_order_release);
        return ok();
    }

    // Appends a frame, waiting while the ring is full (backpressure); fails only on Errc::corrupt.
    template <WaitPolicy W>
    Result<void> send(const Frame& f, W& wait) {
        for (unsigned attempt = 0;; ++attempt) {
            auto r = try_send(f);
            if (r || r.error() != Errc::would_block)
                return r;
            wait.wait(attempt);
        }
    }

    // Frames the consumer has not taken yet, as of the last look at its index.
    std::uint64_t pending() const { return tail_ - head_cache_; }

private:
    SpscRing<Capacity>* ring_;
    std::uint64_t tail_;       // our index; the shared copy is only ever written from this value
    std::uint64_t head_cache_; // the consumer's index when we last read it
};

template <std::size_t Capacity>
class alignas(arch::aarch64::cache_line_size) SpscConsumer {
public:
    explicit SpscConsumer(SpscRing<Capacity>& ring)
        : ring_(&ring), head_(ring.head.load(std::memory_order_relaxed)),
          tail_cache_(ring.tail.load(std::memory_order_acquire)) {}

    // Takes the oldest frame; Errc::would_block when empty, Errc::corrupt when the producer's index is
    // impossible (the ring is shared with another, possibly faulty, program).
    Result<void> try_recv(Frame& out) {
        if (head_ == tail_cache_) {
            std::uint64_t t = ring_->tail.load(std::memory_order_acquire);
            if (t < tail_cache_ || t - head_ > Capacity) [[unlikely]]
                return error(Errc::corrupt);
            tail_cache_ = t;
            if (head_ == tail_cache_)
                return error(Errc::would_block);
        }
        out = ring_->slots[head_ % Capacity];
        ++head_;
        ring_->head.store(head_, std::memory_order_release);
        return ok();
    }

    // Takes the oldest frame, waiting while the ring is empty; fails only on Errc::corrupt.
    template <WaitPolicy W>
    Result<void> recv(Frame& out, W& wait) {
        for (unsigned attempt = 0;; ++attempt) {
            auto r = try_recv(out);
            if (r || r.error() != Errc::would_block)
                return r;
            wait.wait(attempt);
        }
    }

private:
    SpscRing<Capacity>* ring_;
    std::uint64_t head_;       // our index
    std::uint64_t tail_cache_; // the producer's index when we last read it
};

static_assert(WaitPolicy<SpinWait>);
static_assert(WaitPolicy<SpinThenYield<void (*)()>>);

} // namespace aos::ipc
