// Baseline for bench/ipc_bench.cpp (our own code): every protocol message packed and unpacked by hand with
// the helpers of hand_pack.hpp, one word per field; unpack checks the type id, as any receiver must.
// Hand<M>::pack(m, out) / Hand<M>::unpack(frames, m, buf).
#pragma once

#include "hand_pack.hpp"

#include <aos/proto/messages.hpp>

namespace aos_bench::hand {

namespace p = aos::proto;
using W = std::uint64_t;

template <class M>
struct Hand;

// The least a hand-written receiver checks: that the frame is the message it expects (its type id).
template <class M>
inline bool is_type(const Frame* f) {
    return (f[0].words[0] & 0xffff) == M::type_id;
}

// Messages without fields.
template <class M>
struct HandEmpty {
    static void pack(const M&, Out& out) { pack_words(out, M::type_id, nullptr, 0); }
    static bool unpack(const Frame* f, M&, unsigned char*, std::size_t) { return is_type<M>(f); }
};
template <>
struct Hand<p::Ack> : HandEmpty<p::Ack> {};
template <>
struct Hand<p::Getchar> : HandEmpty<p::Getchar> {};
template <>
struct Hand<p::ProcessList> : HandEmpty<p::ProcessList> {};

// One integer field, by hand for each message.
#define AOS_BENCH_HAND_ONE(Msg, field, Type)                                                                 \
    template <>                                                                                              \
    struct Hand<Msg> {                                                                                       \
        static void pack(const Msg& m, Out& out) {                                                           \
            W w[1] = {static_cast<W>(m.field)};                                                              \
            pack_words(out, Msg::type_id, w, 1);                                                             \
        }                                                                                                    \
        static bool unpack(const Frame* f, Msg& m, unsigned char*, std::size_t) {                            \
            m.field = static_cast<Type>(f[0].words[1]);                                                      \
            return is_type<Msg>(f);                                                                          \
        }                                                                                                    \
    };
AOS_BENCH_HAND_ONE(p::HandshakeReply, pid, p::Pid)
AOS_BENCH_HAND_ONE(p::GetcharReply, c, char)
AOS_BENCH_HAND_ONE(p::SpawnReply, pid, p::Pid)
AOS_BENCH_HAND_ONE(p::PidReply, pid, p::Pid)
AOS_BENCH_HAND_ONE(p::WaitReply, exit_status, std::int32_t)
AOS_BENCH_HAND_ONE(p::KillAllReply, killed, std::uint32_t)
AOS_BENCH_HAND_ONE(p::SendNumber, number, std::uint64_t)
AOS_BENCH_HAND_ONE(p::Putchar, c, char)
AOS_BENCH_HAND_ONE(p::Status, pid, p::Pid)
AOS_BENCH_HAND_ONE(p::NameByPid, pid, p::Pid)
AOS_BENCH_HAND_ONE(p::Suspend, pid, p::Pid)
AOS_BENCH_HAND_ONE(p::Resume, pid, p::Pid)
AOS_BENCH_HAND_ONE(p::Wait, pid, p::Pid)
AOS_BENCH_HAND_ONE(p::Exit, status, std::int32_t)
AOS_BENCH_HAND_ONE(p::Kill, pid, p::Pid)
#undef AOS_BENCH_HAND_ONE

// One string field.
#define AOS_BENCH_HAND_STR(Msg, field)                                                                       \
    template <>                                                                                              \
    struct Hand<Msg> {                                                                                       \
        static void pack(const Msg& m, Out& out) {                                                           \
            pack_words_and_bytes(out, Msg::type_id, nullptr, 0, m.field.data, m.field.size);                 \
        }                                                                                                    \
        static bool unpack(const Frame* f, Msg& m, unsigned char* buf, std::size_t cap) {                    \
            std::size_t n = unpack_words_and_bytes(f, nullptr, 0, buf, cap);                                 \
            m.field = {reinterpret_cast<const char*>(buf), n};                                               \
            return n != SIZE_MAX && is_type<Msg>(f);                                                         \
        }                                                                                                    \
    };
AOS_BENCH_HAND_STR(p::SendString, text)
AOS_BENCH_HAND_STR(p::NameReply, name)
AOS_BENCH_HAND_STR(p::PidByName, name)
AOS_BENCH_HAND_STR(p::KillAll, name)
#undef AOS_BENCH_HAND_STR

// A string and a core.
#define AOS_BENCH_HAND_SPAWN(Msg, field)                                                                     \
    template <>                                                                                              \
    struct Hand<Msg> {                                                                                       \
        static void pack(const Msg& m, Out& out) {                                                           \
            W w[1] = {m.core};                                                                               \
            pack_words_and_bytes(out, Msg::type_id, w, 1, m.field.data, m.field.size);                       \
        }                                                                                                    \
        static bool unpack(const Frame* f, Msg& m, unsigned char* buf, std::size_t cap) {                    \
            W w[1];                                                                                          \
            std::size_t n = unpack_words_and_bytes(f, w, 1, buf, cap);                                       \
            m.core = static_cast<p::CoreId>(w[0]);                                                           \
            m.field = {reinterpret_cast<const char*>(buf), n};                                               \
            return n != SIZE_MAX && is_type<Msg>(f);                                                         \
        }                                                                                                    \
    };
AOS_BENCH_HAND_SPAWN(p::SpawnCmdline, cmdline)
AOS_BENCH_HAND_SPAWN(p::SpawnDefault, name)
#undef AOS_BENCH_HAND_SPAWN

// Capabilities travel beside the frame in both designs; the hand-packer copies the two words in band.
template <>
struct Hand<p::Handshake> {
    static void pack(const p::Handshake& m, Out& out) {
        W w[2] = {m.endpoint.ref, m.endpoint.size};
        pack_words(out, p::Handshake::type_id, w, 2);
    }
    static bool unpack(const Frame* f, p::Handshake& m, unsigned char*, std::size_t) {
        m.endpoint = {f[0].words[1], f[0].words[2]};
        return is_type<p::Handshake>(f);
    }
};
template <>
struct Hand<p::RamReply> {
    static void pack(const p::RamReply& m, Out& out) {
        W w[3] = {m.ram.ref, m.ram.size, m.size};
        pack_words(out, p::RamReply::type_id, w, 3);
    }
    static bool unpack(const Frame* f, p::RamReply& m, unsigned char*, std::size_t) {
        m.ram = {f[0].words[1], f[0].words[2]};
        m.size = f[0].words[3];
        return is_type<p::RamReply>(f);
    }
};
template <>
struct Hand<p::RamRequest> {
    static void pack(const p::RamRequest& m, Out& out) {
        W w[2] = {m.size, m.alignment};
        pack_words(out, p::RamRequest::type_id, w, 2);
    }
    static bool unpack(const Frame* f, p::RamRequest& m, unsigned char*, std::size_t) {
        m.size = f[0].words[1];
        m.alignment = f[0].words[2];
        return is_type<p::RamRequest>(f);
    }
};
template <>
struct Hand<p::PassFrame> {
    static void pack(const p::PassFrame& m, Out& out) {
        W w[3] = {m.base, m.size, m.from_core};
        pack_words(out, p::PassFrame::type_id, w, 3);
    }
    static bool unpack(const Frame* f, p::PassFrame& m, unsigned char*, std::size_t) {
        m.base = f[0].words[1];
        m.size = f[0].words[2];
        m.from_core = static_cast<p::CoreId>(f[0].words[3]);
        return is_type<p::PassFrame>(f);
    }
};
template <>
struct Hand<p::SpawnWithCaps> {
    static void pack(const p::SpawnWithCaps& m, Out& out) {
        W w[3] = {m.core, m.caps.ref, m.caps.size};
        pack_words_and_bytes(out, p::SpawnWithCaps::type_id, w, 3, m.cmdline.data, m.cmdline.size);
    }
    static bool unpack(const Frame* f, p::SpawnWithCaps& m, unsigned char* buf, std::size_t cap) {
        W w[3];
        std::size_t n = unpack_words_and_bytes(f, w, 3, buf, cap);
        m.core = static_cast<p::CoreId>(w[0]);
        m.caps = {w[1], w[2]};
        m.cmdline = {reinterpret_cast<const char*>(buf), n};
        return n != SIZE_MAX && is_type<p::SpawnWithCaps>(f);
    }
};
template <>
struct Hand<p::ProcessListReply> {
    static void pack(const p::ProcessListReply& m, Out& out) {
        W w[1] = {m.count};
        pack_words_and_bytes(out, p::ProcessListReply::type_id, w, 1, m.entries.data(), m.entries.size());
    }
    static bool unpack(const Frame* f, p::ProcessListReply& m, unsigned char* buf, std::size_t cap) {
        W w[1];
        std::size_t n = unpack_words_and_bytes(f, w, 1, buf, cap);
        m.count = static_cast<std::uint32_t>(w[0]);
        m.entries = {reinterpret_cast<const std::byte*>(buf), n};
        return n != SIZE_MAX && is_type<p::ProcessListReply>(f);
    }
};
template <>
struct Hand<p::StatusReply> {
    static void pack(const p::StatusReply& m, Out& out) {
        W w[5] = {m.pid, static_cast<W>(m.state), m.core, static_cast<W>(m.exit_status), m.ram_bytes};
        pack_words_and_bytes(out, p::StatusReply::type_id, w, 5, m.name.data, m.name.size);
    }
    static bool unpack(const Frame* f, p::StatusReply& m, unsigned char* buf, std::size_t cap) {
        W w[5];
        std::size_t n = unpack_words_and_bytes(f, w, 5, buf, cap);
        m.pid = static_cast<p::Pid>(w[0]);
        m.state = static_cast<p::ProcessState>(w[1]);
        m.core = static_cast<p::CoreId>(w[2]);
        m.exit_status = static_cast<std::int32_t>(w[3]);
        m.ram_bytes = w[4];
        m.name = {reinterpret_cast<const char*>(buf), n};
        return n != SIZE_MAX && is_type<p::StatusReply>(f);
    }
};

} // namespace aos_bench::hand
