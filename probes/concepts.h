// concepts.h: rule-based concept labels per token (README "Probes and concepts").
//
// A rule is a name and a PCRE2 pattern (compiled with PCRE2_UTF | PCRE2_UCP) matched over each
// document's text; when the pattern has a capture group, group 1's span is the concept, else the
// whole match. A token is labelled when its bytes overlap a span (a zero-width span labels the token
// holding that byte). Token byte offsets come from the tokenizer's bytes of each token in order,
// aligned to the text (bytes the text lacks, e.g. SentencePiece's dummy-prefix space, take no width),
// so a token holding part of a multi-byte character overlaps that character's span.
// Windows and their order are capture's (src/capture/input.h), so labels line up with a capture made
// with the same --input, --input-format, --ctx and --prepend-bos.
#ifndef MS_PROBES_CONCEPTS_H
#define MS_PROBES_CONCEPTS_H
#include "capture/input.h"
#include "probes/labels.h"

typedef struct {
    const char *name, *pattern;
} ms_concept_rule;

// The built-in rule set (n rules into *n).
const ms_concept_rule *ms_concept_default_rules(int *n);
// Rules from a JSON object {"name": "pattern", ...}; malloc'ed strings, free with ms_concept_rules_free.
ms_concept_rule *ms_concept_rules_load(const char *path, int *n);
void ms_concept_rules_free(ms_concept_rule *r, int n);

typedef struct {
    const char *input;
    ms_input_format format;   // text or jsonl
    int ctx, prepend_bos, bos, vocab_size;
    const ms_tokenizer *tok;
    const ms_concept_rule *rules;
    int n_rules;
    int pack, sep;            // capture --pack's windows: documents joined by sep (never labelled)
} ms_concept_opts;

// Labels every window of the input. NULL + ms_error (a bad pattern names the rule and the offset).
ms_labels *ms_concepts_label(const ms_concept_opts *o);

#endif
