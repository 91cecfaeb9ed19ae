/* worker/class_loader.h: the classes a worker knows: the built-ins (seed, echo, chat), those
 * loaded with dlopen from the shared objects named in [class NAME] sections, and the Lua classes
 * of sections with `script` (worker/class_lua.h), which may replace a built-in. */
#ifndef DURO_CLASS_LOADER_H
#define DURO_CLASS_LOADER_H

#include <stddef.h>

#include "common/conf.h"
#include "duro/class.h"

struct worker;

extern const struct duro_class class_seed;
extern const struct duro_class class_echo;
extern const struct duro_class class_chat;
extern const struct duro_class class_counter;

/* Loads every class of `c` into `w`; on a reload, a Lua class whose script changed is loaded
 * again. Returns 0, or -1 with `err` naming the section, the file and the problem (file missing,
 * symbol missing, API version mismatch, a script's syntax error with its line). */
int classes_load(struct worker *w, const struct conf *c, char *err, size_t err_cap)
    __attribute__((warn_unused_result));

/* The class named `name`, or NULL. */
const struct duro_class *classes_find(const struct worker *w, const char *name, size_t len);

#endif
