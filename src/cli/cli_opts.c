// cli_opts.c: the option loop the commands share (cli.h): getopt_long over a table, --help,
// unknown options and stray operands reported the same way everywhere.
#include <getopt.h>
#include <limits.h>
#include "cli/cli.h"

int cli_parse_opts(int argc, char **argv, const cli_opts *p, void *ctx) {
    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, "h", p->table, NULL)) != -1) {
        if (ch == 'h') { p->help(stdout); return -1; }
        if (ch == '?' || ch == ':')
            return cli_usage_error("%s: unknown option or missing value '%s' (see monoscope %s --help)", p->cmd,
                                   argv[optind - 1], p->cmd);
        int rc = p->on_option(ctx, ch, optarg);
        if (rc) return rc;
    }
    if (!p->operands && optind < argc) return cli_usage_error("%s: unexpected argument '%s'", p->cmd, argv[optind]);
    return 0;
}

long cli_parse_long_in(const char *opt, const char *value, long lo, long hi) {
    long v = cli_parse_long(opt, value);
    if (v < 0) return -1;
    if (v >= lo && v <= hi) return v;
    if (hi == LONG_MAX) cli_usage_error("%s must be at least %ld", opt, lo);
    else cli_usage_error("%s must be between %ld and %ld", opt, lo, hi);
    return -1;
}
