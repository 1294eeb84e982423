// RPC over any Transport: Client<T>::call(request) -> Result<Response>, with request ids so many calls may
// be outstanding (replies matched in O(1) by slot), and Server<T> with a dispatch table from type id to
// handler, where a handler may answer now or later (deferred replies, e.g. `wait`).
//
//   struct Ping { std::uint64_t n = 0; using Response = Pong; AOS_IPC_MESSAGE(7, n) };
//   aos::ipc::Client<Transport> client{transport};
//   Pong p = AOS_TRY(client.call(Ping{1}));                 // replies without strings or blobs
//   Name n = AOS_TRY(client.call(GetName{pid}, buffer));    // views in n point into `buffer`
//
//   aos::ipc::Server<Transport> server{transport, request_buffer};
//   auto ping = [](const Ping& p, aos::ipc::ReplyToken<Ping>) -> aos::Result<std::optional<Pong>> {
//       return std::optional<Pong>{Pong{p.n + 1}}; };    // std::nullopt: reply later with server.reply()
//   AOS_TRY(server.on<Ping>(ping));
//   while (true) (void)server.poll();
#pragma once

#include <aos/core/errc.hpp>
#include <aos/core/lock.hpp>
#include <aos/core/result.hpp>
#include <aos/ipc/frame.hpp>
#include <aos/ipc/marshal.hpp>
#include <aos/ipc/spsc_ring.hpp>
#include <aos/ipc/transport.hpp>

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <type_traits>

namespace aos::ipc {

// A request: a message that names its response message type.
template <class Req>
concept Request = Message<Req> && Message<typename Req::Response>;

namespace detail {
struct HasViews {
    template <class... F>
    constexpr std::bool_constant<(Sized<std::remove_cvref_t<F>> || ...)> operator()(const F&...) const {
        return {};
    }
};
} // namespace detail

// Whether a record has string or blob fields (whose decoded views need a caller's buffer).
template <Record R>
inline constexpr bool has_views = decltype(std::declval<const R&>().fields(detail::HasViews{}))::value;

// The payload size of a record without views (its encoded size does not depend on its contents).
template <Record R>
    requires(!has_views<R>)
inline constexpr std::size_t fixed_payload_size = payload_size(R{});

// A client of one channel. `L` serializes threads (NullLock for a single-threaded program); `W` is how a
// caller waits for its reply (init's threads: spin then yield to the thread scheduler). Any waiting caller
// pumps the transport, so every reply is delivered by whichever caller holds the receive lock; sends use a
// separate lock so a long request does not stop replies from being received.
template <Transport T, core::Lock L = core::NullLock, WaitPolicy W = SpinWait,
          std::size_t MaxOutstanding = 16>
class Client {
    static_assert(std::has_single_bit(MaxOutstanding) && MaxOutstanding <= 256,
                  "request ids hold the slot in their low bits and a generation in the rest");
    static constexpr unsigned slot_bits = std::countr_zero(MaxOutstanding);

public:
    explicit Client(T& transport, W wait = {}) : transport_(transport), wait_(wait) {
        for (std::size_t i = 0; i < MaxOutstanding; ++i)
            free_[i] = static_cast<std::uint8_t>(i);
        free_count_ = MaxOutstanding;
    }

    // Sends `req` and waits for its reply. Views in the reply point into `reply_buffer` (which must hold
    // the reply's payload: Errc::out_of_range otherwise). Errors: the server's error reply, Errc::malformed
    // for a reply that is not a `Req::Response`, the transport's error.
    template <Request Req>
    Result<typename Req::Response> call(const Req& req, std::span<std::byte> reply_buffer) {
        using Resp = typename Req::Response;
        std::size_t slot = AOS_TRY(acquire_slot(reply_buffer));
        RequestId id = id_of(slot);
        Result<void> sent = ok();
        {
            core::LockGuard guard(send_lock_);
            sent = encode(req, id, 0,
                          [this](const Frame& f, const Capability* c) { return transport_.send(f, c); });
        }
        if (!sent) {
            core::LockGuard guard(lock_);
            release(slot);
            return error(sent.error());
        }
        Slot done = AOS_TRY(await(slot));
        if (done.status != Errc{})
            return error(done.status);
        if (done.reply.is_error())
            return error(error_of(done.reply));
        return decode<Resp>(done.reply);
    }

    // For replies without strings or blobs: the payload fits a buffer on the stack.
    template <Request Req>
        requires(!has_views<typename Req::Response>)
    Result<typename Req::Response> call(const Req& req) {
        std::array<std::byte, fixed_payload_size<typename Req::Response> + sizeof(ErrorReply)> buffer{};
        return call(req, std::span<std::byte>(buffer));
    }

    // Replies whose caller was gone (or never existed), and malformed frames that belonged to no call.
    std::uint64_t strays() {
        core::LockGuard guard(lock_); // counted by whichever caller pumps
        return strays_;
    }

    bool check_invariants() {
        core::LockGuard guard(lock_);
        std::size_t in_use = 0;
        for (const auto& s : slots_)
            in_use += s.state != State::free ? 1 : 0;
        return free_count_ <= MaxOutstanding && in_use + free_count_ == MaxOutstanding;
    }

private:
    enum class State : std::uint8_t { free, waiting, done };
    struct Slot {
        State state = State::free;
        std::uint16_t generation = 0;
        std::span<std::byte> buffer;
        Incoming reply{};
        Errc status{};
    };

    RequestId id_of(std::size_t slot) const {
        return static_cast<RequestId>((std::uint32_t{slots_[slot].generation} << slot_bits) | slot);
    }

    Result<std::size_t> acquire_slot(std::span<std::byte> buffer) {
        W wait = wait_;
        for (unsigned attempt = 0;; ++attempt) {
            bool received = false;
            {
                core::LockGuard guard(lock_);
                if (broken_ != Errc{})
                    return error(broken_);
                if (free_count_ != 0) {
                    std::size_t slot = free_[--free_count_];
                    Slot& s = slots_[slot];
                    s.state = State::waiting;
                    s.generation = static_cast<std::uint16_t>((s.generation + 1) & generation_mask);
                    s.buffer = buffer;
                    s.status = Errc{};
                    return slot;
                }
                received = pump_locked();
            }
            if (!received)
                wait.wait(attempt);
        }
    }

    void release(std::size_t slot) {
        slots_[slot].state = State::free;
        slots_[slot].buffer = {};
        free_[free_count_++] = static_cast<std::uint8_t>(slot);
    }

    Result<Slot> await(std::size_t slot) {
        W wait = wait_;
        for (unsigned attempt = 0;; ++attempt) {
            bool received = false;
            {
                core::LockGuard guard(lock_);
                if (slots_[slot].state == State::done) {
                    Slot s = slots_[slot];
                    release(slot);
                    return s;
                }
                if (broken_ != Errc{}) {
                    release(slot);
                    return error(broken_);
                }
                received = pump_locked();
            }
            // Only when nothing came: a wait policy may block until the next frame, and the frame just
            // routed may have been the one this caller needs.
            if (!received)
                wait.wait(attempt);
        }
    }

    // Receives at most one frame and routes it (called with lock_ held); false when none was there.
    bool pump_locked() {
        Frame f{};
        Capability cap{};
        auto r = transport_.try_recv(f, cap);
        if (!r) {
            if (r.error() != Errc::would_block)
                broken_ = r.error(); // the channel is unusable: every caller learns why
            return false;
        }
        if (FrameHeader::fragment(f) == 0) {
            if (!rx_.idle()) {
                // The previous reply ended early. Its caller learns so now, and the new reply must not be
                // reassembled into that caller's buffer, which it may free as soon as it returns.
                rx_.reset();
                if (current_)
                    deliver_error(*current_, Errc::truncated);
                else
                    ++strays_;
            }
            current_ = find_waiting(FrameHeader::request(f), f);
            if (is_whole_message(f)) {
                // Most replies are one frame: validated in place, copied once, into the caller's buffer.
                auto whole = whole_message(f, cap);
                if (whole)
                    complete(*whole);
                else if (current_)
                    deliver_error(*current_, whole.error());
                else
                    ++strays_;
                current_.reset();
                return true;
            }
            (void)rx_.set_buffer(current_ ? slots_[*current_].buffer : std::span<std::byte>{});
        }
        auto pushed = rx_.push(f, cap);
        if (!pushed) {
            if (current_) {
                deliver_error(*current_, pushed.error());
                current_.reset();
            } else {
                ++strays_;
            }
            return true;
        }
        if (!*pushed)
            return true;
        complete(rx_.message());
        current_.reset();
        return true;
    }

    // Hands a complete reply to the caller of slot current_ (or counts it as a stray).
    void complete(Incoming in) {
        if (!current_) {
            ++strays_;
            return;
        }
        Slot& s = slots_[*current_];
        if (in.payload.data() != s.buffer.data()) {
            // A one-frame reply lives in the received frame: move it to its caller.
            if (in.payload.size() > s.buffer.size()) {
                deliver_error(static_cast<std::size_t>(&s - slots_.data()), Errc::out_of_range);
                return;
            }
            if (!in.payload.empty())
                __builtin_memcpy(s.buffer.data(), in.payload.data(), in.payload.size());
            in.payload = {s.buffer.data(), in.payload.size()};
        }
        s.reply = in;
        s.state = State::done;
    }

    std::optional<std::size_t> find_waiting(RequestId id, const Frame& f) const {
        std::size_t slot = id & (MaxOutstanding - 1);
        const Slot& s = slots_[slot];
        if (s.state != State::waiting || s.generation != (id >> slot_bits) ||
            (FrameHeader::flags(f) & FrameHeader::flag_response) == 0)
            return std::nullopt;
        return slot;
    }

    void deliver_error(std::size_t slot, Errc e) {
        slots_[slot].status = e;
        slots_[slot].state = State::done;
    }

    static constexpr std::uint32_t generation_mask =
        (std::uint32_t{1} << (std::numeric_limits<RequestId>::digits - slot_bits)) - 1;

    T& transport_;
    W wait_;
    L lock_;      // slots, reassembly, receiving
    L send_lock_; // keeps one request's fragments together
    std::array<Slot, MaxOutstanding> slots_{};
    std::array<std::uint8_t, MaxOutstanding> free_{};
    std::size_t free_count_ = 0;
    Reassembler rx_;
    std::optional<std::size_t> current_; // the slot the message being reassembled belongs to
    std::uint64_t strays_ = 0;
    Errc broken_{};
};

// Identifies a request to answer, possibly after the handler returned (a deferred reply).
template <Request Req>
struct ReplyToken {
    RequestId request = 0;
};

// A server of one channel. Handlers are objects the embedder owns, registered per request type:
// `handler(const Req&, ReplyToken<Req>) -> Result<std::optional<Req::Response>>` — a response is sent at
// once, std::nullopt defers it (the handler keeps the token and calls reply() later), an error is sent as
// an error reply. Type ids index the table directly (O(1)), so they must be below MaxTypes.
template <Transport T, std::size_t MaxTypes = 64>
class Server {
public:
    Server(T& transport, std::span<std::byte> request_buffer) : transport_(transport), rx_(request_buffer) {}

    // Errc::out_of_range if Req's type id is not below MaxTypes, Errc::already_exists if it has a handler.
    template <Request Req, class Handler>
    Result<void> on(Handler& handler) {
        static_assert(std::is_invocable_r_v<Result<std::optional<typename Req::Response>>, Handler&,
                                            const Req&, ReplyToken<Req>>,
                      "handler(const Req&, ReplyToken<Req>) -> Result<std::optional<Req::Response>>");
        if (Req::type_id >= MaxTypes)
            return error(Errc::out_of_range);
        if (table_[Req::type_id].fn != nullptr)
            return error(Errc::already_exists);
        Entry e{&handler, &invoke<Req, Handler>, nullptr};
        if constexpr (one_frame_fixed<Req>)
            e.whole = &invoke_whole<Req, Handler>;
        table_[Req::type_id] = e;
        return ok();
    }

    // Receives one frame; true when it completed a request that was dispatched. Errors describe a frame
    // that was dropped (the reassembler's errors); a complete but undecodable request, or one of an unknown
    // type, is answered with an error reply (Errc::unsupported for an unknown type) instead.
    Result<bool> poll() {
        Frame f{};
        Capability cap{};
        auto r = transport_.try_recv(f, cap);
        if (!r)
            return r.error() == Errc::would_block ? Result<bool>(false) : Result<bool>(error(r.error()));
        // Most requests are one frame of fixed layout: checked against their type's compile-time shape and
        // dispatched straight from the frame. Any frame that check refuses takes the general path below,
        // which reports exactly what is wrong with it.
        TypeId type = FrameHeader::type(f);
        if (type < MaxTypes && table_[type].whole != nullptr &&
            (FrameHeader::flags(f) & FrameHeader::flag_response) == 0) {
            Result<bool> done = false;
            if (table_[type].whole(table_[type].handler, *this, f, cap, done))
                return done;
        }
        if (is_whole_message(f)) {
            // Most requests are one frame: validated and dispatched in place, without the reassembler. One
            // arriving mid-message means the client gave up on the last request (its reply is lost with it).
            rx_.reset();
            return dispatch(AOS_TRY(whole_message(f, cap)));
        }
        Result<bool> pushed = rx_.push(f, cap);
        if (!pushed) {
            // A request that cannot be taken in (longer than the buffer, say) is answered with the error
            // when its first fragment shows it, so its caller is not left waiting; the rest of its fragments
            // are dropped as they come.
            if (FrameHeader::fragment(f) == 0 && (FrameHeader::flags(f) & FrameHeader::flag_response) == 0)
                (void)encode_error(FrameHeader::type(f), FrameHeader::request(f), pushed.error(), sink());
            return error(pushed.error());
        }
        if (!*pushed)
            return false;
        return dispatch(rx_.message());
    }

    // Every table entry is empty or complete; the reassembler is consistent.
    bool check_invariants() const {
        for (const auto& e : table_) {
            if ((e.handler == nullptr) != (e.fn == nullptr))
                return false;
        }
        return rx_.check_invariants();
    }

private:
    Result<bool> dispatch(const Incoming& in) {
        if (in.is_response())
            return error(Errc::malformed); // servers take requests only
        if (in.type >= MaxTypes || table_[in.type].fn == nullptr) {
            AOS_TRY(encode_error(in.type, in.request, Errc::unsupported, sink()));
            return true;
        }
        AOS_TRY(table_[in.type].fn(table_[in.type].handler, *this, in));
        return true;
    }

public:
    template <Request Req>
    Result<void> reply(ReplyToken<Req> token, const typename Req::Response& response) {
        return encode(response, token.request, FrameHeader::flag_response, sink());
    }
    template <Request Req>
    Result<void> reply_error(ReplyToken<Req> token, Errc code) {
        return encode_error(Req::type_id, token.request, code, sink());
    }

private:
    struct Entry {
        void* handler = nullptr;
        Result<void> (*fn)(void*, Server&, const Incoming&) = nullptr;
        // For one_frame_fixed requests: dispatches `f` if it is a valid whole request (else false).
        bool (*whole)(void*, Server&, const Frame&, const Capability&, Result<bool>&) = nullptr;
    };

    auto sink() {
        return [this](const Frame& f, const Capability* c) { return transport_.send(f, c); };
    }

    template <Request Req, class Handler>
    static Result<void> invoke(void* handler, Server& self, const Incoming& in) {
        ReplyToken<Req> token{in.request};
        auto req = decode<Req>(in);
        if (!req)
            return self.reply_error(token, req.error());
        return answer<Req, Handler>(handler, self, *req, token);
    }

    template <Request Req, class Handler>
    static bool invoke_whole(void* handler, Server& self, const Frame& f, const Capability& cap,
                             Result<bool>& done) {
        Req req{};
        if (!detail::decode_one_frame(f, cap, req))
            return false;
        // As for any whole message: one arriving mid-message means the client gave up on the last request.
        self.rx_.reset();
        auto sent = answer<Req, Handler>(handler, self, req, ReplyToken<Req>{FrameHeader::request(f)});
        done = sent ? Result<bool>(true) : Result<bool>(error(sent.error()));
        return true;
    }

    template <Request Req, class Handler>
    static Result<void> answer(void* handler, Server& self, const Req& req, ReplyToken<Req> token) {
        auto answer = (*static_cast<Handler*>(handler))(req, token);
        if (!answer)
            return self.reply_error(token, answer.error());
        if (answer->has_value())
            return self.reply(token, **answer);
        return ok(); // deferred: the handler replies later
    }

    T& transport_;
    Reassembler rx_;
    std::array<Entry, MaxTypes> table_{};
};

namespace detail {
struct ExamplePong {
    std::uint64_t n = 0;
    AOS_IPC_MESSAGE(65, n)
};
struct ExamplePing {
    std::uint64_t n = 0;
    using Response = ExamplePong;
    AOS_IPC_MESSAGE(1, n)
};
static_assert(Request<ExamplePing> && !has_views<ExamplePong> && fixed_payload_size<ExamplePong> == 8);
static_assert(core::Lock<core::SpinLock> && WaitPolicy<SpinWait> && Transport<LoopbackTransport>);
} // namespace detail

} // namespace aos::ipc
