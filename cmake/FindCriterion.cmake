# FindCriterion — the Criterion unit-testing framework (libcriterion-dev on Debian).
# Hints: Criterion_ROOT (CMake or environment), e.g. a folder where the Debian packages
# were extracted with dpkg -x (see scripts/carry-criterion.sh). Defines Criterion::Criterion.
find_path(Criterion_INCLUDE_DIR criterion/criterion.h
  HINTS ${Criterion_ROOT} ENV Criterion_ROOT
  PATH_SUFFIXES include usr/include)
find_library(Criterion_LIBRARY NAMES criterion
  HINTS ${Criterion_ROOT} ENV Criterion_ROOT
  PATH_SUFFIXES lib lib64 usr/lib usr/lib/x86_64-linux-gnu lib/x86_64-linux-gnu)

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Criterion REQUIRED_VARS Criterion_LIBRARY Criterion_INCLUDE_DIR)

if(Criterion_FOUND AND NOT TARGET Criterion::Criterion)
  add_library(Criterion::Criterion UNKNOWN IMPORTED)
  set_target_properties(Criterion::Criterion PROPERTIES
    IMPORTED_LOCATION "${Criterion_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${Criterion_INCLUDE_DIR}")
endif()
mark_as_advanced(Criterion_INCLUDE_DIR Criterion_LIBRARY)
