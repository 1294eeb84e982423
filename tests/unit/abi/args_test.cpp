// aos::abi::fill_args: the arguments page a parent writes for a child.
#include "catch.hpp"

#include <aos/abi/args.hpp>

#include <cstring>
#include <memory>
#include <string>

using aos::abi::ArgsPage;

namespace {

std::string arg(const ArgsPage& p, unsigned i) {
    return std::string(p.text + p.offset[i]);
}

} // namespace

TEST_CASE("a command line splits into words at spaces") {
    auto page = std::make_unique<ArgsPage>();
    std::memset(page.get(), 0, sizeof(ArgsPage));
    REQUIRE(aos::abi::fill_args(*page, "  hello  one two   "));
    REQUIRE(page->magic == aos::abi::args_magic);
    REQUIRE(page->argc == 3);
    REQUIRE(arg(*page, 0) == "hello");
    REQUIRE(arg(*page, 1) == "one");
    REQUIRE(arg(*page, 2) == "two");
}

TEST_CASE("an empty line has no arguments") {
    auto page = std::make_unique<ArgsPage>();
    std::memset(page.get(), 0, sizeof(ArgsPage));
    REQUIRE(aos::abi::fill_args(*page, "   "));
    REQUIRE(page->argc == 0);
}

TEST_CASE("too many words or too much text is refused, not cut") {
    auto page = std::make_unique<ArgsPage>();
    std::memset(page.get(), 0, sizeof(ArgsPage));
    std::string many;
    for (unsigned i = 0; i <= aos::abi::args_max; ++i)
        many += "w ";
    REQUIRE_FALSE(aos::abi::fill_args(*page, many.c_str()));
    std::memset(page.get(), 0, sizeof(ArgsPage));
    std::string long_word(aos::abi::args_text_max, 'x');
    REQUIRE_FALSE(aos::abi::fill_args(*page, long_word.c_str()));
    std::memset(page.get(), 0, sizeof(ArgsPage));
    std::string fits(aos::abi::args_text_max - 2, 'y');
    REQUIRE(aos::abi::fill_args(*page, fits.c_str()));
    REQUIRE(page->argc == 1);
}

TEST_CASE("environment strings follow the arguments") {
    auto page = std::make_unique<ArgsPage>();
    std::memset(page.get(), 0, sizeof(ArgsPage));
    REQUIRE(aos::abi::fill_args(*page, "prog a"));
    REQUIRE(aos::abi::add_environment(*page, "PID=0x10001"));
    REQUIRE(aos::abi::add_environment(*page, "CORE=0"));
    REQUIRE(page->envc == 2);
    REQUIRE(std::string(page->text + page->env_offset[0]) == "PID=0x10001");
    REQUIRE(std::string(page->text + page->env_offset[1]) == "CORE=0");
    REQUIRE(arg(*page, 1) == "a"); // the arguments are untouched
    REQUIRE_FALSE(aos::abi::add_environment(*page, "no equals sign"));
    REQUIRE_FALSE(aos::abi::add_environment(*page, "=value"));
    REQUIRE(page->envc == 2);
    for (unsigned i = 2; i < aos::abi::env_max; ++i)
        REQUIRE(aos::abi::add_environment(*page, "K=V"));
    REQUIRE_FALSE(aos::abi::add_environment(*page, "ONE=MORE"));
    REQUIRE(page->envc == aos::abi::env_max);
}
