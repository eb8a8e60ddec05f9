// fuzz_concept_rules.c: bytes as a concept rules file (`concepts label --rules`, a JSON object of
// name -> PCRE2 pattern) through ms_concept_rules_load, then every rule compiled and matched over a
// fixed jsonl corpus of two documents (multi-byte characters, digits, capitals) tokenized by a tiny
// GPT-2's tokenizer (fuzz_hf_model.h), as `concepts label` does. A hostile pattern (catastrophic
// backtracking, huge repeats) must end in PCRE2's match limit and one error line, not a hang.
#include "fuzz_hf_model.h"
#include "probes/concepts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static ms_tokenizer *tok;
    static const char *corpus;
    if (!tok) {
        tok = ms_tokenizer_load_hf(fuzz_hf_dir("rules_model"));
        if (!tok) { fprintf(stderr, "%s\n", ms_last_error()); abort(); }
        static const char docs[] = "{\"text\": \"The Cat sat on 12 mats in Paris, caf\\u00e9 \\u65e5\\u672c 3.5 NASA\"}\n"
                                   "{\"text\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa! Alice met Bob at 10:30.\\n\\tEnd\"}\n";
        corpus = ms_strdup(fuzz_put(1, "rules/corpus.jsonl", docs, sizeof docs - 1));
    }
    const char *path = fuzz_put(0, "rules/rules.json", data, size);
    ms_clear_error();
    int n = 0;
    ms_concept_rule *r = ms_concept_rules_load(path, &n);
    if (!r) { fuzz_check_refusal("ms_concept_rules_load"); return 0; }
    ms_concept_opts o = {.input = corpus, .format = MS_INPUT_JSONL, .ctx = 8, .prepend_bos = 0, .bos = -1,
                         .vocab_size = ms_tokenizer_vocab_size(tok), .tok = tok, .rules = r, .n_rules = n};
    ms_clear_error();
    ms_labels *l = ms_concepts_label(&o);
    if (l) {
        if (l->n_concepts != n) { fprintf(stderr, "%d rules gave %d concepts\n", n, l->n_concepts); abort(); }
        ms_labels_free(l);
    } else if (!*ms_last_error() || strchr(ms_last_error(), '\n')) {
        fprintf(stderr, "ms_concepts_label refused without one error line: \"%s\"\n", ms_last_error());
        abort();
    }
    ms_concept_rules_free(r, n);
    return 0;
}
