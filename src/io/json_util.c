// json_util.c: see json_util.h.
#include "io/json_util.h"
#include <stdlib.h>
#include <string.h>
#include "util/util.h"

json_object *ms_json_read_file(const char *path) {
    size_t len = 0;
    char *text = ms_read_file(path, &len);
    if (!text) return NULL;
    if (len > INT32_MAX) { // json-c takes an int length
        ms_error("%s: %zu bytes is too large for a JSON file", path, len);
        free(text);
        return NULL;
    }
    json_tokener *tok = json_tokener_new();
    json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error err = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!o || err != json_tokener_success) {
        ms_error("%s: invalid JSON: %s", path, o ? "trailing data" : (err == json_tokener_continue ? "unexpected end of file" : json_tokener_error_desc(err)));
        if (o) json_object_put(o);
        free(text);
        return NULL;
    }
    for (size_t i = end; i < len; i++)
        if (!strchr(" \t\r\n", text[i])) {
            ms_error("%s: invalid JSON: unexpected data after the top-level value", path);
            json_object_put(o);
            free(text);
            return NULL;
        }
    free(text);
    return o;
}

static json_object *member(json_object *o, const char *key) {
    json_object *v = NULL;
    if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v)) return NULL;
    return v; // NULL for JSON null as well
}

int ms_json_get_int(json_object *o, const char *key, int64_t *out, const char *path) {
    json_object *v = member(o, key);
    if (!v) return 0;
    if (json_object_is_type(v, json_type_int)) { *out = json_object_get_int64(v); return 1; }
    if (json_object_is_type(v, json_type_double)) { // 1e5 style integers
        double d = json_object_get_double(v);
        if (d > -9.2e18 && d < 9.2e18 && d == (double)(int64_t)d) { *out = (int64_t)d; return 1; } // inf/NaN/huge: not integers
    }
    ms_error("%s: \"%s\" must be an integer", path, key);
    return -1;
}

int ms_json_get_double(json_object *o, const char *key, double *out, const char *path) {
    json_object *v = member(o, key);
    if (!v) return 0;
    if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
        *out = json_object_get_double(v);
        return 1;
    }
    ms_error("%s: \"%s\" must be a number", path, key);
    return -1;
}

int ms_json_get_bool(json_object *o, const char *key, int *out, const char *path) {
    json_object *v = member(o, key);
    if (!v) return 0;
    if (json_object_is_type(v, json_type_boolean)) { *out = json_object_get_boolean(v); return 1; }
    ms_error("%s: \"%s\" must be true or false", path, key);
    return -1;
}

int ms_json_get_string(json_object *o, const char *key, const char **out, const char *path) {
    json_object *v = member(o, key);
    if (!v) return 0;
    if (json_object_is_type(v, json_type_string)) { *out = json_object_get_string(v); return 1; }
    ms_error("%s: \"%s\" must be a string", path, key);
    return -1;
}
