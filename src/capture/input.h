// input.h: corpus readers for capture. A reader yields sequences of at most ctx token ids, one at
// a time, so any corpus size streams through bounded memory:
//   ids:   whitespace-separated ids, one sequence per line (empty lines skipped), each line <= ctx
//   text:  the whole file tokenized as one stream, cut into consecutive ctx-token windows; read a
//          chunk at a time where the tokenizer allows it (byte-level BPE), so memory and the work
//          before the first window do not grow with the file
//   jsonl: one JSON object per line; its "text" field is one document, tokenized and cut into
//          ctx-token windows (the last window of a document may be shorter)
// With prepend_bos each window starts with BOS followed by ctx-1 tokens of the stream.
// Packed (ms_input_set_packing): every window is full; see there.
#ifndef MS_CAPTURE_INPUT_H
#define MS_CAPTURE_INPUT_H
#include <stddef.h>
#include <stdint.h>
#include "tokenizer/tokenizer.h"

typedef enum { MS_INPUT_TEXT = 0, MS_INPUT_JSONL, MS_INPUT_IDS } ms_input_format;

// Parses whitespace-separated non-negative ids of s into *ids (malloc'ed). what names the source in
// errors ("input.txt line 3"). Returns 0 / -1.
int ms_parse_ids(const char *s, const char *what, int32_t **ids, size_t *n);

typedef struct ms_input ms_input;
// tok may be NULL for ids; bos used with prepend_bos (-1: error if prepend_bos is asked).
ms_input *ms_input_open(const char *path, ms_input_format fmt, const ms_tokenizer *tok, int ctx,
                        int prepend_bos, int bos, int vocab_size);
// Packing (text and jsonl only; -1 + ms_error for ids): documents are joined into one stream, each
// followed by sep (the model's EOS), and cut into full windows of ctx ids (BOS + ctx-1 with
// prepend_bos); the final partial window is dropped, so no row holds padding.
int ms_input_set_packing(ms_input *in, int sep);
// Bytes of text read per step (default 1 MiB); a line longer than that is read whole.
void ms_input_set_text_chunk(ms_input *in, size_t bytes);
// Next sequence into out (room for ctx ids): returns its length (>= 1), 0 at the end, -1 on error.
int ms_input_next(ms_input *in, int32_t *out);
// Steps back k windows: the next k calls of ms_input_next return the last k windows again, in order
// (--resume captures again the last batch of a run that a smaller --max-tokens cut short). At most
// the history's size (ms_input_set_history, default 1, set before reading). 0 / -1 + ms_error.
void ms_input_set_history(ms_input *in, int k);
int ms_input_unread(ms_input *in, int k);
// Fraction of the input consumed so far (0..1), for progress estimates.
double ms_input_fraction(const ms_input *in);
void ms_input_close(ms_input *in);
// For token labelling (probes/concepts.c): keep each document's text (text, jsonl) beside its tokens.
// Call before the first ms_input_next.
void ms_input_keep_text(ms_input *in);
// The document the last window came from: its text (kept with ms_input_keep_text, else NULL), its
// token ids, and the index in doc_ids of the window's first corpus token (after any BOS). doc_no counts
// documents from 0 and changes when a window starts a new one. ids input: returns -1.
typedef struct {
    const char *text;
    size_t text_len;
    const int32_t *doc_ids;
    size_t doc_n, first;
    long doc_no;
} ms_input_window;
int ms_input_last_window(const ms_input *in, ms_input_window *w);
#endif
