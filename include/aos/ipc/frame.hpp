// The unit every transport moves: one 64-byte, cache-line-aligned frame of 8 words, and the header word the
// marshaller writes into word 0 (transports read only its "carries a capability" flag).
//
//   aos::ipc::Frame f{};
//   f.words[0] = aos::ipc::FrameHeader::make(type, request, 0, aos::ipc::FrameHeader::flag_carries_cap);
//   transport.send(f, &cap);
#pragma once

#include <aos/arch/aarch64/sizes.hpp>
#include <aos/core/bitfield.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace aos::ipc {

inline constexpr std::size_t frame_words = 8;
inline constexpr std::size_t frame_bytes = frame_words * sizeof(std::uint64_t);

// One message unit: LMP moves one frame (plus at most one capability) per kernel call, UMP one per ring slot.
struct alignas(arch::aarch64::cache_line_size) Frame {
    std::array<std::uint64_t, frame_words> words;

    constexpr bool operator==(const Frame&) const = default;
};

// A frame crosses address spaces (UMP rings) and the kernel ABI (LMP registers): its layout is fixed.
static_assert(sizeof(Frame) == frame_bytes && frame_bytes == arch::aarch64::cache_line_size);
static_assert(alignof(Frame) == arch::aarch64::cache_line_size);
static_assert(std::is_standard_layout_v<Frame> && std::is_trivially_copyable_v<Frame>);
static_assert(offsetof(Frame, words) == 0);

using TypeId = std::uint16_t;
using RequestId = std::uint16_t;

// Word 0 of every frame. Fragment 0 additionally holds the payload length and fragment count in word 1
// (FirstWord), so a receiver can check the whole message's shape before accepting any of it.
struct FrameHeader {
    using Type = core::BitField<std::uint64_t, 0, 16>;
    using Request = core::BitField<std::uint64_t, 16, 16>;
    using FragmentIndex = core::BitField<std::uint64_t, 32, 24>;
    using Flags = core::BitField<std::uint64_t, 56, 8>;

    // Flags (bits of Flags).
    static constexpr std::uint8_t flag_response = 1u << 0;    // a reply to request `Request`
    static constexpr std::uint8_t flag_error = 1u << 1;       // the reply is an error code, not a message
    static constexpr std::uint8_t flag_carries_cap = 1u << 2; // fragment 0 travels with one capability
    static constexpr std::uint8_t known_flags = flag_response | flag_error | flag_carries_cap;

    static constexpr std::uint64_t make(TypeId type, RequestId request, std::uint32_t fragment,
                                        std::uint8_t flags) {
        return Type::make(type) | Request::make(request) | FragmentIndex::make(fragment) | Flags::make(flags);
    }
    static constexpr TypeId type(const Frame& f) { return static_cast<TypeId>(Type::get(f.words[0])); }
    static constexpr RequestId request(const Frame& f) {
        return static_cast<RequestId>(Request::get(f.words[0]));
    }
    static constexpr std::uint32_t fragment(const Frame& f) {
        return static_cast<std::uint32_t>(FragmentIndex::get(f.words[0]));
    }
    static constexpr std::uint8_t flags(const Frame& f) {
        return static_cast<std::uint8_t>(Flags::get(f.words[0]));
    }
    static constexpr bool carries_cap(const Frame& f) { return (flags(f) & flag_carries_cap) != 0; }
    // The message carries a capability and this is its fragment 0, which the capability travels beside.
    static constexpr bool cap_beside(const Frame& f) { return carries_cap(f) && fragment(f) == 0; }
};

// Word 1 of fragment 0.
struct FirstWord {
    using PayloadLength = core::BitField<std::uint64_t, 0, 32>;
    using FragmentCount = core::BitField<std::uint64_t, 32, 32>;
};

// Payload bytes per fragment: fragment 0 spends two words on headers, the others one.
inline constexpr std::size_t first_payload_offset = 2 * sizeof(std::uint64_t);
inline constexpr std::size_t next_payload_offset = 1 * sizeof(std::uint64_t);
inline constexpr std::size_t first_payload_bytes = frame_bytes - first_payload_offset;
inline constexpr std::size_t next_payload_bytes = frame_bytes - next_payload_offset;
// The fragment index field bounds how many fragments one message may have.
inline constexpr std::uint64_t max_fragments = FrameHeader::FragmentIndex::max + 1;

// The number of frames a payload of `length` bytes needs.
constexpr std::uint64_t fragments_for(std::uint64_t length) {
    if (length <= first_payload_bytes)
        return 1;
    return 1 + (length - first_payload_bytes + next_payload_bytes - 1) / next_payload_bytes;
}

// A capability as the library sees it: two words that only the transport interprets. LMP puts the
// sender's capability reference in `ref` and the kernel moves the capability with the frame; UMP cannot move
// capabilities between cores, so its sender puts the frame's physical base in `ref` and size in `size`, and
// the receiving core's init forges a capability from that range. A hosted test uses any two numbers.
struct Capability {
    std::uint64_t ref = 0;
    std::uint64_t size = 0;

    constexpr bool operator==(const Capability&) const = default;
};
static_assert(sizeof(Capability) == 2 * sizeof(std::uint64_t) && std::is_standard_layout_v<Capability>);

} // namespace aos::ipc
