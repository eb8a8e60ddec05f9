// tokenizer.h: the two tokenizer families of the supported checkpoints, behind one type.
//   MS_TOK_BYTE_BPE: GPT-2 style byte-level BPE (byte<->unicode table, merges, a pre-tokenizer
//                    split regex: GPT-2's by default, or the one tokenizer.json names).
//   MS_TOK_SPM_BPE:  SentencePiece-style BPE over pieces with scores and <0xNN> byte fallback
//                    (llama2.c tokenizer.bin, Llama tokenizer.json, GGUF "llama" tokenizers).
#ifndef MS_TOKENIZER_H
#define MS_TOKENIZER_H
#include <stddef.h>
#include <stdint.h>

typedef enum { MS_TOK_BYTE_BPE = 0, MS_TOK_SPM_BPE = 1 } ms_tok_kind;
typedef struct ms_tokenizer ms_tokenizer;

// Loaders. NULL + ms_error() on failure.
// dir holding tokenizer.json, or vocab.json + merges.txt (or the path of one of those .json files);
// tokenizer_config.json / config.json beside them name BOS/EOS when tokenizer.json does not.
ms_tokenizer *ms_tokenizer_load_hf(const char *dir);
// llama2.c tokenizer.bin (max_token_length, then per token: float score, int len, bytes).
// vocab_size <= 0: as many tokens as the file holds.
ms_tokenizer *ms_tokenizer_load_llama2c(const char *path, int vocab_size);
// From in-memory tables (GGUF metadata "tokenizer.ggml.*"):
//   byte BPE: tokens in GPT-2's byte-to-unicode form, merges "a b"; scores/types may be NULL.
//   SPM: tokens with ▁ for space and <0xNN> byte pieces, scores required, merges NULL.
// pre_pattern: the pre-tokenizer split regex (NULL: GPT-2's). bos/eos: -1 if none.
ms_tokenizer *ms_tokenizer_from_tables(ms_tok_kind kind, int n_tokens, const char *const *tokens,
                                       const float *scores, const int32_t *types,
                                       int n_merges, const char *const *merges,
                                       const char *pre_pattern, int bos_id, int eos_id);
// Any of the above by path: a directory (HF), a *.json file (tokenizer.json, or vocab.json with
// merges.txt beside it), else a llama2.c tokenizer.bin (vocabulary size read from the file).
ms_tokenizer *ms_tokenizer_load(const char *path);
void ms_tokenizer_free(ms_tokenizer *t);
// Writes dir/vocab.json + dir/merges.txt (GPT-2's pair of files; dir created if missing): tokens[i]
// gets id i, merges are "left right" strings in rank order. tok_save_hf.c. 0 / -1 + ms_error.
int ms_tokenizer_save_vocab_merges(const char *dir, int n_tokens, const char *const *tokens, int n_merges,
                                   const char *const *merges);

ms_tok_kind ms_tokenizer_kind(const ms_tokenizer *t);
const char *ms_tokenizer_kind_name(const ms_tokenizer *t); // "gpt2-bpe", "sentencepiece-bpe"
int ms_tokenizer_vocab_size(const ms_tokenizer *t);
int ms_tokenizer_bos(const ms_tokenizer *t);  // -1 if none
int ms_tokenizer_eos(const ms_tokenizer *t);

// Encodes UTF-8 (possibly invalid) text exactly like the reference implementation of the
// family. add_bos: prepend BOS when the tokenizer has one. *ids is malloc'ed. Returns 0 / -1.
int ms_tokenizer_encode(const ms_tokenizer *t, const char *text, size_t len, int add_bos,
                        int32_t **ids, size_t *n_ids);
// The raw bytes one token stands for in running text (GPT-2: byte-decoded, added/special tokens
// such as <|endoftext|> as their own text, like tiktoken's and HF's decode; SPM: ▁ -> ' ',
// <0x0A> -> '\n'; SPM control pieces <s>, </s>, <unk>: empty). Stable pointer; *len may cover a
// partial UTF-8 char. Out-of-range id: "" with *len 0.
const char *ms_tokenizer_token_bytes(const ms_tokenizer *t, int32_t id, size_t *len);
// Decodes a sequence to text (malloc'ed, NUL-terminated); SPM drops the dummy-prefix space at the
// start of the text (after BOS too), like sentencepiece. NULL + ms_error() if an id is out of range.
char *ms_tokenizer_decode(const ms_tokenizer *t, const int32_t *ids, size_t n);
// The same, with the length (the text may contain NUL bytes, e.g. from <0x00>).
char *ms_tokenizer_decode_bytes(const ms_tokenizer *t, const int32_t *ids, size_t n, size_t *len);

#endif
