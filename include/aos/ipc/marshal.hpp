// The marshaller: a message type is declared once (type id + fields); encoding streams it as frames with a
// header word, fragmenting long payloads; a Reassembler collects fragments into a buffer the receiver owns
// and `decode` validates every field. Knows nothing of transports: frames go to any sink.
//
//   struct Echo {
//       aos::ipc::Str text;               // any length: views into the receiver's reassembly buffer
//       std::uint32_t count = 0;
//       AOS_IPC_MESSAGE(0x42, text, count)
//   };
//   AOS_TRY(aos::ipc::encode(Echo{msg, 3}, request_id, 0, [&](const Frame& f, const Capability* c) {
//       return transport.send(f, c); }));
//   aos::ipc::Reassembler rx{buffer};
//   if (AOS_TRY(rx.push(frame, cap))) { Echo e = AOS_TRY(aos::ipc::decode<Echo>(rx.message())); ... }
//
// Wire format of the payload: fields in declaration order, integers and enums little-endian at their own
// width, fixed arrays element by element, strings and blobs as a u32 length then the bytes; a capability
// takes no payload bytes (it travels beside fragment 0, see Capability in frame.hpp).
#pragma once

#include <aos/core/errc.hpp>
#include <aos/core/result.hpp>
#include <aos/core/string_ref.hpp>
#include <aos/ipc/frame.hpp>

#include <array>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <type_traits>
#include <utility>

// Declares a record's fields, in wire order: `AOS_IPC_FIELDS(a, b, c)` inside the struct.
#define AOS_IPC_FIELDS(...)                                                                                  \
    template <class AosF>                                                                                    \
    __attribute__((always_inline)) constexpr decltype(auto) fields(AosF&& aos_f) {                           \
        return aos_f(__VA_ARGS__);                                                                           \
    }                                                                                                        \
    template <class AosF>                                                                                    \
    __attribute__((always_inline)) constexpr decltype(auto) fields(AosF&& aos_f) const {                     \
        return aos_f(__VA_ARGS__);                                                                           \
    }
// Declares a message: its type id (unique in its protocol) and its fields.
#define AOS_IPC_MESSAGE(type_id_value, ...)                                                                  \
    static constexpr ::aos::ipc::TypeId type_id = (type_id_value);                                           \
    AOS_IPC_FIELDS(__VA_ARGS__)

// Field-by-field helpers must inline into the message's own encode/decode: a call per field costs more than
// the field's work.
#define AOS_IPC_INLINE __attribute__((always_inline)) inline
#define AOS_IPC_INLINE_LAMBDA __attribute__((always_inline))

namespace aos::ipc {

static_assert(std::endian::native == std::endian::little,
              "the wire format is the cores' native little-endian");

// A string field: on the sender any characters; on the receiver a view into its reassembly buffer.
using Str = core::StringRef;
// A byte-blob field, likewise.
using Bytes = std::span<const std::byte>;

// The largest payload one message may declare (the length field is 32 bits); receivers bound it further
// by the size of their reassembly buffer.
inline constexpr std::uint64_t max_payload_bytes = std::numeric_limits<std::uint32_t>::max();

namespace detail {

template <class T>
struct ArrayTraits : std::false_type {};
template <class T, std::size_t N>
struct ArrayTraits<std::array<T, N>> : std::true_type {
    using element = T;
};

template <class T>
concept Scalar = std::integral<T> || std::is_enum_v<T>;

template <class T>
concept ScalarArray = ArrayTraits<T>::value && Scalar<typename ArrayTraits<T>::element>;

template <class T>
concept Sized = std::same_as<T, Str> || std::same_as<T, Bytes>;

// Strings (StringRef: data/size members) and blobs (span: data()/size()) seen alike.
constexpr std::size_t sized_length(const Str& s) {
    return s.size;
}
constexpr std::size_t sized_length(const Bytes& b) {
    return b.size();
}
inline const void* sized_data(const Str& s) {
    return s.data;
}
inline const void* sized_data(const Bytes& b) {
    return b.data();
}

} // namespace detail

// What a field may be: an integer, a bool, an enum (with a `count` enumerator the decoder checks values
// against, if it has one), a std::array of those, a string, a byte blob, or a capability.
template <class T>
concept FieldType =
    detail::Scalar<T> || detail::ScalarArray<T> || detail::Sized<T> || std::same_as<T, Capability>;

namespace detail {

struct AllFields {
    template <class... F>
    constexpr std::bool_constant<(FieldType<std::remove_cvref_t<F>> && ...)> operator()(const F&...) const {
        return {};
    }
};
struct CountCaps {
    template <class... F>
    constexpr std::integral_constant<unsigned,
                                     (0u + ... + (std::same_as<std::remove_cvref_t<F>, Capability>))>
    operator()(const F&...) const {
        return {};
    }
};

} // namespace detail

// A struct declared with AOS_IPC_FIELDS whose fields are all FieldTypes.
template <class R>
concept Record = std::default_initializable<R> && requires(const R& r) {
    { r.fields(detail::AllFields{}) } -> std::same_as<std::true_type>;
};

// A record with a type id: what travels as one message.
template <class M>
concept Message = Record<M> && requires {
    { M::type_id } -> std::convertible_to<TypeId>;
};

// How many capability fields a record declares (a message may carry at most one).
template <Record R>
inline constexpr unsigned capability_count =
    decltype(std::declval<const R&>().fields(detail::CountCaps{}))::value;

template <class T>
constexpr std::uint64_t field_size(const T& v) {
    if constexpr (detail::Scalar<T> || detail::ScalarArray<T>)
        return sizeof(T);
    else if constexpr (detail::Sized<T>)
        return sizeof(std::uint32_t) + std::uint64_t{detail::sized_length(v)};
    else
        return 0; // a capability travels out of band
}

// The payload bytes `r` encodes to.
template <Record R>
constexpr std::uint64_t payload_size(const R& r) {
    return r.fields([](const auto&... f) { return (std::uint64_t{0} + ... + field_size(f)); });
}

namespace detail {

inline std::byte* frame_bytes_of(Frame& f) {
    return reinterpret_cast<std::byte*>(f.words.data());
}
inline const std::byte* frame_bytes_of(const Frame& f) {
    return reinterpret_cast<const std::byte*>(f.words.data());
}

// Where the target has 16-byte vector registers, one-frame messages of fixed layout move as four aligned
// word pairs: the encoder hands over a frame built from pairs (one store each) and decode_frame checks it
// with one load per pair, half the memory operations of word by word, which bound these messages' cost. A
// load then still matches exactly one store, as store-to-load forwarding needs. Without vector registers
// (a kernel built with -mgeneral-regs-only) word by word.
#if defined(__SSE2__)
#define AOS_IPC_FRAME_PAIRS 1
#define AOS_IPC_PAIR_REGISTER "x"
#elif defined(__ARM_NEON)
#define AOS_IPC_FRAME_PAIRS 1
#define AOS_IPC_PAIR_REGISTER "w"
#else
#define AOS_IPC_FRAME_PAIRS 0
#endif
#if AOS_IPC_FRAME_PAIRS
using WordPair = std::uint64_t __attribute__((vector_size(16)));
#endif

// The frame of words `w`, stored pair by pair where pairs exist (see WordPair).
AOS_IPC_INLINE Frame frame_of(const std::uint64_t (&w)[frame_words]) {
    Frame frame{}; // every word is written below; the zeroing folds away
#if AOS_IPC_FRAME_PAIRS
    for (std::size_t i = 0; i < frame_words; i += 2) {
        WordPair p = {w[i], w[i + 1]};
        // Made in a vector register, so that it is stored in one piece whatever the compiler makes of the
        // code around it: stored as two words, the receiver's pair load would wait for both to reach the
        // cache.
        __asm__("" : "+" AOS_IPC_PAIR_REGISTER(p));
        __builtin_memcpy(&frame.words[i], &p, sizeof(p));
    }
#else
    for (std::size_t i = 0; i < frame_words; ++i)
        frame.words[i] = w[i];
#endif
    return frame;
}

template <class T>
bool sized_fits(const T& v) {
    if constexpr (Sized<T>)
        return sized_length(v) <= std::numeric_limits<std::uint32_t>::max();
    else
        return true;
}

// Writes one field through `w.put(src, n)`.
template <class W, class T>
AOS_IPC_INLINE void put_field(W& w, const T& v) {
    if constexpr (Scalar<T> && requires { w.put_scalar(v); }) {
        w.put_scalar(v);
    } else if constexpr (Scalar<T> || ScalarArray<T>) {
        w.put(&v, sizeof(T));
    } else if constexpr (Sized<T>) {
        auto n = static_cast<std::uint32_t>(sized_length(v));
        if constexpr (requires { w.put_bytes(sized_data(v), sized_length(v)); }) {
            w.put_scalar(n);
            w.put_bytes(sized_data(v), sized_length(v));
        } else {
            w.put(&n, sizeof(n));
            w.put(sized_data(v), sized_length(v));
        }
    }
}

// Up to 8 bytes at `p` (take of them, zero-extended) without reading outside [begin, end): a word load
// where one fits, else the last word of the source shifted down, else (a source under 8 bytes) byte by byte.
AOS_IPC_INLINE std::uint64_t load_partial(const std::byte* p, std::size_t take, const std::byte* begin,
                                          const std::byte* end) {
    std::uint64_t v = 0;
    auto avail = static_cast<std::size_t>(end - p);
    if (avail >= sizeof(v)) {
        __builtin_memcpy(&v, p, sizeof(v));
    } else if (static_cast<std::size_t>(end - begin) >= sizeof(v)) {
        __builtin_memcpy(&v, end - sizeof(v), sizeof(v));
        v >>= (sizeof(v) - avail) * 8;
    } else {
        for (std::size_t i = 0; i < take; ++i)
            v |= std::uint64_t{std::to_integer<std::uint8_t>(p[i])} << (i * 8);
    }
    if (take < sizeof(v))
        v &= (std::uint64_t{1} << (take * 8)) - 1;
    return v;
}

// Bounded writer into a span (records nested in a blob).
struct SpanWriter {
    std::span<std::byte> out;
    std::size_t pos = 0;
    void put(const void* src, std::size_t n) {
        if (n != 0)
            __builtin_memcpy(out.data() + pos, src, n); // callers checked the total size first
        pos += n;
    }
};

// A scalar's bytes on the wire, zero-extended to a word.
template <class T>
AOS_IPC_INLINE constexpr std::uint64_t wire_bits(T v) {
    if constexpr (std::is_enum_v<T>)
        return static_cast<std::make_unsigned_t<std::underlying_type_t<T>>>(v);
    else if constexpr (std::same_as<T, bool>)
        return v ? 1 : 0;
    else
        return static_cast<std::make_unsigned_t<T>>(v);
}

// Streams payload bytes into frames, handing each full frame to the sink. The first sink error stops the
// stream and is kept for the caller.
// `Reload`: hand frames to the sink as words reloaded one at a time (for messages with strings or blobs,
// whose frames are built in memory; an all-scalar frame stays in registers and needs none).
template <class Sink, bool Reload = true>
class FrameWriter {
public:
    FrameWriter(Sink& sink, std::uint64_t header0, std::uint64_t first_word, const Capability* cap)
        : sink_(sink), header0_(header0), cap_(cap) {
        frame_.words[0] = header0;
        frame_.words[1] = first_word;
        pos_ = first_payload_offset;
    }
    AOS_IPC_INLINE void put(const void* src, std::size_t n) {
        if (pos_ + n <= frame_bytes) [[likely]] {
            if (n != 0)
                __builtin_memcpy(frame_bytes_of(frame_) + pos_, src, n);
            pos_ += n;
            return;
        }
        put_slow(static_cast<const std::byte*>(src), n);
    }
    // A scalar that fits in the current word is OR-ed into it (the frame starts zeroed): word-sized
    // accesses let the compiler keep the frame in registers, where byte-wise stores followed by the wide
    // copy into the sink stalled store forwarding (a 4-byte field cost 5 ns on its own).
    template <class T>
    AOS_IPC_INLINE void put_scalar(T v) {
        constexpr std::size_t word_bytes = sizeof(std::uint64_t);
        std::size_t shift = pos_ % word_bytes;
        if (pos_ + sizeof(T) <= frame_bytes) [[likely]] {
            frame_.words[pos_ / word_bytes] |= wire_bits(v) << (shift * 8);
            if (shift + sizeof(T) > word_bytes) // the rest of a scalar that straddles two words
                frame_.words[pos_ / word_bytes + 1] |= wire_bits(v) >> ((word_bytes - shift) * 8);
            pos_ += sizeof(T);
            return;
        }
        put(&v, sizeof(T));
    }

    // Bytes of a string or blob, OR-ed into the frames' words one aligned word at a time: a byte copy into
    // the frame followed by the sink's wide copy out of it misses store-to-load forwarding (mixed store and
    // load widths), which cost more than the rest of a short string message.
    AOS_IPC_INLINE void put_bytes(const void* data, std::size_t n) {
        if (pos_ + n > frame_bytes) {
            // Spanning frames: put_slow sends whole fragments straight from the source.
            put(data, n);
            return;
        }
        copy_in(static_cast<const std::byte*>(data), n);
    }

    // Sends the last, partly filled frame (its unused bytes are zero).
    Result<void> finish() {
        flush();
        return status_;
    }

private:
    // The `n` bytes at `data`, which fit in the current frame, OR-ed into its words one aligned word at a
    // time (see put_bytes).
    AOS_IPC_INLINE void copy_in(const std::byte* data, std::size_t n) {
        const auto* begin = data;
        const std::byte* end = begin + n;
        const std::byte* src = begin;
        constexpr std::size_t word_bytes = sizeof(std::uint64_t);
        std::size_t word = pos_ / word_bytes;
        std::size_t shift = (pos_ % word_bytes) * 8;
        // A source word lands in one frame word, or (shift != 0) straddles two; both lie in this frame,
        // which the bytes fit.
        for (; end - src >= static_cast<std::ptrdiff_t>(word_bytes); src += word_bytes, ++word) {
            std::uint64_t v = 0;
            __builtin_memcpy(&v, src, sizeof(v));
            frame_.words[word] |= v << shift;
            if (shift != 0)
                frame_.words[word + 1] |= v >> (64 - shift);
        }
        if (src != end) {
            auto left = static_cast<std::size_t>(end - src);
            std::uint64_t v = load_partial(src, left, begin, end);
            frame_.words[word] |= v << shift;
            if (shift != 0 && shift / 8 + left > word_bytes)
                frame_.words[word + 1] |= v >> (64 - shift);
        }
        pos_ += n;
    }

    void put_slow(const std::byte* src, std::size_t n) {
        while (n != 0) {
            if (pos_ == frame_bytes) {
                flush();
                ++index_;
                // Fragments that these bytes fill and that more bytes follow go out straight from the source,
                // a header word and seven source words built in registers: no zeroing, no copy into frame_
                // and out again. The last (perhaps partial) fragment is built in frame_ as before.
                while (n > next_payload_bytes && status_) {
                    send_whole(src);
                    src += next_payload_bytes;
                    n -= next_payload_bytes;
                    ++index_;
                }
                start_next();
            }
            std::size_t k = frame_bytes - pos_ < n ? frame_bytes - pos_ : n;
            // Word-wise, for the reason put_bytes gives: a byte copy's stores do not forward to flush's
            // loads.
            copy_in(src, k);
            src += k;
            n -= k;
        }
    }
    void flush() {
        if (!status_)
            return;
        // Handed over as words read one at a time (each load matches the store that wrote its word) and
        // written afresh, so however the sink copies the frame it reads stores it can forward from.
        if constexpr (!Reload) {
            status_ = sink_(static_cast<const Frame&>(frame_), index_ == 0 ? cap_ : nullptr);
            return;
        }
        Frame out{}; // every word is written below; the zeroing folds away
        for (std::size_t i = 0; i < frame_words; ++i) {
            std::uint64_t word = frame_.words[i];
            __asm__("" : "+r"(word));
            out.words[i] = word;
        }
        status_ = sink_(static_cast<const Frame&>(out), index_ == 0 ? cap_ : nullptr);
    }
    void start_next() {
        frame_ = Frame{};
        frame_.words[0] = FrameHeader::FragmentIndex::set(header0_, index_);
        pos_ = next_payload_offset;
    }
    // Fragment index_ (> 0) holding the next_payload_bytes at `src`.
    void send_whole(const std::byte* src) {
        Frame out{}; // every word is written below; the zeroing folds away
        out.words[0] = FrameHeader::FragmentIndex::set(header0_, index_);
        for (std::size_t i = 1; i < frame_words; ++i)
            __builtin_memcpy(&out.words[i], src + (i - 1) * sizeof(std::uint64_t), sizeof(std::uint64_t));
        status_ = sink_(static_cast<const Frame&>(out), nullptr);
    }

    Sink& sink_;
    std::uint64_t header0_;
    const Capability* cap_;
    Frame frame_{};
    std::size_t pos_ = 0;
    std::uint32_t index_ = 0;
    Result<void> status_{};
};

// The unsigned integer of a scalar's width.
template <class T>
using BitsOf =
    std::conditional_t<sizeof(T) == 1, std::uint8_t,
                       std::conditional_t<sizeof(T) == 2, std::uint16_t,
                                          std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>>>;

// The `Bits` at `pos` of [data, data + size) (pos + sizeof(Bits) <= size). The sender wrote the payload a
// word at a time: a field inside one aligned word is loaded directly (the load lies within one store); one
// that straddles two words is put together from the two aligned words when both lie inside the span, since
// a load spanning two stores misses store-to-load forwarding and stalls. Each word is loaded on its own.
template <class Bits>
AOS_IPC_INLINE Bits load_bits(const std::byte* data, std::size_t size, std::size_t pos) {
    constexpr std::size_t word_bytes = sizeof(std::uint64_t);
    const std::byte* p = data + pos;
    std::size_t shift = reinterpret_cast<std::uintptr_t>(p) % word_bytes;
    Bits raw = 0;
    if (shift + sizeof(Bits) > word_bytes && shift <= pos && pos - shift + 2 * word_bytes <= size) {
        std::uint64_t lo = 0;
        std::uint64_t hi = 0;
        __builtin_memcpy(&lo, p - shift, sizeof(lo));
        __builtin_memcpy(&hi, p - shift + word_bytes, sizeof(hi));
        __asm__("" : "+r"(lo), "+r"(hi));
        return static_cast<Bits>((lo >> (shift * 8)) | (hi << ((word_bytes - shift) * 8)));
    }
    __builtin_memcpy(&raw, p, sizeof(raw));
    __asm__("" : "+r"(raw));
    return raw;
}

// The capability beside a message, copied a word at a time: a wide load of the two words, each stored on
// its own moments earlier (by the transport or when the Incoming was built), would miss store-to-load
// forwarding.
AOS_IPC_INLINE Capability load_capability(const Capability& cap) {
    std::uint64_t ref = cap.ref;
    std::uint64_t size = cap.size;
    __asm__("" : "+r"(ref), "+r"(size));
    return Capability{ref, size};
}

// Bounded reader over a payload.
struct SpanReader {
    std::span<const std::byte> in;
    std::size_t pos = 0;
    AOS_IPC_INLINE bool get(void* dst, std::size_t n) {
        if (n > in.size() - pos)
            return false;
        if (n != 0)
            __builtin_memcpy(dst, in.data() + pos, n);
        pos += n;
        return true;
    }
};

template <class E>
constexpr bool enum_in_range(E e) {
    if constexpr (requires { E::count; })
        return static_cast<std::underlying_type_t<E>>(e) >= 0 &&
               static_cast<std::underlying_type_t<E>>(e) < static_cast<std::underlying_type_t<E>>(E::count);
    else
        return true;
}

template <class T>
constexpr bool scalar_valid(T v) {
    // bools are checked on the raw byte (see get_scalar); other integers take any value
    if constexpr (std::is_enum_v<T>)
        return enum_in_range(v);
    else
        return true;
}

template <class T>
AOS_IPC_INLINE Errc get_scalar(SpanReader& r, T& out) {
    if constexpr (std::same_as<T, bool>) {
        std::uint8_t raw = 0;
        if (!r.get(&raw, 1))
            return Errc::truncated;
        if (raw > 1)
            return Errc::out_of_range;
        out = raw != 0;
        return Errc{};
    } else {
        if (sizeof(T) > r.in.size() - r.pos)
            return Errc::truncated;
        out = static_cast<T>(load_bits<BitsOf<T>>(r.in.data(), r.in.size(), r.pos));
        r.pos += sizeof(T);
        return scalar_valid(out) ? Errc{} : Errc::out_of_range;
    }
}

// Reads one field; returns Errc{} (zero) on success. Views point into the reader's span.
template <class T>
AOS_IPC_INLINE Errc get_field(SpanReader& r, T& out, const Capability* cap) {
    if constexpr (Scalar<T>) {
        return get_scalar(r, out);
    } else if constexpr (ScalarArray<T>) {
        for (auto& e : out) {
            if (Errc e2 = get_scalar(r, e); e2 != Errc{})
                return e2;
        }
        return Errc{};
    } else if constexpr (Sized<T>) {
        std::uint32_t n = 0;
        if (!r.get(&n, sizeof(n)))
            return Errc::truncated;
        if (n > r.in.size() - r.pos)
            return Errc::truncated;
        const std::byte* p = r.in.data() + r.pos;
        r.pos += n;
        if constexpr (std::same_as<T, Str>)
            out = Str{reinterpret_cast<const char*>(p), n};
        else
            out = Bytes{p, n};
        return Errc{};
    } else {
        if (cap == nullptr)
            return Errc::malformed; // a capability field without a capability beside the frame
        out = load_capability(*cap);
        return Errc{};
    }
}

} // namespace detail

namespace detail {

// A record whose payload has one fixed layout: only scalars, scalar arrays and capabilities (which take no
// payload bytes). Such a record decodes as loads from compile-time offsets.
struct AllFixed {
    template <class... F>
    constexpr std::bool_constant<((Scalar<std::remove_cvref_t<F>> || ScalarArray<std::remove_cvref_t<F>> ||
                                   std::same_as<std::remove_cvref_t<F>, Capability>) &&
                                  ...)>
    operator()(const F&...) const {
        return {};
    }
};
template <class R>
inline constexpr bool fixed_layout = decltype(std::declval<const R&>().fields(AllFixed{}))::value;

// Whether `raw`, a scalar's bytes zero-extended, is a valid value of T: enums below `count`, bools 0 or 1.
template <class T>
AOS_IPC_INLINE constexpr bool wire_valid(std::uint64_t raw) {
    if constexpr (std::same_as<T, bool>) {
        return raw <= 1;
    } else if constexpr (std::is_enum_v<T> && requires { T::count; }) {
        using U = std::underlying_type_t<T>;
        // Signed underlying types: a negative value sign-extends to a huge unsigned one and fails too.
        return static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<U>(raw))) <
               static_cast<std::uint64_t>(static_cast<U>(T::count));
    } else {
        return true;
    }
}

template <class T>
AOS_IPC_INLINE bool load_fixed_scalar(const std::byte* data, std::size_t size, std::size_t pos, T& out) {
    // The field's bytes as an unsigned integer of its width, loaded on their own: merged with the next
    // field's into one vector load, they would span two of the sender's word stores and miss store-to-load
    // forwarding (a stall costing more than the whole message).
    using Bits = BitsOf<T>;
    static_assert(sizeof(Bits) == sizeof(T));
    Bits raw = load_bits<Bits>(data, size, pos);
    bool valid = wire_valid<T>(raw);
    if constexpr (std::same_as<T, bool>)
        out = raw != 0;
    else
        out = static_cast<T>(raw);
    return valid;
}

// Decodes a fixed-layout record from exactly its payload size: no bounds check per field, range checks
// combined without branches. false if any value is out of range (the caller then finds which).
template <class R>
AOS_IPC_INLINE bool decode_fixed(const std::byte* p, std::size_t size, R& r, const Capability* cap) {
    std::size_t pos = 0;
    bool valid = true;
    auto one = [&](auto& f) AOS_IPC_INLINE_LAMBDA {
        using T = std::remove_cvref_t<decltype(f)>;
        if constexpr (Scalar<T>) {
            valid &= load_fixed_scalar(p, size, pos, f);
            pos += sizeof(T);
        } else if constexpr (ScalarArray<T>) {
            for (auto& e : f) {
                valid &= load_fixed_scalar(p, size, pos, e);
                pos += sizeof(e);
            }
        } else {
            valid &= cap != nullptr;
            if (cap != nullptr)
                f = load_capability(*cap);
        }
    };
    r.fields([&](auto&... f) AOS_IPC_INLINE_LAMBDA { (one(f), ...); });
    return valid;
}

template <class R>
constexpr std::uint64_t fixed_layout_size() {
    R r{};
    return payload_size(r);
}

} // namespace detail

// Where decoding failed: the index of the field (in declaration order) and the payload offset where it
// starts; for leftover bytes, the field count and the offset of the first extra byte.
struct DecodeFailure {
    unsigned field = 0;
    std::size_t offset = 0;
};

// Decodes the fields of `R` from `payload`; all of it must be used. Views point into `payload`.
// Errors: truncated (a field or length runs past the end), malformed (bytes left over, or a capability
// field without a capability), out_of_range (an enum or bool value outside its range).
template <Record R>
Result<R> decode_record(std::span<const std::byte> payload, const Capability* cap = nullptr,
                        DecodeFailure* where = nullptr) {
    // Decoded in place inside the result: copying a freshly decoded record out reloads bytes just stored
    // one field at a time as wide vectors (a store-forwarding stall on x86 and AArch64 alike).
    Result<R> out{R{}};
    R& r = *out;
    if constexpr (detail::fixed_layout<R>) {
        // The common case in one branch; any failure is diagnosed below, field by field.
        constexpr std::uint64_t size = detail::fixed_layout_size<R>();
        if (payload.size() == size && detail::decode_fixed(payload.data(), size, r, cap)) [[likely]]
            return out;
        r = R{};
    }
    detail::SpanReader reader{payload};
    Errc err{};
    unsigned index = 0;
    std::size_t field_start = 0;
    auto one = [&](auto& f) AOS_IPC_INLINE_LAMBDA {
        if (err != Errc{})
            return;
        field_start = reader.pos;
        err = detail::get_field(reader, f, cap);
        if (err == Errc{})
            ++index;
    };
    r.fields([&](auto&... f) AOS_IPC_INLINE_LAMBDA { (one(f), ...); });
    if (err == Errc{} && reader.pos != payload.size())
        err = Errc::malformed;
    if (err != Errc{}) {
        if (where != nullptr)
            *where = DecodeFailure{index, err == Errc::malformed && index > 0 ? reader.pos : field_start};
        return error(err);
    }
    return out;
}

// Appends record `r` at `pos` in `out` (records nested in a blob, e.g. a process list).
// Errc::out_of_range if it does not fit; then nothing is written.
template <Record R>
Result<void> write_record(const R& r, std::span<std::byte> out, std::size_t& pos) {
    static_assert(capability_count<R> == 0, "a nested record cannot carry a capability");
    std::uint64_t n = payload_size(r);
    bool sizes_ok = r.fields([](const auto&... f) { return (detail::sized_fits(f) && ...); });
    if (!sizes_ok)
        return error(Errc::overflow);
    if (pos > out.size() || n > out.size() - pos)
        return error(Errc::out_of_range);
    detail::SpanWriter w{out, pos};
    r.fields([&](const auto&... f) { (detail::put_field(w, f), ...); });
    pos = w.pos;
    return ok();
}

// Reads the next record at `pos` of `in`, advancing `pos` (views point into `in`).
template <Record R>
Result<R> read_record(std::span<const std::byte> in, std::size_t& pos) {
    if (pos > in.size())
        return error(Errc::out_of_range);
    R r{};
    detail::SpanReader reader{in, pos};
    Errc err{};
    auto one = [&](auto& f) {
        if (err == Errc{})
            err = detail::get_field(reader, f, nullptr);
    };
    r.fields([&](auto&... f) { (one(f), ...); });
    if (err != Errc{})
        return error(err);
    pos = reader.pos;
    return r;
}

namespace detail {

// A scalar's `Size` bytes at byte `pos` of a payload held as words (pos need not be a compile-time constant):
// each word takes the part that falls in it, so the words stay in registers (a store through a computed index
// would put them in memory, where each field's read-modify-write waits on the one before).
template <std::size_t Size, std::size_t N>
AOS_IPC_INLINE void deposit(std::uint64_t (&w)[N], std::size_t pos, std::uint64_t bits) {
    constexpr std::size_t word_bytes = sizeof(std::uint64_t);
    for (std::size_t k = 0; k < N; ++k) {
        std::size_t start = k * word_bytes;
        if (pos >= start && pos < start + word_bytes)
            w[k] |= bits << ((pos - start) * 8);
        else if (pos < start && pos + Size > start) // the rest of a scalar that began in the word before
            w[k] |= bits >> ((start - pos) * 8);
    }
}

// The `n` bytes at `src` placed from byte `pos` of the words (never reading outside [src, src + n)); bytes
// past them stay zero. At most two partial words (the head, sharing its word with what came before, and the
// tail) are put together from partial loads; every word in between is one source load.
template <std::size_t N>
AOS_IPC_INLINE void deposit_bytes(std::uint64_t (&w)[N], std::size_t pos, const std::byte* src,
                                  std::size_t n) {
    constexpr std::size_t word_bytes = sizeof(std::uint64_t);
    const std::byte* end = src + n;
    std::size_t first_full = (pos + word_bytes - 1) / word_bytes * word_bytes; // first word boundary >= pos
    std::size_t head = first_full - pos < n ? first_full - pos : n;
    std::size_t full_end = first_full + (n - head) / word_bytes * word_bytes; // past the whole words
    std::size_t tail = (n - head) % word_bytes;
    std::uint64_t head_bits = head != 0 ? load_partial(src, head, src, end) << (pos % word_bytes * 8) : 0;
    std::uint64_t tail_bits = tail != 0 ? load_partial(src + (full_end - pos), tail, src, end) : 0;
    for (std::size_t k = 0; k < N; ++k) {
        std::size_t start = k * word_bytes;
        if (start + word_bytes == first_full && head != 0) {
            w[k] |= head_bits;
        } else if (start >= first_full && start + word_bytes <= full_end) {
            std::uint64_t v = 0;
            __builtin_memcpy(&v, src + (start - pos), sizeof(v));
            w[k] |= v;
        } else if (start == full_end && tail != 0) {
            w[k] |= tail_bits;
        }
    }
}

// Payload bytes that `frames` fragments carry.
constexpr std::size_t payload_capacity(std::size_t frames) {
    return first_payload_bytes + (frames - 1) * next_payload_bytes;
}

// Encodes a message whose payload fits `Frames` fragments (a small count) as frames built in registers, a
// word at a time, and hands them to the sink. The payload is put together as one run of words: fragment 0
// holds its first six, each further fragment the next seven after its header word, so a field may straddle
// two fragments like any two words.
template <std::size_t Frames, class M, class Sink>
AOS_IPC_INLINE Result<void> encode_frames(const M& m, std::uint64_t header0, std::uint64_t first_word,
                                          const Capability* cap, Sink& sink) {
    constexpr std::size_t word_bytes = sizeof(std::uint64_t);
    std::uint64_t p[payload_capacity(Frames) / word_bytes] = {};
    std::size_t pos = 0;
    auto one = [&](const auto& field) AOS_IPC_INLINE_LAMBDA {
        using T = std::remove_cvref_t<decltype(field)>;
        if constexpr (Scalar<T>) {
            deposit<sizeof(T)>(p, pos, wire_bits(field));
            pos += sizeof(T);
        } else if constexpr (ScalarArray<T>) {
            for (const auto& e : field) {
                deposit<sizeof(e)>(p, pos, wire_bits(e));
                pos += sizeof(e);
            }
        } else if constexpr (Sized<T>) {
            auto n = static_cast<std::uint32_t>(sized_length(field));
            deposit<sizeof(n)>(p, pos, n);
            pos += sizeof(n);
            deposit_bytes(p, pos, static_cast<const std::byte*>(sized_data(field)), n);
            pos += n;
        }
    };
    m.fields([&](const auto&... f) AOS_IPC_INLINE_LAMBDA { (one(f), ...); });
    Result<void> status{};
    for (std::size_t i = 0; i < Frames && status; ++i) {
        // Fragment i's words: its header word(s), then its share of the payload words.
        constexpr std::size_t first_words = first_payload_offset / word_bytes;
        constexpr std::size_t next_words = next_payload_offset / word_bytes;
        std::uint64_t w[frame_words] = {};
        if (i == 0) {
            w[0] = header0;
            w[1] = first_word;
            for (std::size_t k = first_words; k < frame_words; ++k)
                w[k] = p[k - first_words];
        } else {
            w[0] = FrameHeader::FragmentIndex::set(header0, i);
            std::size_t from = frame_words - first_words + (i - 1) * (frame_words - next_words);
            for (std::size_t k = next_words; k < frame_words; ++k)
                w[k] = p[from + k - next_words];
        }
        if constexpr (fixed_layout<M> && Frames == 1) {
            const Frame frame = frame_of(w);
            status = sink(frame, cap);
        } else {
            // Word by word: pairs put together from the deposited words cost more than they save here.
            Frame frame{}; // every word is written below; the zeroing folds away
            for (std::size_t k = 0; k < frame_words; ++k)
                frame.words[k] = w[k];
            status = sink(static_cast<const Frame&>(frame), i == 0 ? cap : nullptr);
        }
    }
    return status;
}

} // namespace detail

// Encodes `m` as frames handed, in order, to `sink(const Frame&, const Capability*) -> Result<void>`; the
// capability (if `M` declares one) goes with fragment 0. `flags` may hold flag_response. Validates the
// sizes before the first frame leaves: Errc::overflow if a string or blob exceeds 2^32-1 bytes or the
// payload exceeds what the header can describe. A sink error stops the stream and is returned (the
// receiver then sees a truncated message and discards it).
template <Message M, class Sink>
Result<void> encode(const M& m, RequestId request, std::uint8_t flags, Sink&& sink) {
    static_assert(capability_count<M> <= 1, "a message carries at most one capability");
    if ((flags & ~FrameHeader::known_flags) != 0 || (flags & FrameHeader::flag_carries_cap) != 0)
        return error(Errc::invalid_argument);
    std::uint64_t length = payload_size(m);
    bool sizes_ok = m.fields([](const auto&... f) { return (detail::sized_fits(f) && ...); });
    if (!sizes_ok || length > max_payload_bytes || fragments_for(length) > max_fragments)
        return error(Errc::overflow);

    const Capability* cap = nullptr;
    if constexpr (capability_count<M> == 1) {
        m.fields([&](const auto&... f) {
            auto pick = [&](const auto& field) {
                if constexpr (std::same_as<std::remove_cvref_t<decltype(field)>, Capability>)
                    cap = &field;
            };
            (pick(f), ...);
        });
        flags |= FrameHeader::flag_carries_cap;
    }
    std::uint64_t header0 = FrameHeader::make(M::type_id, request, 0, flags);
    std::uint64_t first_word =
        FirstWord::PayloadLength::make(length) | FirstWord::FragmentCount::make(fragments_for(length));
    if (length <= detail::payload_capacity(1))
        return detail::encode_frames<1>(m, header0, first_word, cap, sink);
    if constexpr (!detail::fixed_layout<M>) {
        // A short list or name just over one frame (a process list of a few entries) is built in registers
        // as well; only longer payloads stream through the FrameWriter.
        if (length <= detail::payload_capacity(2))
            return detail::encode_frames<2>(m, header0, first_word, cap, sink);
    }

    detail::FrameWriter<std::remove_reference_t<Sink>, !detail::fixed_layout<M>> w(sink, header0, first_word,
                                                                                   cap);
    m.fields([&](const auto&... f) AOS_IPC_INLINE_LAMBDA { (detail::put_field(w, f), ...); });
    return w.finish();
}

// A complete message as the Reassembler hands it over.
struct Incoming {
    TypeId type = 0;
    RequestId request = 0;
    std::uint8_t flags = 0;
    std::span<const std::byte>
        payload;      // in the reassembly buffer, the Reassembler or (whole_message) the frame
    Capability cap{}; // valid when flags has flag_carries_cap

    bool is_response() const { return (flags & FrameHeader::flag_response) != 0; }
    bool is_error() const { return (flags & FrameHeader::flag_error) != 0; }
    bool has_cap() const { return (flags & FrameHeader::flag_carries_cap) != 0; }
};

// An error reply: the request's type id, flags response|error, payload one Errc.
struct ErrorReply {
    std::uint16_t code = 0;
    AOS_IPC_FIELDS(code)
};

template <class Sink>
Result<void> encode_error(TypeId type, RequestId request, Errc code, Sink&& sink) {
    ErrorReply reply{static_cast<std::uint16_t>(code)};
    std::uint64_t header0 =
        FrameHeader::make(type, request, 0, FrameHeader::flag_response | FrameHeader::flag_error);
    std::uint64_t first_word =
        FirstWord::PayloadLength::make(payload_size(reply)) | FirstWord::FragmentCount::make(1);
    detail::FrameWriter<std::remove_reference_t<Sink>, false> w(sink, header0, first_word, nullptr);
    reply.fields([&](const auto&... f) { (detail::put_field(w, f), ...); });
    return w.finish();
}

namespace detail {
// Whether bytes [from, 64) are zero, a word at a time (payload bytes are little-endian in the words, so
// the bytes past `from` in a partial word are its high bits).
inline bool padding_zero(const Frame& f, std::size_t from) {
    std::size_t w = from / sizeof(std::uint64_t);
    std::size_t bits = (from % sizeof(std::uint64_t)) * 8;
    std::uint64_t extra = 0;
    if (bits != 0)
        extra = f.words[w++] >> bits;
    for (; w < frame_words; ++w)
        extra |= f.words[w];
    return extra == 0;
}

// Word 1 of a whole one-frame message: a fragment count of 1 and a length that fits the frame, in one
// subtraction (a count of 0 wraps to a huge value).
inline bool one_fragment_fits(const Frame& f) {
    constexpr std::uint64_t one_fragment = FirstWord::FragmentCount::make(1);
    return f.words[1] - one_fragment <= first_payload_bytes;
}
} // namespace detail

// Whether `f` is a whole message by itself (fragment 0 of a one-fragment message): most protocol messages
// are, and a receiver that is between messages may take them without the Reassembler.
inline bool is_whole_message(const Frame& f) {
    return FrameHeader::fragment(f) == 0 && FirstWord::FragmentCount::get(f.words[1]) == 1;
}

// Validates a whole one-frame message exactly as Reassembler::push does (known flags, length consistent
// with one fragment, zero bytes after the payload; Errc::malformed otherwise) without copying it: the
// payload views `f`, so decode before `f` goes away.
inline Result<Incoming> whole_message(const Frame& f, const Capability& cap) {
    std::uint8_t flags = FrameHeader::flags(f);
    std::uint64_t length = FirstWord::PayloadLength::get(f.words[1]);
    // Fragment 0, known flags, and (one subtraction) a fragment count of 1 with a length that fits.
    constexpr std::uint64_t unknown_flags =
        FrameHeader::Flags::make(static_cast<std::uint8_t>(~FrameHeader::known_flags));
    bool header_ok = ((f.words[0] & (FrameHeader::FragmentIndex::mask | unknown_flags)) == 0) &&
                     detail::one_fragment_fits(f);
    if (!header_ok || !detail::padding_zero(f, first_payload_offset + length))
        return error(Errc::malformed);
    Incoming in;
    in.type = FrameHeader::type(f);
    in.request = FrameHeader::request(f);
    in.flags = flags;
    in.payload = {detail::frame_bytes_of(f) + first_payload_offset, static_cast<std::size_t>(length)};
    in.cap = in.has_cap() ? cap : Capability{};
    return in;
}

// The Errc an error reply carries (Errc::malformed if the reply itself is malformed).
inline Errc error_of(const Incoming& in) {
    auto r = decode_record<ErrorReply>(in.payload);
    if (!r || r->code == 0)
        return Errc::malformed;
    return static_cast<Errc>(r->code);
}

// Decodes a complete message as `M`: Errc::malformed if it is another type, carries a capability `M` does
// not declare or lacks one it does; otherwise as decode_record. Views point into the message's payload.
template <Message M>
Result<M> decode(const Incoming& in, DecodeFailure* where = nullptr) {
    if (in.type != M::type_id || in.is_error())
        return error(Errc::malformed);
    if (in.has_cap() != (capability_count<M> == 1))
        return error(Errc::malformed);
    return decode_record<M>(in.payload, in.has_cap() ? &in.cap : nullptr, where);
}

namespace detail {

// A message whose fields all have fixed sizes and whose payload fits fragment 0: every valid frame of it
// has the same word 0 (but for the request id and the response flag), the same word 1, and zero bytes
// from a compile-time offset on.
template <class M>
concept OneFrameFixed = Message<M> && fixed_layout<M> && fixed_layout_size<M>() <= first_payload_bytes;

// Word 0 of any valid whole message of type M, but for the request id and the response flag.
template <class M>
struct HeaderShape {
    // Everything in word 0 but the request id and the response flag: the type, fragment index 0, no error
    // flag, no unknown flag, and the capability flag exactly when M declares a capability.
    static constexpr std::uint64_t header_mask =
        ~(FrameHeader::Request::mask | FrameHeader::Flags::make(FrameHeader::flag_response));
    static constexpr std::uint64_t header =
        FrameHeader::make(M::type_id, 0, 0, capability_count<M> == 1 ? FrameHeader::flag_carries_cap : 0);
};

template <class M>
struct OneFrameShape : HeaderShape<M> {
    static constexpr std::uint64_t size = fixed_layout_size<M>();
    static constexpr std::uint64_t first_word =
        FirstWord::PayloadLength::make(size) | FirstWord::FragmentCount::make(1);
    static constexpr std::size_t end = first_payload_offset + size; // the first padding byte
    // Per word, the bits every valid frame fixes (mask) and their values: word 0 as above, word 1 whole,
    // the padding (bytes from `end` on) zero, the payload free.
    static constexpr std::uint64_t mask(std::size_t word) {
        constexpr std::size_t word_bytes = sizeof(std::uint64_t);
        if (word == 0)
            return HeaderShape<M>::header_mask;
        if (word == 1 || word * word_bytes >= end)
            return ~std::uint64_t{0};
        if ((word + 1) * word_bytes <= end)
            return 0;
        return ~std::uint64_t{0} << (end % word_bytes * 8);
    }
    static constexpr std::uint64_t value(std::size_t word) {
        return word == 0 ? HeaderShape<M>::header : word == 1 ? first_word : 0;
    }
};

// Whether `f`'s words match Shape's compile-time mask and values: the header, the length word and the
// padding in one comparison. Word by word, each word with its own load (merged into vector loads, they could
// span two of the sender's word stores and miss store-to-load forwarding, see load_bits).
template <class Shape>
AOS_IPC_INLINE bool frame_matches_words(const Frame& f) {
    std::uint64_t diff = 0;
    for (std::size_t w = 0; w < frame_words; ++w) {
        if (Shape::mask(w) != 0) {
            diff |= (f.words[w] & Shape::mask(w)) ^ Shape::value(w);
            __asm__("" : "+r"(diff));
        }
    }
    return diff == 0;
}

#if AOS_IPC_FRAME_PAIRS
// The same, pair by pair (see WordPair): each load matches one of the encoder's pair stores.
template <class Shape>
AOS_IPC_INLINE bool frame_matches_pairs(const Frame& f) {
    WordPair diff = {0, 0};
    auto pair = [&]<std::size_t I>(std::integral_constant<std::size_t, I>) AOS_IPC_INLINE_LAMBDA {
        constexpr std::uint64_t m0 = Shape::mask(2 * I), m1 = Shape::mask(2 * I + 1);
        if constexpr ((m0 | m1) != 0) {
            WordPair p;
            __builtin_memcpy(&p, &f.words[2 * I], sizeof(p));
            diff |= (p & WordPair{m0, m1}) ^ WordPair { Shape::value(2 * I), Shape::value(2 * I + 1) };
        }
    };
    [&]<std::size_t... I>(std::index_sequence<I...>) AOS_IPC_INLINE_LAMBDA {
        (pair(std::integral_constant<std::size_t, I>{}), ...);
    }(std::make_index_sequence<frame_words / 2>{});
    return (diff[0] | diff[1]) == 0;
}
#endif

template <class Shape>
AOS_IPC_INLINE bool frame_matches(const Frame& f) {
#if AOS_IPC_FRAME_PAIRS
    return frame_matches_pairs<Shape>(f);
#else
    return frame_matches_words<Shape>(f);
#endif
}

// The `Bits` at byte `pos` of `f`, from the frame's aligned words (each load matches a store of the
// sender's, see load_bits); `pos` is a compile-time constant once inlined.
template <class Bits>
AOS_IPC_INLINE Bits frame_bits(const Frame& f, std::size_t pos) {
    constexpr std::size_t word_bits = 64;
    std::size_t word = pos / sizeof(std::uint64_t);
    std::size_t shift = pos % sizeof(std::uint64_t) * 8;
    std::uint64_t v = f.words[word] >> shift;
    if (shift + sizeof(Bits) * 8 > word_bits) // straddles two words (shift > 0 here)
        v |= f.words[word + 1] << (word_bits - shift);
    return static_cast<Bits>(v);
}

template <class T>
AOS_IPC_INLINE bool frame_scalar(const Frame& f, std::size_t pos, T& out) {
    using Bits = BitsOf<T>;
    Bits raw = frame_bits<Bits>(f, pos);
    if constexpr (std::same_as<T, bool>)
        out = raw != 0;
    else
        out = static_cast<T>(raw);
    return wire_valid<T>(raw);
}

// Decodes `f` into `r` and returns whether it was a valid whole message of type M, accepting exactly the
// frames that whole_message then decode<M> accept: word 0 and word 1 each checked with one comparison, the
// padding with one, the value ranges folded in, and no branch per field (fields are read at compile-time
// offsets whether or not the frame is valid; `r` is the caller's to discard then).
template <OneFrameFixed M>
AOS_IPC_INLINE bool decode_one_frame(const Frame& f, const Capability& cap, M& r) {
    bool valid = frame_matches<OneFrameShape<M>>(f);
    std::size_t pos = first_payload_offset;
    auto one = [&](auto& field) AOS_IPC_INLINE_LAMBDA {
        using T = std::remove_cvref_t<decltype(field)>;
        if constexpr (Scalar<T>) {
            valid &= frame_scalar(f, pos, field);
            pos += sizeof(T);
        } else if constexpr (ScalarArray<T>) {
            for (auto& e : field) {
                valid &= frame_scalar(f, pos, e);
                pos += sizeof(e);
            }
        } else {
            field = load_capability(cap); // the header check above requires the capability flag
        }
    };
    r.fields([&](auto&... field) AOS_IPC_INLINE_LAMBDA { (one(field), ...); });
    return valid;
}

template <Message M>
AOS_IPC_INLINE Result<M> decode_frame_general(const Frame& f, const Capability& cap, DecodeFailure* where) {
    auto in = whole_message(f, cap);
    if (!in)
        return error(in.error());
    return decode<M>(*in, where);
}

// Out of line: only an invalid frame takes it, to learn which error to report. Returns the error alone (in a
// register), so the caller's result never has its address taken and can live in registers.
template <Message M>
[[gnu::noinline]] Errc decode_frame_diagnose(const Frame& f, const Capability& cap, DecodeFailure* where) {
    auto r = decode_frame_general<M>(f, cap, where);
    return r ? Errc::malformed : r.error(); // never a value: decode_one_frame accepts all that it accepts
}

} // namespace detail

// Whether decode_frame checks M against compile-time words (fixed layout, payload within one frame).
template <class M>
inline constexpr bool one_frame_fixed = detail::OneFrameFixed<M>;

// Decodes a frame that is a whole message by itself (is_whole_message) as `M`, without the Reassembler or
// an Incoming: accepts the same frames and reports the same errors as whole_message then decode<M>. For a
// message of fixed layout that fits one frame (most of the protocol) the header, length and padding are
// compared against compile-time words (see docs/messaging.md). Views point into `f`.
template <Message M>
Result<M> decode_frame(const Frame& f, const Capability& cap = {}, DecodeFailure* where = nullptr) {
    if constexpr (detail::OneFrameFixed<M>) {
        // Decoded in place inside the result (see decode_record).
        Result<M> out{M{}};
        if (detail::decode_one_frame(f, cap, *out)) [[likely]]
            return out;
        return error(detail::decode_frame_diagnose<M>(f, cap, where));
    } else {
        // The header against compile-time words too; the length and the fields as decode_record reads them.
        using Shape = detail::HeaderShape<M>;
        std::uint64_t length = FirstWord::PayloadLength::get(f.words[1]);
        bool header_ok =
            ((f.words[0] & Shape::header_mask) ^ Shape::header) == 0 && detail::one_fragment_fits(f);
        if (header_ok && detail::padding_zero(f, first_payload_offset + length)) [[likely]] {
            return decode_record<M>({detail::frame_bytes_of(f) + first_payload_offset, length},
                                    capability_count<M> == 1 ? &cap : nullptr, where);
        }
        return error(detail::decode_frame_diagnose<M>(f, cap, where));
    }
}

// Collects the fragments of one message at a time (a sender never interleaves two messages in one
// direction) into a buffer the receiver owns, validating each frame before it changes any state:
// - fragment 0: known flags only; payload length within the buffer (Errc::out_of_range: oversize);
//   fragment count consistent with the length (Errc::malformed);
// - later fragments: the next index, same type, request and flags (Errc::malformed: out of order or from
//   another message; Errc::truncated when a new fragment 0 arrives before the message ended — the old
//   message is dropped and the new one started, so a sender that failed mid-message loses only that one,
//   unless the new one is a single frame: that is complete at once and, being reported as this error, lost
//   too; receivers that care (Client, Server) drop the old message themselves before a new fragment 0);
// - unused bytes of the last frame are zero (Errc::malformed).
// After any error the partial message is dropped and the next fragment 0 starts afresh.
class Reassembler {
public:
    explicit Reassembler(std::span<std::byte> buffer = {}) : buffer_(buffer) {}

    // Between messages the receiver may point the next one at another buffer (an RPC client reassembles
    // each reply straight into its caller's buffer).
    bool idle() const { return expected_ == 0; }
    Result<void> set_buffer(std::span<std::byte> buffer) {
        if (!idle())
            return error(Errc::busy);
        buffer_ = buffer;
        return ok();
    }

    // Takes the next frame (and the capability that travelled with it, if its header says so). true when a
    // message is complete: message() then describes it until the next push.
    Result<bool> push(const Frame& f, const Capability& cap = {}) {
        std::uint32_t index = FrameHeader::fragment(f);
        if (index == 0) {
            Errc e = check_first(f);
            if (e != Errc{}) {
                reset();
                return error(e);
            }
            bool abandoned = !idle();
            start(f, cap);
            // Finished even when reporting the abandoned one, so a one-frame message never stays "in
            // progress" where a stray fragment 1 could be appended to it (found by the fuzzer).
            auto done = finish_if_complete();
            if (abandoned)
                return error(Errc::truncated);
            return done;
        }
        if (idle() || index != received_ || index >= expected_ || !same_message(f)) {
            reset();
            return error(Errc::malformed);
        }
        std::size_t n = chunk(index);
        if (index + 1 == expected_ && !detail::padding_zero(f, next_payload_offset + n)) {
            reset();
            return error(Errc::malformed);
        }
        if (n == next_payload_bytes) // every fragment but the last: a copy of known size, inlined
            __builtin_memcpy(buffer_.data() + filled_, detail::frame_bytes_of(f) + next_payload_offset,
                             next_payload_bytes);
        else
            __builtin_memcpy(buffer_.data() + filled_, detail::frame_bytes_of(f) + next_payload_offset, n);
        filled_ += n;
        ++received_;
        return finish_if_complete();
    }

    const Incoming& message() const { return message_; }

    // Drops any partial message.
    void reset() {
        expected_ = 0;
        received_ = 0;
        filled_ = 0;
    }

    bool check_invariants() const {
        if (idle())
            return received_ == 0 && filled_ == 0;
        return received_ <= expected_ && filled_ <= length_ && length_ <= max_payload_bytes &&
               (expected_ == 1 || length_ <= buffer_.size());
    }

private:
    Errc check_first(const Frame& f) const {
        std::uint8_t flags = FrameHeader::flags(f);
        if ((flags & ~FrameHeader::known_flags) != 0)
            return Errc::malformed;
        std::uint64_t length = FirstWord::PayloadLength::get(f.words[1]);
        std::uint64_t count = FirstWord::FragmentCount::get(f.words[1]);
        if (count != fragments_for(length) || count > max_fragments)
            return Errc::malformed;
        if (count > 1 && length > buffer_.size())
            return Errc::out_of_range;
        if (count == 1 && !detail::padding_zero(f, first_payload_offset + length))
            return Errc::malformed;
        return Errc{};
    }
    void start(const Frame& f, const Capability& cap) {
        length_ = FirstWord::PayloadLength::get(f.words[1]);
        expected_ = static_cast<std::uint32_t>(FirstWord::FragmentCount::get(f.words[1]));
        received_ = 1;
        // Field by field: building a temporary and copying it made the compiler reload freshly stored bytes
        // as one vector (a store-forwarding stall that cost more than the rest of push).
        message_.type = FrameHeader::type(f);
        message_.request = FrameHeader::request(f);
        message_.flags = FrameHeader::flags(f);
        message_.payload = {};
        message_.cap = message_.has_cap() ? cap : Capability{};
        if (expected_ == 1) {
            first_ = f; // the payload views it (a longer message is copied into the buffer instead)
            filled_ = length_;
        } else {
            __builtin_memcpy(buffer_.data(), detail::frame_bytes_of(f) + first_payload_offset,
                             first_payload_bytes);
            filled_ = first_payload_bytes;
        }
    }
    Result<bool> finish_if_complete() {
        if (received_ != expected_)
            return false;
        if (expected_ == 1)
            message_.payload = {detail::frame_bytes_of(first_) + first_payload_offset, length_};
        else
            message_.payload = {buffer_.data(), length_};
        expected_ = 0;
        received_ = 0;
        filled_ = 0;
        return true;
    }
    bool same_message(const Frame& f) const {
        return FrameHeader::type(f) == message_.type && FrameHeader::request(f) == message_.request &&
               FrameHeader::flags(f) == message_.flags;
    }
    // Payload bytes fragment `index` (> 0) carries.
    std::size_t chunk(std::uint32_t index) const {
        if (index + 1 < expected_)
            return next_payload_bytes;
        return length_ - first_payload_bytes - (std::size_t{expected_} - 2) * next_payload_bytes;
    }

    std::span<std::byte> buffer_;
    Frame first_{};
    Incoming message_{};
    std::size_t length_ = 0;
    std::size_t filled_ = 0;
    std::uint32_t expected_ = 0; // fragments of the message in progress; 0 when idle
    std::uint32_t received_ = 0;
};

namespace detail {
struct ExampleRecord {
    std::uint32_t a = 0;
    Str s;
    Capability c;
    AOS_IPC_MESSAGE(1, a, s, c)
};
static_assert(Message<ExampleRecord> && capability_count<ExampleRecord> == 1);
static_assert(Record<ErrorReply> && !Message<ErrorReply>);
} // namespace detail

} // namespace aos::ipc
