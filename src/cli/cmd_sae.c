// cmd_sae.c: placeholder until the component lands.
#include <stdio.h>
#include "cli/cli.h"
int cmd_sae(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "monoscope: error: 'sae' is not implemented yet\n");
    return 1;
}
