// Kernel and program command lines: space-separated words, each a flag ("semihosting") or "key=value".
//
//   aos::boot::CommandLine cl("console=pl011 selftest=undefined quiet");
//   if (cl.has_flag("quiet")) ...;
//   if (auto v = cl.value("selftest")) use(v->data, v->size);   // not NUL-terminated: a view into the line
#pragma once

#include <aos/core/result.hpp>
#include <aos/core/string_ref.hpp>

#include <cstddef>
#include <cstdint>

namespace aos::boot {

using core::StringRef;

// Calls f(item) for each item of a `sep`-separated list (a value such as "run=init,hello"), in order,
// empty items included; f returns false to stop.
template <class F>
void for_each_item(StringRef list, char sep, F&& f) {
    std::size_t from = 0;
    for (std::size_t i = 0; i <= list.size; ++i) {
        if (i < list.size && list.data[i] != sep)
            continue;
        if (!f(StringRef{list.data + from, i - from}))
            return;
        from = i + 1;
    }
}

class CommandLine {
public:
    explicit constexpr CommandLine(const char* line) : line_(line != nullptr ? line : "") {}

    const char* c_str() const { return line_; }

    // Calls f(word) for each word, in order; f returns false to stop.
    template <class F>
    void for_each_word(F&& f) const {
        core::for_each_word(line_, f);
    }

    // The first word (in a command line that spawns a program, the program's name); empty when none.
    StringRef first_word() const {
        StringRef first{};
        for_each_word([&](StringRef w) {
            first = w;
            return false;
        });
        return first;
    }

    // A word exactly equal to name.
    bool has_flag(const char* name) const {
        bool found = false;
        for_each_word([&](StringRef w) {
            found = w.equals(name);
            return !found;
        });
        return found;
    }

    // The value of the last "name=value" word (later words override earlier ones, as on Linux).
    Result<StringRef> value(const char* name) const {
        Result<StringRef> found = error(Errc::not_found);
        for_each_word([&](StringRef w) {
            std::size_t i = 0;
            while (name[i] != '\0' && i < w.size && w.data[i] == name[i])
                ++i;
            if (name[i] == '\0' && i < w.size && w.data[i] == '=')
                found = StringRef{w.data + i + 1, w.size - i - 1};
            return true;
        });
        return found;
    }

    // The value of "name=N" as an unsigned decimal (or 0x-prefixed hexadecimal) number.
    Result<std::uint64_t> number(const char* name) const {
        StringRef v = AOS_TRY(value(name));
        return parse_u64(v);
    }

    static Result<std::uint64_t> parse_u64(StringRef s) {
        std::size_t i = 0;
        std::uint64_t base = 10;
        if (s.size > 2 && s.data[0] == '0' && (s.data[1] == 'x' || s.data[1] == 'X')) {
            base = 16;
            i = 2;
        }
        if (i == s.size)
            return error(Errc::invalid_argument);
        std::uint64_t v = 0;
        for (; i < s.size; ++i) {
            char c = s.data[i];
            std::uint64_t d = 0;
            if (c >= '0' && c <= '9')
                d = static_cast<std::uint64_t>(c) - '0';
            else if (base == 16 && c >= 'a' && c <= 'f')
                d = static_cast<std::uint64_t>(c) - 'a' + 10;
            else if (base == 16 && c >= 'A' && c <= 'F')
                d = static_cast<std::uint64_t>(c) - 'A' + 10;
            else
                return error(Errc::invalid_argument);
            if (v > (~std::uint64_t{0} - d) / base)
                return error(Errc::overflow);
            v = v * base + d;
        }
        return v;
    }

private:
    const char* line_;
};

} // namespace aos::boot
