// cmd_tokenize.c: placeholder until the component lands.
#include <stdio.h>
#include "cli/cli.h"
int cmd_tokenize(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "monoscope: error: 'tokenize' is not implemented yet\n");
    return 1;
}
