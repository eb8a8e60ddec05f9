// bpe_train.h: learning GPT-2-style byte-level BPE merges from a corpus.
//
// The standard algorithm: split every document with GPT-2's pre-tokenizer regex (the one the
// encoder uses), count the distinct pieces ("words"), start every word as its bytes, then repeatedly
// merge the most frequent adjacent pair of tokens (counted over all words, weighted by word
// frequency) into a new token. Pair counts are updated incrementally: a merge touches only the
// words that contain the pair.
//
// Ids are those of the written vocab.json: 0..255 the byte tokens in GPT-2's order (bytes sorted by
// the code point GPT-2's byte<->unicode table gives them: '!'..'~', '¡'..'¬', '®'..'ÿ', then the
// 68 remapped bytes), 256 + k the token made by merge k, and <|endoftext|> last.
// Ties between pairs of equal count go to the smallest (left id, right id).
#ifndef MS_BPE_TRAIN_H
#define MS_BPE_TRAIN_H
#include <stddef.h>
#include <stdint.h>

// Word frequencies after pre-tokenization: the training input.
typedef struct ms_bpe_words ms_bpe_words;
ms_bpe_words *ms_bpe_words_new(void);
void ms_bpe_words_free(ms_bpe_words *w);
// Pre-tokenizes UTF-8 text (invalid sequences become U+FFFD first, as in the encoder) and counts
// its pieces. 0 / -1.
int ms_bpe_words_add_text(ms_bpe_words *w, const char *text, size_t len);
// Adds the "text" string of every line of a JSONL file (blank lines skipped). 0 / -1 + ms_error.
int ms_bpe_words_add_jsonl(ms_bpe_words *w, const char *path);

// The learned merges: merge k joins (left[k], right[k]) into token 256 + k.
typedef struct {
    int n_merges;
    int32_t *left, *right; // (n_merges,)
    int64_t *count;        // (n_merges,) the pair's frequency when it was merged
} ms_bpe_merges;
// Learns up to max_merges merges (fewer when every word has become one token). 0 / -1.
int ms_bpe_learn(const ms_bpe_words *w, int max_merges, ms_bpe_merges *out);
void ms_bpe_merges_free(ms_bpe_merges *m);
// Writes dir/vocab.json + dir/merges.txt (256 bytes, the merges, <|endoftext|>) through the
// tokenizer's vocab/merges writer. 0 / -1.
int ms_bpe_save(const ms_bpe_merges *m, const char *dir);

typedef struct {
    int64_t n_docs, n_bytes, n_words_total; // documents, text bytes, pre-tokenized pieces
    int n_words_unique, n_merges, vocab_size;
    double seconds;
} ms_bpe_stats;
// The whole pipeline for `monoscope tokenizer train`: corpus JSONL -> vocab_size tokens
// (256 + merges + <|endoftext|>) in out_dir. stats may be NULL. 0 / -1 + ms_error.
int ms_bpe_train_jsonl(const char *corpus, int vocab_size, const char *out_dir, ms_bpe_stats *stats);

#endif
