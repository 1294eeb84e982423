// Transports move frames (and a capability beside a message's fragment 0) and know nothing of message
// types. The library ships a single-threaded LoopbackTransport for hosted tests and a RingTransport over a
// pair of SpscRings (UMP); the OS adds LMP in src/lib/.
//
//   aos::ipc::LoopbackQueue a_to_b = AOS_TRY(aos::ipc::LoopbackQueue::create(frames1, caps1));
//   aos::ipc::LoopbackQueue b_to_a = AOS_TRY(aos::ipc::LoopbackQueue::create(frames2, caps2));
//   aos::ipc::LoopbackTransport a{a_to_b, b_to_a}, b{b_to_a, a_to_b};
//   AOS_TRY(a.send(frame, nullptr));
//   if (b.try_recv(frame, cap)) ...;
#pragma once

#include <aos/core/errc.hpp>
#include <aos/core/result.hpp>
#include <aos/ipc/frame.hpp>
#include <aos/ipc/spsc_ring.hpp>

#include <concepts>
#include <cstddef>
#include <span>

namespace aos::ipc {

// What the marshaller, Client and Server need of a transport. `send` takes the capability that travels
// beside the frame (non-null exactly when FrameHeader::cap_beside(frame)) and applies backpressure as the
// transport allows; `try_recv` never blocks for a new frame (Errc::would_block when there is none) and
// fills `cap` when the frame has one beside it. The kernel's LMP endpoint (src/lib) and RingTransport
// (UMP, in init and user programs) are the OS's; hosted tests plug in LoopbackTransport or RingTransport.
template <class T>
concept Transport = requires(T& t, const Frame& f, const Capability* cap, Frame& out, Capability& cap_out) {
    { t.send(f, cap) } -> std::same_as<Result<void>>;
    { t.try_recv(out, cap_out) } -> std::same_as<Result<void>>;
};

namespace detail {
inline bool cap_matches_frame(const Frame& f, const Capability* cap) {
    return FrameHeader::cap_beside(f) == (cap != nullptr);
}
} // namespace detail

// One direction of a loopback channel: a FIFO of frames (and their capabilities) in storage the caller
// provides.
class LoopbackQueue {
public:
    // `frames` and `caps` are parallel arrays of the same, non-zero length.
    static Result<LoopbackQueue> create(std::span<Frame> frames, std::span<Capability> caps) {
        if (frames.empty())
            return error(Errc::zero_size);
        if (caps.size() != frames.size())
            return error(Errc::invalid_argument);
        return LoopbackQueue(frames, caps);
    }

    // Errc::would_block when full: with one thread nobody can drain the queue while its sender waits, so
    // it reports instead of deadlocking; size the storage for the largest message in flight.
    Result<void> push(const Frame& f, const Capability* cap) {
        if (!detail::cap_matches_frame(f, cap))
            return error(Errc::invalid_argument);
        if (count_ == frames_.size())
            return error(Errc::would_block);
        std::size_t slot = (head_ + count_) % frames_.size();
        frames_[slot] = f;
        caps_[slot] = cap != nullptr ? *cap : Capability{};
        ++count_;
        return ok();
    }
    Result<void> pop(Frame& f, Capability& cap) {
        if (count_ == 0)
            return error(Errc::would_block);
        f = frames_[head_];
        cap = caps_[head_];
        head_ = (head_ + 1) % frames_.size();
        --count_;
        return ok();
    }
    std::size_t size() const { return count_; }
    bool check_invariants() const { return count_ <= frames_.size() && head_ < frames_.size(); }

private:
    LoopbackQueue(std::span<Frame> frames, std::span<Capability> caps) : frames_(frames), caps_(caps) {}

    std::span<Frame> frames_;
    std::span<Capability> caps_;
    std::size_t head_ = 0;
    std::size_t count_ = 0;
};

// One end of a loopback channel, for a client and server in one thread (a test, or a single-threaded
// program talking to itself).
class LoopbackTransport {
public:
    LoopbackTransport(LoopbackQueue& out, LoopbackQueue& in) : out_(&out), in_(&in) {}
    Result<void> send(const Frame& f, const Capability* cap) { return out_->push(f, cap); }
    Result<void> try_recv(Frame& f, Capability& cap) { return in_->pop(f, cap); }

private:
    LoopbackQueue* out_;
    LoopbackQueue* in_;
};

// One end of a UMP channel: sends into one ring, receives from the other. A capability cannot cross cores,
// so it travels as a second frame right after fragment 0 holding the two words the receiver's init forges
// a capability from (see Capability). `send` waits while the ring is full (backpressure).
template <std::size_t Capacity, WaitPolicy Wait = SpinWait>
class RingTransport {
public:
    RingTransport(SpscRing<Capacity>& out, SpscRing<Capacity>& in, Wait wait = {})
        : tx_(out), rx_(in), send_wait_(wait), recv_wait_(wait) {}

    Result<void> send(const Frame& f, const Capability* cap) {
        if (!detail::cap_matches_frame(f, cap))
            return error(Errc::invalid_argument);
        AOS_TRY(tx_.send(f, send_wait_));
        if (cap != nullptr) {
            Frame trailer{};
            trailer.words[0] = cap->ref;
            trailer.words[1] = cap->size;
            AOS_TRY(tx_.send(trailer, send_wait_));
        }
        return ok();
    }

    // The capability's frame is published right after fragment 0, so waiting for it is short.
    Result<void> try_recv(Frame& f, Capability& cap) {
        AOS_TRY(rx_.try_recv(f));
        if (FrameHeader::cap_beside(f)) {
            Frame trailer{};
            AOS_TRY(rx_.recv(trailer, recv_wait_));
            cap = Capability{trailer.words[0], trailer.words[1]};
        }
        return ok();
    }

private:
    SpscProducer<Capacity> tx_;
    SpscConsumer<Capacity> rx_;
    Wait send_wait_; // one per direction: a threaded client sends and receives from different threads
    Wait recv_wait_;
};

static_assert(Transport<LoopbackTransport>);
static_assert(Transport<RingTransport<urpc_ring_capacity>>);

} // namespace aos::ipc
