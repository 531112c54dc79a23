/*
 * berth-vmm's control socket: line-delimited JSON in the spirit of QEMU's QMP,
 * served on a UNIX socket to any number of clients (berthd keeps one for
 * events and opens others for commands).
 *
 *   request:  {"execute": "query-status", "arguments": {...}, "id": ANY}
 *   reply:    {"return": {...}, "id": ANY}
 *             {"error": {"class": "...", "desc": "..."}, "id": ANY}
 *   event:    {"event": "SHUTDOWN", "data": {...},
 *              "timestamp": {"seconds": S, "microseconds": US}}
 *
 * Commands: query-status, system_powerdown, system_reset, stop, cont, quit,
 * query-serial. Events: SHUTDOWN, RESET, STOP, RESUME. docs/api.md has the
 * full description.
 *
 * Threading: everything runs on the I/O thread (vm->loop). control_new may
 * also be called before that loop runs, control_emit_event and control_free
 * after it has stopped (main emits SHUTDOWN on its way out).
 */
#ifndef BERTH_VMM_CONTROL_H
#define BERTH_VMM_CONTROL_H

#include <jansson.h>

struct vm;
struct control;

/* Listen on a UNIX socket at path (a stale socket there is replaced). NULL on error (logged). */
struct control *control_new(struct vm *vm, const char *path);
/* Flush what can be sent promptly, close every client and remove the socket. */
void control_free(struct control *ctl);

/* Send an event to every client. Takes ownership of data (NULL means {}). */
void control_emit_event(struct control *ctl, const char *event, json_t *data);
/*
 * Send SHUTDOWN with data {"reason": R, "guest": G, "exit-status": N} from
 * vm->stop_reason: R is one of "poweroff", "reset", "debug-exit", "signal",
 * "error"; G is true when the guest asked for it.
 */
void control_emit_shutdown(struct control *ctl);

/*
 * The UNIX socket path of the serial console back end, reported by
 * query-serial (NULL: the serial port is not on a socket). The string is copied.
 */
void control_set_serial_path(struct control *ctl, const char *path);

#endif
