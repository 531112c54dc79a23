/* Test fixtures shared by the daemon's unit tests. */
#ifndef BERTH_TESTS_UNIT_DAEMON_FIXTURES_H
#define BERTH_TESTS_UNIT_DAEMON_FIXTURES_H

#include "daemon/berthd.h"

/* A minimal parsed domain (16 MiB, direct kernel boot) named name, with uuid
 * if not NULL; fails the test if it does not parse. */
struct domain_def *def_named(const char *name, const char *uuid);

#endif
