/* Small libxml2 helpers shared by the domain and network XML modules. */
#ifndef BERTH_DAEMON_XMLUTIL_H
#define BERTH_DAEMON_XMLUTIL_H

#include <stdbool.h>

#include <libxml/tree.h>

/* Is n an element called name (in no namespace)? */
bool xml_is_elem(xmlNodePtr n, const char *name);
/* An attribute's value (no namespace) as a malloc'd string, or NULL when absent. */
char *xml_attr(xmlNodePtr n, const char *name);
/* An element's text content, surrounding white space removed (malloc'd). */
char *xml_text(xmlNodePtr n);

#endif
