#include "worker/class_loader.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "worker/class_lua.h"
#include "worker/worker.h"

static const struct duro_class *const builtins[] = { &class_seed, &class_echo, &class_chat,
                                                   &class_counter };

static int name_is(const char *a, const char *name, size_t len)
{
    return strlen(a) == len && memcmp(a, name, len) == 0;
}

static struct duro_class *find_loaded(const struct worker *w, const char *name, size_t len)
{
    for (unsigned i = 0; i < w->nloaded; i++) {
        if (name_is(w->loaded[i].cls->name, name, len)) {
            return w->loaded[i].cls;
        }
    }
    return NULL;
}

/* Loaded classes first: a Lua script may replace a built-in of the same name. */
const struct duro_class *classes_find(const struct worker *w, const char *name, size_t len)
{
    const struct duro_class *cls = find_loaded(w, name, len);
    if (cls != NULL) {
        return cls;
    }
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
        if (name_is(builtins[i]->name, name, len)) {
            return builtins[i];
        }
    }
    return NULL;
}

static int load_one(struct loaded_class *lc, const struct conf_class *k, const struct conf *c,
                    char *err, size_t cap)
{
    if (k->script[0] != '\0') {
        lc->handle = NULL;
        lc->cls = class_lua_load(k, c, err, cap);
        return lc->cls != NULL ? 0 : -1;
    }
    void *h = dlopen(k->path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(err, cap, "[class %s] cannot load '%s': %s", k->name, k->path, dlerror());
        return -1;
    }
    const struct duro_class *src = dlsym(h, k->symbol);
    if (src == NULL) {
        snprintf(err, cap, "[class %s] '%s' has no symbol '%s'", k->name, k->path, k->symbol);
        dlclose(h);
        return -1;
    }
    if (src->api_version < DURO_CLASS_API_VERSION_MIN || src->api_version > DURO_CLASS_API_VERSION) {
        snprintf(err, cap, "[class %s] '%s' was built for class API version %u; this duro loads "
                 "versions %u to %u", k->name, k->path, src->api_version,
                 DURO_CLASS_API_VERSION_MIN, DURO_CLASS_API_VERSION);
        dlclose(h);
        return -1;
    }
    /* Copy only the fields the class's version has: a version 1 struct ends at on_error, and
     * a later one says its size. What it lacks stays NULL. */
    size_t have = offsetof(struct duro_class, struct_size);
    if (src->api_version >= 2) {
        if (src->struct_size < offsetof(struct duro_class, on_request)) {
            snprintf(err, cap, "[class %s] '%s' declares version %u but struct_size %zu",
                     k->name, k->path, src->api_version, src->struct_size);
            dlclose(h);
            return -1;
        }
        have = src->struct_size < sizeof(struct duro_class) ? src->struct_size
                                                            : sizeof(struct duro_class);
    }
    struct duro_class *cls = calloc(1, sizeof *cls + strlen(k->name) + 1);
    if (cls == NULL) {
        snprintf(err, cap, "[class %s] out of memory", k->name);
        dlclose(h);
        return -1;
    }
    memcpy(cls, src, have);
    cls->struct_size = sizeof *cls;
    char *name = (char *)(cls + 1);
    memcpy(name, k->name, strlen(k->name) + 1);
    cls->name = name; /* known by its section, as the gateway routes it */
    lc->handle = h;
    lc->cls = cls;
    return 0;
}

int classes_load(struct worker *w, const struct conf *c, char *err, size_t err_cap)
{
    for (unsigned i = 0; i < c->nclasses; i++) {
        const struct conf_class *k = &c->classes[i];
        struct duro_class *have = find_loaded(w, k->name, strlen(k->name));
        if (have != NULL) {
            /* A shared object is loaded once per process: a reload keeps its code. A script
             * that changed is loaded again; one that fails to load leaves the old code. */
            if (class_lua_is(have) && k->script[0] != '\0' &&
                class_lua_reload(have, k, c, err, err_cap) != 0) {
                return -1;
            }
            continue;
        }
        if (w->nloaded == DURO_CLASSES_MAX_COUNT) {
            snprintf(err, err_cap, "[class %s] more than %u classes loaded since this worker "
                     "started: restart to load more", k->name, DURO_CLASSES_MAX_COUNT);
            return -1;
        }
        if (load_one(&w->loaded[w->nloaded], k, c, err, err_cap) != 0) {
            return -1;
        }
        w->nloaded++;
    }
    return 0;
}
