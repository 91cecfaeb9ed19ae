/* gateway/notify.h: the service manager's view of the gateway (sd_notify, systemd's
 * Type=notify). Every call is a no-op when $NOTIFY_SOCKET is unset, or when duro was built
 * without libsystemd. Failures are logged at debug and otherwise ignored: readiness reporting
 * never stops the server. */
#ifndef DURO_GATEWAY_NOTIFY_H
#define DURO_GATEWAY_NOTIFY_H

/* READY=1 with a STATUS= line naming the listen address: the workers are up, the node serves.
 * Also ends a reload started with notify_reloading(). */
void notify_ready(const char *listen);

/* RELOADING=1 with MONOTONIC_USEC= (what systemd >= 253 checks), before a SIGHUP's reload. */
void notify_reloading(void);

/* An upgrade's successor, ready: MAINPID= its own pid (the service manager follows it; the
 * unit needs NotifyAccess=all, since the successor is not the main process yet), READY=1. */
void notify_mainpid(int pid, const char *listen);

/* STATUS= only (an upgrade's progress). */
void notify_status(const char *status);

/* STOPPING=1: the drain has begun. */
void notify_stopping(void);

#endif
