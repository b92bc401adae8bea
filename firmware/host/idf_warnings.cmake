# ruv_idf_warnings: compile-only check (object library, never linked) of the
# portable C the ESP-IDF build compiles — components ruv_temporal, ruv_csi,
# ruv_app — with ESP-IDF's default warning flags made errors, as ESP-IDF
# v6.0 does (-Werror=all, and -Wextra's -Wtype-limits among them), and
# IDF's -std=gnu17 -O2. Built in the 32-bit build (-DRUV_M32=ON) only, where
# size_t is 32 bits as on the ESP32-S3: that is where a size check written
# for a 64-bit size_t turns into "comparison is always false". Flags follow
# ESP-IDF's tools/cmake/build.cmake defaults; -Werror on top because the
# project's own files stay warning-free (docs/c-core.md).
if(NOT RUV_M32)
  return()
endif()
file(GLOB RUV_IDF_CHECK_SOURCES CONFIGURE_DEPENDS
  "${RUV_FIRMWARE_DIR}/components/ruv_temporal/src/*.c"
  "${RUV_FIRMWARE_DIR}/components/ruv_csi/src/*.c"
  "${RUV_FIRMWARE_DIR}/components/ruv_app/src/*.c")
# the mbedtls backend needs mbedtls headers (IDF's component on the chip)
list(FILTER RUV_IDF_CHECK_SOURCES EXCLUDE REGEX "_mbedtls\\.c$")
add_library(ruv_idf_warnings OBJECT ${RUV_IDF_CHECK_SOURCES})
target_include_directories(ruv_idf_warnings PRIVATE
  "${RUV_FIRMWARE_DIR}/components/ruv_temporal/include"
  "${RUV_FIRMWARE_DIR}/components/ruv_temporal/src"
  "${RUV_FIRMWARE_DIR}/components/ruv_csi/include"
  "${RUV_FIRMWARE_DIR}/components/ruv_app/include")
set_target_properties(ruv_idf_warnings PROPERTIES C_STANDARD 17 C_EXTENSIONS ON)
target_compile_options(ruv_idf_warnings PRIVATE -O2 ${RUV_NUMERIC_FLAGS}
  -Wall -Werror=all -Wextra -Wtype-limits
  -Wno-unused-parameter -Wno-sign-compare -Wno-enum-conversion
  -Werror)
