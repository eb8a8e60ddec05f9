// cmd_random_model.c: placeholder until the component lands.
#include <stdio.h>
#include "cli/cli.h"
int cmd_random_model(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "monoscope: error: 'random_model' is not implemented yet\n");
    return 1;
}
