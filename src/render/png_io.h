// png_io.h: canvas <-> PNG file via libpng, with provenance text chunks.
// Every figure carries its regeneration recipe: "Software" (monoscope version), "Command"
// (ms_command_line()) and whatever key/values the caller adds (e.g. "Inputs"). Values that are
// plain ASCII go in tEXt chunks; anything else (a --text with CJK) in uncompressed iTXt (UTF-8).
#ifndef MS_PNG_IO_H
#define MS_PNG_IO_H
#include "render/canvas.h"

typedef struct {
    const char *key;   // 1..79 Latin-1 characters, per the PNG spec
    const char *value; // UTF-8
} ms_png_text;

// Writes c to path atomically (temp file + rename). "Software" and "Command" are added
// automatically; extra may be NULL. Returns 0 / -1 with ms_error().
int ms_png_write(const ms_canvas *c, const char *path, const ms_png_text *extra, int n_extra);

// Reads any PNG (palette, grey, 16-bit, alpha are converted; alpha composited over white) into a
// new RGB canvas. If texts is non-NULL, *texts gets a malloc'ed array of *n_texts key/value pairs
// (strings malloc'ed; free with ms_png_texts_free). NULL + ms_error() on failure.
ms_canvas *ms_png_read(const char *path, ms_png_text **texts, int *n_texts);
void ms_png_texts_free(ms_png_text *texts, int n);
// Value of key in texts, or NULL.
const char *ms_png_text_get(const ms_png_text *texts, int n, const char *key);

#endif
