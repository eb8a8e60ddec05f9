// gguf.h: reader (mmap, bounds-checked) and a small writer for GGUF v2/v3 files:
//   "GGUF" u32 version, u64 n_tensors, u64 n_kv, n_kv × (string key, u32 type, value),
//   n_tensors × (string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset),
//   padding to `general.alignment` (default 32), then the tensor data (offsets relative to it).
// Strings are u64 length + bytes (no NUL). Dimensions are listed fastest-varying first: a torch
// [out, in] matrix has ne = {in, out}.
#ifndef MS_GGUF_H
#define MS_GGUF_H
#include <stddef.h>
#include <stdint.h>
#include "io/safetensors.h"

typedef enum {
    MS_GGUF_UINT8 = 0, MS_GGUF_INT8 = 1, MS_GGUF_UINT16 = 2, MS_GGUF_INT16 = 3, MS_GGUF_UINT32 = 4,
    MS_GGUF_INT32 = 5, MS_GGUF_FLOAT32 = 6, MS_GGUF_BOOL = 7, MS_GGUF_STRING = 8, MS_GGUF_ARRAY = 9,
    MS_GGUF_UINT64 = 10, MS_GGUF_INT64 = 11, MS_GGUF_FLOAT64 = 12, MS_GGUF_TYPE_COUNT
} ms_gguf_type;

// ggml tensor types we read (others are reported by number)
enum { MS_GGML_F32 = 0, MS_GGML_F16 = 1, MS_GGML_Q8_0 = 8, MS_GGML_BF16 = 30 };

typedef struct {
    char *key;
    ms_gguf_type type;
    // scalars (ints widened; bool as 0/1)
    int64_t i;
    uint64_t u;
    double f;
    const char *str;        // MS_GGUF_STRING (NUL-terminated copy)
    // arrays
    ms_gguf_type arr_type;
    uint64_t arr_n;
    const void *arr_data;   // numeric arrays: little-endian elements in the mapping (unaligned)
    char **arr_str;         // string arrays: NUL-terminated copies; nested arrays: NULL
} ms_gguf_kv;

typedef struct {
    char *name;
    int n_dims;
    int64_t ne[4];          // ne[0] fastest
    uint32_t ggml_type;
    ms_dtype dtype;         // MS_DT_UNKNOWN for types we cannot convert
    uint64_t offset;
    const void *data;
    size_t nbytes;
    int64_t numel;
} ms_gguf_tensor;

typedef struct {
    char *path;
    void *map;
    size_t map_len;
    uint32_t version;
    ms_gguf_kv *kv;
    int n_kv;
    ms_gguf_tensor *tensors;
    int n_tensors;
    size_t alignment;
    size_t data_offset;
} ms_gguf;

ms_gguf *ms_gguf_open(const char *path);   // NULL + ms_error("<path>: ...") if truncated/corrupt
void ms_gguf_close(ms_gguf *g);
const ms_gguf_kv *ms_gguf_find_kv(const ms_gguf *g, const char *key);
const ms_gguf_tensor *ms_gguf_find_tensor(const ms_gguf *g, const char *name);
// Typed getters: 1 found (converted), 0 absent, -1 wrong type (ms_error set).
int ms_gguf_get_int(const ms_gguf *g, const char *key, int64_t *out);
int ms_gguf_get_float(const ms_gguf *g, const char *key, double *out);
int ms_gguf_get_str(const ms_gguf *g, const char *key, const char **out);
// Element i of a numeric array as double / int64.
double ms_gguf_arr_f64(const ms_gguf_kv *kv, uint64_t i);
int64_t ms_gguf_arr_i64(const ms_gguf_kv *kv, uint64_t i);
// Dequantizes/converts a tensor (F32, F16, BF16, Q8_0) to float32 into out (numel floats).
int ms_gguf_tensor_to_f32(const ms_gguf *g, const ms_gguf_tensor *t, float *out);
// Done with tensor t's bytes for now: its pages leave this process's mapping (still in the page cache,
// read again if touched), so a loader's resident set holds what it converted, not the file.
void ms_gguf_release(const ms_gguf *g, const ms_gguf_tensor *t);
const char *ms_ggml_type_name(uint32_t type);

// ---- writer (F32/F16/BF16 tensors; scalar, string and array metadata), atomic temp + rename.
typedef struct ms_gguf_writer ms_gguf_writer;
ms_gguf_writer *ms_gguf_writer_new(void);
void ms_gguf_writer_u32(ms_gguf_writer *w, const char *key, uint32_t v);
void ms_gguf_writer_i32(ms_gguf_writer *w, const char *key, int32_t v);
void ms_gguf_writer_f32(ms_gguf_writer *w, const char *key, float v);
void ms_gguf_writer_bool(ms_gguf_writer *w, const char *key, int v);
void ms_gguf_writer_str(ms_gguf_writer *w, const char *key, const char *v);
void ms_gguf_writer_str_array(ms_gguf_writer *w, const char *key, int n, const char *const *v);
void ms_gguf_writer_f32_array(ms_gguf_writer *w, const char *key, int n, const float *v);
void ms_gguf_writer_i32_array(ms_gguf_writer *w, const char *key, int n, const int32_t *v);
// Tensor from float32 data (copied at write time, converted to dtype F32/F16/BF16); ne fastest first.
void ms_gguf_writer_tensor(ms_gguf_writer *w, const char *name, ms_dtype dtype, int n_dims,
                           const int64_t *ne, const float *data);
int ms_gguf_writer_write(ms_gguf_writer *w, const char *path);
void ms_gguf_writer_free(ms_gguf_writer *w);

#endif
