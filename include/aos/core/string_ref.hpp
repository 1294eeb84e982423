// A non-owning view of characters that need not be NUL-terminated (a word of a command line, a name in a
// message). The freestanding subset has no std::string_view we can rely on, so this is ours.
//
//   aos::core::StringRef word{line + 4, 6};
//   if (word.equals("memtest")) ...;
#pragma once

#include <cstddef>

namespace aos::core {

struct StringRef {
    const char* data = nullptr;
    std::size_t size = 0;

    static constexpr StringRef from_c_str(const char* s) {
        std::size_t n = 0;
        while (s != nullptr && s[n] != '\0')
            ++n;
        return StringRef{s, n};
    }

    // Equal to the NUL-terminated string s.
    constexpr bool equals(const char* s) const {
        std::size_t i = 0;
        for (; i < size; ++i) {
            if (s[i] != data[i])
                return false;
        }
        return s[i] == '\0';
    }
    constexpr bool operator==(const StringRef& o) const {
        if (size != o.size)
            return false;
        for (std::size_t i = 0; i < size; ++i) {
            if (data[i] != o.data[i])
                return false;
        }
        return true;
    }
};

// Calls f(word) for each word of the NUL-terminated `line`, split at spaces and tabs, in order; f returns
// false to stop. Kernel command lines and a spawned program's argv are split by this one rule.
template <class F>
constexpr void for_each_word(const char* line, F&& f) {
    const char* p = line;
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

} // namespace aos::core
