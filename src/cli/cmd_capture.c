// cmd_capture.c: placeholder until the component lands.
#include <stdio.h>
#include "cli/cli.h"
int cmd_capture(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "monoscope: error: 'capture' is not implemented yet\n");
    return 1;
}
