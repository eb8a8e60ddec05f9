// cmd_run.c: `monoscope run`: next-token predictions (and an optional greedy continuation) of a
// prompt with and without edits at hook sites: ablation, SAE-feature steering, activation patching.
// Only option parsing and printing live here; the edits and the two runs are model/intervene.h,
// steering with an SAE feature sae/steer.h.
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "capture/input.h"
#include "cli/cli.h"
#include "model/intervene.h"
#include "sae/sae.h"
#include "sae/steer.h"
#include "util/util.h"

static void help(FILE *f) {
    fprintf(f,
        "usage: monoscope run --model PATH (--prompt S | --ids \"1 2 3\") [edits] [-n N] [--top K] [--json]\n\n"
        "Prints the top next-token predictions after the prompt's last token, unedited and edited side\n"
        "by side (token, probability, logit), and with -n both greedy continuations.\n\n"
        "  -m, --model PATH        checkpoint: Hugging Face dir, GGUF file, or llama2.c .bin\n"
        "  -p, --prompt S          text prompt (BOS prepended when the tokenizer has one)\n"
        "  -i, --ids LIST          prompt as whitespace-separated token ids, used as given\n"
        "edits (any number, applied in the order given; every position of every run, generated tokens too):\n"
        "      --ablate SITE[:head=H]\n"
        "                          zero the site's activation (only head H for sites with a head dim)\n"
        "      --steer SITE:feature=F[,scale=X][,head=H]\n"
        "                          add X * W_dec[F] of --sae (default X = 1) to every position's row\n"
        "      --sae PATH          the SAE file for --steer; its hook must be SITE, its d_in the site's size\n"
        "      --patch SITE[:head=H]\n"
        "                          overwrite the site with its activation on --from-prompt/--from-ids,\n"
        "                          positions aligned from the start, over the shorter of the two lengths\n"
        "      --from-prompt S     source prompt for --patch (tokenized like --prompt)\n"
        "      --from-ids LIST     source ids for --patch\n"
        "output:\n"
        "  -n N                    also generate N tokens greedily, unedited and edited (default 0)\n"
        "  -k, --top K             predictions to list (default 10)\n"
        "      --json              one JSON object instead of the table\n"
        "  -h, --help              this help\n"
        "Sites are TransformerLens names; `monoscope hooks --model PATH` lists them.\n");
}

typedef struct {
    const char *model, *prompt, *ids, *sae, *from_prompt, *from_ids;
    const char **edit_text;  // [n_edits] the option value as given
    ms_intervention_kind *edit_kind;
    int n_edits;
    long n_gen, top;
    int json;
} run_args;

static void add_edit(run_args *a, ms_intervention_kind kind, const char *text) {
    a->edit_text = ms_realloc(a->edit_text, (size_t)(a->n_edits + 1) * sizeof *a->edit_text);
    a->edit_kind = ms_realloc(a->edit_kind, (size_t)(a->n_edits + 1) * sizeof *a->edit_kind);
    a->edit_text[a->n_edits] = text;
    a->edit_kind[a->n_edits++] = kind;
}

// 0 ok, 1 help printed, 2 usage error (printed)
static int parse_args(int argc, char **argv, run_args *a) {
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},     {"prompt", required_argument, 0, 'p'},
        {"ids", required_argument, 0, 'i'},       {"ablate", required_argument, 0, 'A'},
        {"steer", required_argument, 0, 'S'},     {"sae", required_argument, 0, 'E'},
        {"patch", required_argument, 0, 'P'},     {"from-prompt", required_argument, 0, 'F'},
        {"from-ids", required_argument, 0, 'I'},  {"top", required_argument, 0, 'k'},
        {"json", no_argument, 0, 'J'},            {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int ch;
    a->top = 10;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "m:p:i:n:k:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': a->model = optarg; break;
        case 'p': a->prompt = optarg; break;
        case 'i': a->ids = optarg; break;
        case 'A': add_edit(a, MS_IV_ABLATE, optarg); break;
        case 'S': add_edit(a, MS_IV_ADD, optarg); break;
        case 'P': add_edit(a, MS_IV_PATCH, optarg); break;
        case 'E': a->sae = optarg; break;
        case 'F': a->from_prompt = optarg; break;
        case 'I': a->from_ids = optarg; break;
        case 'n': if ((a->n_gen = cli_parse_long("-n", optarg)) < 0) return 2; break;
        case 'k': if ((a->top = cli_parse_long("--top", optarg)) < 0) return 2; break;
        case 'J': a->json = 1; break;
        case 'h': help(stdout); return 1;
        default: return cli_usage_error("unknown option (see monoscope run --help)");
        }
    }
    if (optind != argc) return cli_usage_error("unexpected argument '%s' (see monoscope run --help)", argv[optind]);
    if (!a->model) return cli_usage_error("--model is required (see monoscope run --help)");
    if (!a->prompt == !a->ids) return cli_usage_error("give exactly one of --prompt or --ids");
    if (a->from_prompt && a->from_ids) return cli_usage_error("give either --from-prompt or --from-ids, not both");
    if (a->top < 1) return cli_usage_error("--top must be at least 1");
    int patches = 0, steers = 0;
    for (int i = 0; i < a->n_edits; i++) {
        patches += a->edit_kind[i] == MS_IV_PATCH;
        steers += a->edit_kind[i] == MS_IV_ADD;
    }
    if (patches && !a->from_prompt && !a->from_ids)
        return cli_usage_error("--patch needs the source run: --from-prompt S or --from-ids LIST");
    if (!patches && (a->from_prompt || a->from_ids))
        return cli_usage_error("--from-prompt / --from-ids only make sense with --patch SITE");
    if (steers && !a->sae) return cli_usage_error("--steer needs --sae PATH (the dictionary whose decoder row is added)");
    if (!steers && a->sae) return cli_usage_error("--sae only makes sense with --steer SITE:feature=F");
    return 0;
}

// Token ids of a --prompt / --ids pair (exactly one non-NULL); 0 or -1 + ms_error.
static int prompt_ids(const ms_model *m, const char *text, const char *ids_str, const char *opt, int32_t **ids,
                      size_t *n) {
    if (text) {
        if (!m->tok) { ms_error("%s needs a tokenizer and this model has none (give ids instead)", opt); return -1; }
        if (ms_tokenizer_encode(m->tok, text, strlen(text), 1, ids, n)) return -1;
    } else if (ms_parse_ids(ids_str, opt, ids, n)) {
        return -1;
    }
    if (*n == 0) { ms_error("%s: no tokens", opt); return -1; }
    for (size_t i = 0; i < *n; i++)
        if ((*ids)[i] >= m->cfg.vocab_size) {
            ms_error("%s: token id %d is outside the vocabulary (0..%d)", opt, (int)(*ids)[i], m->cfg.vocab_size - 1);
            return -1;
        }
    if (*n > (size_t)m->cfg.n_ctx) {
        ms_error("%s: %zu tokens exceed the model's context of %d", opt, *n, m->cfg.n_ctx);
        return -1;
    }
    return 0;
}

// Builds iv[0..n_edits) from the options (recording patch sources). 0 or -1 + ms_error.
static int build_edits(const run_args *a, const ms_model *m, const ms_sae *sae, ms_intervention *iv) {
    int32_t *src = NULL;
    size_t n_src = 0;
    int rc = 0;
    for (int i = 0; i < a->n_edits && !rc; i++) {
        iv[i].kind = a->edit_kind[i];
        if (iv[i].kind == MS_IV_ADD) { rc = ms_intervention_steer(&iv[i], m, sae, a->edit_text[i]); continue; }
        rc = ms_intervention_parse_site(&iv[i], &m->cfg, a->edit_text[i]);
        if (rc || iv[i].kind != MS_IV_PATCH) continue;
        if (!src) rc = prompt_ids(m, a->from_prompt, a->from_ids, a->from_prompt ? "--from-prompt" : "--from-ids", &src, &n_src);
        if (!rc) rc = ms_intervention_record_patch(&iv[i], m, src, (int)n_src);
    }
    free(src);
    return rc;
}

// A token as printable UTF-8: valid multi-byte sequences kept, control and stray bytes as \xNN.
static void token_display(const ms_model *m, int32_t id, char *out, size_t cap) {
    if (!m->tok) { snprintf(out, cap, "#%d", (int)id); return; }
    size_t len, o = 0;
    const unsigned char *b = (const unsigned char *)ms_tokenizer_token_bytes(m->tok, id, &len);
    for (size_t i = 0; i < len && o + 5 < cap; i++) {
        int n = b[i] < 0x80 ? 1 : (b[i] & 0xE0) == 0xC0 ? 2 : (b[i] & 0xF0) == 0xE0 ? 3 : (b[i] & 0xF8) == 0xF0 ? 4 : 0;
        for (int j = 1; j < n; j++)
            if (i + j >= len || (b[i + j] & 0xC0) != 0x80) n = 0;
        if (n == 1 && b[i] >= 0x20 && b[i] != 0x7f && b[i] != '\\') out[o++] = (char)b[i];
        else if (n > 1 && o + (size_t)n < cap) { memcpy(out + o, b + i, (size_t)n); o += (size_t)n; i += (size_t)n - 1; }
        else o += (size_t)snprintf(out + o, cap - o, b[i] == '\\' ? "\\\\" : "\\x%02x", b[i]);
    }
    out[o] = 0;
}

static void print_table(const ms_model *m, const run_args *a, const ms_run_result r[2], int k, int n_prompt) {
    printf("prompt: %d tokens; edits: %d\n", n_prompt, a->n_edits);
    for (int i = 0; i < a->n_edits; i++)
        printf("  --%s %s\n", a->edit_kind[i] == MS_IV_ABLATE ? "ablate" : a->edit_kind[i] == MS_IV_ADD ? "steer" : "patch",
               a->edit_text[i]);
    printf("\n%4s  %-40s  %s\n", "rank", "clean: token  prob  (logit)", "edited: token  prob  (logit)");
    for (int j = 0; j < k; j++) {
        char cell[2][128], tok[64];
        for (int w = 0; w < 2; w++) {
            token_display(m, r[w].top[j].id, tok, sizeof tok);
            snprintf(cell[w], sizeof cell[w], "%-14s %.6f  (%.4f)", tok, r[w].top[j].prob, r[w].top[j].logit);
        }
        printf("%4d  %-40s  %s\n", j + 1, cell[0], cell[1]);
    }
    if (!a->n_gen) return;
    for (int w = 0; w < 2; w++) {
        printf("\n%s:", w ? "edited" : "clean ");
        for (int t = n_prompt; t < r[w].len; t++) {
            char tok[64];
            token_display(m, r[w].ids[t], tok, sizeof tok);
            printf(m->tok ? "%s" : " %s", tok);
        }
    }
    printf("\n");
}

static json_object *result_json(const ms_model *m, const ms_run_result *r, int k, int n_prompt) {
    json_object *o = json_object_new_object(), *top = json_object_new_array(), *gen = json_object_new_array();
    for (int j = 0; j < k; j++) {
        char tok[64];
        token_display(m, r->top[j].id, tok, sizeof tok);
        json_object *e = json_object_new_object();
        json_object_object_add(e, "id", json_object_new_int(r->top[j].id));
        json_object_object_add(e, "token", json_object_new_string(tok));
        json_object_object_add(e, "prob", json_object_new_double(r->top[j].prob));
        json_object_object_add(e, "logit", json_object_new_double(r->top[j].logit));
        json_object_array_add(top, e);
    }
    for (int t = n_prompt; t < r->len; t++) json_object_array_add(gen, json_object_new_int(r->ids[t]));
    json_object_object_add(o, "top", top);
    json_object_object_add(o, "generated", gen);
    return o;
}

static void print_json(const ms_model *m, const ms_run_result r[2], int k, int n_prompt) {
    json_object *o = json_object_new_object(), *p = json_object_new_array();
    for (int t = 0; t < n_prompt; t++) json_object_array_add(p, json_object_new_int(r[0].ids[t]));
    json_object_object_add(o, "prompt_ids", p);
    json_object_object_add(o, "clean", result_json(m, &r[0], k, n_prompt));
    json_object_object_add(o, "edited", result_json(m, &r[1], k, n_prompt));
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
}

int cmd_run(int argc, char **argv) {
    run_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc) { free(a.edit_text); free(a.edit_kind); return rc == 1 ? 0 : rc; }
    ms_model *m = ms_model_load(a.model);
    ms_sae *sae = NULL;
    ms_intervention *iv = ms_calloc((size_t)a.n_edits + 1, sizeof *iv);
    ms_run_result r[2] = {{0}};
    int32_t *ids = NULL;
    size_t n = 0;
    rc = 1;
    if (!m) goto out;
    if (a.sae && !(sae = ms_sae_load(a.sae))) goto out;
    if (prompt_ids(m, a.prompt, a.ids, a.prompt ? "--prompt" : "--ids", &ids, &n)) goto out;
    if (build_edits(&a, m, sae, iv)) goto out;
    const int k = a.top < m->cfg.vocab_size ? (int)a.top : m->cfg.vocab_size;
    if (ms_run_clean_and_edited(m, ids, (int)n, (int)a.n_gen, k, iv, a.n_edits, r)) goto out;
    if (a.json) print_json(m, r, k, (int)n);
    else print_table(m, &a, r, k, (int)n);
    rc = 0;
out:
    if (rc) cli_fail();
    for (int w = 0; w < 2; w++) ms_run_result_free(&r[w]);
    for (int i = 0; i < a.n_edits; i++) ms_intervention_release(&iv[i]);
    free(iv);
    free(ids);
    free(a.edit_text);
    free(a.edit_kind);
    ms_sae_free(sae);
    ms_model_free(m);
    return rc;
}
