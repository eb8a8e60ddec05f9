// tok_internal.h: the tokenizer's private pieces, shared by the files of src/tokenizer only.
//   tok_maps.c   hash maps: byte string -> id, (id, id) -> merge
//   tok_utf8.c   UTF-8 decoding, WHATWG-style repair of invalid input, GPT-2's byte<->unicode table
//   tok_pretok.c pre-tokenization: added-token split, regex / digit splits (PCRE2, UTF + UCP)
//   tok_bpe.c    the merge engine (rank-ordered or score-ordered, heap + linked symbols)
//   tokenizer.c  building a tokenizer from tables, encode / decode / token bytes
//   tok_load_hf.c, tok_load_llama2c.c  the file formats
#ifndef MS_TOK_INTERNAL_H
#define MS_TOK_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include "tokenizer/tokenizer.h"

// ---- byte string -> int32 map (open addressing, keys copied into one arena)
typedef struct {
    uint32_t *slot;     // index+1 into the entry arrays, 0 = empty
    uint64_t *hash;     // per entry
    uint32_t *off, *len; // key bytes in keys
    int32_t *val;
    char *keys;
    size_t keys_len, keys_cap;
    uint32_t n, cap_entries, n_slots; // n_slots is a power of two
} tok_strmap;
void tok_strmap_init(tok_strmap *m, uint32_t expect);
void tok_strmap_free(tok_strmap *m);
// Inserts or overwrites. Returns the previous value or -1.
int32_t tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t val);
int32_t tok_strmap_get(const tok_strmap *m, const char *key, size_t len); // -1 if absent

// ---- (left id, right id) -> (rank, merged id)
typedef struct {
    uint64_t *key;   // (a << 32 | b) + 1, 0 = empty
    int32_t *rank, *merged;
    uint32_t n, n_slots;
} tok_pairmap;
void tok_pairmap_init(tok_pairmap *m, uint32_t expect);
void tok_pairmap_free(tok_pairmap *m);
void tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t merged); // keeps the first
int tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *merged);

uint64_t tok_hash(const void *p, size_t n);

// ---- UTF-8
// Decodes one well-formed UTF-8 sequence at s (n bytes available). Returns its length (1..4) and
// the code point, or 0 when the bytes at s do not start a well-formed sequence.
int tok_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
int tok_utf8_encode(uint32_t cp, char *out); // returns 1..4
// Replaces every maximal ill-formed subpart by U+FFFD (the WHATWG / Unicode "best practice" rule
// that Node's TextDecoder and Python's bytes.decode('utf-8', 'replace') both follow). Returns a
// malloc'ed copy (NUL-terminated) and *out_len, or NULL when the input is already valid.
char *tok_utf8_repair(const char *s, size_t n, size_t *out_len);
// GPT-2's table: byte b is written as the code point tok_byte_to_cp[b] in vocab strings.
void tok_byte_unicode_table(uint32_t byte_to_cp[256]);

// ---- pre-tokenization steps (the HF pre_tokenizer pipeline, reduced to what BPE models use)
typedef enum { TOK_STEP_REGEX = 0, TOK_STEP_DIGITS = 1 } tok_step_kind;
typedef enum { TOK_SPLIT_ISOLATED = 0, TOK_SPLIT_REMOVED, TOK_SPLIT_MERGED_PREV, TOK_SPLIT_MERGED_NEXT,
               TOK_SPLIT_CONTIGUOUS } tok_split_behavior;
typedef struct {
    tok_step_kind kind;
    tok_split_behavior behavior;
    int invert;             // regex: the pieces are the non-matches
    int individual_digits;  // digits step
    void *re;               // pcre2_code*
    int jit;
} tok_step;
// Compiles pattern (PCRE2, UTF + UCP; literal when is_literal). NULL pattern = GPT-2's. 0 / -1.
int tok_step_regex(tok_step *s, const char *pattern, int is_literal, tok_split_behavior b, int invert);
void tok_step_free(tok_step *s);

typedef struct { size_t off, len; } tok_span;
typedef struct { tok_span *v; size_t n, cap; } tok_spans;
void tok_spans_push(tok_spans *s, size_t off, size_t len);
// Applies one step to every span of in (text is valid UTF-8), appending the pieces to out. 0 / -1.
int tok_step_apply(const tok_step *s, const char *text, const tok_spans *in, tok_spans *out);

// ---- the tokenizer
enum { TOK_TYPE_NORMAL = 1, TOK_TYPE_UNKNOWN = 2, TOK_TYPE_CONTROL = 3, TOK_TYPE_USER = 4,
       TOK_TYPE_UNUSED = 5, TOK_TYPE_BYTE = 6 };
typedef enum { TOK_MERGE_RANK = 0, TOK_MERGE_SCORE = 1 } tok_merge_mode;
typedef enum { TOK_PREFIX_NONE = 0, TOK_PREFIX_EVERY = 1, TOK_PREFIX_FIRST = 2 } tok_prefix_mode;

struct ms_tokenizer {
    ms_tok_kind kind;
    int n_vocab;
    char **piece;          // vocab strings as stored in the file (GPT-2 unicode form, SPM ▁ or ' ')
    uint32_t *piece_len;
    char **bytes;          // what each token stands for in running text
    uint32_t *bytes_len;
    float *score;          // SPM scores, or NULL
    int32_t *type;         // TOK_TYPE_* per token
    tok_strmap by_piece;   // piece -> id
    tok_strmap by_bytes;   // raw bytes -> id (byte BPE: the word lookup)
    tok_pairmap merges;    // rank-mode merges
    int n_merges;
    tok_merge_mode merge_mode;
    int32_t byte_id[256];  // byte BPE: token of a single byte; SPM: <0xNN> piece (-1 if none)
    int byte_fallback;     // SPM: unknown chars become <0xNN> pieces (else unk)
    int ignore_merges;     // a whole word found in the vocab is emitted as is (HF BPE option)
    int unk_id, bos_id, eos_id;
    // SPM text handling
    int meta_space;        // pieces spell space as U+2581 "▁"
    tok_prefix_mode prefix; // dummy-prefix space (SPM) / ByteLevel add_prefix_space
    int strip_leading_space; // decode: drop one leading space at the start of the text
    int nfc;               // tokenizer.json asks for NFC: supported only where it is the identity
    // byte BPE pre-tokenizer pipeline
    tok_step *steps;
    int n_steps;
    // added tokens matched literally in the input before anything else (HF added_tokens)
    int32_t *added;        // ids, longest content first
    int n_added;
    uint8_t added_first[256]; // bytes that can start an added token
};

// Builds the lookup structures once pieces/bytes/scores/types are set. 0 / -1.
int tok_finish(ms_tokenizer *t);
ms_tokenizer *tok_alloc(ms_tok_kind kind, int n_vocab);
// Sets the merge list from "a b" strings or (a, b) pairs given as piece strings. 0 / -1.
int tok_add_merge(ms_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen, int rank);
// Appends a regex pre-tokenizer step (NULL = GPT-2's pattern).
int tok_add_step_regex(ms_tokenizer *t, const char *pattern, int is_literal, tok_split_behavior b, int invert);
void tok_add_step_digits(ms_tokenizer *t, int individual);
void tok_set_added(ms_tokenizer *t, const int32_t *ids, int n);

// ---- merge engine: one word (array of initial symbol ids) -> merged ids, in place.
typedef struct tok_bpe_work tok_bpe_work;
tok_bpe_work *tok_bpe_work_new(void);
void tok_bpe_work_free(tok_bpe_work *w);
// ids[0..n) in, result written back to ids, returns new count.
size_t tok_bpe_merge(const ms_tokenizer *t, tok_bpe_work *w, int32_t *ids, size_t n);

#define TOK_GPT2_PATTERN "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

#endif
