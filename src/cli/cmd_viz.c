// cmd_viz.c: placeholder until the component lands.
#include <stdio.h>
#include "cli/cli.h"
int cmd_viz(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "monoscope: error: 'viz' is not implemented yet\n");
    return 1;
}
