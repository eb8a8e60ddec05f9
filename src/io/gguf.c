// gguf.c: GGUF reader and writer, see gguf.h. Every read goes through a cursor that checks the
// remaining length first, so a truncated or corrupt file yields an error, never an overread.
#include "io/gguf.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util/util.h"

static const size_t scalar_size[MS_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

typedef struct {
    const unsigned char *p, *end;
    const char *path;
    const char *what;   // what is being read, for the error message
} cursor;

static int need(cursor *c, uint64_t n) {
    if ((uint64_t)(c->end - c->p) < n) {
        ms_error("%s: truncated or corrupt: file ends inside %s", c->path, c->what);
        return -1;
    }
    return 0;
}
static int rd(cursor *c, void *dst, size_t n) {
    if (need(c, n)) return -1;
    memcpy(dst, c->p, n); // little-endian host assumed (x86-64, aarch64)
    c->p += n;
    return 0;
}
// Reads a GGUF string; *out is a NUL-terminated copy.
static int rd_str(cursor *c, char **out) {
    uint64_t n;
    if (rd(c, &n, 8)) return -1;
    if (n > (1u << 30)) { ms_error("%s: corrupt: string length %llu in %s", c->path, (unsigned long long)n, c->what); return -1; }
    if (need(c, n)) return -1;
    *out = ms_malloc(n + 1);
    memcpy(*out, c->p, n);
    (*out)[n] = 0;
    c->p += n;
    return 0;
}
// Skips a string without copying it.
static int skip_str(cursor *c) {
    uint64_t n;
    if (rd(c, &n, 8) || need(c, n)) return -1;
    c->p += n;
    return 0;
}

static int read_scalar(cursor *c, ms_gguf_type t, ms_gguf_kv *kv) {
    unsigned char b[8] = {0};
    if (rd(c, b, scalar_size[t])) return -1;
    switch (t) {
    case MS_GGUF_UINT8: kv->u = b[0]; kv->i = b[0]; break;
    case MS_GGUF_INT8: kv->i = (int8_t)b[0]; kv->u = (uint64_t)kv->i; break;
    case MS_GGUF_BOOL: kv->i = kv->u = b[0] != 0; break;
    case MS_GGUF_UINT16: { uint16_t v; memcpy(&v, b, 2); kv->u = v; kv->i = v; break; }
    case MS_GGUF_INT16: { int16_t v; memcpy(&v, b, 2); kv->i = v; kv->u = (uint64_t)v; break; }
    case MS_GGUF_UINT32: { uint32_t v; memcpy(&v, b, 4); kv->u = v; kv->i = v; break; }
    case MS_GGUF_INT32: { int32_t v; memcpy(&v, b, 4); kv->i = v; kv->u = (uint64_t)v; break; }
    case MS_GGUF_UINT64: { uint64_t v; memcpy(&v, b, 8); kv->u = v; kv->i = (int64_t)v; break; }
    case MS_GGUF_INT64: { int64_t v; memcpy(&v, b, 8); kv->i = v; kv->u = (uint64_t)v; break; }
    case MS_GGUF_FLOAT32: { float v; memcpy(&v, b, 4); kv->f = v; return 0; }
    case MS_GGUF_FLOAT64: { double v; memcpy(&v, b, 8); kv->f = v; return 0; }
    default: return -1;
    }
    kv->f = (double)kv->i;
    return 0;
}

// Skips one array value of element type t (recursing into nested arrays), depth-limited.
static int skip_array(cursor *c, int depth) {
    uint32_t t;
    uint64_t n;
    if (rd(c, &t, 4) || rd(c, &n, 8)) return -1;
    if (t >= MS_GGUF_TYPE_COUNT || depth > 8) { ms_error("%s: corrupt: bad array element type %u in %s", c->path, t, c->what); return -1; }
    if (t == MS_GGUF_STRING) { for (uint64_t i = 0; i < n; i++) if (skip_str(c)) return -1; return 0; }
    if (t == MS_GGUF_ARRAY) { for (uint64_t i = 0; i < n; i++) if (skip_array(c, depth + 1)) return -1; return 0; }
    if (n > (uint64_t)(c->end - c->p) / scalar_size[t]) return need(c, UINT64_MAX);
    c->p += n * scalar_size[t];
    return 0;
}

static int read_value(cursor *c, ms_gguf_kv *kv) {
    if (kv->type == MS_GGUF_STRING) {
        char *s;
        if (rd_str(c, &s)) return -1;
        kv->str = s;
        return 0;
    }
    if (kv->type != MS_GGUF_ARRAY) return read_scalar(c, kv->type, kv);
    uint32_t t;
    uint64_t n;
    const unsigned char *start = c->p;
    if (rd(c, &t, 4) || rd(c, &n, 8)) return -1;
    if (t >= MS_GGUF_TYPE_COUNT) { ms_error("%s: corrupt: bad array element type %u in %s", c->path, t, c->what); return -1; }
    kv->arr_type = (ms_gguf_type)t;
    kv->arr_n = n;
    if (t == MS_GGUF_STRING) {
        if (n > (uint64_t)(c->end - c->p) / 8) return need(c, UINT64_MAX); // each string needs >= 8 bytes
        kv->arr_str = ms_calloc((size_t)n + 1, sizeof(char *));
        for (uint64_t i = 0; i < n; i++)
            if (rd_str(c, &kv->arr_str[i])) return -1;
        return 0;
    }
    if (t == MS_GGUF_ARRAY) { c->p = start; return skip_array(c, 0); }
    if (n > (uint64_t)(c->end - c->p) / scalar_size[t]) return need(c, UINT64_MAX);
    kv->arr_data = c->p;
    c->p += n * scalar_size[t];
    return 0;
}

const char *ms_ggml_type_name(uint32_t type) {
    switch (type) {
    case MS_GGML_F32: return "F32";
    case MS_GGML_F16: return "F16";
    case MS_GGML_BF16: return "BF16";
    case MS_GGML_Q8_0: return "Q8_0";
    case 2: return "Q4_0";
    case 3: return "Q4_1";
    case 6: return "Q5_0";
    case 7: return "Q5_1";
    case 10: return "Q2_K";
    case 11: return "Q3_K";
    case 12: return "Q4_K";
    case 13: return "Q5_K";
    case 14: return "Q6_K";
    default: return "unknown";
    }
}

void ms_gguf_close(ms_gguf *g) {
    if (!g) return;
    for (int i = 0; i < g->n_kv; i++) {
        ms_gguf_kv *kv = &g->kv[i];
        free(kv->key);
        free((char *)kv->str);
        if (kv->arr_str) {
            for (uint64_t j = 0; j < kv->arr_n; j++) free(kv->arr_str[j]);
            free(kv->arr_str);
        }
    }
    free(g->kv);
    for (int i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->tensors);
    if (g->map) munmap(g->map, g->map_len);
    free(g->path);
    free(g);
}

ms_gguf *ms_gguf_open(const char *path) {
    ms_gguf *g = ms_calloc(1, sizeof *g);
    g->path = ms_strdup(path);
    int fd = open(path, O_RDONLY);
    if (fd < 0) { ms_error("%s: cannot open: %s", path, strerror(errno)); goto fail; }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) { close(fd); ms_error("%s: not a regular file", path); goto fail; }
    if (sb.st_size < 24) { close(fd); ms_error("%s: truncated: %lld bytes is too short for a GGUF header", path, (long long)sb.st_size); goto fail; }
    g->map_len = (size_t)sb.st_size;
    void *map = mmap(NULL, g->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) { ms_error("%s: mmap failed: %s", path, strerror(errno)); goto fail; }
    g->map = map;
    cursor c = {map, (const unsigned char *)map + g->map_len, path, "the header"};
    if (memcmp(c.p, "GGUF", 4)) { ms_error("%s: not a GGUF file (bad magic)", path); goto fail; }
    c.p += 4;
    uint64_t n_tensors, n_kv;
    if (rd(&c, &g->version, 4) || rd(&c, &n_tensors, 8) || rd(&c, &n_kv, 8)) goto fail;
    if (g->version != 2 && g->version != 3) { ms_error("%s: unsupported GGUF version %u (expected 3)", path, g->version); goto fail; }
    // every kv needs >= 12 bytes and every tensor info >= 24: bounds the counts before allocating
    if (n_kv > g->map_len / 12 || n_tensors > g->map_len / 24) {
        ms_error("%s: corrupt: implausible counts (%llu tensors, %llu metadata entries)", path,
                 (unsigned long long)n_tensors, (unsigned long long)n_kv);
        goto fail;
    }
    g->kv = ms_calloc((size_t)n_kv + 1, sizeof *g->kv);
    char what[160];
    for (uint64_t i = 0; i < n_kv; i++) {
        ms_gguf_kv *kv = &g->kv[i];
        snprintf(what, sizeof what, "metadata entry %llu", (unsigned long long)i);
        c.what = what;
        if (rd_str(&c, &kv->key)) goto fail;
        g->n_kv++;
        snprintf(what, sizeof what, "metadata '%.120s'", kv->key);
        uint32_t t;
        if (rd(&c, &t, 4)) goto fail;
        if (t >= MS_GGUF_TYPE_COUNT) { ms_error("%s: corrupt: metadata '%s' has unknown type %u", path, kv->key, t); goto fail; }
        kv->type = (ms_gguf_type)t;
        if (read_value(&c, kv)) goto fail;
    }
    g->alignment = 32;
    const ms_gguf_kv *al = ms_gguf_find_kv(g, "general.alignment");
    if (al) {
        if (al->type == MS_GGUF_ARRAY || al->type == MS_GGUF_STRING || al->type == MS_GGUF_FLOAT32 ||
            al->type == MS_GGUF_FLOAT64 || al->i <= 0 || (al->i & (al->i - 1)) || al->i > (1 << 20)) {
            ms_error("%s: corrupt: general.alignment must be a power of two", path);
            goto fail;
        }
        g->alignment = (size_t)al->i;
    }
    g->tensors = ms_calloc((size_t)n_tensors + 1, sizeof *g->tensors);
    for (uint64_t i = 0; i < n_tensors; i++) {
        ms_gguf_tensor *t = &g->tensors[i];
        snprintf(what, sizeof what, "tensor info %llu", (unsigned long long)i);
        c.what = what;
        if (rd_str(&c, &t->name)) goto fail;
        g->n_tensors++;
        snprintf(what, sizeof what, "tensor info '%.120s'", t->name);
        uint32_t nd;
        if (rd(&c, &nd, 4)) goto fail;
        if (nd < 1 || nd > 4) { ms_error("%s: corrupt: tensor '%s' has %u dimensions", path, t->name, nd); goto fail; }
        t->n_dims = (int)nd;
        t->numel = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t ne;
            if (rd(&c, &ne, 8)) goto fail;
            if (ne > ((uint64_t)1 << 40) || (ne && (uint64_t)t->numel > ((uint64_t)1 << 40) / ne)) {
                ms_error("%s: corrupt: tensor '%s' has an implausible shape", path, t->name);
                goto fail;
            }
            t->ne[d] = (int64_t)ne;
            t->numel *= (int64_t)ne;
        }
        for (int d = (int)nd; d < 4; d++) t->ne[d] = 1;
        if (rd(&c, &t->ggml_type, 4) || rd(&c, &t->offset, 8)) goto fail;
        switch (t->ggml_type) {
        case MS_GGML_F32: t->dtype = MS_DT_F32; t->nbytes = (size_t)t->numel * 4; break;
        case MS_GGML_F16: t->dtype = MS_DT_F16; t->nbytes = (size_t)t->numel * 2; break;
        case MS_GGML_BF16: t->dtype = MS_DT_BF16; t->nbytes = (size_t)t->numel * 2; break;
        case MS_GGML_Q8_0:
            t->dtype = MS_DT_Q8_0;
            if (t->ne[0] % 32) { ms_error("%s: corrupt: Q8_0 tensor '%s' row length %lld is not a multiple of 32", path, t->name, (long long)t->ne[0]); goto fail; }
            t->nbytes = (size_t)(t->numel / 32) * 34;
            break;
        default: t->dtype = MS_DT_UNKNOWN; t->nbytes = 0; break; // reported if a loader needs it
        }
        if (t->offset % g->alignment) { ms_error("%s: corrupt: tensor '%s' offset is not aligned", path, t->name); goto fail; }
    }
    size_t hdr_end = (size_t)(c.p - (const unsigned char *)map);
    g->data_offset = (hdr_end + g->alignment - 1) / g->alignment * g->alignment;
    size_t data_len = g->data_offset <= g->map_len ? g->map_len - g->data_offset : 0;
    for (int i = 0; i < g->n_tensors; i++) {
        ms_gguf_tensor *t = &g->tensors[i];
        if (t->dtype == MS_DT_UNKNOWN) continue;
        if (t->offset > data_len || t->nbytes > data_len - t->offset) {
            ms_error("%s: truncated: tensor '%s' ends past the end of the file", path, t->name);
            goto fail;
        }
        t->data = (const unsigned char *)map + g->data_offset + t->offset;
    }
    return g;
fail:
    ms_gguf_close(g);
    return NULL;
}

const ms_gguf_kv *ms_gguf_find_kv(const ms_gguf *g, const char *key) {
    for (int i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

const ms_gguf_tensor *ms_gguf_find_tensor(const ms_gguf *g, const char *name) {
    for (int i = 0; i < g->n_tensors; i++)
        if (!strcmp(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}

static int is_int_type(ms_gguf_type t) {
    return t <= MS_GGUF_INT32 || t == MS_GGUF_BOOL || t == MS_GGUF_UINT64 || t == MS_GGUF_INT64;
}

int ms_gguf_get_int(const ms_gguf *g, const char *key, int64_t *out) {
    const ms_gguf_kv *kv = ms_gguf_find_kv(g, key);
    if (!kv) return 0;
    if (!is_int_type(kv->type)) { ms_error("%s: metadata '%s' is not an integer", g->path, key); return -1; }
    *out = kv->i;
    return 1;
}

int ms_gguf_get_float(const ms_gguf *g, const char *key, double *out) {
    const ms_gguf_kv *kv = ms_gguf_find_kv(g, key);
    if (!kv) return 0;
    if (!is_int_type(kv->type) && kv->type != MS_GGUF_FLOAT32 && kv->type != MS_GGUF_FLOAT64) {
        ms_error("%s: metadata '%s' is not a number", g->path, key);
        return -1;
    }
    *out = kv->f;
    return 1;
}

int ms_gguf_get_str(const ms_gguf *g, const char *key, const char **out) {
    const ms_gguf_kv *kv = ms_gguf_find_kv(g, key);
    if (!kv) return 0;
    if (kv->type != MS_GGUF_STRING) { ms_error("%s: metadata '%s' is not a string", g->path, key); return -1; }
    *out = kv->str;
    return 1;
}

double ms_gguf_arr_f64(const ms_gguf_kv *kv, uint64_t i) {
    const unsigned char *p = kv->arr_data;
    if (!p || i >= kv->arr_n) return 0;
    if (kv->arr_type == MS_GGUF_FLOAT32) { float f; memcpy(&f, p + 4 * i, 4); return f; }
    if (kv->arr_type == MS_GGUF_FLOAT64) { double f; memcpy(&f, p + 8 * i, 8); return f; }
    return (double)ms_gguf_arr_i64(kv, i);
}

int64_t ms_gguf_arr_i64(const ms_gguf_kv *kv, uint64_t i) {
    const unsigned char *p = kv->arr_data;
    if (!p || i >= kv->arr_n) return 0;
    switch (kv->arr_type) {
    case MS_GGUF_UINT8: case MS_GGUF_BOOL: return p[i];
    case MS_GGUF_INT8: return (int8_t)p[i];
    case MS_GGUF_UINT16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case MS_GGUF_INT16: { int16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case MS_GGUF_UINT32: { uint32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case MS_GGUF_INT32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case MS_GGUF_UINT64: case MS_GGUF_INT64: { int64_t v; memcpy(&v, p + 8 * i, 8); return v; }
    case MS_GGUF_FLOAT32: { float f; memcpy(&f, p + 4 * i, 4); return f > -9.2e18f && f < 9.2e18f ? (int64_t)f : 0; }
    case MS_GGUF_FLOAT64: { double f; memcpy(&f, p + 8 * i, 8); return f > -9.2e18 && f < 9.2e18 ? (int64_t)f : 0; } // NaN, inf, huge: 0
    default: return 0;
    }
}

int ms_gguf_tensor_to_f32(const ms_gguf *g, const ms_gguf_tensor *t, float *out) {
    if (t->dtype == MS_DT_UNKNOWN) {
        ms_error("%s: tensor '%s' has unsupported type %s (%u); supported: F32, F16, BF16, Q8_0", g->path,
                 t->name, ms_ggml_type_name(t->ggml_type), t->ggml_type);
        return -1;
    }
    return ms_tensor_to_f32(t->dtype, t->data, (size_t)t->numel, out);
}

// ---- writer
typedef struct {
    char *name;
    ms_dtype dtype;
    int n_dims;
    int64_t ne[4];
    const float *data;
    size_t numel;
} gw_tensor;

struct ms_gguf_writer {
    unsigned char *kv;    // serialized metadata
    size_t kv_len, kv_cap;
    uint64_t n_kv;
    gw_tensor *t;
    int n_t, cap_t;
};

ms_gguf_writer *ms_gguf_writer_new(void) { return ms_calloc(1, sizeof(ms_gguf_writer)); }

static void put(ms_gguf_writer *w, const void *p, size_t n) {
    if (w->kv_len + n > w->kv_cap) {
        w->kv_cap = (w->kv_len + n) * 2 + 256;
        w->kv = ms_realloc(w->kv, w->kv_cap);
    }
    memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
}
static void put_u32(ms_gguf_writer *w, uint32_t v) { put(w, &v, 4); }
static void put_u64(ms_gguf_writer *w, uint64_t v) { put(w, &v, 8); }
static void put_str(ms_gguf_writer *w, const char *s) { size_t n = strlen(s); put_u64(w, n); put(w, s, n); }
static void put_key(ms_gguf_writer *w, const char *key, ms_gguf_type t) { put_str(w, key); put_u32(w, t); w->n_kv++; }

void ms_gguf_writer_u32(ms_gguf_writer *w, const char *key, uint32_t v) { put_key(w, key, MS_GGUF_UINT32); put_u32(w, v); }
void ms_gguf_writer_i32(ms_gguf_writer *w, const char *key, int32_t v) { put_key(w, key, MS_GGUF_INT32); put(w, &v, 4); }
void ms_gguf_writer_f32(ms_gguf_writer *w, const char *key, float v) { put_key(w, key, MS_GGUF_FLOAT32); put(w, &v, 4); }
void ms_gguf_writer_bool(ms_gguf_writer *w, const char *key, int v) { unsigned char b = v != 0; put_key(w, key, MS_GGUF_BOOL); put(w, &b, 1); }
void ms_gguf_writer_str(ms_gguf_writer *w, const char *key, const char *v) { put_key(w, key, MS_GGUF_STRING); put_str(w, v); }
void ms_gguf_writer_str_array(ms_gguf_writer *w, const char *key, int n, const char *const *v) {
    put_key(w, key, MS_GGUF_ARRAY);
    put_u32(w, MS_GGUF_STRING);
    put_u64(w, (uint64_t)n);
    for (int i = 0; i < n; i++) put_str(w, v[i]);
}
void ms_gguf_writer_f32_array(ms_gguf_writer *w, const char *key, int n, const float *v) {
    put_key(w, key, MS_GGUF_ARRAY);
    put_u32(w, MS_GGUF_FLOAT32);
    put_u64(w, (uint64_t)n);
    put(w, v, (size_t)n * 4);
}
void ms_gguf_writer_i32_array(ms_gguf_writer *w, const char *key, int n, const int32_t *v) {
    put_key(w, key, MS_GGUF_ARRAY);
    put_u32(w, MS_GGUF_INT32);
    put_u64(w, (uint64_t)n);
    put(w, v, (size_t)n * 4);
}

void ms_gguf_writer_tensor(ms_gguf_writer *w, const char *name, ms_dtype dtype, int n_dims, const int64_t *ne,
                           const float *data) {
    if (w->n_t == w->cap_t) {
        w->cap_t = w->cap_t ? 2 * w->cap_t : 32;
        w->t = ms_realloc(w->t, (size_t)w->cap_t * sizeof *w->t);
    }
    gw_tensor *t = &w->t[w->n_t++];
    memset(t, 0, sizeof *t);
    t->name = ms_strdup(name);
    t->dtype = dtype;
    t->n_dims = n_dims;
    t->numel = 1;
    for (int i = 0; i < n_dims && i < 4; i++) { t->ne[i] = ne[i]; t->numel *= (size_t)ne[i]; }
    t->data = data;
}

void ms_gguf_writer_free(ms_gguf_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->t);
    free(w->kv);
    free(w);
}

static uint32_t ggml_type_of(ms_dtype d) {
    return d == MS_DT_F16 ? MS_GGML_F16 : d == MS_DT_BF16 ? MS_GGML_BF16 : MS_GGML_F32;
}

int ms_gguf_writer_write(ms_gguf_writer *w, const char *path) {
    const size_t align = 32;
    char *tmp = ms_atomic_tmp_path(path);
    FILE *f = fopen(tmp, "wb");
    if (!f) { ms_error("%s: cannot write: %s", path, strerror(errno)); free(tmp); return -1; }
    uint32_t version = 3;
    uint64_t nt = (uint64_t)w->n_t;
    int ok = fwrite("GGUF", 1, 4, f) == 4 && fwrite(&version, 4, 1, f) == 1 && fwrite(&nt, 8, 1, f) == 1 &&
             fwrite(&w->n_kv, 8, 1, f) == 1 && (w->kv_len == 0 || fwrite(w->kv, 1, w->kv_len, f) == w->kv_len);
    size_t pos = 24 + w->kv_len;
    uint64_t off = 0;
    for (int i = 0; ok && i < w->n_t; i++) {
        const gw_tensor *t = &w->t[i];
        uint64_t n = strlen(t->name);
        uint32_t nd = (uint32_t)t->n_dims, ty = ggml_type_of(t->dtype);
        ok = fwrite(&n, 8, 1, f) == 1 && fwrite(t->name, 1, n, f) == n && fwrite(&nd, 4, 1, f) == 1;
        for (int d = 0; ok && d < t->n_dims; d++) { uint64_t e = (uint64_t)t->ne[d]; ok = fwrite(&e, 8, 1, f) == 1; }
        ok = ok && fwrite(&ty, 4, 1, f) == 1 && fwrite(&off, 8, 1, f) == 1;
        pos += 8 + n + 4 + 8 * (size_t)t->n_dims + 4 + 8;
        size_t nb = t->numel * (t->dtype == MS_DT_F32 ? 4 : 2);
        off += (nb + align - 1) / align * align;
    }
    for (; ok && pos % align; pos++) ok = fputc(0, f) != EOF;
    uint16_t buf[4096];
    for (int i = 0; ok && i < w->n_t; i++) {
        const gw_tensor *t = &w->t[i];
        size_t nb;
        if (t->dtype == MS_DT_F32) {
            nb = t->numel * 4;
            ok = fwrite(t->data, 4, t->numel, f) == t->numel;
        } else {
            nb = t->numel * 2;
            for (size_t j = 0; ok && j < t->numel; j += 4096) {
                size_t k = t->numel - j < 4096 ? t->numel - j : 4096;
                for (size_t q = 0; q < k; q++)
                    buf[q] = t->dtype == MS_DT_F16 ? ms_f32_to_f16(t->data[j + q]) : ms_f32_to_bf16(t->data[j + q]);
                ok = fwrite(buf, 2, k, f) == k;
            }
        }
        for (; ok && nb % align; nb++) ok = fputc(0, f) != EOF;
    }
    if (fclose(f) != 0) ok = 0;
    if (!ok) { ms_error("%s: write failed: %s", path, strerror(errno)); unlink(tmp); free(tmp); return -1; }
    int rc = ms_atomic_commit(tmp, path);
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}

void ms_gguf_release(const ms_gguf *g, const ms_gguf_tensor *t) { ms_mapping_release(g->map, g->map_len, t->data, t->nbytes); }
