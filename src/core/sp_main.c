/*
 * sp_main.c — the program: parse the command line, then do the one thing it
 * asks (help, version, stats description, test the configuration, locate
 * keys, or serve). Exit codes: 0 done, 1 bad input (flags, configuration).
 */
#include <stdio.h>
#include <stdlib.h>

#include "sp_cli.h"
#include "sp_conf.h"
#include "sp_locate.h"

static int
sp_main_test_conf(const struct sp_options *opts)
{
    struct sp_conf *conf = NULL;
    char err[SP_CONF_ERRLEN];

    if (sp_conf_load(opts->conf_file, &conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        fprintf(stderr, "shardproxy: configuration file '%s' syntax is "
                "invalid\n", opts->conf_file);
        return EXIT_FAILURE;
    }
    sp_conf_free(conf);
    fprintf(stderr, "shardproxy: configuration file '%s' syntax is ok\n",
            opts->conf_file);
    return EXIT_SUCCESS;
}

static int
sp_main_locate(const struct sp_options *opts)
{
    struct sp_conf *conf = NULL;
    char err[SP_CONF_ERRLEN];
    int rc;

    if (sp_conf_load(opts->conf_file, &conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return EXIT_FAILURE;
    }
    rc = sp_locate(conf, opts->locate_pool, opts->locate_keys,
                   opts->nlocate_keys, stdin, stdout, stderr);
    sp_conf_free(conf);
    if (fflush(stdout) != 0) {
        rc = -1;
    }
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static int
sp_main_serve(const struct sp_options *opts)
{
    struct sp_conf *conf = NULL;
    char err[SP_CONF_ERRLEN];

    if (sp_conf_load(opts->conf_file, &conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return EXIT_FAILURE;
    }
    sp_conf_free(conf);
    fprintf(stderr, "shardproxy: configuration '%s' is valid, but this build "
            "has no data path yet: only -t, -D and --locate work\n",
            opts->conf_file);
    return EXIT_FAILURE;
}

int
main(int argc, char **argv)
{
    struct sp_options opts;

    if (sp_cli_parse(argc, argv, &opts, stderr) != 0) {
        return EXIT_FAILURE;
    }
    if (opts.help) {
        sp_cli_usage(stdout);
        return EXIT_SUCCESS;
    }
    if (opts.version) {
        sp_cli_version(stdout);
        return EXIT_SUCCESS;
    }
    if (opts.describe_stats) {
        sp_cli_describe_stats(stdout);
        return EXIT_SUCCESS;
    }
    if (opts.test_conf) {
        return sp_main_test_conf(&opts);
    }
    if (opts.locate_pool != NULL) {
        return sp_main_locate(&opts);
    }
    return sp_main_serve(&opts);
}
