# Host benchmark programs of the C core (sources in tools/bench/):
#   bench_core        wall-clock timings (clock_gettime, warm-up, median of
#                     repeats): sparse vs dense forward, KV-cache decode per
#                     token, model frame/classify, arena memory table
#   callgrind_driver  one exactly-delimited region per run for
#                     `valgrind --tool=callgrind --toggle-collect=cg_region`
# Both are driven by tools/bench_core.py; neither is a ctest test (timing does
# not belong in unit tests). Same numerics flags as the core; the core
# itself is the ruv_temporal_core library of core.cmake (CMAKE_BUILD_TYPE
# Release gives -O3 on the host; the ESP-IDF component builds with -O2).
option(RUV_BENCH "Build the benchmark programs of tools/bench" ON)

set(RUV_BENCH_DIR "${RUV_REPO_DIR}/tools/bench")

if(RUV_BENCH AND TARGET ruv_temporal_core AND EXISTS "${RUV_BENCH_DIR}/bench_core.c")
  foreach(bench bench_core callgrind_driver)
    add_executable(${bench} "${RUV_BENCH_DIR}/${bench}.c" "${RUV_BENCH_DIR}/bench_util.c")
    target_include_directories(${bench} PRIVATE "${RUV_BENCH_DIR}")
    target_compile_options(${bench} PRIVATE ${RUV_NUMERIC_FLAGS} ${RUV_WARNING_FLAGS} -Werror)
    target_link_libraries(${bench} PRIVATE ruv_temporal_core)
  endforeach()
endif()
