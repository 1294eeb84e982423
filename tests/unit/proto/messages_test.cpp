// The OS protocol: every request and response round-trips through the loopback and the ring transport with
// random contents (strings and blobs of 0 to 1 MiB), and a process list nests its records.
#include "catch.hpp"
#include "test_support.hpp"

#include <aos/ipc/rpc.hpp>
#include <aos/proto/messages.hpp>

#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

using aos::ipc::Capability;
using aos::ipc::Frame;

namespace {

constexpr std::size_t max_string = std::size_t{1} << 20;

// Random contents for any record; strings and blobs live in `store`.
struct Filler {
    std::mt19937_64& rng;
    std::deque<std::string>& store;

    std::size_t length() {
        switch (rng() % 4) {
        case 0:
            return 0;
        case 1:
            return rng() % 64;
        case 2:
            return rng() % 4096;
        default:
            return rng() % (max_string + 1);
        }
    }
    const std::string& bytes() {
        std::string& s = store.emplace_back(length(), '\0');
        for (auto& c : s)
            c = static_cast<char>(rng());
        return s;
    }
    template <class T>
    void fill(T& v) {
        if constexpr (std::is_same_v<T, bool>) {
            v = rng() % 2 != 0;
        } else if constexpr (std::is_enum_v<T>) {
            v = static_cast<T>(rng() % static_cast<std::uint64_t>(T::count));
        } else if constexpr (std::is_integral_v<T>) {
            v = static_cast<T>(rng());
        } else if constexpr (std::is_same_v<T, aos::ipc::Str>) {
            const auto& s = bytes();
            v = aos::ipc::Str{s.data(), s.size()};
        } else if constexpr (std::is_same_v<T, aos::ipc::Bytes>) {
            const auto& s = bytes();
            v = aos::ipc::Bytes{reinterpret_cast<const std::byte*>(s.data()), s.size()};
        } else if constexpr (std::is_same_v<T, Capability>) {
            v = Capability{rng(), rng()};
        } else {
            for (auto& e : v)
                fill(e);
        }
    }
    template <class M>
    M make() {
        M m{};
        m.fields([&](auto&... f) { (fill(f), ...); });
        return m;
    }
};

template <class T>
bool field_equal(const T& a, const T& b) {
    if constexpr (std::is_same_v<T, aos::ipc::Str>)
        return a == b;
    else if constexpr (std::is_same_v<T, aos::ipc::Bytes>)
        return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
    else
        return a == b;
}

template <class M>
bool equal(const M& a, const M& b) {
    return a.fields([&](const auto&... fa) {
        return b.fields([&](const auto&... fb) { return (field_equal(fa, fb) && ...); });
    });
}

// Every request and response type, in one list.
using All =
    decltype(std::tuple_cat(std::declval<aos::proto::Requests>(), std::declval<aos::proto::Responses>()));

template <class F, std::size_t... I>
void for_each_type(F&& f, std::index_sequence<I...>) {
    (f(static_cast<std::tuple_element_t<I, All>*>(nullptr)), ...);
}
template <class F>
void for_each_type(F&& f) {
    for_each_type(f, std::make_index_sequence<std::tuple_size_v<All>>{});
}

// Receives one message from `t` (frames until a Reassembler completes it) and checks it equals `m`.
template <class M, class T>
bool receive_equal(T& t, aos::ipc::Reassembler& rx, const M& m) {
    for (;;) {
        Frame f{};
        Capability cap{};
        auto r = t.try_recv(f, cap);
        if (!r) {
            if (r.error() != aos::Errc::would_block)
                return false;
            std::this_thread::yield();
            continue;
        }
        auto done = rx.push(f, cap);
        if (!done)
            return false;
        if (*done)
            break;
    }
    auto back = aos::ipc::decode<M>(rx.message());
    return back && equal(*back, m);
}

template <class M, class T>
aos::Result<void> send(T& t, const M& m) {
    return aos::ipc::encode(m, 1, 0, [&](const Frame& f, const Capability* c) { return t.send(f, c); });
}

unsigned rounds() {
    return aos_test::iterations(3);
}

} // namespace

TEST_CASE("every protocol message round-trips through the loopback transport", "[proto]") {
    auto seed = aos_test::seed("proto loopback");
    std::mt19937_64 rng(seed);
    const std::size_t frames = aos::ipc::fragments_for(8 * (max_string + 8)) + 8;
    std::vector<Frame> f1(frames), f2(frames);
    std::vector<Capability> c1(frames), c2(frames);
    auto q1 = *aos::ipc::LoopbackQueue::create(f1, c1);
    auto q2 = *aos::ipc::LoopbackQueue::create(f2, c2);
    aos::ipc::LoopbackTransport a(q1, q2), b(q2, q1);
    std::vector<std::byte> buffer(8 * (max_string + 8));
    aos::ipc::Reassembler rx(buffer);
    unsigned checked = 0;
    for_each_type([&]<class M>(M*) {
        for (unsigned i = 0; i < rounds(); ++i) {
            std::deque<std::string> store;
            Filler filler{rng, store};
            M m = filler.make<M>();
            REQUIRE(send(a, m));
            REQUIRE(receive_equal(b, rx, m));
            ++checked;
        }
    });
    CHECK(checked == std::tuple_size_v<All> * rounds());
    CHECK(q1.size() == 0);
}

TEST_CASE("every protocol message round-trips through a ring pair between two threads", "[proto]") {
    auto seed = aos_test::seed("proto ring");
    std::mt19937_64 rng(seed);
    using Ring = aos::ipc::SpscRing<aos::ipc::urpc_ring_capacity>;
    struct FreeDelete {
        void operator()(Ring* p) const { std::free(p); }
    };
    std::unique_ptr<Ring, FreeDelete> r1(Ring::create(std::aligned_alloc(alignof(Ring), sizeof(Ring))));
    std::unique_ptr<Ring, FreeDelete> r2(Ring::create(std::aligned_alloc(alignof(Ring), sizeof(Ring))));
    struct ThreadYield {
        void operator()() const { std::this_thread::yield(); }
    };
    using Ump = aos::ipc::RingTransport<aos::ipc::urpc_ring_capacity, aos::ipc::SpinThenYield<ThreadYield>>;
    Ump a(*r1, *r2), b(*r2, *r1);
    std::vector<std::byte> buffer(8 * (max_string + 8));
    aos::ipc::Reassembler rx(buffer);

    // Generate everything first; the sender thread streams it while this thread checks it.
    std::deque<std::string> store;
    Filler filler{rng, store};
    std::vector<std::function<aos::Result<void>()>> sends;
    std::vector<std::function<bool()>> checks;
    for_each_type([&]<class M>(M*) {
        for (unsigned i = 0; i < rounds(); ++i) {
            auto m = std::make_shared<M>(filler.make<M>());
            sends.push_back([&a, m] { return send(a, *m); });
            checks.push_back([&b, &rx, m] { return receive_equal(b, rx, *m); });
        }
    });
    unsigned send_failures = 0;
    std::thread sender([&] {
        for (auto& s : sends)
            send_failures += s() ? 0 : 1;
    });
    unsigned mismatches = 0;
    for (auto& c : checks)
        mismatches += c() ? 0 : 1;
    sender.join();
    CHECK(send_failures == 0);
    CHECK(mismatches == 0);
    CHECK(checks.size() == std::tuple_size_v<All> * rounds());
}

TEST_CASE("a process list nests its records in one blob", "[proto]") {
    using aos::proto::ProcessInfo;
    using aos::proto::ProcessState;
    std::vector<std::byte> blob(256);
    std::size_t pos = 0;
    const char* names[] = {"init", "shell", "memtest"};
    for (std::uint32_t i = 0; i < 3; ++i)
        REQUIRE(aos::ipc::write_record(
            ProcessInfo{i, ProcessState::running, i % 2, aos::core::StringRef::from_c_str(names[i])}, blob,
            pos));
    aos::proto::ProcessListReply reply{3, {blob.data(), pos}};
    std::vector<Frame> f(64);
    std::vector<Capability> c(64);
    auto q = *aos::ipc::LoopbackQueue::create(f, c);
    aos::ipc::LoopbackTransport t(q, q);
    REQUIRE(send(t, reply));
    std::vector<std::byte> buffer(512);
    aos::ipc::Reassembler rx(buffer);
    REQUIRE(receive_equal(t, rx, reply));
    auto back = aos::ipc::decode<aos::proto::ProcessListReply>(rx.message());
    REQUIRE(back);
    std::size_t rpos = 0;
    for (std::uint32_t i = 0; i < back->count; ++i) {
        auto info = aos::ipc::read_record<ProcessInfo>(back->entries, rpos);
        REQUIRE(info);
        CHECK(info->pid == i);
        CHECK(info->name.equals(names[i]));
    }
    CHECK(rpos == back->entries.size());
}

TEST_CASE("an out-of-range process state is rejected", "[proto]") {
    aos::proto::StatusReply s{};
    std::vector<Frame> f(4);
    std::vector<Capability> c(4);
    auto q = *aos::ipc::LoopbackQueue::create(f, c);
    aos::ipc::LoopbackTransport t(q, q);
    REQUIRE(send(t, s));
    Frame frame{};
    Capability cap{};
    REQUIRE(t.try_recv(frame, cap));
    frame.words[2] = aos::core::BitField<std::uint64_t, 32, 8>::set(frame.words[2], 4); // state = count
    aos::ipc::Reassembler rx;
    REQUIRE(*rx.push(frame));
    aos::ipc::DecodeFailure where{};
    auto r = aos::ipc::decode<aos::proto::StatusReply>(rx.message(), &where);
    REQUIRE_FALSE(r);
    CHECK(r.error() == aos::Errc::out_of_range);
    CHECK(where.field == 1);
}
