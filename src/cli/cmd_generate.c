// cmd_generate.c: placeholder until the component lands.
#include <stdio.h>
#include "cli/cli.h"
int cmd_generate(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "monoscope: error: 'generate' is not implemented yet\n");
    return 1;
}
