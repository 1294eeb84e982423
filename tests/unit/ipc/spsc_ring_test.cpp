// SpscRing: order, full/empty, backpressure, corrupt peers, two threads, two processes over shared memory.
#include "catch.hpp"
#include "test_support.hpp"

#include <aos/ipc/spsc_ring.hpp>

#include <cstdlib>
#include <memory>
#include <random>
#include <sys/mman.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using aos::Errc;
using aos::ipc::Frame;

namespace {

constexpr std::size_t cap = 8;
using Ring = aos::ipc::SpscRing<cap>;

// Frame number i carries i in every word, each word salted differently, so any torn or stale slot shows.
Frame numbered(std::uint64_t i) {
    Frame f{};
    for (std::size_t w = 0; w < aos::ipc::frame_words; ++w)
        f.words[w] = i * aos::ipc::frame_words + w;
    return f;
}
bool is_numbered(const Frame& f, std::uint64_t i) {
    return f == numbered(i);
}

struct ThreadYield {
    void operator()() const { std::this_thread::yield(); }
};
using Wait = aos::ipc::SpinThenYield<ThreadYield>;

template <class T>
struct AlignedDelete {
    void operator()(T* p) const { std::free(p); }
};
template <class R>
std::unique_ptr<R, AlignedDelete<R>> make_ring() {
    void* mem = std::aligned_alloc(alignof(R), sizeof(R));
    return std::unique_ptr<R, AlignedDelete<R>>(R::create(mem));
}

// How many frames the streaming tests move: 10^6 by default (about half a second under ASan or TSan on
// the 2-core VM), 10^7 with AOS_LONG=1 (the soak figure: about 5 s under TSan).
std::uint64_t stream_frames() {
    const char* env = std::getenv("AOS_LONG");
    return env != nullptr && env[0] == '1' ? 10000000 : 1000000;
}

} // namespace

TEST_CASE("an empty ring reports would_block and a full ring refuses without losing anything", "[ring]") {
    auto ring = make_ring<Ring>();
    aos::ipc::SpscProducer<cap> tx{*ring};
    aos::ipc::SpscConsumer<cap> rx{*ring};
    Frame out{};
    auto empty = rx.try_recv(out);
    REQUIRE_FALSE(empty);
    CHECK(empty.error() == Errc::would_block);

    for (std::uint64_t i = 0; i < cap; ++i)
        REQUIRE(tx.try_send(numbered(i)));
    auto full = tx.try_send(numbered(cap));
    REQUIRE_FALSE(full);
    CHECK(full.error() == Errc::would_block);
    CHECK(ring->check_invariants());
    CHECK(ring->tail.load() == cap); // the refused frame left the ring unchanged

    for (std::uint64_t i = 0; i < cap; ++i) {
        REQUIRE(rx.try_recv(out));
        CHECK(is_numbered(out, i));
    }
    CHECK(rx.try_recv(out).error() == Errc::would_block);
}

TEST_CASE("indices wrap around the slots many times in FIFO order", "[ring]") {
    auto seed = aos_test::seed("ring wrap");
    std::mt19937_64 rng(seed);
    auto ring = make_ring<Ring>();
    aos::ipc::SpscProducer<cap> tx{*ring};
    aos::ipc::SpscConsumer<cap> rx{*ring};
    std::uint64_t sent = 0, received = 0;
    for (unsigned step = 0; step < aos_test::iterations(20000); ++step) {
        if (rng() % 2 == 0) {
            auto r = tx.try_send(numbered(sent));
            CHECK((r || sent - received == cap));
            sent += r ? 1 : 0;
        } else {
            Frame f{};
            auto r = rx.try_recv(f);
            if (r) {
                REQUIRE(is_numbered(f, received));
                ++received;
            } else {
                REQUIRE(sent == received);
            }
        }
        REQUIRE(ring->check_invariants());
    }
}

TEST_CASE("a consumer rejects a producer index that is impossible", "[ring]") {
    auto ring = make_ring<Ring>();
    aos::ipc::SpscConsumer<cap> rx{*ring};
    ring->tail.store(cap + 1); // more frames than slots: the peer is broken or hostile
    Frame f{};
    auto r = rx.try_recv(f);
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::corrupt);
    CHECK_FALSE(ring->check_invariants());
    CHECK(ring->head.load() == 0); // nothing consumed
}

TEST_CASE("a producer rejects a consumer index that is impossible", "[ring]") {
    auto ring = make_ring<Ring>();
    aos::ipc::SpscProducer<cap> tx{*ring};
    for (std::uint64_t i = 0; i < cap; ++i)
        REQUIRE(tx.try_send(numbered(i)));
    ring->head.store(cap + 5); // ahead of what was ever sent
    auto r = tx.try_send(numbered(cap));
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::corrupt);
    CHECK(ring->tail.load() == cap);
}

TEST_CASE("blocking send waits for room instead of rejecting (single thread, the wait drains)", "[ring]") {
    auto ring = make_ring<Ring>();
    aos::ipc::SpscProducer<cap> tx{*ring};
    aos::ipc::SpscConsumer<cap> rx{*ring};
    std::uint64_t drained = 0;
    unsigned waits = 0;
    // Stands in for "yield to the scheduler, which runs the consumer".
    auto drain_one = [&] {
        Frame f{};
        ++waits;
        if (rx.try_recv(f)) {
            CHECK(is_numbered(f, drained));
            ++drained;
        }
    };
    aos::ipc::SpinThenYield<decltype(drain_one)> wait{drain_one, 0};
    for (std::uint64_t i = 0; i < 3 * cap; ++i)
        REQUIRE(tx.send(numbered(i), wait));
    CHECK(waits == 2 * cap);
    CHECK(drained == 2 * cap);
}

// Two threads, one per end: every frame arrives exactly once, in order, untorn. Also built under TSan.
TEST_CASE("two threads stream frames with no loss, duplication or reordering", "[ring][tsan]") {
    const std::uint64_t n = stream_frames();
    auto ring = make_ring<aos::ipc::SpscRing<aos::ipc::urpc_ring_capacity>>();
    std::uint64_t bad = 0, received = 0;
    std::thread consumer([&] {
        aos::ipc::SpscConsumer<aos::ipc::urpc_ring_capacity> rx{*ring};
        Wait wait{};
        Frame f{};
        for (std::uint64_t i = 0; i < n; ++i) {
            if (!rx.recv(f, wait) || !is_numbered(f, i))
                ++bad;
            ++received;
        }
    });
    aos::ipc::SpscProducer<aos::ipc::urpc_ring_capacity> tx{*ring};
    Wait wait{};
    std::uint64_t send_failures = 0;
    for (std::uint64_t i = 0; i < n; ++i)
        send_failures += tx.send(numbered(i), wait) ? 0 : 1;
    consumer.join();
    CHECK(send_failures == 0);
    CHECK(bad == 0);
    CHECK(received == n);
    CHECK(ring->tail.load() == n);
    CHECK(ring->head.load() == n);
}

// The hosted stand-in for two cores: the ring in a memfd mapped by two processes, at different addresses
// (the child maps it again), so the ring must be position independent.
TEST_CASE("two processes stream frames through a ring in shared memory", "[ring]") {
    using BigRing = aos::ipc::SpscRing<aos::ipc::urpc_ring_capacity>;
    int fd = memfd_create("aos-spsc-ring", 0);
    REQUIRE(fd >= 0);
    REQUIRE(ftruncate(fd, sizeof(BigRing)) == 0);
    void* parent_map = mmap(nullptr, sizeof(BigRing), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    REQUIRE(parent_map != MAP_FAILED);
    auto* ring = BigRing::create(parent_map);
    const std::uint64_t n = stream_frames();

    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // A second mapping at a different address, as another core's process would have.
        void* child_map = mmap(nullptr, sizeof(BigRing), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (child_map == MAP_FAILED || child_map == parent_map)
            _exit(3);
        aos::ipc::SpscConsumer<aos::ipc::urpc_ring_capacity> rx{*static_cast<BigRing*>(child_map)};
        Wait wait{};
        Frame f{};
        for (std::uint64_t i = 0; i < n; ++i) {
            if (!rx.recv(f, wait))
                _exit(1);
            if (!is_numbered(f, i))
                _exit(2);
        }
        _exit(0);
    }
    aos::ipc::SpscProducer<aos::ipc::urpc_ring_capacity> tx{*ring};
    Wait wait{};
    std::uint64_t send_failures = 0;
    for (std::uint64_t i = 0; i < n; ++i)
        send_failures += tx.send(numbered(i), wait) ? 0 : 1;
    int status = -1;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(send_failures == 0);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(ring->head.load() == n);
    munmap(parent_map, sizeof(BigRing));
    close(fd);
}
