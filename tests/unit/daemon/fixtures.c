/* Test fixtures shared by the daemon's unit tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "fixtures.h"

struct domain_def *def_named(const char *name, const char *uuid)
{
	char xml[512];
	struct berr err = {0};
	struct domain_def *def;

	snprintf(xml, sizeof(xml),
		 "<domain type='kvm'><name>%s</name>%s%s%s<memory unit='MiB'>16</memory>"
		 "<os><type>hvm</type><kernel>/k</kernel></os></domain>",
		 name, uuid ? "<uuid>" : "", uuid ? uuid : "", uuid ? "</uuid>" : "");
	def = domain_def_parse(xml, strlen(xml), NULL, &err);
	assert_non_null(def);
	return def;
}
