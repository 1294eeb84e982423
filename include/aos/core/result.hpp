// aos::Result<T>: a value or an error code, shaped like std::expected, with no exceptions.
//
//   aos::Result<Block> take(std::size_t n) {
//       if (n == 0) return aos::error(aos::Errc::zero_size);
//       auto base = AOS_TRY(reserve(n));      // returns the error to our caller if reserve failed
//       return Block{base, n};
//   }
#pragma once

#include <aos/core/errc.hpp>
#include <aos/core/hooks.hpp>

#include <new>
#include <type_traits>
#include <utility>

namespace aos {

// The error half of a Result, as `return aos::error(Errc::...)` builds it.
template <class E>
struct Error {
    E code;
};

template <class E>
constexpr Error<E> error(E code) {
    return Error<E>{code};
}

// Success of a Result<void>: `return aos::ok();`.
struct Ok {};
constexpr Ok ok() {
    return {};
}

template <class T, class E = Errc>
class [[nodiscard]] Result {
    static_assert(std::is_object_v<T> && !std::is_array_v<T>, "Result holds objects, not references");

public:
    using value_type = T;
    using error_type = E;

    Result(const T& v)
        requires std::is_copy_constructible_v<T>
        : has_(true) {
        ::new (static_cast<void*>(&value_)) decltype(value_)(v);
    }
    Result(T&& v) : has_(true) { ::new (static_cast<void*>(&value_)) decltype(value_)(std::move(v)); }
    template <class U>
        requires(std::is_constructible_v<T, U &&> && !std::is_same_v<std::remove_cvref_t<U>, T> &&
                 !std::is_same_v<std::remove_cvref_t<U>, Result> &&
                 !std::is_same_v<std::remove_cvref_t<U>, Error<E>>)
    Result(U&& v) : has_(true) {
        ::new (static_cast<void*>(&value_)) decltype(value_)(std::forward<U>(v));
    }
    Result(Error<E> e) : has_(false) { ::new (static_cast<void*>(&error_)) decltype(error_)(e.code); }

    Result(const Result& o)
        requires std::is_copy_constructible_v<T>
        : has_(o.has_) {
        if (has_)
            ::new (static_cast<void*>(&value_)) decltype(value_)(o.value_);
        else
            ::new (static_cast<void*>(&error_)) decltype(error_)(o.error_);
    }
    Result(Result&& o) noexcept(std::is_nothrow_move_constructible_v<T>) : has_(o.has_) {
        if (has_)
            ::new (static_cast<void*>(&value_)) decltype(value_)(std::move(o.value_));
        else
            ::new (static_cast<void*>(&error_)) decltype(error_)(o.error_);
    }
    Result& operator=(const Result& o)
        requires std::is_copy_constructible_v<T>
    {
        if (this != &o) {
            destroy();
            has_ = o.has_;
            if (has_)
                ::new (static_cast<void*>(&value_)) decltype(value_)(o.value_);
            else
                ::new (static_cast<void*>(&error_)) decltype(error_)(o.error_);
        }
        return *this;
    }
    Result& operator=(Result&& o) noexcept(std::is_nothrow_move_constructible_v<T>) {
        if (this != &o) {
            destroy();
            has_ = o.has_;
            if (has_)
                ::new (static_cast<void*>(&value_)) decltype(value_)(std::move(o.value_));
            else
                ::new (static_cast<void*>(&error_)) decltype(error_)(o.error_);
        }
        return *this;
    }
    ~Result() { destroy(); }

    constexpr bool has_value() const { return has_; }
    constexpr explicit operator bool() const { return has_; }

    // value() on an error is a bug in the caller: it panics through the embedder's hook.
    constexpr T& value() & {
        check_value();
        return value_;
    }
    constexpr const T& value() const& {
        check_value();
        return value_;
    }
    constexpr T&& value() && {
        check_value();
        return std::move(value_);
    }
    constexpr E error() const {
        if (has_) [[unlikely]]
            core::panic("Result::error() on a value");
        return error_;
    }
    template <class U>
    constexpr T value_or(U&& fallback) const& {
        return has_ ? value_ : static_cast<T>(std::forward<U>(fallback));
    }

    constexpr T& operator*() & { return value(); }
    constexpr const T& operator*() const& { return value(); }
    constexpr T&& operator*() && { return std::move(*this).value(); }
    constexpr T* operator->() { return &value(); }
    constexpr const T* operator->() const { return &value(); }

private:
    constexpr void check_value() const {
        if (!has_) [[unlikely]]
            core::panic("Result::value() on an error");
    }
    void destroy() {
        if (has_)
            value_.~T();
    }

    union {
        T value_;
        E error_;
    };
    bool has_;
};

template <class E>
class [[nodiscard]] Result<void, E> {
public:
    using value_type = void;
    using error_type = E;

    constexpr Result() = default;
    constexpr Result(Ok) {}
    constexpr Result(Error<E> e) : has_(false), error_(e.code) {}

    constexpr bool has_value() const { return has_; }
    constexpr explicit operator bool() const { return has_; }
    constexpr void value() const {
        if (!has_) [[unlikely]]
            core::panic("Result::value() on an error");
    }
    constexpr void operator*() const { value(); }
    constexpr E error() const {
        if (has_) [[unlikely]]
            core::panic("Result::error() on a value");
        return error_;
    }

private:
    bool has_ = true;
    E error_{};
};

namespace detail {
template <class R>
constexpr auto propagate(const R& r) {
    return Error<typename std::remove_cvref_t<R>::error_type>{r.error()};
}
} // namespace detail

} // namespace aos

// Evaluates a Result expression; on error returns that error from the enclosing function, otherwise yields
// the value (or nothing, for Result<void>). Uses a statement expression, which clang and GCC both support.
#define AOS_TRY(expr)                                                                                        \
    __extension__({                                                                                          \
        auto&& aos_try_result_ = (expr);                                                                     \
        if (!aos_try_result_) [[unlikely]]                                                                   \
            return ::aos::detail::propagate(aos_try_result_);                                                \
        *std::move(aos_try_result_);                                                                         \
    })
