# sp_install.cmake — what `make install` / `cmake --install` puts where
# (GNUInstallDirs; DESTDIR honoured; CMAKE_INSTALL_PREFIX, which the
# top-level Makefile's PREFIX sets), and the Debian package (`make deb`:
# CPack's DEB generator, configured for prefix /usr).
#
#   sbin/shardproxy                       the binary
#   share/man/man8/shardproxy.8.gz        man pages (man/*.8, man/*.5: roff)
#   share/man/man5/shardproxy.yml.5.gz
#   <sysconfdir>/shardproxy/shardproxy.yml   default configuration
#   <sysconfdir>/logrotate.d/shardproxy   log rotation (USR1 reopens)
#   <unitdir>/shardproxy.service          systemd unit
#   lib/sysusers.d/shardproxy.conf        its user (systemd-sysusers)
#   share/doc/shardproxy/                 README, copyright, changelog,
#                                         examples/ (configs, dashboard,
#                                         alert rules)
# With prefix /usr, sysconfdir is /etc and unitdir /lib/systemd/system;
# otherwise GNUInstallDirs' sysconfdir (<prefix>/etc; /etc/opt/<name> for
# /opt/<name>) and <prefix>/lib/systemd/system (which systemd reads for
# /usr/local), or -DSP_SYSTEMD_UNITDIR=.
include(GNUInstallDirs)

set(SP_SYSTEMD_UNITDIR "" CACHE PATH
    "where the systemd unit is installed (empty: from the prefix)")
if(SP_SYSTEMD_UNITDIR)
  set(SP_UNITDIR "${SP_SYSTEMD_UNITDIR}")
elseif(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(SP_UNITDIR "/lib/systemd/system")
else()
  set(SP_UNITDIR "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()

# The unit and logrotate file name the installed paths.
set(SP_SBINDIR "${CMAKE_INSTALL_FULL_SBINDIR}")
set(SP_CONFDIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/shardproxy")
configure_file(conf/shardproxy.service.in shardproxy.service @ONLY)
configure_file(conf/shardproxy.logrotate.in shardproxy.logrotate @ONLY)

# Man pages and the Debian changelog, compressed as Debian wants them
# (gzip -9n: no name, no time stamp, so builds are reproducible).
set(SP_GZIPPED)
foreach(src man/shardproxy.8 man/shardproxy.yml.5 packaging/deb/changelog)
  get_filename_component(name ${src} NAME)
  add_custom_command(
    OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/gz/${name}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_CURRENT_BINARY_DIR}/gz
    COMMAND gzip -9n -c ${CMAKE_CURRENT_SOURCE_DIR}/${src}
            > ${CMAKE_CURRENT_BINARY_DIR}/gz/${name}.gz
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${src}
    COMMENT "Compressing ${src}")
  list(APPEND SP_GZIPPED ${CMAKE_CURRENT_BINARY_DIR}/gz/${name}.gz)
endforeach()
add_custom_target(sp_docs ALL DEPENDS ${SP_GZIPPED})

install(TARGETS shardproxy RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/gz/shardproxy.8.gz
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/gz/shardproxy.yml.5.gz
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
install(FILES conf/shardproxy-default.yml DESTINATION ${SP_CONFDIR}
        RENAME shardproxy.yml)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/shardproxy.logrotate
        DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/logrotate.d
        RENAME shardproxy)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/shardproxy.service
        DESTINATION ${SP_UNITDIR})
install(FILES packaging/deb/shardproxy.sysusers
        DESTINATION ${CMAKE_INSTALL_PREFIX}/lib/sysusers.d
        RENAME shardproxy.conf)
install(FILES README.md packaging/deb/copyright
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/gz/changelog.gz
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES conf/shardproxy.yml conf/nutcracker.yml
              conf/grafana-dashboard.json conf/prometheus-alerts.yml
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# ---- the Debian package (make deb) -------------------------------------------
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "shardproxy")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)         # shardproxy_<ver>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER
    "shardproxy maintainers <shardproxy@users.noreply.github.com>")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)          # Depends: from dpkg-shlibdeps
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")     # the postinst makes the user
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "redis-server | memcached, logrotate")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Redis and Memcached sharding proxy, a successor to nutcracker")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"shardproxy spreads keys over Redis or Memcached servers as twemproxy
(nutcracker) 0.5 does, with its configuration, flags and stats port, and
places every key on the server nutcracker would pick. It runs a master
and CPU-pinned workers, reloads its configuration and its binary without
closing a client connection, serves Prometheus metrics, and shows a live
view of what it does (shardproxy --stat).")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${CMAKE_CURRENT_SOURCE_DIR}/packaging/deb/conffiles;${CMAKE_CURRENT_SOURCE_DIR}/packaging/deb/postinst;${CMAKE_CURRENT_SOURCE_DIR}/packaging/deb/prerm;${CMAKE_CURRENT_SOURCE_DIR}/packaging/deb/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
