/* Nothing to call: linking this target into the test bundle sets XDG_CACHE_HOME (cache.c). */
