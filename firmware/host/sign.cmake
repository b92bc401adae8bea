# Host targets of the signed-model verifier (components/ruv_app/src/ruv_sign*.c,
# docs/blob-format.md "Signed envelope"):
#   ruv_sign          portable envelope logic (pure C99, no crypto library)
#   test_sign         its C unit test on a fake backend (ctest: app_sign)
#   ruv_sign_mbedtls  the mbedtls backend (Debian libmbedtls-dev; the ESP-IDF
#                     build uses IDF's mbedtls component with the same source)
#   ruv_sign_verify   command line verifier used by the cross tests
set(RUV_SIGN_DIR "${RUV_FIRMWARE_DIR}/components/ruv_app")

add_library(ruv_sign STATIC "${RUV_SIGN_DIR}/src/ruv_sign.c")
target_include_directories(ruv_sign PUBLIC "${RUV_SIGN_DIR}/include"
                                           "${RUV_FIRMWARE_DIR}/components/ruv_temporal/include")
target_compile_options(ruv_sign PRIVATE ${RUV_WARNING_FLAGS} -Werror)

add_executable(test_sign "${RUV_SIGN_DIR}/test/test_sign.c")
target_compile_options(test_sign PRIVATE -Wall -Wextra -Werror)
target_link_libraries(test_sign PRIVATE ruv_sign)
add_test(NAME app_sign COMMAND test_sign)

find_path(MBEDTLS_INCLUDE_DIR mbedtls/pk.h)
find_library(MBEDCRYPTO_LIBRARY mbedcrypto)
if(MBEDTLS_INCLUDE_DIR AND MBEDCRYPTO_LIBRARY)
  add_library(ruv_sign_mbedtls STATIC "${RUV_SIGN_DIR}/src/ruv_sign_mbedtls.c")
  target_include_directories(ruv_sign_mbedtls SYSTEM PUBLIC "${MBEDTLS_INCLUDE_DIR}")
  target_compile_options(ruv_sign_mbedtls PRIVATE ${RUV_WARNING_FLAGS} -Werror)
  target_link_libraries(ruv_sign_mbedtls PUBLIC ruv_sign ${MBEDCRYPTO_LIBRARY})

  if(TARGET ruv_temporal_core)
    add_executable(ruv_sign_verify "${CMAKE_CURRENT_LIST_DIR}/sign/ruv_sign_verify.c")
    target_compile_options(ruv_sign_verify PRIVATE -Wall -Wextra -Werror)
    target_link_libraries(ruv_sign_verify PRIVATE ruv_sign_mbedtls ruv_temporal_core)
  endif()
else()
  message(STATUS "ruv_sign: mbedtls not found (apt-get install libmbedtls-dev); "
                 "ruv_sign_mbedtls and ruv_sign_verify not built")
endif()
