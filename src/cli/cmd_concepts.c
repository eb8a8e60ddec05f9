// cmd_concepts.c: `monoscope concepts label` (probes/concepts.h).
#include <stdio.h>
#include "cli/cli.h"

int cmd_concepts(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "monoscope: error: concepts: not built yet\n");
    return 2;
}
