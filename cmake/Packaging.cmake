# Install rules and the Debian package (issue 21).
#
# `cmake --install BUILD [--prefix P]` (or `make install PREFIX=P`) installs only under the
# prefix: bin/spate, share/man/man1/spate.1.gz, share/bash-completion/completions/spate and
# share/doc/spate (README, example configs, the systemd units as examples).
# The Debian package (`make deb`, cpack -G DEB) adds what belongs outside a prefix, the
# install component `system` (EXCLUDE_FROM_ALL, so a plain install never writes /etc):
# /etc/spate/{produce,process,schedule}.yaml and spate.env as conffiles, and the units in
# /lib/systemd/system.
include(GNUInstallDirs)

# Installing (and so cpack) does not build the whole tree first, tests and benchmarks
# included: `make install` and `make deb` build spate_dist (all that is installed) first.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

set(SPATE_PKG_DIR ${PROJECT_BINARY_DIR}/packaging)
file(MAKE_DIRECTORY ${SPATE_PKG_DIR})
set(SPATE_DOCS_SCRIPT ${PROJECT_SOURCE_DIR}/cmake/spate_help_docs.sh)

install(TARGETS spate RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Bash completion: the hand-written script with the command list and each command's flags
# taken from the built binary's --help, so a new flag completes without editing it.
set(SPATE_COMPLETION ${SPATE_PKG_DIR}/spate.bash)
add_custom_command(
  OUTPUT ${SPATE_COMPLETION}
  COMMAND sh ${SPATE_DOCS_SCRIPT} completion $<TARGET_FILE:spate>
          ${PROJECT_SOURCE_DIR}/deploy/completion/spate.bash.in ${SPATE_COMPLETION}
  DEPENDS spate ${SPATE_DOCS_SCRIPT} ${PROJECT_SOURCE_DIR}/deploy/completion/spate.bash.in
  COMMENT "Generating the bash completion from spate --help"
  VERBATIM)
add_custom_target(spate_completion ALL DEPENDS ${SPATE_COMPLETION})
install(FILES ${SPATE_COMPLETION} DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
        RENAME spate)

# The man page: help2man from `spate --help`, with a COMMANDS section holding each command's
# --help. help2man is a build tool only (scripts/setup.sh installs it); without it there is
# no man page, and `spate --help` remains the reference.
find_program(HELP2MAN help2man)
if(HELP2MAN)
  set(SPATE_MAN ${SPATE_PKG_DIR}/spate.1)
  add_custom_command(
    OUTPUT ${SPATE_MAN}.gz
    COMMAND sh ${SPATE_DOCS_SCRIPT} man-include $<TARGET_FILE:spate> ${SPATE_PKG_DIR}/commands.h2m
    # Run as plain `spate` from PATH so the page says `spate run`, not the build path.
    COMMAND ${CMAKE_COMMAND} -E env "PATH=$<TARGET_FILE_DIR:spate>:$ENV{PATH}"
            ${HELP2MAN} --no-info --section 1 --name "a real-time user-data pipeline"
            --include ${SPATE_PKG_DIR}/commands.h2m --output ${SPATE_MAN} spate
    # -n: no name or time stamp inside, so the same binary gives the same package.
    COMMAND gzip -9nf ${SPATE_MAN}
    DEPENDS spate ${SPATE_DOCS_SCRIPT}
    COMMENT "Generating the man page spate.1 with help2man"
    VERBATIM)
  add_custom_target(spate_man ALL DEPENDS ${SPATE_MAN}.gz)
  install(FILES ${SPATE_MAN}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
else()
  message(STATUS "help2man not found: no man page (apt-get install help2man)")
endif()

# Everything a plain install copies, for `make install` to build before cmake --install.
add_custom_target(spate_dist DEPENDS spate spate_completion)
if(HELP2MAN)
  add_dependencies(spate_dist spate_man)
endif()

set(SPATE_CONFIGS ${PROJECT_SOURCE_DIR}/deploy/config/produce.yaml
    ${PROJECT_SOURCE_DIR}/deploy/config/process.yaml ${PROJECT_SOURCE_DIR}/deploy/config/schedule.yaml)
set(SPATE_UNITS ${PROJECT_SOURCE_DIR}/deploy/systemd/spate-process@.service
    ${PROJECT_SOURCE_DIR}/deploy/systemd/spate-schedule.service)
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/examples/jobs.yaml ${SPATE_CONFIGS}
              ${PROJECT_SOURCE_DIR}/deploy/config/spate.env ${SPATE_UNITS}
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# The host layout of the package (component `system`, never part of a plain install).
install(FILES ${SPATE_CONFIGS} DESTINATION /etc/spate COMPONENT system EXCLUDE_FROM_ALL)
# Secrets go in here: readable by root only (systemd reads it before it drops privileges).
install(FILES ${PROJECT_SOURCE_DIR}/deploy/config/spate.env DESTINATION /etc/spate
        PERMISSIONS OWNER_READ OWNER_WRITE COMPONENT system EXCLUDE_FROM_ALL)
install(FILES ${SPATE_UNITS} DESTINATION /lib/systemd/system COMPONENT system EXCLUDE_FROM_ALL)

# CPack: one .deb with both components, named spate_<version>_<arch>.deb.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME spate)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "spate maintainers <maintainers@users.noreply.b-seed-7d39bf44.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "real-time user-data pipeline (sources -> Kafka -> sinks)")
set(CPACK_PACKAGE_DESCRIPTION
    "spate ingests randomuser.me-style users (built-in generator, HTTP API or file), validates\nand transforms them, and stores them in SQLite, PostgreSQL or Cassandra, through Kafka\nwhen run as produce and process. Includes systemd units for process copies and the\nscheduler.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_CMAKE_PROJECTS
    "${PROJECT_BINARY_DIR};spate;Unspecified;/;${PROJECT_BINARY_DIR};spate;system;/")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The runtime libraries' packages, with versions, computed by dpkg-shlibdeps from the binary;
# adduser is for postinst's system user.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/postinst ${PROJECT_SOURCE_DIR}/deploy/debian/prerm
    ${PROJECT_SOURCE_DIR}/deploy/debian/postrm ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
