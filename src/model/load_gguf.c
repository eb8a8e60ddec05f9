// load_gguf.c: TEMPORARY placeholder; the formats engineer replaces this file.
#include "model/model.h"
#include "util/util.h"
int ms_load_gguf(const char *path, ms_model *m) { (void)m; ms_error("%s: GGUF loader not implemented", path); return -1; }
