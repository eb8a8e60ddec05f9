// safetensors.c: mmap reader with full header validation, f16/bf16 conversion, atomic writer.
// Format: u64 little-endian header length N, N bytes of UTF-8 JSON, then the data area; each
// tensor's data_offsets [begin, end) are relative to the start of the data area.
#include "io/safetensors.h"
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util/util.h"

static const char *dtype_names[] = {"F32", "F16", "BF16", "F64", "I32", "I64", "U8", "I8", "Q8_0", "UNKNOWN"};
static const size_t dtype_sizes[] = {4, 2, 2, 8, 4, 8, 1, 1, 0, 0};

const char *ms_dtype_name(ms_dtype t) {
    return (t >= 0 && t <= MS_DT_UNKNOWN) ? dtype_names[t] : "UNKNOWN";
}
size_t ms_dtype_size(ms_dtype t) { return (t >= 0 && t <= MS_DT_UNKNOWN) ? dtype_sizes[t] : 0; }

ms_dtype ms_dtype_from_name(const char *name) {
    for (int i = 0; i < MS_DT_UNKNOWN; i++)
        if (!strcmp(name, dtype_names[i])) return (ms_dtype)i;
    return MS_DT_UNKNOWN;
}

// ---- half-precision conversions (bit-exact, no hardware dependence)
float ms_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) bits = sign;
        else { // subnormal: normalise the mantissa
            int e = -1;
            do { e++; mant <<= 1; } while (!(mant & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t ms_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) // inf or nan
        return sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0);
    if (absx >= 0x477ff000u) return sign | 0x7c00; // rounds to >= 65520 -> inf
    int exp = (int)(absx >> 23) - 127;
    uint32_t mant = absx & 0x7fffff;
    if (exp < -14) { // f16 subnormal (or zero)
        if (exp < -25) return sign;
        mant |= 0x800000;
        int shift = -exp - 14 + 13; // total right shift to get a 10-bit subnormal mantissa
        uint32_t half = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return sign | (uint16_t)half;
    }
    uint32_t h = ((uint32_t)(exp + 15) << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; // carry into the exponent is correct
    return sign | (uint16_t)h;
}

float ms_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t ms_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); // quiet nan
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

int ms_tensor_to_f32(ms_dtype dtype, const void *src, size_t numel, float *out) {
    const unsigned char *p = src; // the mapping gives no alignment guarantee: memcpy each element
    switch (dtype) {
    case MS_DT_F32: memcpy(out, src, numel * 4); return 0;
    case MS_DT_F16:
        for (size_t i = 0; i < numel; i++) { uint16_t h; memcpy(&h, p + 2 * i, 2); out[i] = ms_f16_to_f32(h); }
        return 0;
    case MS_DT_BF16:
        for (size_t i = 0; i < numel; i++) { uint16_t h; memcpy(&h, p + 2 * i, 2); out[i] = ms_bf16_to_f32(h); }
        return 0;
    case MS_DT_F64:
        for (size_t i = 0; i < numel; i++) { double d; memcpy(&d, p + 8 * i, 8); out[i] = (float)d; }
        return 0;
    case MS_DT_Q8_0: // blocks of 32: f16 scale, 32 int8
        if (numel % 32) { ms_error("Q8_0 tensor of %zu elements is not a multiple of 32", numel); return -1; }
        for (size_t b = 0; b < numel / 32; b++) {
            const unsigned char *blk = p + b * 34;
            uint16_t h; memcpy(&h, blk, 2);
            float d = ms_f16_to_f32(h);
            for (int j = 0; j < 32; j++) out[b * 32 + j] = d * (float)(int8_t)blk[2 + j];
        }
        return 0;
    default:
        ms_error("cannot convert dtype %s to float32", ms_dtype_name(dtype));
        return -1;
    }
}

// ---- reader
void ms_safetensors_close(ms_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n_tensors; i++) free(st->tensors[i].name);
    free(st->tensors);
    for (int i = 0; i < st->n_meta; i++) { free(st->meta_keys[i]); free(st->meta_values[i]); }
    free(st->meta_keys);
    free(st->meta_values);
    if (st->map && st->map != MAP_FAILED) munmap(st->map, st->map_len);
    free(st->path);
    free(st);
}

typedef struct { uint64_t begin, end; int idx; } span;
static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

#define FAIL(...) do { ms_error(__VA_ARGS__); goto fail; } while (0)

ms_safetensors *ms_safetensors_open(const char *path) {
    ms_safetensors *st = ms_calloc(1, sizeof *st);
    st->path = ms_strdup(path);
    json_object *root = NULL;
    span *spans = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) FAIL("%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) { close(fd); FAIL("%s: not a regular file", path); }
    if (sb.st_size < 8) { close(fd); FAIL("%s: truncated: %lld bytes, too short for a safetensors header", path, (long long)sb.st_size); }
    st->map_len = (size_t)sb.st_size;
    st->map = mmap(NULL, st->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (st->map == MAP_FAILED) { st->map = NULL; FAIL("%s: mmap failed: %s", path, strerror(errno)); }
    const unsigned char *base = st->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | base[i];
    if (hlen > st->map_len - 8)
        FAIL("%s: truncated or corrupt: header length %llu exceeds file size %zu", path, (unsigned long long)hlen, st->map_len);
    if (hlen > (100u << 20)) FAIL("%s: corrupt: header length %llu is implausibly large", path, (unsigned long long)hlen);
    const char *hdr = (const char *)base + 8;
    const unsigned char *data = base + 8 + hlen;
    uint64_t data_len = st->map_len - 8 - hlen;

    json_tokener *tok = json_tokener_new();
    root = json_tokener_parse_ex(tok, hdr, (int)hlen);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t consumed = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!root || jerr != json_tokener_success)
        FAIL("%s: corrupt header: invalid JSON (%s)", path, root ? "trailing data" : json_tokener_error_desc(jerr));
    for (size_t i = consumed; i < hlen; i++) // only padding may follow the JSON object
        if (hdr[i] != ' ' && hdr[i] != '\n' && hdr[i] != '\t' && hdr[i] != '\r' && hdr[i] != '\0')
            FAIL("%s: corrupt header: unexpected data after the JSON object", path);
    if (!json_object_is_type(root, json_type_object)) FAIL("%s: corrupt header: not a JSON object", path);

    int n = json_object_object_length(root);
    st->tensors = ms_calloc((size_t)n + 1, sizeof *st->tensors);
    spans = ms_calloc((size_t)n + 1, sizeof *spans);
    json_object_object_foreach(root, key, val) {
        if (!strcmp(key, "__metadata__")) {
            if (!json_object_is_type(val, json_type_object)) FAIL("%s: corrupt header: __metadata__ is not an object", path);
            int nm = json_object_object_length(val);
            st->meta_keys = ms_calloc((size_t)nm + 1, sizeof(char *));
            st->meta_values = ms_calloc((size_t)nm + 1, sizeof(char *));
            json_object_object_foreach(val, mk, mv) {
                if (!json_object_is_type(mv, json_type_string))
                    FAIL("%s: corrupt header: __metadata__ value of '%s' is not a string", path, mk);
                st->meta_keys[st->n_meta] = ms_strdup(mk);
                st->meta_values[st->n_meta] = ms_strdup(json_object_get_string(mv));
                st->n_meta++;
            }
            continue;
        }
        ms_st_tensor *t = &st->tensors[st->n_tensors];
        t->name = ms_strdup(key);
        st->n_tensors++;
        json_object *jd, *js, *jo;
        if (!json_object_is_type(val, json_type_object) || !json_object_object_get_ex(val, "dtype", &jd) ||
            !json_object_object_get_ex(val, "shape", &js) || !json_object_object_get_ex(val, "data_offsets", &jo))
            FAIL("%s: corrupt header: tensor '%s' lacks dtype, shape or data_offsets", path, key);
        if (!json_object_is_type(jd, json_type_string)) FAIL("%s: corrupt header: tensor '%s' dtype is not a string", path, key);
        t->dtype = ms_dtype_from_name(json_object_get_string(jd));
        if (t->dtype == MS_DT_UNKNOWN || t->dtype == MS_DT_Q8_0)
            FAIL("%s: tensor '%s' has unsupported dtype '%s'", path, key, json_object_get_string(jd));
        if (!json_object_is_type(js, json_type_array) || json_object_array_length(js) > 8)
            FAIL("%s: corrupt header: tensor '%s' shape is not an array of at most 8 dims", path, key);
        t->ndim = (int)json_object_array_length(js);
        uint64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            json_object *e = json_object_array_get_idx(js, (size_t)d);
            if (!json_object_is_type(e, json_type_int) || json_object_get_int64(e) < 0)
                FAIL("%s: corrupt header: tensor '%s' has a bad dimension", path, key);
            t->shape[d] = json_object_get_int64(e);
            if (t->shape[d] && numel > (UINT64_MAX >> 4) / (uint64_t)t->shape[d])
                FAIL("%s: corrupt header: tensor '%s' shape overflows", path, key);
            numel *= (uint64_t)t->shape[d];
        }
        if (!json_object_is_type(jo, json_type_array) || json_object_array_length(jo) != 2)
            FAIL("%s: corrupt header: tensor '%s' data_offsets is not [begin, end]", path, key);
        json_object *jb = json_object_array_get_idx(jo, 0), *je = json_object_array_get_idx(jo, 1);
        if (!json_object_is_type(jb, json_type_int) || !json_object_is_type(je, json_type_int) ||
            json_object_get_int64(jb) < 0 || json_object_get_int64(je) < json_object_get_int64(jb))
            FAIL("%s: corrupt header: tensor '%s' has bad data_offsets", path, key);
        uint64_t b = (uint64_t)json_object_get_int64(jb), en = (uint64_t)json_object_get_int64(je);
        if (en > data_len)
            FAIL("%s: truncated: tensor '%s' ends at byte %llu past the end of the data (%llu bytes)",
                 path, key, (unsigned long long)en, (unsigned long long)data_len);
        if (en - b != numel * ms_dtype_size(t->dtype))
            FAIL("%s: corrupt header: tensor '%s' has %llu bytes but its shape and dtype %s need %llu", path, key,
                 (unsigned long long)(en - b), ms_dtype_name(t->dtype), (unsigned long long)(numel * ms_dtype_size(t->dtype)));
        t->data = data + b;
        t->nbytes = (size_t)(en - b);
        spans[st->n_tensors - 1] = (span){b, en, st->n_tensors - 1};
    }
    qsort(spans, (size_t)st->n_tensors, sizeof *spans, span_cmp);
    for (int i = 1; i < st->n_tensors; i++)
        if (spans[i].begin < spans[i - 1].end)
            FAIL("%s: corrupt header: tensors '%s' and '%s' overlap", path, st->tensors[spans[i - 1].idx].name,
                 st->tensors[spans[i].idx].name);
    free(spans);
    json_object_put(root);
    return st;
fail:
    free(spans);
    if (root) json_object_put(root);
    ms_safetensors_close(st);
    return NULL;
}

const ms_st_tensor *ms_safetensors_find(const ms_safetensors *st, const char *name) {
    for (int i = 0; i < st->n_tensors; i++)
        if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
    return NULL;
}

const char *ms_safetensors_meta(const ms_safetensors *st, const char *key) {
    for (int i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta_keys[i], key)) return st->meta_values[i];
    return NULL;
}

// ---- writer
typedef struct {
    char *name;
    ms_dtype dtype;
    int ndim;
    int64_t shape[8];
    const void *data;
    size_t nbytes;
} wr_tensor;

struct ms_st_writer {
    wr_tensor *t;
    int n, cap;
    char **mk, **mv;
    int nm, mcap;
};

ms_st_writer *ms_st_writer_new(void) { return ms_calloc(1, sizeof(ms_st_writer)); }

void ms_st_writer_add(ms_st_writer *w, const char *name, ms_dtype dtype, int ndim, const int64_t *shape,
                      const void *data) {
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 16;
        w->t = ms_realloc(w->t, (size_t)w->cap * sizeof *w->t);
    }
    wr_tensor *t = &w->t[w->n++];
    memset(t, 0, sizeof *t);
    t->name = ms_strdup(name);
    t->dtype = dtype;
    t->ndim = ndim > 8 ? 8 : ndim;
    size_t numel = 1;
    for (int i = 0; i < t->ndim; i++) { t->shape[i] = shape[i]; numel *= (size_t)shape[i]; }
    t->data = data;
    t->nbytes = numel * ms_dtype_size(dtype);
}

void ms_st_writer_meta(ms_st_writer *w, const char *key, const char *value) {
    if (w->nm == w->mcap) {
        w->mcap = w->mcap ? 2 * w->mcap : 8;
        w->mk = ms_realloc(w->mk, (size_t)w->mcap * sizeof(char *));
        w->mv = ms_realloc(w->mv, (size_t)w->mcap * sizeof(char *));
    }
    w->mk[w->nm] = ms_strdup(key);
    w->mv[w->nm] = ms_strdup(value);
    w->nm++;
}

void ms_st_writer_free(ms_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->t[i].name);
    for (int i = 0; i < w->nm; i++) { free(w->mk[i]); free(w->mv[i]); }
    free(w->t);
    free(w->mk);
    free(w->mv);
    free(w);
}

int ms_st_writer_write(ms_st_writer *w, const char *path) {
    json_object *root = json_object_new_object();
    if (w->nm) {
        json_object *meta = json_object_new_object();
        for (int i = 0; i < w->nm; i++) json_object_object_add(meta, w->mk[i], json_object_new_string(w->mv[i]));
        json_object_object_add(root, "__metadata__", meta);
    }
    uint64_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const wr_tensor *t = &w->t[i];
        if (t->dtype == MS_DT_UNKNOWN || t->dtype == MS_DT_Q8_0) {
            json_object_put(root);
            ms_error("%s: cannot write tensor '%s' of dtype %s to safetensors", path, t->name, ms_dtype_name(t->dtype));
            return -1;
        }
        json_object *o = json_object_new_object(), *sh = json_object_new_array(), *of = json_object_new_array();
        json_object_object_add(o, "dtype", json_object_new_string(ms_dtype_name(t->dtype)));
        for (int d = 0; d < t->ndim; d++) json_object_array_add(sh, json_object_new_int64(t->shape[d]));
        json_object_object_add(o, "shape", sh);
        json_object_array_add(of, json_object_new_int64((int64_t)off));
        json_object_array_add(of, json_object_new_int64((int64_t)(off + t->nbytes)));
        json_object_object_add(o, "data_offsets", of);
        json_object_object_add(root, t->name, o);
        off += t->nbytes;
    }
    const char *js = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
    size_t jl = strlen(js);
    size_t padded = (jl + 7) & ~(size_t)7; // keep the data area 8-byte aligned, as the reference writer does
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    char *tmp = ms_atomic_tmp_path(path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        ms_error("%s: cannot write: %s", path, strerror(errno));
        json_object_put(root); free(tmp); return -1;
    }
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(js, 1, jl, f) == jl;
    for (size_t i = jl; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
    for (int i = 0; ok && i < w->n; i++)
        if (w->t[i].nbytes) ok = fwrite(w->t[i].data, 1, w->t[i].nbytes, f) == w->t[i].nbytes;
    json_object_put(root);
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        ms_error("%s: write failed: %s", path, strerror(errno));
        unlink(tmp); free(tmp); return -1;
    }
    int rc = ms_atomic_commit(tmp, path);
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}

void ms_safetensors_release(const ms_safetensors *st, const ms_st_tensor *t) {
    ms_mapping_release(st->map, st->map_len, t->data, t->nbytes);
}
