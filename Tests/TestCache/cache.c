#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Every model load hashes its files (DigestCache), in the test process and in the binaries the tests run: their
 * hashes go to a folder of this test run, never the user's ~/.cache/scalewise. A constructor, because XCTest on
 * Linux has no hook that runs before every test class. */
__attribute__((constructor)) static void scalewise_test_cache(void) {
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/scalewise-test-cache-%d", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    setenv("XDG_CACHE_HOME", dir, 1);
}
