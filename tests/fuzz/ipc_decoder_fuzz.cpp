// libFuzzer target: arbitrary frames into whole_message and the Reassembler, every completed message decoded
// as every protocol type (and every frame through decode_frame, checked against whole_message + decode), and
// arbitrary bytes as nested process-list records. ASan/UBSan flag any out-of-bounds access; a library panic
// aborts (a finding). `tools/aos.sh test` runs it for a few seconds; docs/building.md has the command for a
// longer run.
#include <aos/ipc/marshal.hpp>
#include <aos/proto/messages.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <tuple>
#include <utility>
#include <vector>

extern "C" void aos_hook_panic(const char* message, const char* file, int line) {
    std::fprintf(stderr, "panic: %s at %s:%d\n", message, file, line);
    std::abort();
}
extern "C" void aos_hook_log(const char*) {}

namespace {

using All =
    decltype(std::tuple_cat(std::declval<aos::proto::Requests>(), std::declval<aos::proto::Responses>()));

// Touches every byte a decoded view claims, so a view past the buffer is caught by ASan.
std::uint64_t touch(std::span<const std::byte> s) {
    std::uint64_t sum = 0;
    for (auto b : s)
        sum += static_cast<std::uint64_t>(b);
    return sum;
}

template <class M>
std::uint64_t try_decode(const aos::ipc::Incoming& in) {
    auto m = aos::ipc::decode<M>(in);
    if (!m)
        return 0;
    std::uint64_t sum = 1;
    m->fields([&](const auto&... f) {
        auto one = [&](const auto& field) {
            using T = std::remove_cvref_t<decltype(field)>;
            if constexpr (std::is_same_v<T, aos::ipc::Str>)
                sum += touch({reinterpret_cast<const std::byte*>(field.data), field.size});
            else if constexpr (std::is_same_v<T, aos::ipc::Bytes>)
                sum += touch(field);
        };
        (one(f), ...);
    });
    return sum;
}

// decode_frame (compile-time checks for fixed-layout messages) must agree with whole_message + decode on
// every frame: the same acceptance, the same error; a disagreement is a finding.
template <class M>
std::uint64_t check_decode_frame(const aos::ipc::Frame& f, const aos::ipc::Capability& cap) {
    auto fast = aos::ipc::decode_frame<M>(f, cap);
    auto in = aos::ipc::whole_message(f, cap);
    aos::Result<M> slow = in ? aos::ipc::decode<M>(*in) : aos::Result<M>(aos::error(in.error()));
    if (fast.has_value() != slow.has_value() || (!fast && fast.error() != slow.error()))
        __builtin_trap();
    return fast ? 1 : 0;
}

template <std::size_t... I>
std::uint64_t decode_frame_all(const aos::ipc::Frame& f, const aos::ipc::Capability& cap,
                               std::index_sequence<I...>) {
    // As its own type, and with each type id patched in (else nearly every frame fails on its type).
    std::uint64_t sum = (std::uint64_t{0} + ... + check_decode_frame<std::tuple_element_t<I, All>>(f, cap));
    auto as = [&](auto* type) {
        using M = std::remove_pointer_t<decltype(type)>;
        aos::ipc::Frame g = f;
        g.words[0] = aos::ipc::FrameHeader::Type::set(g.words[0], M::type_id);
        return check_decode_frame<M>(g, cap);
    };
    return sum + (std::uint64_t{0} + ... + as(static_cast<std::tuple_element_t<I, All>*>(nullptr)));
}

template <std::size_t... I>
std::uint64_t decode_all(const aos::ipc::Incoming& in, std::index_sequence<I...>) {
    return (std::uint64_t{0} + ... + try_decode<std::tuple_element_t<I, All>>(in));
}

volatile std::uint64_t sink;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0)
        return 0;
    // The first byte picks the receiver's buffer size, so the oversize path is reached too.
    std::vector<std::byte> buffer(std::size_t{data[0]} * 16);
    aos::ipc::Reassembler rx(buffer);
    ++data;
    --size;
    std::uint64_t sum = 0;
    // Frames are taken 64 bytes at a time; the tail (if any) is decoded as raw records below.
    std::size_t frames = size / aos::ipc::frame_bytes;
    for (std::size_t i = 0; i < frames; ++i) {
        aos::ipc::Frame f{};
        __builtin_memcpy(f.words.data(), data + i * aos::ipc::frame_bytes, aos::ipc::frame_bytes);
        // The one-frame paths Server and Client take between messages, then the reassembler.
        sum += decode_frame_all(f, aos::ipc::Capability{i, i},
                                std::make_index_sequence<std::tuple_size_v<All>>{});
        if (aos::ipc::is_whole_message(f)) {
            if (auto whole = aos::ipc::whole_message(f, aos::ipc::Capability{i, i}))
                sum += decode_all(*whole, std::make_index_sequence<std::tuple_size_v<All>>{});
        }
        auto done = rx.push(f, aos::ipc::Capability{i, i});
        if (!rx.check_invariants())
            __builtin_trap();
        if (done && *done)
            sum += decode_all(rx.message(), std::make_index_sequence<std::tuple_size_v<All>>{});
    }
    std::span<const std::byte> rest(reinterpret_cast<const std::byte*>(data), size);
    std::size_t pos = 0;
    while (auto info = aos::ipc::read_record<aos::proto::ProcessInfo>(rest, pos)) {
        sum += touch({reinterpret_cast<const std::byte*>(info->name.data), info->name.size});
        if (pos > rest.size())
            __builtin_trap();
    }
    sink = sum;
    return 0;
}
