# Install rules, the CMake package (find_package(optkern) -> optkern::optkern) and the
# pkg-config file.
include(CMakePackageConfigHelpers)

install(TARGETS optkern optkern_static EXPORT optkernTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT optkernTargets NAMESPACE optkern::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/optkern)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/optkernConfig.cmake.in
  ${PROJECT_BINARY_DIR}/optkernConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/optkern)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/optkernConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/optkernConfig.cmake
              ${PROJECT_BINARY_DIR}/optkernConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/optkern)

if(OPTKERN_HAVE_CUDA)
  set(OPTK_PC_LIBS_PRIVATE "-L${CUDAToolkit_LIBRARY_DIR} -lcublas -lcurand -lcudart -lstdc++ -lm -lpthread")
else()
  set(OPTK_PC_LIBS_PRIVATE "-lm -lpthread")
endif()
# From <libdir>/pkgconfig back to the prefix ("../.." for lib, "../../.." for a multiarch libdir).
file(RELATIVE_PATH OPTK_PC_TO_PREFIX "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
configure_file(${PROJECT_SOURCE_DIR}/cmake/optkern.pc.in ${PROJECT_BINARY_DIR}/optkern.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/optkern.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
