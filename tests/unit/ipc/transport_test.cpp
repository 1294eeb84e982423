// Transports: loopback queue creation and order, the capability rule, the ring transport's capability frame.
#include "catch.hpp"

#include <aos/ipc/transport.hpp>

#include <cstdlib>
#include <memory>
#include <vector>

using aos::Errc;
using aos::ipc::Capability;
using aos::ipc::Frame;
using aos::ipc::FrameHeader;

namespace {

Frame message(std::uint64_t tag, bool with_cap, std::uint32_t fragment = 0) {
    Frame f{};
    f.words[0] = FrameHeader::make(1, 2, fragment, with_cap ? FrameHeader::flag_carries_cap : 0);
    f.words[5] = tag;
    return f;
}

} // namespace

TEST_CASE("a loopback queue needs storage of matching, non-zero sizes", "[transport]") {
    std::vector<Frame> frames(4);
    std::vector<Capability> caps(3);
    CHECK(aos::ipc::LoopbackQueue::create({}, {}).error() == Errc::zero_size);
    CHECK(aos::ipc::LoopbackQueue::create(frames, caps).error() == Errc::invalid_argument);
    caps.resize(4);
    CHECK(aos::ipc::LoopbackQueue::create(frames, caps));
}

TEST_CASE("the loopback keeps order, reports full and empty, and carries capabilities", "[transport]") {
    std::vector<Frame> frames(3);
    std::vector<Capability> caps(3);
    auto q = *aos::ipc::LoopbackQueue::create(frames, caps);
    aos::ipc::LoopbackTransport t(q, q);
    Capability cap{11, 22};
    REQUIRE(t.send(message(1, true), &cap));
    REQUIRE(t.send(message(2, false), nullptr));
    REQUIRE(t.send(message(3, true, 1), nullptr)); // later fragments travel without one
    CHECK(t.send(message(4, false), nullptr).error() == Errc::would_block);
    CHECK(q.size() == 3);
    Frame f{};
    Capability got{};
    REQUIRE(t.try_recv(f, got));
    CHECK(f.words[5] == 1);
    CHECK(got == cap);
    REQUIRE(t.try_recv(f, got));
    CHECK(f.words[5] == 2);
    REQUIRE(t.try_recv(f, got));
    CHECK(f.words[5] == 3);
    CHECK(t.try_recv(f, got).error() == Errc::would_block);
    CHECK(q.check_invariants());
}

TEST_CASE("a capability goes exactly with the fragments whose header says so", "[transport]") {
    std::vector<Frame> frames(4);
    std::vector<Capability> caps(4);
    auto q = *aos::ipc::LoopbackQueue::create(frames, caps);
    aos::ipc::LoopbackTransport t(q, q);
    Capability cap{1, 2};
    CHECK(t.send(message(1, true), nullptr).error() == Errc::invalid_argument);
    CHECK(t.send(message(1, false), &cap).error() == Errc::invalid_argument);
    CHECK(q.size() == 0);
}

TEST_CASE("the ring transport sends a capability as a frame after fragment 0", "[transport]") {
    using Ring = aos::ipc::SpscRing<8>;
    struct FreeDelete {
        void operator()(Ring* p) const { std::free(p); }
    };
    std::unique_ptr<Ring, FreeDelete> a(Ring::create(std::aligned_alloc(alignof(Ring), sizeof(Ring))));
    std::unique_ptr<Ring, FreeDelete> b(Ring::create(std::aligned_alloc(alignof(Ring), sizeof(Ring))));
    aos::ipc::RingTransport<8> left(*a, *b), right(*b, *a);
    Capability cap{0x4000'0000, 0x1000};
    REQUIRE(left.send(message(7, true), &cap));
    REQUIRE(left.send(message(8, false), nullptr));
    CHECK(a->tail.load() == 3); // the message, its capability frame, the next message
    CHECK(left.send(message(9, true), nullptr).error() == Errc::invalid_argument);
    Frame f{};
    Capability got{};
    REQUIRE(right.try_recv(f, got));
    CHECK(f.words[5] == 7);
    CHECK(got == cap);
    REQUIRE(right.try_recv(f, got));
    CHECK(f.words[5] == 8);
    CHECK(right.try_recv(f, got).error() == Errc::would_block);
    CHECK(a->check_invariants());
}
