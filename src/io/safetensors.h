// safetensors.h: reading (mmap, zero-copy) and writing of the safetensors format:
// 8-byte little-endian header length N, N bytes of JSON {"name": {"dtype","shape","data_offsets"},
// "__metadata__": {str: str}}, then the raw little-endian tensor bytes.
#ifndef MS_SAFETENSORS_H
#define MS_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

typedef enum { MS_DT_F32 = 0, MS_DT_F16, MS_DT_BF16, MS_DT_F64, MS_DT_I32, MS_DT_I64, MS_DT_U8,
               MS_DT_I8, MS_DT_Q8_0, MS_DT_UNKNOWN } ms_dtype;
const char *ms_dtype_name(ms_dtype t);   // "F32", "F16", "BF16", ...
size_t ms_dtype_size(ms_dtype t);        // bytes per element (0 for block-quantized types)
ms_dtype ms_dtype_from_name(const char *name); // "F32" -> MS_DT_F32; MS_DT_UNKNOWN if none

typedef struct {
    char *name;
    ms_dtype dtype;
    int ndim;
    int64_t shape[8];
    const void *data;   // points into the mapping
    size_t nbytes;
} ms_st_tensor;

typedef struct {
    char *path;
    void *map;
    size_t map_len;
    ms_st_tensor *tensors;
    int n_tensors;
    char **meta_keys, **meta_values;   // __metadata__
    int n_meta;
} ms_safetensors;

// Validates the header fully (offsets in bounds, sizes consistent with shape and dtype, no
// overlap) and reports "<path>: <problem>" through ms_error on any inconsistency.
ms_safetensors *ms_safetensors_open(const char *path);
// Done with tensor t's bytes for now: its pages leave this process's mapping (they stay in the page
// cache and are read again if touched), so a loader's resident set holds the weights it converted,
// not the file it read them from.
void ms_safetensors_release(const ms_safetensors *st, const ms_st_tensor *t);
void ms_safetensors_close(ms_safetensors *st);
const ms_st_tensor *ms_safetensors_find(const ms_safetensors *st, const char *name);
const char *ms_safetensors_meta(const ms_safetensors *st, const char *key);

// Converts any float tensor (F32/F16/BF16/F64) to float32 into out (numel floats).
int ms_tensor_to_f32(ms_dtype dtype, const void *src, size_t numel, float *out);
float ms_f16_to_f32(uint16_t h);
uint16_t ms_f32_to_f16(float f);
float ms_bf16_to_f32(uint16_t h);
uint16_t ms_f32_to_bf16(float f);   // round to nearest even

// Writer: collect tensors (data is copied at write time, not before), then write atomically.
typedef struct ms_st_writer ms_st_writer;
ms_st_writer *ms_st_writer_new(void);
void ms_st_writer_add(ms_st_writer *w, const char *name, ms_dtype dtype, int ndim,
                      const int64_t *shape, const void *data);
void ms_st_writer_meta(ms_st_writer *w, const char *key, const char *value);
int ms_st_writer_write(ms_st_writer *w, const char *path);  // temp file + rename
void ms_st_writer_free(ms_st_writer *w);

#endif
