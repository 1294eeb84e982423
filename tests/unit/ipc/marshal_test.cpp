// The marshaller: declaration, header word, fragmentation and reassembly, and every validation rule.
#include "catch.hpp"
#include "test_support.hpp"

#include <aos/ipc/marshal.hpp>

#include <random>
#include <string>
#include <vector>

using aos::Errc;
using aos::ipc::Capability;
using aos::ipc::Frame;
using aos::ipc::FrameHeader;

namespace {

enum class Color : std::uint8_t { red, green, blue, count };

struct Small {
    std::uint64_t a = 0;
    std::int32_t b = 0;
    bool flag = false;
    Color color = Color::red;
    std::array<std::uint16_t, 3> triple{};
    AOS_IPC_MESSAGE(5, a, b, flag, color, triple)
};

struct Text {
    std::uint32_t before = 0;
    aos::ipc::Str text;
    aos::ipc::Bytes blob;
    std::uint32_t after = 0;
    AOS_IPC_MESSAGE(6, before, text, blob, after)
};

struct WithCap {
    Capability cap;
    std::uint64_t size = 0;
    AOS_IPC_MESSAGE(7, cap, size)
};

struct Empty {
    AOS_IPC_MESSAGE(8)
};

// Scalars that straddle word boundaries of the payload, around a string.
struct Straddle {
    std::uint8_t a = 0;
    std::uint32_t b = 0; // bytes 1..5
    std::uint64_t c = 0; // bytes 5..13
    aos::ipc::Str s;
    std::int16_t d = 0;
    AOS_IPC_MESSAGE(9, a, b, c, s, d)
};

enum class Signed : std::int8_t { minus = -1, zero = 0, one, count };
struct FixedSigned {
    std::uint8_t pad = 0;
    Signed v = Signed::zero;
    AOS_IPC_FIELDS(pad, v)
};

struct Entry {
    std::uint32_t id = 0;
    aos::ipc::Str name;
    AOS_IPC_FIELDS(id, name)
};

struct Sent {
    Frame frame;
    bool cap_beside;
    Capability cap;
};

// Encodes into a vector of frames (with the capability, if any, beside fragment 0).
template <class M>
aos::Result<std::vector<Sent>> encode_all(const M& m, aos::ipc::RequestId id = 9, std::uint8_t flags = 0) {
    std::vector<Sent> out;
    auto r = aos::ipc::encode(m, id, flags, [&](const Frame& f, const Capability* c) -> aos::Result<void> {
        out.push_back({f, c != nullptr, c != nullptr ? *c : Capability{}});
        return aos::ok();
    });
    if (!r)
        return aos::error(r.error());
    return out;
}

struct Reassembled {
    std::vector<std::byte> buffer;
    aos::ipc::Reassembler rx;
    explicit Reassembled(std::size_t size) : buffer(size), rx(buffer) {}
    // Pushes every frame; returns the last push's result.
    aos::Result<bool> push_all(const std::vector<Sent>& frames) {
        aos::Result<bool> last = false;
        for (const auto& s : frames) {
            last = rx.push(s.frame, s.cap);
            if (!last)
                return last;
        }
        return last;
    }
};

std::string random_string(std::mt19937_64& rng, std::size_t n) {
    std::string s(n, '\0');
    for (auto& c : s)
        c = static_cast<char>(rng());
    return s;
}

} // namespace

TEST_CASE("a one-frame message has the documented header and round-trips", "[marshal]") {
    Small m{0x1122334455667788, -5, true, Color::blue, {1, 2, 3}};
    auto frames = encode_all(m, 0x1234, FrameHeader::flag_response);
    REQUIRE(frames);
    REQUIRE(frames->size() == 1);
    const Frame& f = (*frames)[0].frame;
    CHECK(FrameHeader::type(f) == 5);
    CHECK(FrameHeader::request(f) == 0x1234);
    CHECK(FrameHeader::fragment(f) == 0);
    CHECK(FrameHeader::flags(f) == FrameHeader::flag_response);
    CHECK(aos::ipc::FirstWord::PayloadLength::get(f.words[1]) == 8 + 4 + 1 + 1 + 6);
    CHECK(aos::ipc::FirstWord::FragmentCount::get(f.words[1]) == 1);
    CHECK(f.words[2] == 0x1122334455667788); // little-endian, in declaration order
    CHECK_FALSE((*frames)[0].cap_beside);

    Reassembled r(0);
    auto done = r.push_all(*frames);
    REQUIRE(done);
    REQUIRE(*done);
    CHECK(r.rx.message().is_response());
    auto back = aos::ipc::decode<Small>(r.rx.message());
    REQUIRE(back);
    CHECK(back->a == m.a);
    CHECK(back->b == m.b);
    CHECK(back->flag);
    CHECK(back->color == Color::blue);
    CHECK(back->triple == m.triple);
    CHECK(r.rx.check_invariants());
}

TEST_CASE("an empty message is one frame with a zero length", "[marshal]") {
    auto frames = encode_all(Empty{});
    REQUIRE(frames);
    REQUIRE(frames->size() == 1);
    Reassembled r(0);
    REQUIRE(*r.push_all(*frames));
    CHECK(r.rx.message().payload.empty());
    CHECK(aos::ipc::decode<Empty>(r.rx.message()));
}

TEST_CASE("strings and blobs of every length around fragment boundaries round-trip", "[marshal]") {
    auto seed = aos_test::seed("marshal lengths");
    std::mt19937_64 rng(seed);
    std::vector<std::size_t> lengths;
    for (std::size_t n = 0; n < 3 * aos::ipc::next_payload_bytes + 20; ++n)
        lengths.push_back(n);
    lengths.push_back(1u << 20);
    lengths.push_back(rng() % (1u << 20));
    for (std::size_t n : lengths) {
        std::string s = random_string(rng, n);
        std::string blob = random_string(rng, n / 3);
        Text m{7, {s.data(), s.size()}, {reinterpret_cast<const std::byte*>(blob.data()), blob.size()}, 9};
        auto frames = encode_all(m);
        REQUIRE(frames);
        std::uint64_t length = 4 + 4 + n + 4 + blob.size() + 4;
        REQUIRE(frames->size() == aos::ipc::fragments_for(length));
        for (std::size_t i = 0; i < frames->size(); ++i)
            REQUIRE(FrameHeader::fragment((*frames)[i].frame) == i);
        Reassembled r(length);
        auto done = r.push_all(*frames);
        REQUIRE(done);
        REQUIRE(*done);
        auto back = aos::ipc::decode<Text>(r.rx.message());
        REQUIRE(back);
        CHECK(back->before == 7);
        CHECK(back->after == 9);
        REQUIRE(std::string(back->text.data, back->text.size) == s);
        REQUIRE(std::string(reinterpret_cast<const char*>(back->blob.data()), back->blob.size()) == blob);
    }
}

TEST_CASE("a capability travels beside fragment 0 and is flagged in the header", "[marshal]") {
    std::string long_text(200, 'x');
    WithCap m{{0xabc, 0x4000}, 77};
    auto frames = encode_all(m);
    REQUIRE(frames);
    REQUIRE(frames->size() == 1);
    CHECK((*frames)[0].cap_beside);
    CHECK((*frames)[0].cap == m.cap);
    CHECK(FrameHeader::carries_cap((*frames)[0].frame));
    Reassembled r(0);
    REQUIRE(*r.push_all(*frames));
    auto back = aos::ipc::decode<WithCap>(r.rx.message());
    REQUIRE(back);
    CHECK(back->cap == m.cap);
    CHECK(back->size == 77);
    // A message that declares no capability refuses one that carries it, and vice versa.
    CHECK(aos::ipc::decode<Small>(r.rx.message()).error() == Errc::malformed);
    auto plain = encode_all(Empty{});
    Reassembled r2(0);
    REQUIRE(*r2.push_all(*plain));
    aos::ipc::Incoming faked = r2.rx.message();
    faked.type = WithCap::type_id;
    CHECK(aos::ipc::decode<WithCap>(faked).error() == Errc::malformed);
}

TEST_CASE("decoding reports a wrong type, a truncated field, leftover bytes and out-of-range values",
          "[marshal]") {
    Small m{1, 2, false, Color::green, {}};
    auto frames = encode_all(m);
    REQUIRE(frames);
    Reassembled r(0);
    REQUIRE(*r.push_all(*frames));
    const auto& in = r.rx.message();
    CHECK(aos::ipc::decode<Text>(in).error() == Errc::malformed); // another type

    // Truncated: one byte short. Field 4 (the array) is the one that runs off the end.
    aos::ipc::DecodeFailure where{};
    auto shorter = aos::ipc::decode_record<Small>(in.payload.first(in.payload.size() - 1), nullptr, &where);
    CHECK(shorter.error() == Errc::truncated);
    CHECK(where.field == 4);
    CHECK(where.offset == 14);
    // Leftover bytes: the payload is longer than the fields.
    std::vector<std::byte> longer(in.payload.begin(), in.payload.end());
    longer.push_back(std::byte{0});
    CHECK(aos::ipc::decode_record<Small>(longer).error() == Errc::malformed);
    // An enum value at or past `count`, and a bool that is neither 0 nor 1.
    std::vector<std::byte> bad(in.payload.begin(), in.payload.end());
    bad[13] = std::byte{3};
    CHECK(aos::ipc::decode_record<Small>(bad, nullptr, &where).error() == Errc::out_of_range);
    CHECK(where.field == 3);
    bad[13] = std::byte{0};
    bad[12] = std::byte{2};
    CHECK(aos::ipc::decode_record<Small>(bad, nullptr, &where).error() == Errc::out_of_range);
    CHECK(where.field == 2);
}

TEST_CASE("a string length that points past the payload is truncated, never read", "[marshal]") {
    std::string s = "hello";
    Text m{1, {s.data(), s.size()}, {}, 2};
    auto frames = encode_all(m);
    REQUIRE(frames);
    Reassembled r(64);
    REQUIRE(*r.push_all(*frames));
    std::vector<std::byte> bad(r.rx.message().payload.begin(), r.rx.message().payload.end());
    bad[4] = std::byte{0xff}; // the string's length: 255 + ... bytes, past the end
    CHECK(aos::ipc::decode_record<Text>(bad).error() == Errc::truncated);
}

TEST_CASE("the reassembler rejects stray, skipped, foreign and oversize fragments", "[marshal]") {
    std::string s(300, 'a');
    Text m{1, {s.data(), s.size()}, {}, 2};
    auto frames = encode_all(m, 3);
    REQUIRE(frames);
    REQUIRE(frames->size() >= 4);
    const std::size_t length = aos::ipc::payload_size(m);

    SECTION("a later fragment without fragment 0") {
        Reassembled r(length);
        CHECK(r.rx.push((*frames)[1].frame).error() == Errc::malformed);
        CHECK(r.rx.idle());
    }
    SECTION("a skipped fragment") {
        Reassembled r(length);
        REQUIRE_FALSE(*r.rx.push((*frames)[0].frame));
        CHECK(r.rx.push((*frames)[2].frame).error() == Errc::malformed);
        CHECK(r.rx.idle());
        // The next message is received normally.
        CHECK(*r.push_all(*frames));
    }
    SECTION("a fragment of another request") {
        Reassembled r(length);
        REQUIRE_FALSE(*r.rx.push((*frames)[0].frame));
        Frame other = (*frames)[1].frame;
        other.words[0] = FrameHeader::Request::set(other.words[0], 4);
        CHECK(r.rx.push(other).error() == Errc::malformed);
    }
    SECTION("a new message before the last one ended") {
        Reassembled r(length);
        REQUIRE_FALSE(*r.rx.push((*frames)[0].frame));
        REQUIRE_FALSE(*r.rx.push((*frames)[1].frame));
        CHECK(r.rx.push((*frames)[0].frame).error() == Errc::truncated);
        // ... and the new one was started: the rest completes it.
        for (std::size_t i = 1; i + 1 < frames->size(); ++i)
            REQUIRE_FALSE(*r.rx.push((*frames)[i].frame));
        auto done = r.rx.push(frames->back().frame);
        REQUIRE(done);
        CHECK(*done);
        CHECK(aos::ipc::decode<Text>(r.rx.message()));
    }
    SECTION("a one-frame message after an abandoned one is complete, never extended") {
        // Found by the fuzzer: the one-frame message stayed "in progress" and took a stray fragment 1.
        Reassembled r(length);
        REQUIRE_FALSE(*r.rx.push((*frames)[0].frame));
        auto one = encode_all(Small{}, 3);
        REQUIRE(one);
        CHECK(r.rx.push((*one)[0].frame).error() == Errc::truncated);
        CHECK(r.rx.idle());
        CHECK(r.rx.check_invariants());
        CHECK(r.rx.push((*frames)[1].frame).error() == Errc::malformed);
        CHECK(r.rx.check_invariants());
    }
    SECTION("a payload longer than the receiver's buffer") {
        Reassembled r(length - 1);
        CHECK(r.rx.push((*frames)[0].frame).error() == Errc::out_of_range);
        CHECK(r.rx.idle());
    }
    SECTION("a fragment count that does not match the length") {
        Reassembled r(length);
        Frame f = (*frames)[0].frame;
        f.words[1] = aos::ipc::FirstWord::FragmentCount::set(f.words[1], frames->size() + 1);
        CHECK(r.rx.push(f).error() == Errc::malformed);
    }
    SECTION("unknown flags") {
        Reassembled r(length);
        Frame f = (*frames)[0].frame;
        f.words[0] = FrameHeader::Flags::set(f.words[0], 0x80);
        CHECK(r.rx.push(f).error() == Errc::malformed);
    }
    SECTION("non-zero bytes after the payload's end") {
        Reassembled r(length);
        for (std::size_t i = 0; i + 1 < frames->size(); ++i)
            REQUIRE_FALSE(*r.rx.push((*frames)[i].frame));
        Frame last = frames->back().frame;
        last.words[7] |= 1ull << 63;
        CHECK(r.rx.push(last).error() == Errc::malformed);
        CHECK(r.rx.check_invariants());
    }
}

TEST_CASE("encoding refuses sizes the header cannot describe, before sending anything", "[marshal]") {
    static const std::byte one{1};
    // A blob whose size exceeds the 32-bit length; its bytes are never read.
    Text m{0, {}, {&one, std::size_t{1} << 32}, 0};
    auto frames = encode_all(m);
    REQUIRE_FALSE(frames);
    CHECK(frames.error() == Errc::overflow);
    CHECK(aos::ipc::encode(Small{}, 0, FrameHeader::flag_carries_cap, [](const Frame&, const Capability*) {
              return aos::Result<void>(aos::ok());
          }).error() == Errc::invalid_argument);
}

TEST_CASE("a sink error stops the stream and is returned", "[marshal]") {
    std::string s(500, 'z');
    Text m{0, {s.data(), s.size()}, {}, 0};
    int calls = 0;
    auto r = aos::ipc::encode(m, 0, 0, [&](const Frame&, const Capability*) -> aos::Result<void> {
        if (++calls == 2)
            return aos::error(Errc::would_block);
        return aos::ok();
    });
    REQUIRE_FALSE(r);
    CHECK(r.error() == Errc::would_block);
    CHECK(calls == 2);
}

TEST_CASE("records nest in a blob and read back in order", "[marshal]") {
    std::array<std::byte, 64> buf{};
    std::size_t pos = 0;
    REQUIRE(aos::ipc::write_record(Entry{1, aos::core::StringRef::from_c_str("init")}, buf, pos));
    REQUIRE(aos::ipc::write_record(Entry{2, aos::core::StringRef::from_c_str("shell")}, buf, pos));
    CHECK(pos == 8 + 4 + 8 + 5);
    std::size_t full = pos;
    std::string big(64, 'q');
    CHECK(aos::ipc::write_record(Entry{3, {big.data(), big.size()}}, buf, pos).error() == Errc::out_of_range);
    CHECK(pos == full);
    std::span<const std::byte> in(buf.data(), full);
    std::size_t rpos = 0;
    auto a = aos::ipc::read_record<Entry>(in, rpos);
    auto b = aos::ipc::read_record<Entry>(in, rpos);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->name.equals("init"));
    CHECK(b->id == 2);
    CHECK(rpos == full);
    CHECK(aos::ipc::read_record<Entry>(in, rpos).error() == Errc::truncated);
}

TEST_CASE("scalars straddling payload words decode from aligned and unaligned payload copies", "[marshal]") {
    std::string text = "seventeen bytes!!";
    for (std::size_t len = 0; len <= text.size(); ++len) {
        Straddle m{0xa5, 0x01020304, 0x1112131415161718, {text.data(), len}, -2};
        auto frames = encode_all(m);
        REQUIRE(frames);
        Reassembled r(256);
        REQUIRE(*r.push_all(*frames));
        const auto& in = r.rx.message();
        auto back = aos::ipc::decode<Straddle>(in);
        REQUIRE(back);
        CHECK(back->a == m.a);
        CHECK(back->b == m.b);
        CHECK(back->c == m.c);
        CHECK(back->d == m.d);
        CHECK(std::string(back->s.data, back->s.size) == text.substr(0, len));
        // The same payload at every offset from an aligned base: straddling fields take the byte path.
        alignas(8) std::byte copy[128]{};
        for (std::size_t off = 0; off < 8; ++off) {
            __builtin_memcpy(copy + off, in.payload.data(), in.payload.size());
            auto moved = aos::ipc::decode_record<Straddle>({copy + off, in.payload.size()});
            REQUIRE(moved);
            CHECK(moved->b == m.b);
            CHECK(moved->c == m.c);
            CHECK(moved->d == m.d);
            // One byte short: truncated at the last field, whatever the alignment.
            aos::ipc::DecodeFailure where{};
            auto cut =
                aos::ipc::decode_record<Straddle>({copy + off, in.payload.size() - 1}, nullptr, &where);
            CHECK(cut.error() == Errc::truncated);
            CHECK(where.field == 4);
        }
    }
}

TEST_CASE("the fixed-layout decoder reports the same errors as the field-by-field one", "[marshal]") {
    // A negative value of a signed enum is out of range, like one at or past `count`.
    std::byte raw[2] = {std::byte{0}, std::byte{0xff}};
    aos::ipc::DecodeFailure where{};
    CHECK(aos::ipc::decode_record<FixedSigned>(raw, nullptr, &where).error() == Errc::out_of_range);
    CHECK(where.field == 1);
    CHECK(where.offset == 1);
    raw[1] = std::byte{2};
    CHECK(aos::ipc::decode_record<FixedSigned>(raw).error() == Errc::out_of_range);
    raw[1] = std::byte{1};
    auto ok = aos::ipc::decode_record<FixedSigned>(raw);
    REQUIRE(ok);
    CHECK(ok->v == Signed::one);
    // Wrong lengths: short is truncated, long is malformed.
    CHECK(aos::ipc::decode_record<FixedSigned>(std::span<const std::byte>(raw, 1)).error() ==
          Errc::truncated);
    std::byte longer[3] = {};
    CHECK(aos::ipc::decode_record<FixedSigned>(longer).error() == Errc::malformed);
    // A capability field without a capability beside the frame.
    std::byte size[8] = {};
    CHECK(aos::ipc::decode_record<WithCap>(size).error() == Errc::malformed);
    Capability cap{1, 2};
    auto with = aos::ipc::decode_record<WithCap>(size, &cap);
    REQUIRE(with);
    CHECK(with->cap == cap);
}

namespace {

// Three payload bytes: the padding starts inside a word.
struct OddEnd {
    std::uint8_t c = 0;
    std::uint16_t h = 0;
    AOS_IPC_MESSAGE(10, c, h)
};

// Whether `f` has the shape of a whole message of type M (what frame_matches checks), from whole_message.
template <class M>
bool has_shape(const Frame& f, const Capability& cap) {
    auto in = aos::ipc::whole_message(f, cap);
    return in && in->type == M::type_id && !in->is_error() &&
           in->has_cap() == (aos::ipc::capability_count<M> == 1) &&
           in->payload.size() == aos::ipc::detail::fixed_layout_size<M>();
}

template <class M>
void check_frame_matches(const M& m, std::mt19937_64& rng) {
    using Shape = aos::ipc::detail::OneFrameShape<M>;
    Frame valid{};
    Capability cap{};
    REQUIRE(aos::ipc::encode(m, 0x1234, FrameHeader::flag_response, [&](const Frame& f, const Capability* c) {
        valid = f;
        if (c != nullptr)
            cap = *c;
        return aos::Result<void>(aos::ok());
    }));
    REQUIRE(aos::ipc::detail::frame_matches_words<Shape>(valid));
    unsigned refused = 0;
    // Every single-bit change, then random words: both ways of checking agree with whole_message's verdict.
    for (unsigned i = 0; i < 512 + 2000; ++i) {
        Frame f = valid;
        if (i < 512)
            f.words[i / 64] ^= std::uint64_t{1} << (i % 64);
        else
            f.words[rng() % 8] = rng() % 4 == 0 ? 0 : rng();
        bool words = aos::ipc::detail::frame_matches_words<Shape>(f);
        CHECK(words == has_shape<M>(f, cap));
#if AOS_IPC_FRAME_PAIRS
        CHECK(aos::ipc::detail::frame_matches_pairs<Shape>(f) == words);
#endif
        refused += words ? 0 : 1;
    }
    CHECK(refused > 0);
}

} // namespace

TEST_CASE("the compile-time frame check, by words and by pairs, accepts exactly the frames of the shape",
          "[marshal]") {
    std::mt19937_64 rng(aos_test::seed("frame_matches agrees with whole_message"));
    check_frame_matches(Empty{}, rng);
    check_frame_matches(Small{7, -3, true, Color::blue, {1, 2, 3}}, rng);
    check_frame_matches(WithCap{{5, 6}, 99}, rng);
    check_frame_matches(OddEnd{0xab, 0xcdef}, rng);
}
