// json_util.h: small json-c helpers with error messages that name the file.
#ifndef MS_JSON_UTIL_H
#define MS_JSON_UTIL_H
#include <json-c/json.h>
#include <stdint.h>

// Parses a whole JSON file; NULL + ms_error("<path>: ...") if missing or invalid. Free with json_object_put.
json_object *ms_json_read_file(const char *path);
// Member lookups: 1 if key exists with a non-null value of a usable type (stored in *out), 0 if
// absent or null, -1 (and ms_error naming path and key) if present with the wrong type.
int ms_json_get_int(json_object *o, const char *key, int64_t *out, const char *path);
int ms_json_get_double(json_object *o, const char *key, double *out, const char *path);
int ms_json_get_bool(json_object *o, const char *key, int *out, const char *path);
int ms_json_get_string(json_object *o, const char *key, const char **out, const char *path);

#endif
