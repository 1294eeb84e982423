// The test runner's main: Catch2's session, shared by every unit-test program.
#if !__has_include(<catch2/catch_test_macros.hpp>)
#define CATCH_CONFIG_RUNNER
#endif
#include "catch.hpp"

int main(int argc, char** argv) {
    return Catch::Session().run(argc, argv);
}
