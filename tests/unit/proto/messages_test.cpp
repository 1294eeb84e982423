// The OS protocol: every request and response round-trips through the loopback and the ring transport with
// random contents (strings and blobs of 0 to 1 MiB), and a process list nests its records.
#include "catch.hpp"
#include "test_support.hpp"

#include <aos/ipc/rpc.hpp>
#include <aos/proto/messages.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
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

    bool short_only = false;    // strings and blobs of at most short_max bytes
    std::size_t short_max = 60; // around one frame's payload

    std::size_t length() {
        if (short_only)
            return rng() % (short_max + 1);
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

namespace {

// A server handler that checks it received the expected request and answers with a prepared response.
template <class Request>
struct Scripted {
    using Req = Request;
    using Resp = typename Req::Response;
    const Req* expect = nullptr;
    const Resp* answer = nullptr;
    unsigned calls = 0;
    unsigned mismatches = 0;
    aos::Result<std::optional<Resp>> operator()(const Req& r, aos::ipc::ReplyToken<Req>) {
        ++calls;
        if (!equal(r, *expect))
            ++mismatches;
        return std::optional<Resp>{*answer};
    }
};
template <class... R>
std::tuple<Scripted<R>...> scripted_for(std::tuple<R...>*);
using Handlers = decltype(scripted_for(static_cast<aos::proto::Requests*>(nullptr)));

template <class Server>
void register_all(Server& server, Handlers& handlers) {
    std::apply(
        [&](auto&... h) {
            auto one = [&](auto& handler) {
                REQUIRE(server.template on<typename std::remove_cvref_t<decltype(handler)>::Req>(handler));
            };
            (one(h), ...);
        },
        handlers);
}

// Calls every request `rounds()` times with random contents; returns how many replies differed.
template <class Client>
unsigned call_all(Client& client, Handlers& handlers, std::mt19937_64& rng,
                  std::vector<std::byte>& reply_buffer, unsigned& calls) {
    unsigned wrong = 0;
    std::apply(
        [&](auto&... h) {
            auto one = [&](auto& handler) {
                using H = std::remove_cvref_t<decltype(handler)>;
                for (unsigned i = 0; i < rounds(); ++i) {
                    std::deque<std::string> store;
                    Filler filler{rng, store};
                    auto req = filler.make<typename H::Req>();
                    auto resp = filler.make<typename H::Resp>();
                    handler.expect = &req;
                    handler.answer = &resp;
                    auto r = client.call(req, reply_buffer);
                    ++calls;
                    if (!r || !equal(*r, resp))
                        ++wrong;
                }
            };
            (one(h), ...);
        },
        handlers);
    return wrong;
}

template <class... H>
unsigned total_mismatches(const std::tuple<H...>& handlers) {
    return std::apply([](const auto&... h) { return (0u + ... + h.mismatches); }, handlers);
}

} // namespace

TEST_CASE("every request and its response go through Client and Server over both transports", "[proto]") {
    auto seed = aos_test::seed("proto rpc");
    std::mt19937_64 rng(seed);
    const std::size_t buffer_size = 8 * (max_string + 8);
    std::vector<std::byte> request_buffer(buffer_size), reply_buffer(buffer_size);
    const unsigned expected_calls = std::tuple_size_v<aos::proto::Requests> * rounds();

    SECTION("loopback, one thread: waiting runs the server") {
        const std::size_t frames = aos::ipc::fragments_for(buffer_size) + 8;
        std::vector<Frame> f1(frames), f2(frames);
        std::vector<Capability> c1(frames), c2(frames);
        auto q1 = *aos::ipc::LoopbackQueue::create(f1, c1);
        auto q2 = *aos::ipc::LoopbackQueue::create(f2, c2);
        aos::ipc::LoopbackTransport client_end(q1, q2), server_end(q2, q1);
        using LoopServer = aos::ipc::Server<aos::ipc::LoopbackTransport>;
        LoopServer server(server_end, request_buffer);
        Handlers handlers;
        register_all(server, handlers);
        struct RunServer {
            LoopServer* server;
            void wait(unsigned) { (void)server->poll(); }
        };
        aos::ipc::Client<aos::ipc::LoopbackTransport, aos::core::NullLock, RunServer> client(
            client_end, RunServer{&server});
        unsigned calls = 0;
        CHECK(call_all(client, handlers, rng, reply_buffer, calls) == 0);
        CHECK(calls == expected_calls);
        CHECK(total_mismatches(handlers) == 0);
    }
    SECTION("ring pair, a server thread") {
        using Ring = aos::ipc::SpscRing<aos::ipc::urpc_ring_capacity>;
        struct FreeDelete {
            void operator()(Ring* p) const { std::free(p); }
        };
        std::unique_ptr<Ring, FreeDelete> up(Ring::create(std::aligned_alloc(alignof(Ring), sizeof(Ring))));
        std::unique_ptr<Ring, FreeDelete> down(Ring::create(std::aligned_alloc(alignof(Ring), sizeof(Ring))));
        struct ThreadYield {
            void operator()() const { std::this_thread::yield(); }
        };
        using Wait = aos::ipc::SpinThenYield<ThreadYield>;
        using Ump = aos::ipc::RingTransport<aos::ipc::urpc_ring_capacity, Wait>;
        Ump client_end(*up, *down), server_end(*down, *up);
        aos::ipc::Server<Ump> server(server_end, request_buffer);
        Handlers handlers;
        register_all(server, handlers);
        std::atomic<bool> stop{false};
        std::atomic<unsigned> server_errors{0};
        std::thread server_thread([&] {
            while (!stop.load()) {
                auto r = server.poll();
                if (!r)
                    server_errors.fetch_add(1);
                else if (!*r)
                    std::this_thread::yield();
            }
        });
        aos::ipc::Client<Ump, aos::core::NullLock, Wait> client(client_end);
        unsigned calls = 0;
        unsigned wrong = call_all(client, handlers, rng, reply_buffer, calls);
        stop.store(true);
        server_thread.join();
        CHECK(wrong == 0);
        CHECK(calls == expected_calls);
        CHECK(server_errors.load() == 0);
        CHECK(total_mismatches(handlers) == 0);
    }
}

namespace {

// Decodes `f` as M both ways and checks they agree: the same value, or the same error at the same place.
template <class M>
void check_decode_frame_agrees(const Frame& f, const Capability& cap) {
    aos::ipc::DecodeFailure fast_where{99, 99};
    aos::ipc::DecodeFailure slow_where{99, 99};
    auto fast = aos::ipc::decode_frame<M>(f, cap, &fast_where);
    auto in = aos::ipc::whole_message(f, cap);
    aos::Result<M> slow = in ? aos::ipc::decode<M>(*in, &slow_where) : aos::Result<M>(aos::error(in.error()));
    REQUIRE(fast.has_value() == slow.has_value());
    if (fast) {
        CHECK(equal(*fast, *slow));
    } else {
        CHECK(fast.error() == slow.error());
        CHECK(fast_where.field == slow_where.field);
        CHECK(fast_where.offset == slow_where.offset);
    }
}

} // namespace

TEST_CASE("decode_frame accepts and refuses exactly the frames whole_message then decode do", "[proto]") {
    std::mt19937_64 rng(aos_test::seed("decode_frame agrees with whole_message + decode"));
    std::deque<std::string> store;
    Filler filler{rng, store};
    filler.short_only = true;
    unsigned accepted = 0;
    unsigned refused = 0;
    for_each_type([&](auto* type) {
        using M = std::remove_pointer_t<decltype(type)>;
        for (unsigned i = 0; i < aos_test::iterations(300); ++i) {
            store.clear();
            M m = filler.make<M>();
            Frame f{};
            Capability cap{};
            bool first = true;
            auto flags = static_cast<std::uint8_t>(rng() % 2 != 0 ? aos::ipc::FrameHeader::flag_response : 0);
            REQUIRE(aos::ipc::encode(m, static_cast<aos::ipc::RequestId>(rng()), flags,
                                     [&](const Frame& out, const Capability* c) {
                                         if (first) {
                                             f = out;
                                             cap = c != nullptr ? *c : Capability{rng(), rng()};
                                         }
                                         first = false;
                                         return aos::Result<void>(aos::ok());
                                     }));
            // Unchanged, or with one kind of damage.
            switch (rng() % 6) {
            case 0:
                break;
            case 1: // any bit
                f.words[rng() % aos::ipc::frame_words] ^= std::uint64_t{1} << (rng() % 64);
                break;
            case 2: // any byte of the payload or padding
                reinterpret_cast<unsigned char*>(f.words.data())[16 + rng() % 48] =
                    static_cast<unsigned char>(rng());
                break;
            case 3: // the length, a little off
                f.words[1] += static_cast<std::uint64_t>(static_cast<std::int64_t>(rng() % 9) - 4);
                break;
            case 4: // the flags
                f.words[0] = aos::ipc::FrameHeader::Flags::set(f.words[0], rng() % 256);
                break;
            default: // the fragment index or count
                f.words[rng() % 2] ^= std::uint64_t{1} << (32 + rng() % 24);
                break;
            }
            // As this type and, with this frame's type id patched in, as every other one.
            check_decode_frame_agrees<M>(f, cap);
            accepted += aos::ipc::decode_frame<M>(f, cap) ? 1 : 0;
            refused += aos::ipc::decode_frame<M>(f, cap) ? 0 : 1;
            for_each_type([&](auto* other) {
                using N = std::remove_pointer_t<decltype(other)>;
                Frame g = f;
                g.words[0] = aos::ipc::FrameHeader::Type::set(g.words[0], N::type_id);
                check_decode_frame_agrees<N>(g, cap);
            });
        }
    });
    // Both outcomes were exercised.
    CHECK(accepted > 0);
    CHECK(refused > 0);
}

namespace {

// The frames the general, field-by-field writer produces for `m` (what encode did for every message before
// it built one-frame messages with strings in registers).
template <class M>
std::vector<std::pair<Frame, Capability>> general_frames(const M& m, aos::ipc::RequestId id,
                                                         std::uint8_t flags) {
    std::vector<std::pair<Frame, Capability>> out;
    auto sink = [&](const Frame& f, const Capability* c) {
        out.emplace_back(f, c != nullptr ? *c : Capability{});
        return aos::Result<void>(aos::ok());
    };
    const Capability* cap = nullptr;
    m.fields([&](const auto&... f) {
        auto pick = [&](const auto& field) {
            if constexpr (std::is_same_v<std::remove_cvref_t<decltype(field)>, Capability>)
                cap = &field;
        };
        (pick(f), ...);
    });
    if (cap != nullptr)
        flags |= aos::ipc::FrameHeader::flag_carries_cap;
    std::uint64_t length = aos::ipc::payload_size(m);
    std::uint64_t header0 = aos::ipc::FrameHeader::make(M::type_id, id, 0, flags);
    std::uint64_t first_word = aos::ipc::FirstWord::PayloadLength::make(length) |
                               aos::ipc::FirstWord::FragmentCount::make(aos::ipc::fragments_for(length));
    aos::ipc::detail::FrameWriter<decltype(sink), true> w(sink, header0, first_word, cap);
    m.fields([&](const auto&... f) { (aos::ipc::detail::put_field(w, f), ...); });
    REQUIRE(w.finish());
    return out;
}

// The frames of `m` as the wire format describes them, byte by byte: the payload (fields in order,
// little-endian, strings and blobs as a u32 length and their bytes) cut into fragment 0 (after two header
// words) and further fragments (after one), unused bytes zero.
template <class M>
std::vector<Frame> reference_frames(const M& m, aos::ipc::RequestId id, std::uint8_t flags) {
    std::vector<unsigned char> payload;
    auto put = [&](const void* p, std::size_t n) {
        if (n == 0)
            return;
        auto* b = static_cast<const unsigned char*>(p);
        payload.insert(payload.end(), b, b + n);
    };
    m.fields([&](const auto&... f) {
        auto one = [&](const auto& field) {
            using T = std::remove_cvref_t<decltype(field)>;
            if constexpr (std::is_same_v<T, aos::ipc::Str>) {
                auto n = static_cast<std::uint32_t>(field.size);
                put(&n, 4);
                put(field.data, field.size);
            } else if constexpr (std::is_same_v<T, aos::ipc::Bytes>) {
                auto n = static_cast<std::uint32_t>(field.size());
                put(&n, 4);
                put(field.data(), field.size());
            } else if constexpr (std::is_same_v<T, Capability>) {
                flags |= aos::ipc::FrameHeader::flag_carries_cap;
            } else {
                put(&field, sizeof(field));
            }
        };
        (one(f), ...);
    });
    std::uint64_t count = aos::ipc::fragments_for(payload.size());
    std::vector<Frame> out(count, Frame{});
    std::size_t at = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
        Frame& f = out[i];
        f.words[0] = aos::ipc::FrameHeader::make(M::type_id, id, static_cast<std::uint32_t>(i), flags);
        std::size_t offset = 8;
        if (i == 0) {
            f.words[1] = payload.size() | (count << 32);
            offset = 16;
        }
        std::size_t take = std::min(payload.size() - at, 64 - offset);
        if (take != 0)
            std::memcpy(reinterpret_cast<unsigned char*>(f.words.data()) + offset, payload.data() + at, take);
        at += take;
    }
    return out;
}

} // namespace

TEST_CASE("encode writes the frames the wire format describes, at every length", "[proto]") {
    std::mt19937_64 rng(aos_test::seed("encode agrees with a byte-wise reference"));
    std::deque<std::string> store;
    Filler filler{rng, store};
    unsigned multi = 0;
    for_each_type([&](auto* type) {
        using M = std::remove_pointer_t<decltype(type)>;
        for (unsigned i = 0; i < aos_test::iterations(40); ++i) {
            store.clear();
            filler.short_only = i % 2 == 0;
            M m = filler.make<M>();
            auto id = static_cast<aos::ipc::RequestId>(rng());
            auto flags = static_cast<std::uint8_t>(rng() % 2 != 0 ? aos::ipc::FrameHeader::flag_response : 0);
            std::vector<Frame> got;
            REQUIRE(aos::ipc::encode(m, id, flags, [&](const Frame& f, const Capability*) {
                got.push_back(f);
                return aos::Result<void>(aos::ok());
            }));
            auto want = reference_frames(m, id, flags);
            REQUIRE(got.size() == want.size());
            bool same = true;
            for (std::size_t k = 0; k < got.size(); ++k)
                same = same && got[k] == want[k];
            CHECK(same);
            multi += got.size() > 2 ? 1 : 0;
        }
    });
    CHECK(multi > 0);
}

TEST_CASE("encode's in-register paths (one frame, two) write the frames the general writer writes",
          "[proto]") {
    std::mt19937_64 rng(aos_test::seed("one-frame encode agrees with the general writer"));
    std::deque<std::string> store;
    Filler filler{rng, store};
    filler.short_only = true;
    filler.short_max = 120; // one frame, two (also built in registers), and just over
    unsigned one_frame = 0;
    unsigned two_frames = 0;
    for_each_type([&](auto* type) {
        using M = std::remove_pointer_t<decltype(type)>;
        for (unsigned i = 0; i < aos_test::iterations(300); ++i) {
            store.clear();
            M m = filler.make<M>();
            auto id = static_cast<aos::ipc::RequestId>(rng());
            auto flags = static_cast<std::uint8_t>(rng() % 2 != 0 ? aos::ipc::FrameHeader::flag_response : 0);
            std::vector<std::pair<Frame, Capability>> got;
            REQUIRE(aos::ipc::encode(m, id, flags, [&](const Frame& f, const Capability* c) {
                got.emplace_back(f, c != nullptr ? *c : Capability{});
                return aos::Result<void>(aos::ok());
            }));
            auto want = general_frames(m, id, flags);
            REQUIRE(got.size() == want.size());
            for (std::size_t k = 0; k < got.size(); ++k) {
                CHECK(got[k].first == want[k].first);
                CHECK(got[k].second == want[k].second);
            }
            one_frame += got.size() == 1 ? 1 : 0;
            two_frames += got.size() == 2 ? 1 : 0;
        }
    });
    CHECK(one_frame > 0);
    CHECK(two_frames > 0);
}
