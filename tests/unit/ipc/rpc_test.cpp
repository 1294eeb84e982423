// RPC: calls over the loopback and ring transports, error replies, deferred replies, concurrent callers.
#include "catch.hpp"
#include "test_support.hpp"

#include <aos/ipc/rpc.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

using aos::Errc;
using aos::ipc::Capability;
using aos::ipc::Frame;
using aos::ipc::FrameHeader;

namespace {

struct Sum {
    std::uint64_t total = 0;
    std::uint32_t caller = 0;
    AOS_IPC_MESSAGE(40, total, caller)
};
struct Add {
    std::uint64_t a = 0;
    std::uint64_t b = 0;
    std::uint32_t caller = 0;
    using Response = Sum;
    AOS_IPC_MESSAGE(1, a, b, caller)
};
struct Echoed {
    aos::ipc::Str text;
    Capability cap;
    AOS_IPC_MESSAGE(41, text, cap)
};
struct Echo {
    aos::ipc::Str text;
    Capability cap;
    using Response = Echoed;
    AOS_IPC_MESSAGE(2, text, cap)
};
struct Done {
    std::int32_t status = 0;
    AOS_IPC_MESSAGE(42, status)
};
struct WaitFor {
    std::uint32_t pid = 0;
    using Response = Done;
    AOS_IPC_MESSAGE(3, pid)
};
struct Nobody {
    using Response = Done;
    AOS_IPC_MESSAGE(4)
};

// Outside the server's default 64-entry table.
struct Far {
    using Response = Done;
    AOS_IPC_MESSAGE(64)
};

// Handlers as the embedder writes them.
struct AddHandler {
    unsigned calls = 0;
    aos::Result<std::optional<Sum>> operator()(const Add& r, aos::ipc::ReplyToken<Add>) {
        ++calls;
        if (r.a == 0 && r.b == 0)
            return aos::error(Errc::invalid_argument);
        return std::optional<Sum>{Sum{r.a + r.b, r.caller}};
    }
};
struct EchoHandler {
    aos::Result<std::optional<Echoed>> operator()(const Echo& r, aos::ipc::ReplyToken<Echo>) {
        return std::optional<Echoed>{Echoed{r.text, Capability{r.cap.ref + 1, r.cap.size}}};
    }
};
// Answers later: keeps the tokens until someone "exits".
struct WaitHandler {
    std::vector<aos::ipc::ReplyToken<WaitFor>> waiting;
    aos::Result<std::optional<Done>> operator()(const WaitFor&, aos::ipc::ReplyToken<WaitFor> t) {
        waiting.push_back(t);
        return std::optional<Done>{};
    }
};

struct LoopbackPair {
    std::vector<Frame> f1, f2;
    std::vector<Capability> c1, c2;
    aos::ipc::LoopbackQueue q1, q2;
    aos::ipc::LoopbackTransport client_end, server_end;
    explicit LoopbackPair(std::size_t frames)
        : f1(frames), f2(frames), c1(frames), c2(frames), q1(*aos::ipc::LoopbackQueue::create(f1, c1)),
          q2(*aos::ipc::LoopbackQueue::create(f2, c2)), client_end(q1, q2), server_end(q2, q1) {}
};

using LoopServer = aos::ipc::Server<aos::ipc::LoopbackTransport>;
// In one thread, waiting for a reply means running the server: the loopback's "scheduler".
struct RunServer {
    LoopServer* server;
    unsigned polls = 0;
    void wait(unsigned) {
        ++polls;
        (void)server->poll();
    }
};

// A loopback channel with a server on one end.
struct LoopbackRig {
    LoopbackPair lp;
    std::vector<std::byte> request_buffer;
    LoopServer server;
    LoopbackRig(std::size_t frames, std::size_t buffer)
        : lp(frames), request_buffer(buffer), server(lp.server_end, request_buffer) {}
};
using LoopClient = aos::ipc::Client<aos::ipc::LoopbackTransport, aos::core::NullLock, RunServer>;

} // namespace

TEST_CASE("a call over the loopback transport gets its reply", "[rpc]") {
    LoopbackRig rig(64, 4096);
    auto& server = rig.server;
    AddHandler add;
    REQUIRE(server.on<Add>(add));
    LoopClient client(rig.lp.client_end, RunServer{&server});
    auto sum = client.call(Add{2, 3, 0});
    REQUIRE(sum);
    CHECK(sum->total == 5);
    CHECK(add.calls == 1);
    CHECK(client.check_invariants());
    CHECK(server.check_invariants());

    SECTION("a handler's error comes back as the call's error") {
        auto r = client.call(Add{0, 0, 0});
        REQUIRE_FALSE(r);
        CHECK(r.error() == Errc::invalid_argument);
    }
    SECTION("a request type without a handler is unsupported") {
        auto r = client.call(Nobody{});
        REQUIRE_FALSE(r);
        CHECK(r.error() == Errc::unsupported);
    }
    SECTION("registration refuses a second handler and a type outside the table") {
        CHECK(server.on<Add>(add).error() == Errc::already_exists);
        auto far = [](const Far&, aos::ipc::ReplyToken<Far>) -> aos::Result<std::optional<Done>> {
            return std::optional<Done>{};
        };
        CHECK(server.on<Far>(far).error() == Errc::out_of_range);
    }
    CHECK(client.check_invariants());
}

TEST_CASE("the wait policy is asked to wait only while nothing has come", "[rpc]") {
    // A policy may block until the next frame (LMP's does): once the reply has been routed, waiting again
    // would block forever. One request and one one-frame reply: exactly one wait, in which the server runs.
    struct CountingServer {
        LoopServer* server;
        unsigned* waits;
        void wait(unsigned) {
            ++*waits;
            (void)server->poll();
        }
    };
    LoopbackRig rig(64, 4096);
    AddHandler add;
    REQUIRE(rig.server.on<Add>(add));
    unsigned waits = 0;
    aos::ipc::Client<aos::ipc::LoopbackTransport, aos::core::NullLock, CountingServer> client(
        rig.lp.client_end, CountingServer{&rig.server, &waits});
    auto sum = client.call(Add{4, 5, 0});
    REQUIRE(sum);
    CHECK(sum->total == 9);
    CHECK(waits == 1);
}

TEST_CASE("a request longer than the server's buffer is answered with an error, not dropped", "[rpc]") {
    LoopbackRig rig(64, 256); // room for 64 frames in flight, but 256 bytes of request
    EchoHandler echo;
    REQUIRE(rig.server.on<Echo>(echo));
    LoopClient client(rig.lp.client_end, RunServer{&rig.server});
    std::string text(1000, 'x'); // about 21 frames
    std::vector<std::byte> reply_buffer(2048);
    auto r =
        client.call(Echo{aos::core::StringRef{text.data(), text.size()}, Capability{1, 1}}, reply_buffer);
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::out_of_range);
    // The channel still works: the next call is answered as usual.
    auto ok = client.call(Echo{aos::core::StringRef{"short", 5}, Capability{2, 1}}, reply_buffer);
    REQUIRE(ok);
    CHECK(std::string(ok->text.data, ok->text.size) == "short");
}

TEST_CASE("long strings and a capability go through the loopback both ways", "[rpc]") {
    auto seed = aos_test::seed("rpc echo");
    std::mt19937_64 rng(seed);
    const std::size_t max = 1u << 20;
    LoopbackRig rig(aos::ipc::fragments_for(max + 16) + 1, max + 16);
    std::vector<std::byte> reply_buffer(max + 16);
    EchoHandler echo;
    REQUIRE(rig.server.on<Echo>(echo));
    LoopClient client(rig.lp.client_end, RunServer{&rig.server});
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{100}, max, std::size_t(rng() % max)}) {
        std::string s(n, 'a');
        for (auto& c : s)
            c = static_cast<char>('a' + rng() % 26);
        Capability cap{rng(), rng()};
        auto r = client.call(Echo{{s.data(), s.size()}, cap}, reply_buffer);
        REQUIRE(r);
        REQUIRE(std::string(r->text.data, r->text.size) == s);
        CHECK(r->cap == Capability{cap.ref + 1, cap.size});
    }
    SECTION("a reply larger than the caller's buffer is out_of_range") {
        std::string s(200, 'b');
        std::array<std::byte, 100> small{};
        auto r = client.call(Echo{{s.data(), s.size()}, {}}, small);
        REQUIRE_FALSE(r);
        CHECK(r.error() == Errc::out_of_range);
        CHECK(client.check_invariants());
    }
}

TEST_CASE("a deferred reply arrives when the server answers later", "[rpc]") {
    LoopbackRig rig(64, 256);
    WaitHandler waits;
    REQUIRE(rig.server.on<WaitFor>(waits));
    // The server's loop also "runs the process" that exits after a few polls.
    struct ExitLater {
        LoopServer* server;
        WaitHandler* waits;
        unsigned polls = 0;
        void wait(unsigned) {
            (void)server->poll();
            if (++polls == 10) {
                for (auto t : waits->waiting)
                    REQUIRE(server->reply(t, Done{42}));
                waits->waiting.clear();
            }
        }
    };
    aos::ipc::Client<aos::ipc::LoopbackTransport, aos::core::NullLock, ExitLater> client(
        rig.lp.client_end, ExitLater{&rig.server, &waits});
    auto r = client.call(WaitFor{7});
    REQUIRE(r);
    CHECK(r->status == 42);
}

TEST_CASE("a reply nobody waits for is counted as a stray and dropped", "[rpc]") {
    LoopbackRig rig(64, 256);
    AddHandler add;
    REQUIRE(rig.server.on<Add>(add));
    // A forged reply to request id 0x7fff, sent before any call.
    REQUIRE(
        aos::ipc::encode(Sum{1, 0}, 0x7fff, aos::ipc::FrameHeader::flag_response,
                         [&](const Frame& f, const Capability* c) { return rig.lp.server_end.send(f, c); }));
    LoopClient client(rig.lp.client_end, RunServer{&rig.server});
    auto sum = client.call(Add{4, 5, 0});
    REQUIRE(sum);
    CHECK(sum->total == 9);
    CHECK(client.strays() == 1);
}

namespace {

template <class T>
struct FreeDelete {
    void operator()(T* p) const { std::free(p); }
};
using Ring = aos::ipc::SpscRing<aos::ipc::urpc_ring_capacity>;
std::unique_ptr<Ring, FreeDelete<Ring>> make_ring() {
    return std::unique_ptr<Ring, FreeDelete<Ring>>(
        Ring::create(std::aligned_alloc(alignof(Ring), sizeof(Ring))));
}
struct ThreadYield {
    void operator()() const { std::this_thread::yield(); }
};
using Wait = aos::ipc::SpinThenYield<ThreadYield>;
using UmpTransport = aos::ipc::RingTransport<aos::ipc::urpc_ring_capacity, Wait>;

} // namespace

// Several threads share one client over a ring pair; a server thread answers. Every caller gets its own
// reply, with many calls outstanding at once. Also built under TSan.
TEST_CASE("threads share a client over a ring transport and each gets its own replies", "[rpc][tsan]") {
    auto up = make_ring();
    auto down = make_ring();
    UmpTransport client_end(*up, *down);
    UmpTransport server_end(*down, *up);
    std::vector<std::byte> request_buffer(1 << 16);
    aos::ipc::Server<UmpTransport> server(server_end, request_buffer);
    AddHandler add;
    EchoHandler echo;
    REQUIRE(server.on<Add>(add));
    REQUIRE(server.on<Echo>(echo));
    std::atomic<bool> stop{false};
    std::atomic<unsigned> server_errors{0};
    std::thread server_thread([&] {
        while (!stop.load(std::memory_order_relaxed)) {
            auto r = server.poll();
            if (!r)
                server_errors.fetch_add(1);
            else if (!*r)
                std::this_thread::yield();
        }
    });

    aos::ipc::Client<UmpTransport, aos::core::SpinLock, Wait, 4> client(client_end);
    constexpr unsigned threads = 4;
    const unsigned calls = aos_test::iterations(500);
    std::atomic<unsigned> wrong{0};
    std::vector<std::thread> callers;
    for (unsigned t = 0; t < threads; ++t) {
        callers.emplace_back([&, t] {
            std::vector<std::byte> buf(4096);
            std::string text(100 + 37 * t, static_cast<char>('a' + t)); // several fragments
            for (unsigned i = 0; i < calls; ++i) {
                auto r = client.call(Add{i + 1, t * 1000000ull, t});
                if (!r || r->total != i + 1 + t * 1000000ull || r->caller != t) {
                    wrong.fetch_add(1);
                    std::fprintf(stderr, "add %u/%u: %s\n", t, i,
                                 r ? "wrong value" : aos::to_string(r.error()));
                }
                auto e = client.call(Echo{{text.data(), text.size()}, Capability{t, i}}, buf);
                if (!e || std::string(e->text.data, e->text.size) != text || e->cap != Capability{t + 1, i}) {
                    wrong.fetch_add(1);
                    std::fprintf(stderr, "echo %u/%u: %s\n", t, i,
                                 e ? "wrong value" : aos::to_string(e.error()));
                }
            }
        });
    }
    for (auto& c : callers)
        c.join();
    stop.store(true);
    server_thread.join();
    CHECK(wrong.load() == 0);
    CHECK(server_errors.load() == 0);
    CHECK(client.strays() == 0);
    CHECK(add.calls == threads * calls);
    CHECK(client.check_invariants());
}

// A server that sends the first fragment of a long reply, then another complete long reply for the same
// request: the call fails, and the second reply must not land in the failed caller's buffer.
TEST_CASE("a reply cut short fails its call with truncated and the next frames go nowhere else", "[rpc]") {
    LoopbackPair lp(64);
    struct CutShort {
        LoopbackPair* lp;
        bool answered = false;
        void wait(unsigned) {
            Frame f{};
            Capability cap{};
            aos::ipc::RequestId id = 0;
            bool got = false;
            while (lp->server_end.try_recv(f, cap)) {
                id = aos::ipc::FrameHeader::request(f);
                got = true;
            }
            if (!got || answered)
                return;
            answered = true;
            std::string long_text(300, 'x');
            int sent = 0;
            auto first_only = [&](const Frame& fr, const Capability* c) -> aos::Result<void> {
                if (sent++ != 0)
                    return aos::ok(); // the rest is "lost"
                return lp->server_end.send(fr, c);
            };
            REQUIRE(aos::ipc::encode(Echoed{{long_text.data(), long_text.size()}, {}}, id,
                                     aos::ipc::FrameHeader::flag_response, first_only));
            std::string other(200, 'y');
            REQUIRE(aos::ipc::encode(
                Echoed{{other.data(), other.size()}, {}}, id, aos::ipc::FrameHeader::flag_response,
                [&](const Frame& fr, const Capability* c) { return lp->server_end.send(fr, c); }));
        }
    };
    aos::ipc::Client<aos::ipc::LoopbackTransport, aos::core::NullLock, CutShort> client(lp.client_end,
                                                                                        CutShort{&lp});
    std::vector<std::byte> buffer(1024, std::byte{0x5a});
    auto r = client.call(Echo{aos::core::StringRef::from_c_str("hi"), {}}, buffer);
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::truncated);
    CHECK(std::count(buffer.begin(), buffer.end(), std::byte{'y'}) == 0);
    CHECK(std::count(buffer.begin(), buffer.end(), std::byte{'x'}) > 0);
    CHECK(client.strays() >= 1);
    CHECK(client.check_invariants());
}

TEST_CASE("a one-frame request of fixed layout is dispatched from the frame, and a damaged one as before",
          "[rpc]") {
    LoopbackRig rig(64, 4096);
    auto& server = rig.server;
    AddHandler add;
    REQUIRE(server.on<Add>(add));
    Frame good{};
    REQUIRE(aos::ipc::encode(Add{2, 3, 7}, 9, 0, [&](const Frame& f, const Capability*) {
        good = f;
        return aos::Result<void>(aos::ok());
    }));
    auto send = [&](const Frame& f) { REQUIRE(rig.lp.client_end.send(f, nullptr)); };
    // The reply the server sent, if any.
    auto reply = [&]() -> std::optional<Frame> {
        Frame f{};
        Capability cap{};
        if (!rig.lp.client_end.try_recv(f, cap))
            return std::nullopt;
        return f;
    };

    send(good);
    auto r = server.poll();
    REQUIRE(r);
    CHECK(*r);
    CHECK(add.calls == 1);
    auto answer = reply();
    REQUIRE(answer);
    CHECK(FrameHeader::request(*answer) == 9);
    auto sum = aos::ipc::decode_frame<Sum>(*answer);
    REQUIRE(sum);
    CHECK(sum->total == 5);
    CHECK(sum->caller == 7);

    SECTION("a non-zero byte after the payload: the frame is dropped, nothing is answered") {
        Frame bad = good;
        bad.words[7] = 1;
        send(bad);
        CHECK(server.poll().error() == Errc::malformed);
        CHECK(add.calls == 1);
        CHECK_FALSE(reply());
    }
    SECTION("a response sent to a server: dropped") {
        Frame bad = good;
        bad.words[0] |= FrameHeader::Flags::make(FrameHeader::flag_response);
        send(bad);
        CHECK(server.poll().error() == Errc::malformed);
        CHECK(add.calls == 1);
        CHECK_FALSE(reply());
    }
    SECTION("a fragment other than 0 goes to the reassembler, which has no message in progress") {
        Frame bad = good;
        bad.words[0] = FrameHeader::FragmentIndex::set(bad.words[0], 1);
        send(bad);
        CHECK(server.poll().error() == Errc::malformed);
        CHECK(add.calls == 1);
    }
    SECTION("a well-formed frame whose payload is one field short is answered with an error") {
        Frame bad = good;
        bad.words[1] = aos::ipc::FirstWord::PayloadLength::set(bad.words[1], 16);
        bad.words[4] = 0; // the `caller` field's bytes, now padding
        send(bad);
        auto polled = server.poll();
        REQUIRE(polled);
        CHECK(add.calls == 1);
        auto err = reply();
        REQUIRE(err);
        CHECK((FrameHeader::flags(*err) & FrameHeader::flag_error) != 0);
        auto in = aos::ipc::whole_message(*err, {});
        REQUIRE(in);
        CHECK(aos::ipc::error_of(*in) == Errc::truncated);
    }
    CHECK(server.check_invariants());
}
