# CPACK_POST_BUILD_SCRIPTS of the evd packages: run by cpack after it wrote
# them (CPACK_PACKAGE_FILES).
#
# CPack gives every package with a shared library in /usr/lib postinst and
# postrm scripts that call ldconfig. Debian runs ldconfig from a dpkg
# trigger instead (our lib/triggers: activate-noawait ldconfig, once per
# dpkg run), and lintian flags the direct calls (maintscript-calls-ldconfig).
# The library packages have no other maintainer scripts, so both are taken
# out here: the package is unpacked with its control files and built again
# with dpkg-deb, files, modes and md5sums unchanged.
find_program(DPKG_DEB dpkg-deb REQUIRED)
foreach(deb IN LISTS CPACK_PACKAGE_FILES)
  get_filename_component(name "${deb}" NAME)
  if(NOT name MATCHES "^libevclient(-event)?1_.*\\.deb$")
    continue()
  endif()
  set(tree "${deb}.tree")
  file(REMOVE_RECURSE "${tree}")
  execute_process(COMMAND ${DPKG_DEB} --raw-extract "${deb}" "${tree}"
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "dpkg-deb --raw-extract ${deb}: ${rc}")
  endif()
  if(NOT EXISTS "${tree}/DEBIAN/triggers")
    message(FATAL_ERROR "${name}: no triggers file; its ldconfig calls stay")
  endif()
  foreach(script postinst postrm)
    if(NOT EXISTS "${tree}/DEBIAN/${script}")
      continue()
    endif()
    file(STRINGS "${tree}/DEBIAN/${script}" body)
    # Only CPack's own script, which is ldconfig and nothing else.
    list(FILTER body EXCLUDE REGEX "^(#!/bin/sh|set -e|if \\[ \"\\$1\" = \"(configure|remove)\" \\]; then|\tldconfig|fi|)$")
    if(body)
      message(FATAL_ERROR "${name}: ${script} does more than ldconfig: ${body}")
    endif()
    file(REMOVE "${tree}/DEBIAN/${script}")
  endforeach()
  execute_process(COMMAND ${DPKG_DEB} --root-owner-group -Zxz --build "${tree}" "${deb}"
                  OUTPUT_QUIET RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "dpkg-deb --build ${deb}: ${rc}")
  endif()
  file(REMOVE_RECURSE "${tree}")
  message(STATUS "${name}: ldconfig runs from its trigger, not from postinst/postrm")
endforeach()
