// load_hf.c: TEMPORARY placeholder; the formats engineer replaces this file.
#include "model/model.h"
#include "util/util.h"
int ms_load_hf(const char *dir, ms_model *m) { (void)m; ms_error("%s: Hugging Face loader not implemented", dir); return -1; }
