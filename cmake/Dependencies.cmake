# Dependencies come from Debian packages (see scripts/bootstrap). They are used header-only, so a
# copy of their include folders (DYNPMNN_DEPS_DIR, made by bench/pack_deps.sh) builds the project on
# machines that lack the packages, such as the lent GPU machines.
find_package(Threads REQUIRED)

set(_dep_hints)
if(DYNPMNN_DEPS_DIR)
  list(APPEND _dep_hints ${DYNPMNN_DEPS_DIR}/include)
endif()

function(dynpmnn_find_header var header package)
  find_path(${var} ${header} HINTS ${_dep_hints})
  if(NOT ${var})
    message(FATAL_ERROR "dynpmnn: ${header} not found: install the Debian package ${package} "
                        "(scripts/bootstrap does) or set DYNPMNN_DEPS_DIR")
  endif()
endfunction()

dynpmnn_find_header(CLI11_INCLUDE CLI/CLI.hpp libcli11-dev)
dynpmnn_find_header(TOMLPP_INCLUDE toml++/toml.h libtomlplusplus-dev)
dynpmnn_find_header(JSON_INCLUDE nlohmann/json.hpp nlohmann-json3-dev)
dynpmnn_find_header(FMT_INCLUDE fmt/format.h libfmt-dev)
dynpmnn_find_header(STB_INCLUDE stb/stb_image_write.h libstb-dev)

add_library(dynpmnn_deps INTERFACE)
target_include_directories(dynpmnn_deps SYSTEM INTERFACE
    ${CLI11_INCLUDE} ${TOMLPP_INCLUDE} ${JSON_INCLUDE} ${FMT_INCLUDE} ${STB_INCLUDE})
target_compile_definitions(dynpmnn_deps INTERFACE FMT_HEADER_ONLY=1 TOML_HEADER_ONLY=1
    TOML_EXCEPTIONS=1)
target_link_libraries(dynpmnn_deps INTERFACE Threads::Threads)

# OpenBLAS for the CPU reference's GEMMs where it is installed; a plain loop otherwise (the GPU
# machines have no OpenBLAS, and their CPU side only checks against the reference).
find_path(CBLAS_INCLUDE cblas.h PATH_SUFFIXES openblas x86_64-linux-gnu/openblas-pthread)
find_library(OPENBLAS_LIB NAMES openblas)
if(CBLAS_INCLUDE AND OPENBLAS_LIB)
  message(STATUS "dynpmnn: CPU GEMMs through OpenBLAS (${OPENBLAS_LIB})")
  target_include_directories(dynpmnn_deps SYSTEM INTERFACE ${CBLAS_INCLUDE})
  target_link_libraries(dynpmnn_deps INTERFACE ${OPENBLAS_LIB})
  target_compile_definitions(dynpmnn_deps INTERFACE DYNPMNN_HAVE_CBLAS=1)
else()
  message(STATUS "dynpmnn: OpenBLAS not found: CPU GEMMs use the built-in loop")
endif()

# glibc's vector math library (libmvec, in libc6-dev) for the CPU backend's vector exp
# (kernels/ops_cpu_simd.h) on x86-64; without it that exp runs libm's per lane.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$")
  find_library(DYNPMNN_MVEC_LIB NAMES mvec)
endif()
if(DYNPMNN_MVEC_LIB)
  message(STATUS "dynpmnn: CPU vector exp from glibc's libmvec (${DYNPMNN_MVEC_LIB})")
  target_link_libraries(dynpmnn_deps INTERFACE ${DYNPMNN_MVEC_LIB})
else()
  message(STATUS "dynpmnn: libmvec not found: the CPU vector SiLU calls libm's exp per lane")
endif()

if(DYNPMNN_BUILD_TESTS)
  find_package(GTest QUIET)
  if(NOT GTest_FOUND)
    set(_gtest_src "")
    foreach(_cand ${DYNPMNN_DEPS_DIR}/googletest /usr/src/googletest)
      if(EXISTS ${_cand}/CMakeLists.txt)
        set(_gtest_src ${_cand})
        break()
      endif()
    endforeach()
    if(NOT _gtest_src)
      message(FATAL_ERROR "dynpmnn: GoogleTest not found: install googletest/libgtest-dev or set DYNPMNN_DEPS_DIR")
    endif()
    set(INSTALL_GTEST OFF CACHE BOOL "" FORCE)
    add_subdirectory(${_gtest_src} ${CMAKE_BINARY_DIR}/_googletest EXCLUDE_FROM_ALL)
    if(NOT TARGET GTest::gtest)  # googletest defines these aliases itself from 1.11 on
      add_library(GTest::gtest ALIAS gtest)
      add_library(GTest::gtest_main ALIAS gtest_main)
    endif()
  endif()
endif()
