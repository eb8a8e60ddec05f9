// test_sae_stream.c: the shuffled activation stream. Two files (float32 and float16, different
// sequence counts) with two hooks whose values encode (file, sequence, position): every epoch
// hands out every token exactly once; both hooks see the same token order; the order is
// shuffled (not the file order) and differs between epochs; seek(pos) reproduces exactly what
// sequential reading gave at pos (the resume guarantee); trailing dims are flattened.
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sae/act_stream.h"
#include "util/util.h"
#include "harness.h"


enum { CTX = 16, D0 = 4, D1A = 2, D1B = 3 }; // hook 1 has site shape [2, 3] -> d_in 6

// token id = file * 1000 + seq * CTX + pos; hook0 values = id, hook1 values = -id
static void write_file(const char *path, int file, int n_seq, int f16) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g = H5Gcreate2(f, "acts", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (int h = 0; h < 2; h++) {
        int d = h == 0 ? D0 : D1A * D1B;
        hsize_t dims0[3] = {(hsize_t)n_seq, CTX, D0}, dims1[4] = {(hsize_t)n_seq, CTX, D1A, D1B};
        hid_t sp = h == 0 ? H5Screate_simple(3, dims0, NULL) : H5Screate_simple(4, dims1, NULL);
        float *v = malloc(sizeof(float) * n_seq * CTX * d);
        for (int s = 0; s < n_seq; s++)
            for (int p = 0; p < CTX; p++)
                for (int j = 0; j < d; j++) {
                    float id = (float)(file * 1000 + s * CTX + p);
                    v[((size_t)s * CTX + p) * d + j] = h == 0 ? id : -id;
                }
        hid_t ft = H5Tcopy(H5T_IEEE_F32LE);
        if (f16) { // IEEE half: 16 bits, sign at 15, exponent 10..14 (bias 15), mantissa 0..9
            H5Tset_fields(ft, 15, 10, 5, 0, 10);
            H5Tset_size(ft, 2);
            H5Tset_ebias(ft, 15);
        }
        hid_t ds = H5Dcreate2(g, h == 0 ? "h0" : "h1", ft, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        H5Dclose(ds); H5Tclose(ft); H5Sclose(sp);
        free(v);
    }
    H5Gclose(g);
    H5Fclose(f);
}

int main(void) {
    const char *tmp = getenv("MONOSCOPE_TMP") ? getenv("MONOSCOPE_TMP") : "/tmp";
    char f0[512], f1[512];
    snprintf(f0, sizeof f0, "%s/stream0.h5", tmp);
    snprintf(f1, sizeof f1, "%s/stream1.h5", tmp);
    // ids stay below 2048, so float16 holds them exactly
    write_file(f0, 0, 9, 0);
    write_file(f1, 1, 5, 1);
    const char *files[2] = {f0, f1}, *hooks[2] = {"h0", "h1"};
    ms_act_stream_cfg cfg = {files, 2, hooks, 2, 3 * CTX, 7}; // buffer of 3 sequences
    ms_act_stream *s = ms_act_stream_open(&cfg);
    CHECK(s != NULL, "open: %s", ms_last_error());
    if (!s) return 1;
    CHECK(ms_act_stream_d_in(s, 0) == D0 && ms_act_stream_d_in(s, 1) == D1A * D1B, "d_in");
    const int64_t N = ms_act_stream_tokens(s);
    CHECK(N == 14 * CTX, "tokens per epoch %lld", (long long)N);
    const int64_t total = 2 * N + 37;
    float *a = malloc(sizeof(float) * total * D0), *b = malloc(sizeof(float) * total * 6);
    // read in odd chunk sizes
    int64_t pos = 0;
    int chunk = 1;
    while (pos < total) {
        int64_t n = chunk < total - pos ? chunk : total - pos;
        float *outs[2] = {a + pos * D0, b + pos * 6};
        CHECK(ms_act_stream_next(s, n, outs) == 0, "next: %s", ms_last_error());
        pos += n;
        chunk = chunk * 3 % 29 + 1;
    }
    for (int e = 0; e < 2; e++) {
        char *seen = calloc(2000, 1);
        int in_order = 1, prev = -1;
        for (int64_t t = e * N; t < (e + 1) * N; t++) {
            int id = (int)a[t * D0];
            CHECK(id >= 0 && id < 2000 && !seen[id], "epoch %d: token %d repeated or bad", e, id);
            if (id >= 0 && id < 2000) seen[id] = 1;
            CHECK((int)-b[t * 6] == id, "hooks out of step at %lld", (long long)t);
            CHECK(a[t * D0 + D0 - 1] == a[t * D0] && b[t * 6 + 5] == b[t * 6], "row not contiguous");
            if (id < prev) in_order = 0;
            prev = id;
        }
        CHECK(!in_order, "epoch %d is in file order (not shuffled)", e);
        free(seen);
    }
    int same = 1;
    for (int64_t t = 0; t < N; t++) same &= a[t * D0] == a[(N + t) * D0];
    CHECK(!same, "two epochs in the same order");
    // seek reproduces
    int64_t probes[5] = {0, 5, N - 1, N + 3, 2 * N + 10};
    for (int i = 0; i < 5; i++) {
        CHECK(ms_act_stream_seek(s, probes[i]) == 0, "seek");
        float x[D0 * 20], y[6 * 20];
        float *outs[2] = {x, y};
        int64_t n = total - probes[i] < 20 ? total - probes[i] : 20;
        ms_act_stream_next(s, n, outs);
        CHECK(!memcmp(x, a + probes[i] * D0, sizeof(float) * n * D0), "seek(%lld) differs", (long long)probes[i]);
        CHECK(!memcmp(y, b + probes[i] * 6, sizeof(float) * n * 6), "seek(%lld) differs (hook 1)", (long long)probes[i]);
    }
    ms_act_stream_close(s);
    // errors
    const char *bad_hooks[1] = {"nope"};
    ms_act_stream_cfg c2 = {files, 2, bad_hooks, 1, 0, 1};
    CHECK(ms_act_stream_open(&c2) == NULL && strstr(ms_last_error(), "nope"), "missing hook error: %s", ms_last_error());
    char **names = NULL;
    int n = ms_acts_match_hooks(f0, "h*", &names);
    CHECK(n == 2 && !strcmp(names[0], "h0") && !strcmp(names[1], "h1"), "glob match");
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(a); free(b);
    remove(f0); remove(f1);
    return ms_test_summary("test_sae_stream");
}
