// tokens.h: turning token byte strings into labels a person can read.
//
// Visible mode (heatmap columns, dashboard contexts): space -> "·", newline -> "↵", tab -> "→",
// other control characters (C0, DEL, C1) -> "<0x0D>" style, invisible format characters (zero-width
// space, BOM, bidi marks) -> "<U+200B>" style, bytes that are not valid UTF-8 -> "<0xNN>".
// Text mode (token-highlight view): the same, except a space stays a space and a newline is shown
// as "↵" followed by a line break (ms_token_label.newline).
//
// Multi-byte characters split over several tokens (byte-level BPE often splits a CJK character
// into 2-3 tokens) are decoded across token boundaries: the completed character is shown on the
// token holding its LAST byte, and each earlier token that holds only leading bytes of it shows a
// continuation mark "⋯" (so columns stay one per token, the activation of every token is still
// visible, and no mojibake is drawn). A character cut off by the end of the tokens (a context
// window ending mid-character) also shows "⋯". Only bytes that cannot be part of any valid
// sequence become <0xNN>.
#ifndef MS_VIZ_TOKENS_H
#define MS_VIZ_TOKENS_H
#include <stddef.h>

#define MS_TOKEN_CONTINUATION "\xe2\x8b\xaf" // U+22EF "⋯"

typedef struct {
    char *text;  // UTF-8 label, never empty ("∅" for a token with no bytes, e.g. BOS)
    int newline; // text mode: the token ends with a newline; break the line after it
} ms_token_label;

// bytes[i], lens[i]: the raw bytes of token i. text_mode: 0 visible, 1 text. Returns n labels
// (malloc'ed; free with ms_token_labels_free).
ms_token_label *ms_token_labels(const char *const *bytes, const size_t *lens, int n, int text_mode);
void ms_token_labels_free(ms_token_label *l, int n);

#endif
