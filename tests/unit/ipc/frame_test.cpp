// Frame: layout, header word fields, fragment arithmetic.
#include "catch.hpp"

#include <aos/ipc/frame.hpp>

using aos::ipc::Frame;
using aos::ipc::FrameHeader;

TEST_CASE("the header word packs type, request, fragment and flags without overlap", "[frame]") {
    Frame f{};
    f.words[0] = FrameHeader::make(0xbeef, 0x1234, 0xabcdef, FrameHeader::flag_carries_cap);
    CHECK(FrameHeader::type(f) == 0xbeef);
    CHECK(FrameHeader::request(f) == 0x1234);
    CHECK(FrameHeader::fragment(f) == 0xabcdef);
    CHECK(FrameHeader::flags(f) == FrameHeader::flag_carries_cap);
    CHECK(FrameHeader::carries_cap(f));
    CHECK_FALSE(FrameHeader::cap_beside(f)); // only fragment 0 has the capability beside it
    f.words[0] = FrameHeader::FragmentIndex::set(f.words[0], 0);
    CHECK(FrameHeader::cap_beside(f));
    CHECK(FrameHeader::type(f) == 0xbeef);
    // Every bit belongs to exactly one field.
    CHECK((FrameHeader::Type::mask | FrameHeader::Request::mask | FrameHeader::FragmentIndex::mask |
           FrameHeader::Flags::mask) == ~std::uint64_t{0});
    CHECK((FrameHeader::Type::mask & FrameHeader::Request::mask) == 0);
    CHECK((FrameHeader::FragmentIndex::mask & FrameHeader::Flags::mask) == 0);
}

TEST_CASE("fragments_for counts 48 payload bytes in fragment 0 and 56 in each later one", "[frame]") {
    CHECK(aos::ipc::fragments_for(0) == 1);
    CHECK(aos::ipc::fragments_for(48) == 1);
    CHECK(aos::ipc::fragments_for(49) == 2);
    CHECK(aos::ipc::fragments_for(48 + 56) == 2);
    CHECK(aos::ipc::fragments_for(48 + 56 + 1) == 3);
    CHECK(aos::ipc::fragments_for(1u << 20) == 1 + ((1u << 20) - 48 + 55) / 56);
}

TEST_CASE("a frame is one cache line and compares by value", "[frame]") {
    STATIC_REQUIRE(sizeof(Frame) == 64);
    STATIC_REQUIRE(alignof(Frame) == 64);
    Frame a{}, b{};
    CHECK(a == b);
    b.words[7] = 1;
    CHECK_FALSE(a == b);
}
