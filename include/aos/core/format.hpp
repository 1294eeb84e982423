// Type-safe, allocation-free text formatting for consoles and logs: `{}` for a value, `{:x}` for 0x-prefixed
// hexadecimal, `{:016x}` zero-padded to 16 digits, `{:d}` decimal, `{:8}` a string padded to 8 columns. A
// sink only needs `put(char)`.
//
//   aos::core::FixedString<128> line;
//   aos::core::format_to(line, "RAM [{:x}, {:x}) {} MiB\n", base, end, size >> 20);
//   aos_hook_log(line.c_str());
#pragma once

#include <aos/core/errc.hpp>
#include <aos/core/string_ref.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace aos::core {

template <class S>
concept CharSink = requires(S& s, char c) { s.put(c); };

// A NUL-terminated buffer that truncates silently when full (formatting must never fail in a panic path).
template <std::size_t N>
class FixedString {
    static_assert(N >= 1);

public:
    void put(char c) {
        if (len_ + 1 < N)
            buf_[len_++] = c;
        buf_[len_] = '\0';
    }
    const char* c_str() const { return buf_; }
    std::size_t size() const { return len_; }
    bool truncated_at_capacity() const { return len_ + 1 == N; }
    void clear() {
        len_ = 0;
        buf_[0] = '\0';
    }

private:
    char buf_[N] = {};
    std::size_t len_ = 0;
};

struct FormatSpec {
    bool hex = false;
    bool zero_pad = false;
    unsigned width = 0;
};

namespace detail {

template <CharSink S>
void put_str(S& s, const char* str) {
    if (str == nullptr)
        str = "(null)";
    while (*str != '\0')
        s.put(*str++);
}

template <CharSink S>
void put_unsigned(S& s, std::uint64_t v, const FormatSpec& spec) {
    char digits[20];
    unsigned n = 0;
    unsigned base = spec.hex ? 16 : 10;
    do {
        unsigned d = static_cast<unsigned>(v % base);
        digits[n++] = static_cast<char>(d < 10 ? '0' + d : 'a' + (d - 10));
        v /= base;
    } while (v != 0);
    if (spec.hex) {
        s.put('0');
        s.put('x');
    }
    for (unsigned i = n; i < spec.width; ++i)
        s.put(spec.zero_pad ? '0' : ' ');
    while (n > 0)
        s.put(digits[--n]);
}

template <CharSink S, class T>
void put_value(S& s, const T& v, const FormatSpec& spec) {
    if constexpr (std::is_same_v<T, bool>) {
        put_str(s, v ? "true" : "false");
    } else if constexpr (std::is_same_v<T, char>) {
        s.put(v);
    } else if constexpr (std::is_enum_v<T> && std::is_same_v<T, Errc>) {
        put_str(s, to_string(v));
    } else if constexpr (std::is_enum_v<T>) {
        put_value(s, static_cast<std::underlying_type_t<T>>(v), spec);
    } else if constexpr (std::is_unsigned_v<T>) {
        put_unsigned(s, v, spec);
    } else if constexpr (std::is_signed_v<T> && std::is_integral_v<T>) {
        if (v < 0 && !spec.hex) {
            s.put('-');
            // Negate in unsigned arithmetic so the minimum value does not overflow.
            put_unsigned(s, 0 - static_cast<std::uint64_t>(v), spec);
        } else {
            put_unsigned(s, static_cast<std::uint64_t>(v), spec);
        }
    } else if constexpr (std::is_same_v<T, StringRef>) {
        for (std::size_t i = 0; i < v.size; ++i)
            s.put(v.data[i]);
        for (std::size_t i = v.size; i < spec.width; ++i)
            s.put(' ');
    } else if constexpr (std::is_convertible_v<T, const char*>) {
        // Strings pad on the right, so columns of names line up.
        put_value(s, StringRef::from_c_str(v != nullptr ? static_cast<const char*>(v) : "(null)"), spec);
    } else if constexpr (std::is_pointer_v<T>) {
        put_unsigned(s, reinterpret_cast<std::uintptr_t>(v), FormatSpec{true, true, 16});
    } else {
        static_assert(!sizeof(T), "aos::core::format: no formatter for this type");
    }
}

// Parses the spec between ':' and '}'; returns the position after '}' (or the end of the string).
inline const char* parse_spec(const char* p, FormatSpec& spec) {
    if (*p == ':') {
        ++p;
        if (*p == '0') {
            spec.zero_pad = true;
            ++p;
        }
        while (*p >= '0' && *p <= '9')
            spec.width = spec.width * 10 + static_cast<unsigned>(*p++ - '0');
        if (*p == 'x') {
            spec.hex = true;
            ++p;
        } else if (*p == 'd') {
            ++p;
        }
    }
    while (*p != '\0' && *p != '}')
        ++p;
    return *p == '}' ? p + 1 : p;
}

// No arguments left: the rest is text, with doubled braces unescaped; a placeholder without an argument is
// printed as written so the mistake shows.
template <CharSink S>
void format_rest(S& s, const char* fmt) {
    while (*fmt != '\0') {
        if ((fmt[0] == '{' && fmt[1] == '{') || (fmt[0] == '}' && fmt[1] == '}'))
            ++fmt;
        s.put(*fmt++);
    }
}

template <CharSink S, class First, class... Rest>
void format_rest(S& s, const char* fmt, const First& first, const Rest&... rest) {
    while (*fmt != '\0') {
        if (fmt[0] == '{' && fmt[1] == '{') {
            s.put('{');
            fmt += 2;
        } else if (fmt[0] == '}' && fmt[1] == '}') {
            s.put('}');
            fmt += 2;
        } else if (fmt[0] == '{') {
            FormatSpec spec;
            fmt = parse_spec(fmt + 1, spec);
            put_value(s, first, spec);
            format_rest(s, fmt, rest...);
            return;
        } else {
            s.put(*fmt++);
        }
    }
    // More arguments than placeholders: they are dropped, as the text is what the author wrote.
}

} // namespace detail

template <CharSink S, class... Args>
void format_to(S& sink, const char* fmt, const Args&... args) {
    detail::format_rest(sink, fmt, args...);
}

static_assert(CharSink<FixedString<8>>);

} // namespace aos::core
