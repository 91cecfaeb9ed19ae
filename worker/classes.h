/* worker/classes.h: the classes a worker knows: the built-ins (seed, echo). */
#ifndef DURO_CLASSES_H
#define DURO_CLASSES_H

#include "worker/class.h"

extern const struct duro_class class_seed;
extern const struct duro_class class_echo;

/* The class named `name`, or NULL. */
const struct duro_class *classes_find(const char *name, size_t len);

#endif
