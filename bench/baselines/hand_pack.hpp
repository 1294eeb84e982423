// Baseline for bench/ipc_bench.cpp (our own code): the protocol messages packed by hand, one word per
// field as course code does it — a header word, then each integer in its own word, strings and blobs as a
// length word and their bytes spread over as many frames as needed. No validation beyond not overrunning
// (the message unpackers check the type id).
// One packer per message shape; bench/ipc_bench.cpp maps each protocol message to its shape.
#pragma once

#include <aos/ipc/frame.hpp>
#include <aos/proto/messages.hpp>

#include <cstddef>
#include <cstdint>

namespace aos_bench::hand {

using aos::ipc::Frame;

// Frames out; returns how many were written.
struct Out {
    Frame* frames;
    std::size_t count = 0;
};

inline std::uint64_t header(std::uint16_t type, std::size_t words) {
    return type | (std::uint64_t{static_cast<std::uint32_t>(words)} << 32);
}

// Fixed fields: up to 7 words after the header.
inline void pack_words(Out& out, std::uint16_t type, const std::uint64_t* w, std::size_t n) {
    Frame& f = out.frames[out.count++];
    f.words[0] = header(type, n);
    for (std::size_t i = 0; i < n; ++i)
        f.words[1 + i] = w[i];
    for (std::size_t i = n; i < 7; ++i)
        f.words[1 + i] = 0;
}

// Fixed words, then a byte string continued over further frames (each frame: a header word + 56 bytes).
inline void pack_words_and_bytes(Out& out, std::uint16_t type, const std::uint64_t* w, std::size_t n,
                                 const void* bytes, std::size_t length) {
    Frame* f = &out.frames[out.count++];
    f->words = {};
    f->words[0] = header(type, n + 1);
    for (std::size_t i = 0; i < n; ++i)
        f->words[1 + i] = w[i];
    f->words[1 + n] = length;
    std::size_t pos = (2 + n) * 8;
    auto* src = static_cast<const unsigned char*>(bytes);
    while (length != 0) {
        if (pos == 64) {
            f = &out.frames[out.count++];
            f->words = {};
            f->words[0] = header(type, 0) | (std::uint64_t{1} << 63);
            pos = 8;
        }
        std::size_t k = 64 - pos < length ? 64 - pos : length;
        __builtin_memcpy(reinterpret_cast<unsigned char*>(f->words.data()) + pos, src, k);
        pos += k;
        src += k;
        length -= k;
    }
}

// Unpacks what pack_words_and_bytes wrote: the fixed words into `w`, the bytes into `buffer`.
// Returns the byte length, or SIZE_MAX if it does not fit `buffer`.
inline std::size_t unpack_words_and_bytes(const Frame* frames, std::uint64_t* w, std::size_t n,
                                          unsigned char* buffer, std::size_t capacity) {
    for (std::size_t i = 0; i < n; ++i)
        w[i] = frames[0].words[1 + i];
    std::size_t length = frames[0].words[1 + n];
    if (length > capacity)
        return SIZE_MAX;
    std::size_t pos = (2 + n) * 8, done = 0;
    const Frame* f = frames;
    while (done < length) {
        if (pos == 64) {
            ++f;
            pos = 8;
        }
        std::size_t k = 64 - pos < length - done ? 64 - pos : length - done;
        __builtin_memcpy(buffer + done, reinterpret_cast<const unsigned char*>(f->words.data()) + pos, k);
        pos += k;
        done += k;
    }
    return length;
}

} // namespace aos_bench::hand
