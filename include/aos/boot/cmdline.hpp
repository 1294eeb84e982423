// Kernel and program command lines: space-separated words, each a flag ("semihosting") or "key=value".
//
//   aos::boot::CommandLine cl("console=pl011 selftest=undefined quiet");
//   if (cl.has_flag("quiet")) ...;
//   if (auto v = cl.value("selftest")) use(v->data, v->size);   // not NUL-terminated: a view into the line
#pragma once

#include <aos/core/result.hpp>
#include <aos/core/string_ref.hpp>

#include <cstddef>

namespace aos::boot {

using core::StringRef;

class CommandLine {
public:
    explicit constexpr CommandLine(const char* line) : line_(line != nullptr ? line : "") {}

    const char* c_str() const { return line_; }

    // Calls f(word) for each word, in order; f returns false to stop.
    template <class F>
    void for_each_word(F&& f) const {
        const char* p = line_;
        for (;;) {
            while (*p == ' ' || *p == '\t')
                ++p;
            if (*p == '\0')
                return;
            const char* start = p;
            while (*p != '\0' && *p != ' ' && *p != '\t')
                ++p;
            if (!f(StringRef{start, static_cast<std::size_t>(p - start)}))
                return;
        }
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

private:
    const char* line_;
};

} // namespace aos::boot
