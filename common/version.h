/* common/version.h: the version both binaries print (--version) and log.
 *
 * DURO_VERSION is the project's (meson.build). A build may append DURO_BUILD_SUFFIX (the test
 * suite's "+next" copies, which an upgrade test switches to, are the same code reporting
 * another version). */
#ifndef DURO_VERSION_H
#define DURO_VERSION_H

#ifndef DURO_BUILD_SUFFIX
#define DURO_BUILD_SUFFIX ""
#endif

#define DURO_VERSION_FULL DURO_VERSION DURO_BUILD_SUFFIX

#endif
