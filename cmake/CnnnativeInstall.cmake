# What `cmake --install` gives C and C++ users: the C API's headers, libcnnnative.so (and
# libcnnnative.a outside wheels), a CMake package (find_package(cnnnative CONFIG) ->
# cnnnative::cnnnative, cnnnative::cnnnative_static) and a pkg-config file (cnnnative.pc).
#
# In a wheel (scikit-build-core sets SKBUILD) they go inside the Python package --
# cnnnative/include, cnnnative/lib, cnnnative/lib/cmake/cnnnative, cnnnative/lib/pkgconfig --
# where cnnnative.get_include(), get_library_dir() and get_cmake_dir() find them;
# tools/dev-build installs the same layout into python/cnnnative (component capi).
# Both files locate the prefix relative to themselves, so an installed tree can be moved.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

if(SKBUILD)
  set(CNNNATIVE_INCLUDE_INSTALL_DIR cnnnative/include)
  set(CNNNATIVE_LIB_INSTALL_DIR cnnnative/lib)
else()
  set(CNNNATIVE_INCLUDE_INSTALL_DIR ${CMAKE_INSTALL_INCLUDEDIR})
  set(CNNNATIVE_LIB_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR})
endif()
set(CNNNATIVE_CMAKE_INSTALL_DIR ${CNNNATIVE_LIB_INSTALL_DIR}/cmake/cnnnative)
set(CNNNATIVE_PKGCONFIG_INSTALL_DIR ${CNNNATIVE_LIB_INSTALL_DIR}/pkgconfig)

# What a static link of libcnnnative.a adds: pthreads (the library's thread team; part of
# libc since glibc 2.34, a library of its own before), the C++ runtime and libm. No OpenMP
# runtime: the library links none.
set(CNNNATIVE_STATIC_LINK_LIBS pthread stdc++ m)
list(REMOVE_DUPLICATES CNNNATIVE_STATIC_LINK_LIBS)
set(CNNNATIVE_STATIC_LINK_FLAGS "")
foreach(lib ${CNNNATIVE_STATIC_LINK_LIBS})
  string(APPEND CNNNATIVE_STATIC_LINK_FLAGS " -l${lib}")
endforeach()
string(STRIP "${CNNNATIVE_STATIC_LINK_FLAGS}" CNNNATIVE_STATIC_LINK_FLAGS)

install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/cpp/include/cnnnative/cnnnative.h
              ${CMAKE_CURRENT_SOURCE_DIR}/cpp/include/cnnnative/cnnnative.hpp
        DESTINATION ${CNNNATIVE_INCLUDE_INSTALL_DIR}/cnnnative COMPONENT capi)
install(TARGETS cnnnative LIBRARY DESTINATION ${CNNNATIVE_LIB_INSTALL_DIR} COMPONENT capi)
if(NOT SKBUILD)  # wheels ship the shared library only
  install(TARGETS cnnnative_static ARCHIVE DESTINATION ${CNNNATIVE_LIB_INSTALL_DIR} COMPONENT capi)
endif()

configure_package_config_file(${CMAKE_CURRENT_SOURCE_DIR}/cmake/cnnnative-config.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/cnnnative-config.cmake
  INSTALL_DESTINATION ${CNNNATIVE_CMAKE_INSTALL_DIR}
  PATH_VARS CNNNATIVE_INCLUDE_INSTALL_DIR CNNNATIVE_LIB_INSTALL_DIR)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/cnnnative-config-version.cmake
  VERSION ${_version} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/cnnnative-config.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/cnnnative-config-version.cmake
        DESTINATION ${CNNNATIVE_CMAKE_INSTALL_DIR} COMPONENT capi)

# pkg-config: ${pcfiledir} makes the file relocatable like the CMake package.
file(RELATIVE_PATH CNNNATIVE_PC_TO_PREFIX /prefix/${CNNNATIVE_PKGCONFIG_INSTALL_DIR} /prefix)
string(REGEX REPLACE "/$" "" CNNNATIVE_PC_TO_PREFIX "${CNNNATIVE_PC_TO_PREFIX}")
configure_file(${CMAKE_CURRENT_SOURCE_DIR}/cmake/cnnnative.pc.in ${CMAKE_CURRENT_BINARY_DIR}/cnnnative.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/cnnnative.pc DESTINATION ${CNNNATIVE_PKGCONFIG_INSTALL_DIR} COMPONENT capi)
