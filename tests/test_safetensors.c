// test_safetensors.c: half-precision conversions (exhaustive properties), writer -> reader round
// trip, and rejection of every kind of corrupt header with an error naming the file.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "io/safetensors.h"
#include "util/util.h"
#include "harness.h"


static const char *tmpdir(void) { const char *t = getenv("MONOSCOPE_TMP"); return t ? t : "/tmp"; }

static void test_half(void) {
    // every finite f16 survives f16 -> f32 -> f16, and conversions are monotonic
    float prev = -INFINITY;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = ms_f16_to_f32((uint16_t)h);
        if (isnan(f)) continue;
        CHECK(ms_f32_to_f16(f) == h || (f == 0 && (h & 0x7fff) == 0), "f16 round trip %04x", h);
        if (h >= 0x8000) continue;
        CHECK(f > prev || h == 0, "f16 not monotonic at %04x", h);
        prev = f;
    }
    CHECK(ms_f16_to_f32(0x3c00) == 1.0f && ms_f16_to_f32(0xc000) == -2.0f, "f16 constants");
    CHECK(ms_f16_to_f32(0x0001) == ldexpf(1.0f, -24), "smallest f16 subnormal");
    CHECK(ms_f16_to_f32(0x7bff) == 65504.0f, "largest f16");
    // round to nearest: the chosen f16 is at least as close as its neighbours
    uint64_t s = 88172645463325252ULL;
    for (int i = 0; i < 200000; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        float f = ldexpf((float)(s % 2000001) / 1000000.0f - 1.0f, (int)(s >> 40) % 40 - 26);
        uint16_t h = ms_f32_to_f16(f);
        double d = fabs((double)f - ms_f16_to_f32(h));
        uint16_t up = (uint16_t)(h + 1), dn = (uint16_t)(h - 1);
        if ((up & 0x7c00) != 0x7c00) CHECK(d <= fabs((double)f - ms_f16_to_f32(up)), "f16 rounding up-neighbour %g", f);
        if ((h & 0x7fff) != 0) CHECK(d <= fabs((double)f - ms_f16_to_f32(dn)), "f16 rounding down-neighbour %g", f);
        uint16_t b = ms_f32_to_bf16(f);
        double db = fabs((double)f - ms_bf16_to_f32(b));
        CHECK(!(db > fabs((double)f - ms_bf16_to_f32((uint16_t)(b + 1)))) && !(db > fabs((double)f - ms_bf16_to_f32((uint16_t)(b - 1)))),
              "bf16 rounding %g", f); // a NaN neighbour compares false and passes
    }
    CHECK(ms_f32_to_f16(1e6f) == 0x7c00 && ms_f32_to_f16(-1e6f) == 0xfc00, "f16 overflow to inf");
    CHECK(isnan(ms_f16_to_f32(ms_f32_to_f16(NAN))) && isnan(ms_bf16_to_f32(ms_f32_to_bf16(NAN))), "nan stays nan");
    for (uint32_t b = 0; b < 65536; b++) {
        float f = ms_bf16_to_f32((uint16_t)b);
        if (!isnan(f)) CHECK(ms_f32_to_bf16(f) == b, "bf16 round trip %04x", b);
    }
}

static char *write_file(const char *name, const void *data, size_t n) {
    char *p = ms_path_join(tmpdir(), name);
    FILE *f = fopen(p, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
    return p;
}

static void test_roundtrip(void) {
    float a[6] = {1, -2, 3.5f, 0.25f, -0.125f, 1e-3f};
    uint16_t h[4], b[3];
    for (int i = 0; i < 4; i++) h[i] = ms_f32_to_f16(a[i]);
    for (int i = 0; i < 3; i++) b[i] = ms_f32_to_bf16(a[i]);
    int32_t ints[2] = {7, -9};
    ms_st_writer *w = ms_st_writer_new();
    int64_t s23[2] = {2, 3}, s4[1] = {4}, s3[1] = {3}, s2[1] = {2}, s0[1] = {0};
    ms_st_writer_add(w, "a.weight", MS_DT_F32, 2, s23, a);
    ms_st_writer_add(w, "half", MS_DT_F16, 1, s4, h);
    ms_st_writer_add(w, "brain", MS_DT_BF16, 1, s3, b);
    ms_st_writer_add(w, "ints", MS_DT_I32, 1, s2, ints);
    ms_st_writer_add(w, "empty", MS_DT_F32, 1, s0, NULL);
    ms_st_writer_meta(w, "format", "pt");
    char *p = ms_path_join(tmpdir(), "rt.safetensors");
    CHECK(ms_st_writer_write(w, p) == 0, "write: %s", ms_last_error());
    ms_st_writer_free(w);
    ms_safetensors *st = ms_safetensors_open(p);
    CHECK(st, "open: %s", ms_last_error());
    if (st) {
        CHECK(st->n_tensors == 5, "n_tensors %d", st->n_tensors);
        const ms_st_tensor *t = ms_safetensors_find(st, "a.weight");
        float out[6];
        CHECK(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->dtype == MS_DT_F32, "a.weight header");
        if (t) { ms_tensor_to_f32(t->dtype, t->data, 6, out); CHECK(!memcmp(out, a, sizeof a), "a.weight data"); }
        t = ms_safetensors_find(st, "half");
        if (t) { ms_tensor_to_f32(t->dtype, t->data, 4, out); for (int i = 0; i < 4; i++) CHECK(fabsf(out[i] - a[i]) < 1e-3f, "f16 value"); }
        t = ms_safetensors_find(st, "brain");
        if (t) { ms_tensor_to_f32(t->dtype, t->data, 3, out); for (int i = 0; i < 3; i++) CHECK(out[i] == a[i], "bf16 value"); }
        t = ms_safetensors_find(st, "ints");
        CHECK(t && !memcmp(t->data, ints, 8), "i32 data");
        CHECK(ms_safetensors_meta(st, "format") && !strcmp(ms_safetensors_meta(st, "format"), "pt"), "metadata");
        CHECK(ms_safetensors_find(st, "nope") == NULL, "find missing");
        CHECK(((8 + (size_t)((const unsigned char *)ms_safetensors_find(st, "a.weight")->data - (const unsigned char *)st->map - 8)) % 8) == 0,
              "data area 8-byte aligned");
        ms_safetensors_close(st);
    }
    // every proper prefix of the file is rejected cleanly
    size_t len;
    char *whole = ms_read_file(p, &len);
    for (size_t n = 0; n < len; n++) {
        char *q = write_file("prefix.safetensors", whole, n);
        ms_safetensors *bad = ms_safetensors_open(q);
        CHECK(!bad, "prefix of %zu bytes accepted", n);
        CHECK(strstr(ms_last_error(), "prefix.safetensors") != NULL, "error names the file: %s", ms_last_error());
        ms_safetensors_close(bad);
        free(q);
    }
    free(whole);
    free(p);
}

// A file from a hand-written header and n data bytes; expects rejection mentioning `needle`.
static void expect_bad(const char *header, size_t ndata, const char *needle) {
    size_t hl = strlen(header);
    unsigned char *buf = calloc(1, 8 + hl + ndata);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    char *p = write_file("bad.safetensors", buf, 8 + hl + ndata);
    ms_safetensors *st = ms_safetensors_open(p);
    CHECK(!st, "accepted bad header %s", header);
    if (!st) {
        CHECK(strstr(ms_last_error(), "bad.safetensors") && strstr(ms_last_error(), needle),
              "error for %s: '%s' lacks '%s'", header, ms_last_error(), needle);
    }
    ms_safetensors_close(st);
    free(p);
    free(buf);
}

static void test_corrupt(void) {
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "JSON");
    expect_bad("[1,2]", 0, "not a JSON object");
    expect_bad("{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "F33");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "need 12");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "truncated");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "data_offsets");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "dimension");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "lacks");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap");
    expect_bad("{\"__metadata__\":{\"k\":3}}", 0, "metadata");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", 8, "overflow");
    // header length larger than the file
    unsigned char big[16] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, '{', '}'};
    char *p = write_file("big.safetensors", big, sizeof big);
    CHECK(!ms_safetensors_open(p) && strstr(ms_last_error(), "header length"), "huge header length: %s", ms_last_error());
    free(p);
    CHECK(!ms_safetensors_open("/nonexistent/x.safetensors") && strstr(ms_last_error(), "x.safetensors"), "missing file");
    // unwritable output
    ms_st_writer *w = ms_st_writer_new();
    CHECK(ms_st_writer_write(w, "/nonexistent/dir/out.safetensors") == -1 && strstr(ms_last_error(), "out.safetensors"),
          "unwritable output");
    ms_st_writer_free(w);
}

int main(void) {
    test_half();
    test_roundtrip();
    test_corrupt();
    return ms_test_summary("test_safetensors");
}
