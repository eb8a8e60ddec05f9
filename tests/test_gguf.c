// test_gguf.c: GGUF writer -> reader round trip (metadata of every type, tensors F32/F16/BF16),
// a hand-assembled file with a Q8_0 tensor and a non-default alignment (checked against the
// spec's formula), and rejection of every truncated prefix and of corrupt fields.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/gguf.h"
#include "util/util.h"
#include "harness.h"


static char *tmp_path(const char *name) { const char *t = getenv("MONOSCOPE_TMP"); return ms_path_join(t ? t : "/tmp", name); }

static char *write_file(const char *name, const void *data, size_t n) {
    char *p = tmp_path(name);
    FILE *f = fopen(p, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
    return p;
}

static void test_roundtrip(void) {
    float m[6] = {1, 2, 3, 4, 5, 6}, v[3] = {0.5f, -1, 2};
    const char *strs[3] = {"a", "", "héllo"};
    float fa[2] = {1.5f, -2.5f};
    int32_t ia[3] = {1, -2, 3};
    ms_gguf_writer *w = ms_gguf_writer_new();
    ms_gguf_writer_str(w, "general.architecture", "llama");
    ms_gguf_writer_u32(w, "llama.block_count", 7);
    ms_gguf_writer_i32(w, "neg", -5);
    ms_gguf_writer_f32(w, "eps", 1e-6f);
    ms_gguf_writer_bool(w, "flag", 1);
    ms_gguf_writer_str_array(w, "strs", 3, strs);
    ms_gguf_writer_f32_array(w, "floats", 2, fa);
    ms_gguf_writer_i32_array(w, "ints", 3, ia);
    int64_t ne2[2] = {3, 2}, ne1[1] = {3};
    ms_gguf_writer_tensor(w, "m.f32", MS_DT_F32, 2, ne2, m);
    ms_gguf_writer_tensor(w, "m.f16", MS_DT_F16, 2, ne2, m);
    ms_gguf_writer_tensor(w, "v.bf16", MS_DT_BF16, 1, ne1, v);
    char *p = tmp_path("rt.gguf");
    CHECK(ms_gguf_writer_write(w, p) == 0, "write: %s", ms_last_error());
    ms_gguf_writer_free(w);
    ms_gguf *g = ms_gguf_open(p);
    CHECK(g, "open: %s", ms_last_error());
    size_t data_end = 0; // the writer pads the last tensor too; the padding itself is optional
    if (g) {
        const ms_gguf_tensor *last = &g->tensors[g->n_tensors - 1];
        data_end = g->data_offset + last->offset + last->nbytes;
        int64_t i;
        double d;
        const char *s;
        CHECK(g->version == 3 && g->n_kv == 8 && g->n_tensors == 3, "counts");
        CHECK(ms_gguf_get_str(g, "general.architecture", &s) == 1 && !strcmp(s, "llama"), "str kv");
        CHECK(ms_gguf_get_int(g, "llama.block_count", &i) == 1 && i == 7, "u32 kv");
        CHECK(ms_gguf_get_int(g, "neg", &i) == 1 && i == -5, "i32 kv");
        CHECK(ms_gguf_get_float(g, "eps", &d) == 1 && fabs(d - 1e-6) < 1e-12, "f32 kv");
        CHECK(ms_gguf_get_int(g, "flag", &i) == 1 && i == 1, "bool kv");
        CHECK(ms_gguf_get_int(g, "missing", &i) == 0, "absent kv");
        CHECK(ms_gguf_get_int(g, "eps", &i) == -1, "wrong type kv");
        const ms_gguf_kv *kv = ms_gguf_find_kv(g, "strs");
        CHECK(kv && kv->arr_n == 3 && !strcmp(kv->arr_str[2], "héllo") && !strcmp(kv->arr_str[1], ""), "string array");
        kv = ms_gguf_find_kv(g, "floats");
        CHECK(kv && kv->arr_n == 2 && ms_gguf_arr_f64(kv, 1) == -2.5, "float array");
        kv = ms_gguf_find_kv(g, "ints");
        CHECK(kv && ms_gguf_arr_i64(kv, 1) == -2, "int array");
        float out[6];
        const ms_gguf_tensor *t = ms_gguf_find_tensor(g, "m.f32");
        CHECK(t && t->n_dims == 2 && t->ne[0] == 3 && t->ne[1] == 2 && t->dtype == MS_DT_F32, "tensor info");
        if (t) { ms_gguf_tensor_to_f32(g, t, out); CHECK(!memcmp(out, m, sizeof m), "f32 data"); }
        t = ms_gguf_find_tensor(g, "m.f16");
        if (t) { ms_gguf_tensor_to_f32(g, t, out); CHECK(!memcmp(out, m, sizeof m), "f16 data (exact small ints)"); }
        t = ms_gguf_find_tensor(g, "v.bf16");
        if (t) { ms_gguf_tensor_to_f32(g, t, out); CHECK(!memcmp(out, v, sizeof v), "bf16 data"); }
        for (int k = 0; k < g->n_tensors; k++)
            CHECK(((const char *)g->tensors[k].data - (const char *)g->map) % 32 == 0, "tensor %d aligned", k);
        ms_gguf_close(g);
    }
    size_t len;
    char *whole = ms_read_file(p, &len);
    for (size_t n = 0; n < data_end && n < len; n++) {
        char *q = write_file("prefix.gguf", whole, n);
        ms_gguf *bad = ms_gguf_open(q);
        CHECK(!bad, "prefix of %zu bytes accepted", n);
        CHECK(strstr(ms_last_error(), "prefix.gguf") != NULL, "error names the file: %s", ms_last_error());
        ms_gguf_close(bad);
        free(q);
    }
    free(whole);
    free(p);
}

// ---- hand assembly, following the spec byte by byte
typedef struct { unsigned char *b; size_t n, cap; } buf;
static void put(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) { b->cap = (b->n + n) * 2 + 64; b->b = realloc(b->b, b->cap); }
    memcpy(b->b + b->n, p, n);
    b->n += n;
}
static void u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void str(buf *b, const char *s) { u64(b, strlen(s)); put(b, s, strlen(s)); }

static void test_q8_alignment(void) {
    buf b = {0};
    put(&b, "GGUF", 4);
    u32(&b, 3);
    u64(&b, 1);  // tensors
    u64(&b, 3);  // kv
    str(&b, "general.alignment"); u32(&b, MS_GGUF_UINT32); u32(&b, 64);
    str(&b, "nested"); u32(&b, MS_GGUF_ARRAY); u32(&b, MS_GGUF_ARRAY); u64(&b, 2);
    for (int i = 0; i < 2; i++) { u32(&b, MS_GGUF_UINT8); u64(&b, 3); put(&b, "xyz", 3); }
    str(&b, "u64"); u32(&b, MS_GGUF_UINT64); u64(&b, 1ULL << 40);
    str(&b, "q"); u32(&b, 2); u64(&b, 32); u64(&b, 2); u32(&b, MS_GGML_Q8_0); u64(&b, 0);
    while (b.n % 64) put(&b, "\0", 1);
    size_t data_at = b.n;
    float expect[64];
    for (int blk = 0; blk < 2; blk++) {
        uint16_t scale = ms_f32_to_f16(blk ? 0.5f : -0.25f);
        put(&b, &scale, 2);
        for (int j = 0; j < 32; j++) {
            int8_t q = (int8_t)(j * 8 - 128 + blk);
            put(&b, &q, 1);
            expect[blk * 32 + j] = (blk ? 0.5f : -0.25f) * q; // x = d * q per the Q8_0 definition
        }
    }
    char *p = write_file("q8.gguf", b.b, b.n);
    ms_gguf *g = ms_gguf_open(p);
    CHECK(g, "q8 open: %s", ms_last_error());
    if (g) {
        CHECK(g->alignment == 64 && g->data_offset == data_at, "alignment 64");
        int64_t v;
        CHECK(ms_gguf_get_int(g, "u64", &v) == 1 && v == (1LL << 40), "u64 kv after nested array");
        const ms_gguf_tensor *t = ms_gguf_find_tensor(g, "q");
        float out[64];
        CHECK(t && t->dtype == MS_DT_Q8_0 && t->nbytes == 68, "q8 tensor info");
        if (t) { CHECK(ms_gguf_tensor_to_f32(g, t, out) == 0, "q8 convert"); CHECK(!memcmp(out, expect, sizeof out), "q8 values"); }
        ms_gguf_close(g);
    }
    free(p);
    // corrupt variants: bad magic, bad version, unknown kv type, absurd counts, misaligned offset, bad alignment
    struct { size_t at; uint32_t val; const char *needle; } cases[] = {
        {0, 0x12345678u, "magic"},
        {4, 9, "version"},
        {24 + 8 + 17, 99, "unknown type"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        unsigned char *c = malloc(b.n);
        memcpy(c, b.b, b.n);
        memcpy(c + cases[k].at, &cases[k].val, 4);
        char *q = write_file("corrupt.gguf", c, b.n);
        ms_gguf *bad = ms_gguf_open(q);
        CHECK(!bad && strstr(ms_last_error(), cases[k].needle) && strstr(ms_last_error(), "corrupt.gguf"),
              "case %zu: %s", k, ms_last_error());
        ms_gguf_close(bad);
        free(q);
        free(c);
    }
    {   // n_tensors absurdly large
        unsigned char *c = malloc(b.n);
        memcpy(c, b.b, b.n);
        uint64_t huge = 1ULL << 60;
        memcpy(c + 8, &huge, 8);
        char *q = write_file("corrupt.gguf", c, b.n);
        CHECK(!ms_gguf_open(q) && strstr(ms_last_error(), "implausible"), "huge count: %s", ms_last_error());
        free(q);
        // alignment 48 (not a power of two)
        memcpy(c, b.b, b.n);
        uint32_t a48 = 48;
        memcpy(c + 24 + 8 + 17 + 4, &a48, 4);
        q = write_file("corrupt.gguf", c, b.n);
        CHECK(!ms_gguf_open(q) && strstr(ms_last_error(), "alignment"), "bad alignment: %s", ms_last_error());
        free(q);
        free(c);
    }
    free(b.b);
}

int main(void) {
    test_roundtrip();
    test_q8_alignment();
    return ms_test_summary("test_gguf");
}
