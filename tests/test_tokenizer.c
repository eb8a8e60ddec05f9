// test_tokenizer.c: tokenizers built from in-memory tables (the GGUF path) must behave exactly like
// the same vocabulary read from files: SPM tables (▁ form, scores, token types) == llama2.c
// tokenizer.bin (space form); byte-level tables (GPT-2 alphabet, "a b" merges) == vocab.json +
// merges.txt. Plus token_bytes for the special kinds of pieces.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tokenizer/tokenizer.h"
#include "util/util.h"
#include "harness.h"


static char *tmp_path(const char *name) {
    const char *d = getenv("MONOSCOPE_TMP");
    return ms_path_join(d ? d : "/tmp", name);
}

static void same_ids(const ms_tokenizer *a, const ms_tokenizer *b, const char *text, int bos) {
    int32_t *x, *y;
    size_t nx, ny;
    CHECK(!ms_tokenizer_encode(a, text, strlen(text), bos, &x, &nx), "encode a: %s", ms_last_error());
    CHECK(!ms_tokenizer_encode(b, text, strlen(text), bos, &y, &ny), "encode b: %s", ms_last_error());
    CHECK(nx == ny && !memcmp(x, y, nx * sizeof *x), "ids differ for '%s' (%zu vs %zu)", text, nx, ny);
    char *s = ms_tokenizer_decode(a, x, nx);
    CHECK(s && !strcmp(s, text), "round trip '%s' -> '%s'", text, s ? s : "(null)");
    free(s);
    free(x);
    free(y);
}

static const char *texts[] = {"hello world", "the theme then", " leading", "trailing  ", "caf\xc3\xa9 \xe2\x82\xac\xf0\x9f\x98\x80",
                              "a\nb\tc", "", "hhhhhhhhhhhheeeeee   tttt"};

static void test_spm_tables(void) {
    // vocabulary: <unk> <s> </s>, 256 byte pieces, then pieces built from "the", "hello", "world"
    const char *extra[] = {" ", "t", "h", "e", "l", "o", "w", "r", "d", "a", "b", "c", "m", "n",
                           "th", "he", "the", " the", "ll", "llo", "hello", " hello", "wor", "world", " world", "en", "then"};
    int ne = (int)(sizeof extra / sizeof *extra), n = 3 + 256 + ne;
    char **sp = calloc((size_t)n, sizeof *sp), **meta = calloc((size_t)n, sizeof *meta);
    float *scores = calloc((size_t)n, sizeof *scores);
    int32_t *types = calloc((size_t)n, sizeof *types);
    const char *ctl[] = {"<unk>", "<s>", "</s>"};
    for (int i = 0; i < 3; i++) { meta[i] = ms_strdup(ctl[i]); types[i] = i == 0 ? 2 : 3; }
    sp[0] = ms_strdup("<unk>"); sp[1] = ms_strdup("\n<s>\n"); sp[2] = ms_strdup("\n</s>\n");
    for (int b = 0; b < 256; b++) {
        char buf[8];
        snprintf(buf, sizeof buf, "<0x%02X>", b);
        sp[3 + b] = ms_strdup(buf); meta[3 + b] = ms_strdup(buf); types[3 + b] = 6;
    }
    for (int i = 0; i < ne; i++) {
        int id = 3 + 256 + i;
        sp[id] = ms_strdup(extra[i]);
        char buf[64]; size_t o = 0;
        for (const char *c = extra[i]; *c; c++) {
            if (*c == ' ') { memcpy(buf + o, "\xe2\x96\x81", 3); o += 3; } else buf[o++] = *c;
        }
        buf[o] = 0;
        meta[id] = ms_strdup(buf);
        types[id] = 1;
        scores[id] = (float)(i % 5) - (float)strlen(extra[i]) * 0.25f; // some ties
    }
    // llama2.c file in space form
    char *path = tmp_path("tables_tokenizer.bin");
    FILE *f = fopen(path, "wb");
    int32_t maxlen = 8;
    fwrite(&maxlen, 4, 1, f);
    for (int i = 0; i < n; i++) {
        int32_t l = (int32_t)strlen(sp[i]);
        fwrite(&scores[i], 4, 1, f); fwrite(&l, 4, 1, f); fwrite(sp[i], 1, (size_t)l, f);
    }
    fclose(f);
    ms_tokenizer *a = ms_tokenizer_from_tables(MS_TOK_SPM_BPE, n, (const char *const *)meta, scores, types, 0, NULL, NULL, 1, 2);
    ms_tokenizer *b = ms_tokenizer_load_llama2c(path, n);
    CHECK(a && b, "load: %s", ms_last_error());
    if (a && b) {
        CHECK(ms_tokenizer_kind(a) == MS_TOK_SPM_BPE && ms_tokenizer_vocab_size(a) == n, "kind/size");
        CHECK(ms_tokenizer_bos(a) == 1 && ms_tokenizer_eos(a) == 2, "bos/eos");
        for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) { same_ids(a, b, texts[i], 0); same_ids(a, b, texts[i], 1); }
        size_t l;
        const char *s = ms_tokenizer_token_bytes(a, 3 + 10, &l);
        CHECK(l == 1 && s[0] == '\n', "<0x0A> bytes");
        s = ms_tokenizer_token_bytes(a, 3 + 256 + 17, &l); // " the"
        CHECK(l == 4 && !memcmp(s, " the", 4), "▁the bytes '%.*s'", (int)l, s);
        ms_tokenizer_token_bytes(a, 1, &l);
        CHECK(l == 0, "BOS has no bytes");
        s = ms_tokenizer_token_bytes(b, 3 + 256 + 17, &l);
        CHECK(l == 4 && !memcmp(s, " the", 4), "llama2.c ' the' bytes");
        int32_t *ids; size_t nids;
        ms_tokenizer_encode(a, "the", 3, 1, &ids, &nids);
        CHECK(nids == 2 && ids[0] == 1 && ids[1] == 3 + 256 + 17, "' the' merged after BOS");
        free(ids);
    }
    ms_tokenizer_free(a);
    ms_tokenizer_free(b);
    for (int i = 0; i < n; i++) { free(sp[i]); free(meta[i]); }
    free(sp); free(meta); free(scores); free(types); free(path);
}

static void test_byte_tables(void) {
    // GPT-2 alphabet for the 256 bytes, then merged tokens; merges in rank order
    int b2u[256], nx = 256;
    for (int b = 0, next = 256; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        b2u[b] = printable ? b : next++;
    }
    const char *merges[] = {"\xc4\xa0 t", "h e", "\xc4\xa0t he", "l l", "ll o", "he llo", "e llo", "\xc4\xa0 w", "o r", "\xc4\xa0w or"};
    const char *merged[] = {"\xc4\xa0t", "he", "\xc4\xa0the", "ll", "llo", "hello", "ello", "\xc4\xa0w", "or", "\xc4\xa0wor"};
    int nm = (int)(sizeof merges / sizeof *merges), n = nx + nm + 1;
    char **tok = calloc((size_t)n, sizeof *tok);
    for (int b = 0; b < 256; b++) {
        char buf[4] = {0};
        unsigned cp = (unsigned)b2u[b];
        if (cp < 0x80) buf[0] = (char)cp; else { buf[0] = (char)(0xC0 | (cp >> 6)); buf[1] = (char)(0x80 | (cp & 0x3F)); }
        tok[b] = ms_strdup(buf);
    }
    for (int i = 0; i < nm; i++) tok[256 + i] = ms_strdup(merged[i]);
    tok[n - 1] = ms_strdup("<|endoftext|>");
    int32_t *types = calloc((size_t)n, sizeof *types);
    for (int i = 0; i < n; i++) types[i] = 1;
    types[n - 1] = 3;
    ms_tokenizer *a = ms_tokenizer_from_tables(MS_TOK_BYTE_BPE, n, (const char *const *)tok, NULL, types, nm, merges, NULL, n - 1, n - 1);
    // the same as vocab.json + merges.txt
    char *dir = tmp_path("tables_gpt2");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    CHECK(system(cmd) == 0, "mkdir");
    char *vp = ms_path_join(dir, "vocab.json"), *mp = ms_path_join(dir, "merges.txt");
    FILE *f = fopen(vp, "w");
    fputc('{', f);
    for (int i = 0; i < n; i++) {
        fputc('"', f);
        for (const char *c = tok[i]; *c; c++) { if (*c == '"' || *c == '\\') fputc('\\', f); fputc(*c, f); }
        fprintf(f, "\": %d%s", i, i + 1 < n ? ", " : "}");
    }
    fclose(f);
    f = fopen(mp, "w");
    fprintf(f, "#version: 0.2\n");
    for (int i = 0; i < nm; i++) fprintf(f, "%s\n", merges[i]);
    fclose(f);
    ms_tokenizer *b = ms_tokenizer_load_hf(dir);
    CHECK(a && b, "load: %s", ms_last_error());
    if (a && b) {
        for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) same_ids(a, b, texts[i], 0);
        same_ids(a, b, "x<|endoftext|> the", 0);
        int32_t *ids; size_t nids;
        ms_tokenizer_encode(a, " the hello", 10, 0, &ids, &nids);
        CHECK(nids == 3 && ids[0] == 256 + 2 && ids[1] == ' ' && ids[2] == 256 + 5, "merges applied (%zu ids)", nids);
        free(ids);
        size_t l;
        const char *s = ms_tokenizer_token_bytes(a, 256 + 2, &l);
        CHECK(l == 4 && !memcmp(s, " the", 4), "Ġthe bytes");
        s = ms_tokenizer_token_bytes(a, 10, &l); // byte 0x0A, spelled U+010A
        CHECK(l == 1 && s[0] == '\n', "newline byte");
        s = ms_tokenizer_token_bytes(a, n - 1, &l);
        CHECK(l == 13 && !memcmp(s, "<|endoftext|>", 13), "special token text");
        CHECK(!strcmp(ms_tokenizer_kind_name(a), "gpt2-bpe"), "kind name");
    }
    CHECK(!ms_tokenizer_from_tables(MS_TOK_BYTE_BPE, n, (const char *const *)tok, NULL, NULL, 1,
                                    (const char *const[]){"nospace"}, NULL, -1, -1), "bad merge rejected");
    CHECK(!ms_tokenizer_from_tables(MS_TOK_BYTE_BPE, n, (const char *const *)tok, NULL, NULL, nm, merges, "(bad", -1, -1),
          "bad pattern rejected");
    ms_tokenizer_free(a);
    ms_tokenizer_free(b);
    for (int i = 0; i < n; i++) free(tok[i]);
    free(tok); free(types); free(dir); free(vp); free(mp);
}

int main(void) {
    test_spm_tables();
    test_byte_tables();
    return ms_test_summary("test_tokenizer");
}
