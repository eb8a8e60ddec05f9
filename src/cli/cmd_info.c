// cmd_info.c: placeholder until the component lands.
#include <stdio.h>
#include "cli/cli.h"
int cmd_info(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "monoscope: error: 'info' is not implemented yet\n");
    return 1;
}
